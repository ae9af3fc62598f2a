#!/usr/bin/env python3
"""Soak load for a running Stratus (single profile): C workers, each with its own keep-alive
connection, mixing anonymous front-page views, signed-in views, uploads and hostile uploads for
DURATION seconds, while the server's RSS and open file descriptors are sampled every 10 s.

Prints one row per sample and a summary; exits 1 when a promise is broken: any 5xx or transport
error, RSS in the last minute more than 10 % above RSS in minute 2 (each the median of that
minute's samples, taken every 5 s; for runs shorter than 10 minutes, the minute that ends at
20 % of the run), or open file descriptors in the last minute more than 16 above minute 2.
Standard library only; every request goes to 127.0.0.1 and the loop stops by itself.
"""

import argparse
import collections
import http.client
import os
import random
import re
import statistics
import sys
import threading
import time
import uuid

from make_upload_body import upload_body

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "images")
GOOD = ["valid/progressive.jpg", "valid/grayscale.jpg", "valid/lossy.webp", "valid/UPPER.JPEG"]
HOSTILE = [
    "invalid/truncated.jpg",
    "invalid/png-bomb-40000.png",
    "invalid/pixel-flood-65500.jpg",
    "invalid/gif-huge-screen.gif",
    "invalid/html-named.jpg",
    "invalid/zip-named.png",
]
PASSWORD = "soak-password-123"


def load(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return os.path.basename(name), f.read()


class Worker:
    def __init__(self, port, counts, lock):
        self.port = port
        self.conn = None
        self.cookies = {}
        self.counts = counts
        self.lock = lock

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                for value in response.headers.get_all("Set-Cookie") or []:
                    name, _, rest = value.partition("=")
                    cookie_value = rest.split(";", 1)[0]
                    if "Max-Age=0" in value or cookie_value == "":
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = cookie_value
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status, data
            except (http.client.HTTPException, OSError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                # A keep-alive connection the server closed between requests: one retry.
                if attempt == 1:
                    return None, b""
        return None, b""

    def csrf(self, path="/"):
        status, page = self.request("GET", path)
        match = re.search(rb'name="csrf" value="([^"]+)"', page)
        return status, (match.group(1).decode() if match else "")

    def register(self, name):
        _, token = self.csrf("/register")
        body = f"username={name}&password={PASSWORD}&csrf={token}"
        status, _ = self.request(
            "POST", "/register", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        return status

    def upload(self, filename, data):
        status, token = self.csrf("/")
        if status != 200:
            return status
        boundary = uuid.uuid4().hex
        body = upload_body(boundary, token, "soak", filename, "application/octet-stream", data)
        status, _ = self.request(
            "POST",
            "/photos",
            body,
            {"Content-Type": f"multipart/form-data; boundary={boundary}", "Accept": "application/json"},
        )
        return status


def count(counts, lock, kind, status):
    with lock:
        counts[(kind, status)] += 1


def run_worker(index, args, deadline, counts, lock, good, hostile):
    anonymous = Worker(args.port, counts, lock)
    member = Worker(args.port, counts, lock)
    name = f"soak{os.getpid()}w{index}"
    if member.register(name) not in (303, 200):
        count(counts, lock, "register", "failed")
    rng = random.Random(index)
    while time.monotonic() < deadline:
        roll = rng.random()
        if roll < 0.88:
            count(counts, lock, "view", anonymous.request("GET", "/")[0])
        elif roll < 1 - args.upload_share:
            count(counts, lock, "member-view", member.request("GET", "/")[0])
        elif roll < 1 - args.upload_share / 3:
            count(counts, lock, "upload", member.upload(*rng.choice(good)))
        else:
            count(counts, lock, "hostile-upload", member.upload(*rng.choice(hostile)))


def process_figures(pid):
    rss, threads = 0, 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) // 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--duration", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--upload-share", type=float, default=0.03, help="of requests: 2/3 uploads, 1/3 hostile")
    args = parser.parse_args()

    good = [load(n) for n in GOOD]
    hostile = [load(n) for n in HOSTILE]
    counts, lock = collections.Counter(), threading.Lock()
    start = time.monotonic()
    deadline = start + args.duration
    threads = [
        threading.Thread(target=run_worker, args=(i, args, deadline, counts, lock, good, hostile), daemon=True)
        for i in range(args.concurrency)
    ]
    for thread in threads:
        thread.start()

    samples = []
    print(f"{'t (s)':>6} {'rss MB':>7} {'fds':>5} {'threads':>7} {'requests':>9} {'rps':>7}", flush=True)
    last_total, last_time = 0, start
    while time.monotonic() < deadline:
        time.sleep(min(5, max(0.1, deadline - time.monotonic())))
        now = time.monotonic()
        rss, fds, threads_now = process_figures(args.pid)
        with lock:
            total = sum(counts.values())
        rps = (total - last_total) / (now - last_time)
        last_total, last_time = total, now
        samples.append((now - start, rss, fds))
        print(f"{now - start:6.0f} {rss:7d} {fds:5d} {threads_now:7d} {total:9d} {rps:7.0f}", flush=True)
    for thread in threads:
        thread.join(timeout=60)

    by_kind = collections.defaultdict(dict)
    for (kind, status), n in sorted(counts.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        by_kind[kind][str(status)] = n
    print("\nrequests by kind and status:")
    for kind, statuses in by_kind.items():
        print(f"  {kind:15} {statuses}")
    errors = sum(n for (kind, status), n in counts.items() if status is None or (isinstance(status, int) and status >= 500))
    # Minute 2, or the minute that ends at 20 % of a shorter run; and the last minute.
    reference_end = min(120, args.duration * 0.2)
    last = samples[-1][0]

    def minute(ending):
        window = [s for s in samples if ending - 60 < s[0] <= ending + 0.5] or [samples[-1]]
        return statistics.median(s[1] for s in window), max(s[2] for s in window)

    (reference_rss, reference_fds), (end_rss, end_fds) = minute(reference_end), minute(last)
    growth = (end_rss - reference_rss) / reference_rss if reference_rss else 0
    print(
        f"\nRSS (median of a minute's samples) {reference_rss:.0f} MB in the minute to {reference_end:.0f} s, "
        f"{end_rss:.0f} MB in the minute to {last:.0f} s ({growth:+.1%}); peak {max(s[1] for s in samples)} MB; "
        f"open fds (max in the minute) {reference_fds} -> {end_fds}; 5xx or transport errors: {errors}; "
        f"{sum(counts.values())} requests in {last:.0f} s"
    )
    broken = []
    if errors:
        broken.append(f"{errors} 5xx or transport errors")
    if growth > 0.10:
        broken.append(f"RSS grew {growth:.1%}")
    if end_fds > reference_fds + 16:
        broken.append(f"open fds grew from {reference_fds} to {end_fds}")
    if broken:
        print("soak: FAILED: " + "; ".join(broken))
        sys.exit(1)
    print("soak: passed")


if __name__ == "__main__":
    main()
