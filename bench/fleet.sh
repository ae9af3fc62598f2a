#!/usr/bin/env bash
# The local fleet (levels 1-6 on one machine): N stratus instances of the fleet profile on
# loopback ports, sharing MariaDB, SeaweedFS (S3) and Redis, behind haproxy with /readyz
# health checks. Measured in one run:
#   front     rps and p99 through haproxy, front-page cache on (Redis) and off, and the MySQL
#             queries per 1,000 front-page requests with the cache on (counted by the
#             instances' /metrics and by MariaDB's own Com_select)
#   failover  1-second wrk slices through haproxy while one instance is stopped with SIGTERM
#             (graceful scale-in), later killed with SIGKILL (a crash), then restarted
#   ab        the tutorial's own `ab -n 100000 -c 2` against one instance and against the fleet
#
#   bench/fleet.sh                 # everything; N=2 instances, DURATION=10s per wrk run
#   N=3 DURATION=5s bench/fleet.sh front
#
# Needs haproxy, wrk, ab (apt-get install -y haproxy wrk apache2-utils); the shared servers are
# started by tests/services.sh, as for the tests. All traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECTION=${1:-all}
want() { [ "$SECTION" = all ] || [ "$SECTION" = "$1" ]; }
N=${N:-2}
DURATION=${DURATION:-10s}
LB_PORT=${LB_PORT:-18100}
FIRST_PORT=${FIRST_PORT:-18101}
AB_REQUESTS=${AB_REQUESTS:-100000}

apt_install() {
    echo "bench: missing $*; install with: apt-get install -y $*" >&2
    exit 1
}
need() { command -v "$1" >/dev/null || apt_install "$2"; }
need haproxy haproxy; need wrk wrk; need ab apache2-utils; need curl curl; need mariadb mariadb-client
# shellcheck source=tests/services.sh
source tests/services.sh >/dev/null

