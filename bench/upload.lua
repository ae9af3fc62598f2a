-- wrk script: POST a prepared multipart body (file named by BODY_FILE) with a session cookie.
-- Env: BODY_FILE, BOUNDARY, COOKIE.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.path = "/photos"
wrk.body = body
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. os.getenv("BOUNDARY")
wrk.headers["Cookie"] = os.getenv("COOKIE")

local bad = 0
response = function(status, headers, body)
  if status ~= 303 then
    bad = bad + 1
    if bad <= 3 then io.stderr:write("unexpected status " .. status .. "\n") end
  end
end
