# Sourced by the benchmarks: start and stop one release `stratus` on loopback. Needs $BIN (the
# binary), $WORK (a scratch directory) and $PORT; sets $PID.

start_stratus() { # data-subdir, then extra VAR=value settings
    local dir=$WORK/$1
    shift
    env ROCKET_DATA_DIR="$dir" ROCKET_PORT="$PORT" ROCKET_LOG_LEVEL=off ROCKET_DRAIN_SECS=0 STRATUS_LOG=warn "$@" "$BIN" >>"$WORK/stratus.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 100); do
        curl -sf --max-time 2 "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "bench: stratus did not start; log:" >&2
    cat "$WORK/stratus.log" >&2
    exit 1
}
stop_stratus() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
