#!/usr/bin/env bash
# Decode memory under hostile uploads: for each class, a fresh Stratus (release build, real
# binary on 127.0.0.1) takes four concurrent uploads of the same file from one ordinary
# account, and its peak RSS (VmHWM, reset after start-up) is compared with the promise:
#
#     peak RSS <= idle RSS + decode_memory_mb + 64 MB
#
#   bench/decode_memory.sh              # decode_memory_mb = 192 (the default)
#   DECODE_MB=64 bench/decode_memory.sh
#
# Needs curl and python3 (standard library only). Bounded: every request has a time limit and
# the server is stopped on exit, whatever happens. Exit status 1 when a class breaks the promise.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=${PORT:-18085}
DECODE_MB=${DECODE_MB:-192}
command -v curl >/dev/null || { echo "bench: curl is missing: apt-get install -y curl" >&2; exit 1; }

cargo build --release --locked --quiet
BIN=$ROOT/target/release/stratus
WORK=$(mktemp -d /tmp/stratus-decode-bench.XXXXXX)
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=bench/server.sh
source bench/server.sh
kb() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$PID/status"; }

login() { # -> JAR, CSRF for a fresh user on the running instance
    JAR=$WORK/jar
    rm -f "$JAR"
    local csrf
    csrf=$(curl -sf --max-time 10 -c "$JAR" -b "$JAR" "http://127.0.0.1:$PORT/register" | grep -o 'name="csrf" value="[^"]*"' | head -1 | cut -d'"' -f4)
    curl -sf --max-time 10 -o /dev/null -c "$JAR" -b "$JAR" \
        --data "username=bench$RANDOM&password=bench-password&csrf=$csrf" "http://127.0.0.1:$PORT/register"
    CSRF=$(curl -sf --max-time 10 -b "$JAR" "http://127.0.0.1:$PORT/" | grep -o 'name="csrf" value="[^"]*"' | head -1 | cut -d'"' -f4)
}

# The hostile files, written with the standard library only.
python3 - "$WORK" "$ROOT/tests/fixtures/images/valid/grayscale.jpg" <<'PY'
import struct, sys, zlib
work, jpeg_source = sys.argv[1], sys.argv[2]

def png(path, width, height, bit_depth, colour, pixel):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row = b"\0" + pixel * width
    z = zlib.compressobj(9)
    body = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))

side = 7071  # 49.998 MP: the default pixel limit
# 16-bit RGBA at the pixel limit: 400 MB decoded (was accepted and peaked at 653 MB).
png(f"{work}/png16-rgba-50mp.png", side, side, 16, 6, b"\x12\x34\x56\x78\x9a\xbc\xff\xff")
# 16-bit RGBA at 12 MP: 96 MB decoded plus its 48 MB 8-bit copy, inside the default budget.
png(f"{work}/png16-rgba-12mp.png", 4000, 3000, 16, 6, b"\x12\x34\x56\x78\x9a\xbc\xff\xff")
# 8-bit RGB at the pixel limit: 150 MB decoded, inside the default budget, so accepted.
png(f"{work}/png8-rgb-50mp.png", side, side, 8, 2, b"\x20\x80\xc0")

# 35 bytes: a 16x16 screen whose one frame declares 9000x9000.
gif = b"GIF89a" + struct.pack("<HH", 16, 16) + b"\x80\0\0" + b"\0\0\0\xff\xff\xff"
gif += b"\x2c" + struct.pack("<HHHH", 0, 0, 9000, 9000) + b"\x00\x02\x02\x44\x01\x00\x3b"
open(f"{work}/gif-frame-9000.gif", "wb").write(gif)

# A real JPEG whose frame header is rewritten to declare 10000x5000.
data = bytearray(open(jpeg_source, "rb").read())
sof = next(i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC1, 0xC2))
data[sof + 5:sof + 9] = struct.pack(">HH", 5000, 10000)
open(f"{work}/jpeg-lying-10000x5000.jpg", "wb").write(data)
PY

printf '== Decode memory, Stratus %s, decode_memory_mb=%s, 4 concurrent uploads per class, %s\n' \
    "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" "$DECODE_MB" "$(date -u +%FT%TZ)"
printf '%-26s %9s %8s %8s %8s %8s  %s\n' class bytes idle_MB peak_MB limit_MB statuses verdict
FAILED=0
for file in gif-frame-9000.gif jpeg-lying-10000x5000.jpg png16-rgba-50mp.png png16-rgba-12mp.png png8-rgb-50mp.png; do
    start_stratus "data-${file%%.*}" ROCKET_SEED_DEMO=false ROCKET_DECODE_MEMORY_MB="$DECODE_MB"
    login
    sleep 0.5
    IDLE_KB=$(kb VmRSS)
    echo 5 >"/proc/$PID/clear_refs" # reset VmHWM to the current RSS
    : >"$WORK/statuses"
    CURLS=()
    for i in 1 2 3 4; do
        curl -s --max-time 120 -o /dev/null -w '%{http_code}\n' -b "$JAR" \
            -F "csrf=$CSRF" -F "caption=hostile $i" -F "photo=@$WORK/$file;type=application/octet-stream" \
            "http://127.0.0.1:$PORT/photos" >>"$WORK/statuses" &
        CURLS+=($!)
    done
    wait "${CURLS[@]}" || true
    PEAK_KB=$(kb VmHWM)
    stop_stratus
    STATUSES=$(sort "$WORK/statuses" | uniq -c | awk '{printf "%s%sx%s", (NR > 1 ? "," : ""), $1, $2}')
    LIMIT_KB=$((IDLE_KB + (DECODE_MB + 64) * 1024))
    if [ "$PEAK_KB" -le "$LIMIT_KB" ]; then VERDICT=PASS; else VERDICT=FAIL; FAILED=1; fi
    mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
    printf '%-26s %9s %8s %8s %8s %8s  %s\n' "$file" "$(stat -c %s "$WORK/$file")" \
        "$(mb "$IDLE_KB")" "$(mb "$PEAK_KB")" "$(mb "$LIMIT_KB")" "$STATUSES" "$VERDICT"
done
exit "$FAILED"
