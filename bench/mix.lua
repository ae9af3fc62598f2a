-- wrk script: cycle over the paths listed one per line in MIX_FILE (a page view: the page,
-- its CSS, JS, icon and images), every connection keeping alive.
local paths = {}
for line in io.lines(os.getenv("MIX_FILE")) do
  if line ~= "" then paths[#paths + 1] = line end
end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
