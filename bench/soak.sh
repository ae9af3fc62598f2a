#!/usr/bin/env bash
# Soak: a release build of the single profile under 10 minutes of mixed load at c=64 (anonymous
# views, signed-in views, uploads, a few hostile uploads), on loopback. Passes when no request
# gets a 5xx, RSS at minute 10 is within 10 % of minute 2, and open descriptors stay flat.
#
#   bench/soak.sh                         # DURATION=600 CONCURRENCY=64
#   DURATION=120 bench/soak.sh            # a shorter look (reference point: 20 % of the run)
#
# Needs python3 (standard library only). The data directory is a fresh temporary one.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-600}
CONCURRENCY=${CONCURRENCY:-64}
PORT=${PORT:-18180}

cargo build --release --locked --quiet
WORK=$(mktemp -d /tmp/stratus-soak.XXXXXX)
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

BIN=target/release/stratus
# The soak is of the single profile, whatever the shell has exported.
unset ROCKET_PROFILE
# shellcheck source=bench/server.sh
source bench/server.sh
start_stratus data
echo "soak: stratus (pid $PID) on 127.0.0.1:$PORT, ${DURATION}s at c=$CONCURRENCY, commit $(git rev-parse --short HEAD)"
python3 bench/soak.py --port "$PORT" --pid "$PID" --duration "$DURATION" --concurrency "$CONCURRENCY" ${UPLOAD_SHARE:+--upload-share "$UPLOAD_SHARE"}
