# Sourced by the benchmarks: run wrk and read its report. Needs $WORK (a scratch directory)
# and $DURATION (e.g. 10s; set it per call for a different length).

to_ms() { # wrk latency such as 812.00us, 1.23ms, 1.02s
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}

# run_wrk URL CONNECTIONS [wrk args...] -> sets RPS P50 P99 REQUESTS ERRORS
run_wrk() {
    local url=$1 conns=$2
    shift 2
    wrk -t2 -c"$conns" -d"$DURATION" --latency "$@" "$url" >"$WORK/wrk.out" 2>"$WORK/wrk.err" || true
    RPS=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$WORK/wrk.out")
    P50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$WORK/wrk.out")")
    P99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$WORK/wrk.out")")
    REQUESTS=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
    ERRORS=$(awk '/Non-2xx or 3xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$WORK/wrk.out")
}
