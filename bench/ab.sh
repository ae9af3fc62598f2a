#!/usr/bin/env bash
# Two builds of Stratus side by side on the cached front page (level 0, demo photos), in
# alternating wrk rounds so both see the same machine: e.g. before and after a change.
#
#   bench/ab.sh OLD_BINARY NEW_BINARY            # identity (no Accept-Encoding)
#   ENCODING=br bench/ab.sh OLD NEW              # clients that ask for brotli
#   ROUNDS=5 DURATION=5s CONNECTIONS=32 bench/ab.sh OLD NEW
#
# Prints each round's requests/s and the ratio NEW/OLD of the medians. Needs wrk and curl.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bench/ab.sh OLD_BINARY NEW_BINARY" >&2; exit 2; }
OLD=$(realpath "$1") NEW=$(realpath "$2")
ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-5s} CONNECTIONS=${CONNECTIONS:-32}
command -v wrk >/dev/null || { echo "bench: wrk is missing: apt-get install -y wrk" >&2; exit 1; }
WORK=$(mktemp -d /tmp/stratus-ab.XXXXXX)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

start() { # binary, port
    # From an empty directory: each build runs on the Rocket.toml built into it.
    (cd "$WORK" && exec env ROCKET_DATA_DIR="$WORK/$2" ROCKET_PORT="$2" ROCKET_LOG_LEVEL=off STRATUS_LOG=warn \
        ROCKET_DRAIN_SECS=0 "$1" >>"$WORK/$2.log" 2>&1) &
    PIDS+=($!)
    for _ in $(seq 1 600); do
        curl -sf --max-time 2 "http://127.0.0.1:$2/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "bench: $1 did not start; log:" >&2; cat "$WORK/$2.log" >&2; exit 1
}
start "$OLD" 18181
start "$NEW" 18182
header=()
[ -n "${ENCODING:-}" ] && header=(-H "Accept-Encoding: $ENCODING")
for port in 18181 18182; do curl -sf "${header[@]}" -o /dev/null "http://127.0.0.1:$port/"; done
rps() { wrk -t2 -c"$CONNECTIONS" -d"$DURATION" "${header[@]}" "http://127.0.0.1:$1/" | awk '/Requests\/sec/ {print $2}'; }
old=() new=()
for round in $(seq 1 "$ROUNDS"); do
    old+=("$(rps 18181)")
    new+=("$(rps 18182)")
    printf 'round %d: old %s rps  new %s rps\n' "$round" "${old[-1]}" "${new[-1]}"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mo=$(median "${old[@]}") mn=$(median "${new[@]}")
printf 'median: old %s rps  new %s rps  new/old %.2fx  (Accept-Encoding: %s, c=%s)\n' "$mo" "$mn" \
    "$(echo "$mn $mo" | awk '{print $1/$2}')" "${ENCODING:-none}" "$CONNECTIONS"