cargo build --release --locked --quiet
BIN=$ROOT/target/release/stratus
WORK=$(mktemp -d /tmp/stratus-fleet.XXXXXX)
RUN=bench$$
DB=stratus_$RUN
PIDS=()
HAPROXY_PID=""
cleanup() {
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    [ -n "$HAPROXY_PID" ] && kill "$HAPROXY_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null || true
    redis-cli --scan --pattern "$RUN:*" | xargs -r redis-cli del >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mariadb -h127.0.0.1 -uroot -e "CREATE DATABASE $DB"

# shellcheck source=bench/wrk.sh
source bench/wrk.sh

port_of() { echo $((FIRST_PORT + $1 - 1)); }
start_instance() { # index, then extra VAR=value settings
    local i=$1 port
    port=$(port_of "$1")
    shift
    env ROCKET_PROFILE=fleet ROCKET_PORT="$port" ROCKET_INSTANCE_ID="web-$i" ROCKET_DATA_DIR="$WORK/web-$i" \
        ROCKET_DATABASE_URL="mysql://root@127.0.0.1:3306/$DB" \
        ROCKET_STORAGE_URL="s3://$STRATUS_TEST_BUCKET/$RUN" \
        ROCKET_SESSION_URL="redis://127.0.0.1:6379" ROCKET_KEY_PREFIX="$RUN:" ROCKET_MEDIA_BASE_URL= \
        ROCKET_SECRET_KEY="fleet-benchmark-secret-key-shared-by-all" \
        ROCKET_LOG_LEVEL=off STRATUS_LOG=warn ROCKET_DRAIN_SECS=2 "$@" \
        "$BIN" >>"$WORK/web-$i.log" 2>&1 &
    PIDS[i]=$!
    for _ in $(seq 1 150); do
        curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "bench: instance $i did not start; log:" >&2
    cat "$WORK/web-$i.log" >&2
    exit 1
}
start_fleet() { # extra settings for every instance
    for i in $(seq 1 "$N"); do start_instance "$i" "$@"; done
}
stop_fleet() {
    for i in $(seq 1 "$N"); do { kill -9 "${PIDS[i]}" && wait "${PIDS[i]}"; } 2>/dev/null || true; done
}
metric_sum() { # metric-name prefix (with labels) -> sum over the instances
    local total=0 i value
    for i in $(seq 1 "$N"); do
        value=$(curl -sf "http://127.0.0.1:$(port_of "$i")/metrics" | awk -v m="$1" 'index($0, m) == 1 {s += $NF} END {printf "%d", s}')
        total=$((total + value))
    done
    echo "$total"
}
# Statements MariaDB ran for any client (mysql_async uses prepared statements; a ping is neither).
com_select() { mariadb -h127.0.0.1 -uroot -N -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_select', 'Com_stmt_execute')" | awk '{s += $2} END {print s}'; }
lb_state() { # haproxy's view of every server: web-1:UP web-2:DOWN ...
    echo "show stat" | socat - "UNIX-CONNECT:$WORK/haproxy.sock" 2>/dev/null |
        awk -F, '$1 == "web" && $2 != "BACKEND" {printf "%s:%s ", $2, $18}'
}

{
    echo "global"
    echo "    maxconn 4096"
    echo "    stats socket $WORK/haproxy.sock mode 600 level admin"
    echo "defaults"
    echo "    mode http"
    echo "    timeout connect 2s"
    echo "    timeout client 30s"
    echo "    timeout server 30s"
    echo "    retries 2"
    echo "    option redispatch"
    echo "    retry-on conn-failure empty-response"
    echo "frontend site"
    echo "    bind 127.0.0.1:$LB_PORT"
    echo "    default_backend web"
    echo "backend web"
    echo "    balance roundrobin"
    echo "    option httpchk GET /readyz"
    echo "    http-check expect status 200"
    echo "    default-server inter 500ms fall 2 rise 2"
    for i in $(seq 1 "$N"); do echo "    server web-$i 127.0.0.1:$(port_of "$i") check"; done
} >"$WORK/haproxy.cfg"
need socat socat
haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
HAPROXY_PID=$!
LB=http://127.0.0.1:$LB_PORT
sleep 0.5
kill -0 "$HAPROXY_PID" 2>/dev/null || { echo "bench: haproxy did not start:" >&2; cat "$WORK/haproxy.log" >&2; exit 1; }

echo "== Stratus $(git rev-parse --short HEAD 2>/dev/null || echo '?') fleet of $N behind haproxy $(haproxy -v | awk 'NR==1 {print $3}'), $(nproc) cores, $(date -u +%FT%TZ)"

if want front; then
    start_fleet ROCKET_CACHE_URL="redis://127.0.0.1:6379"
    sleep 1.5 # the health checks mark every server up
    echo "haproxy: $(lb_state)"
    for _ in $(seq 1 20); do curl -sf "$LB/" >/dev/null; done
    SERVED_BY=$(for _ in $(seq 1 "$N"); do curl -s -o /dev/null -D - "$LB/" | awk -F': ' 'tolower($1) == "x-served-by" {print $2}' | tr -d '\r'; done | sort -u | tr '\n' ';')
    echo "X-Served-By over $N requests: $SERVED_BY"
    # Every database call but the pings of /readyz (haproxy's health checks: 2 per second per instance).
    DB_BEFORE=$(($(metric_sum stratus_db_query_duration_seconds_count) - $(metric_sum 'stratus_db_query_duration_seconds_count{operation="ping"}')))
    COM_BEFORE=$(com_select)
    HITS_BEFORE=$(metric_sum 'stratus_front_page_cache_total{result="hit"}')
    MISSES_BEFORE=$(metric_sum 'stratus_front_page_cache_total{result="miss"}')
    run_wrk "$LB/" 32
    DB_AFTER=$(($(metric_sum stratus_db_query_duration_seconds_count) - $(metric_sum 'stratus_db_query_duration_seconds_count{operation="ping"}')))
    COM_AFTER=$(com_select)
    HITS=$(($(metric_sum 'stratus_front_page_cache_total{result="hit"}') - HITS_BEFORE))
    MISSES=$(($(metric_sum 'stratus_front_page_cache_total{result="miss"}') - MISSES_BEFORE))
    FRONT=$((HITS + MISSES))
    QUERIES=$((DB_AFTER - DB_BEFORE))
    COM=$((COM_AFTER - COM_BEFORE))
    printf "cache on  (redis): %7s rps  p99 %6s ms  errors %s  (%s requests)\n" "$RPS" "$P99" "$ERRORS" "$REQUESTS"
    printf "  front pages %s: %s hits, %s misses\n" "$FRONT" "$HITS" "$MISSES"
    awk -v q="$QUERIES" -v c="$COM" -v f="$FRONT" 'BEGIN {
        printf "  MySQL queries per 1,000 front-page requests: %.3f by the instances'"'"' /metrics (%d queries; health-check pings excluded), %.3f by MariaDB Com_select + Com_stmt_execute (%d, all clients)\n", 1000 * q / f, q, 1000 * c / f, c
        printf "  target <= 5 per 1,000: %s\n", (1000 * q / f <= 5) ? "PASS" : "FAIL" }'
    stop_fleet
    start_fleet ROCKET_CACHE_URL=none
    sleep 1.5
    run_wrk "$LB/" 32
    printf "cache off (none):  %7s rps  p99 %6s ms  errors %s  (%s requests)\n" "$RPS" "$P99" "$ERRORS" "$REQUESTS"
    stop_fleet
fi

if want failover; then
    start_fleet ROCKET_CACHE_URL="redis://127.0.0.1:6379"
    sleep 1.5
    echo "failover: 1-second wrk slices (c=8) through haproxy; errors = non-2xx + socket errors"
    victim=$N
    for second in $(seq 1 16); do
        case $second in
            4) kill -TERM "${PIDS[victim]}"; event="SIGTERM to web-$victim (readyz 503, drains 2 s, exits)" ;;
            8) wait "${PIDS[victim]}" 2>/dev/null || true; start_instance "$victim" ROCKET_CACHE_URL="redis://127.0.0.1:6379"; event="web-$victim restarted" ;;
            11) { kill -9 "${PIDS[victim]}" && wait "${PIDS[victim]}"; } 2>/dev/null || true; event="SIGKILL to web-$victim (a crash)" ;;
            *) event="" ;;
        esac
        DURATION=1s run_wrk "$LB/" 8
        printf "  t=%2ss %6s rps  errors %3s  %s  %s\n" "$second" "$RPS" "$ERRORS" "$(lb_state)" "$event"
    done
    start_instance "$victim" ROCKET_CACHE_URL="redis://127.0.0.1:6379"
    sleep 1.5
    echo "  after restart: $(lb_state)"
    stop_fleet
fi

if want ab; then
    start_fleet ROCKET_CACHE_URL="redis://127.0.0.1:6379"
    sleep 1.5
    for target in "one instance|http://127.0.0.1:$(port_of 1)/" "the fleet (haproxy)|$LB/"; do
        name=${target%%|*}
        url=${target#*|}
        ab -n "$AB_REQUESTS" -c 2 "$url" >"$WORK/ab.out" 2>&1 || true
        printf "ab -n %s -c 2 against %-19s %8s rps  failed %s  non-2xx %s  complete %s\n" "$AB_REQUESTS" "$name:" \
            "$(awk '/^Requests per second/ {printf "%.0f", $4}' "$WORK/ab.out")" \
            "$(awk '/^Failed requests/ {print $3}' "$WORK/ab.out")" \
            "$(awk '/^Non-2xx responses/ {print $3} END {}' "$WORK/ab.out" | grep . || echo 0)" \
            "$(awk '/^Complete requests/ {print $3}' "$WORK/ab.out")"
    done
    stop_fleet
fi
