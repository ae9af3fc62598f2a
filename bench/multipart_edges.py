#!/usr/bin/env python3
"""Memory and time of hostile upload bodies against a real stratus binary.

    bench/multipart_edges.py [BINARY]      (default: target/debug/stratus)

Starts the binary on a fresh data_dir, signs in, then:
  1. four concurrent uploads whose caption is 20 MB: peak RSS over idle (VmHWM - VmRSS at idle),
     and the statuses and times of the answers;
  2. a forged-token upload declaring a 15 MB photo: the time to its answer, and how much of the
     body had been sent when it came.
"""

import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

BOUNDARY = "bench-boundary-3f9"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Browser:
    def __init__(self, port):
        self.port, self.cookies = port, {}

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = dict(headers or {})
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.split(";")[0].partition("=")
            self.cookies[name] = rest
        data = response.read()
        conn.close()
        return response.status, data.decode("utf-8", "replace")

    def csrf(self, path):
        return re.search(r'name="csrf" value="([^"]+)"', self.request("GET", path)[1]).group(1)


def part(name, value):
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"


def send_until_answer(port, cookie, declared, head, filler):
    """POSTs a body of `declared` bytes (`head`, then `filler` repeated), reading the answer
    while still sending: returns (status line, ms until it came, bytes sent by then)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall((f"POST /photos HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nAccept: application/json\r\n"
                  f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {declared}\r\n\r\n"
                  ).encode())
    started = time.monotonic()
    sock.sendall(head)
    sock.setblocking(False)
    sent, answer, refused = len(head), b"", False
    while b"\r\n" not in answer and time.monotonic() - started < 60:
        try:
            got = sock.recv(256)
            if not got:
                break
            answer += got
        except BlockingIOError:
            pass
        except ConnectionResetError:
            break
        if sent < declared and not refused:
            try:
                sent += sock.send(filler[: declared - sent])
            except BlockingIOError:
                time.sleep(0.0005)
            except (BrokenPipeError, ConnectionResetError):
                refused = True
    sock.close()
    return answer.split(b"\r\n")[0].decode() or "no answer", (time.monotonic() - started) * 1000, sent


def describe(result):
    line, ms, sent = result
    return f"{line} after {ms:.1f} ms with {sent / 1024:.0f} KiB sent"


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/stratus"
    port = free_port()
    data = tempfile.mkdtemp(prefix="stratus-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROCKET_")}
    env.update(ROCKET_DATA_DIR=data, ROCKET_PORT=str(port), ROCKET_SEED_DEMO="false", ROCKET_LOG_LEVEL="off",
               STRATUS_LOG="error")
    server = subprocess.Popen([binary], env=env)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        browser = Browser(port)
        token = browser.csrf("/register")
        form = urllib.parse.urlencode({"username": "bench", "password": "correct horse battery", "csrf": token})
        status, _ = browser.request("POST", "/register", form,
                                    {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 303, status
        token = browser.csrf("/")
        time.sleep(1)
        idle = proc_kib(server.pid, "VmRSS")
        # Resets the peak (VmHWM) to the current RSS, so sign-up's password hash is not counted.
        with open(f"/proc/{server.pid}/clear_refs", "w") as f:
            f.write("5")

        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
        results = []

        def post(declared, head, filler):
            results.append(send_until_answer(port, cookie, declared, head, filler))

        caption_head = part("csrf", token.encode()) + (f'--{BOUNDARY}\r\nContent-Disposition: form-data; '
                                                       'name="caption"\r\n\r\n').encode()
        threads = [threading.Thread(target=post, args=(20 * 1024 * 1024, caption_head, b"x" * 65536))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        peak = proc_kib(server.pid, "VmHWM")
        print(f"4 x 20 MB caption: {', '.join(describe(r) for r in results)}; "
              f"peak RSS {(peak - idle) / 1024:.1f} MiB over idle ({idle / 1024:.1f} MiB)")

        photo_head = part("csrf", b"forged") + (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="photo"; '
                                                'filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n').encode()
        result = send_until_answer(port, cookie, 15 * 1024 * 1024, photo_head, b"\xff" * 65536)
        staging = os.path.join(data, "staging")
        staged = len(os.listdir(staging)) if os.path.isdir(staging) else 0
        print(f"forged token, 15 MB photo: {describe(result)}; {staged} files staged")
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
