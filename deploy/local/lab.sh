#!/usr/bin/env bash
# The classroom lab: one tutorial level at a time on one laptop, with the same site and data
# all the way from level 0 to level 6 (docs/levels.md walks through it).
#
#   deploy/local/lab.sh LEVEL        bring LEVEL (0-6) up, moving the data of the level that ran
#                                    before (stratus migrate-db / migrate-storage, printed as they
#                                    run); stays in the foreground showing the logs; Ctrl-C tears
#                                    the level down (the data stays for the next level)
#   deploy/local/lab.sh -d LEVEL     the same, but returns once the level is up
#   deploy/local/lab.sh down         tear down whatever level is up (the data stays)
#   deploy/local/lab.sh stratus ARGS run the stratus CLI on the lab's site at the current level,
#                                    e.g. `lab.sh stratus traffic`, `lab.sh stratus admin grant NAME`
#   deploy/local/lab.sh clean        tear down and delete the lab's data: its directory, MySQL
#                                    database, S3 prefix and Redis keys
#
# Level 0 is one stratus process on http://127.0.0.1:8080. Levels 1-6 are LAB_INSTANCES (2)
# instances on 8081, 8082... behind haproxy on 8080 (stats on 8088), sharing the servers of
# tests/services.sh (MariaDB, Redis, SeaweedFS for S3), which are started when missing; from
# level 5 a second haproxy frontend on 8089 stands in for the CDN, an edge cache in front of
# the instances' /media. Only 127.0.0.1 is ever bound.
#
# Settings (environment): LAB_PORT (8080; the others follow it), LAB_INSTANCES (2), LAB_NAME
# (lab: names the database stratus_lab, the key prefix lab: and the S3 prefix lab/photos),
# LAB_DIR (/tmp/stratus-lab-$LAB_NAME), STRATUS_BIN (default: a release build of this checkout).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
LAB_NAME=${LAB_NAME:-lab}
LAB_DIR=${LAB_DIR:-${TMPDIR:-/tmp}/stratus-lab-$LAB_NAME}
LAB_PORT=${LAB_PORT:-8080}
LAB_INSTANCES=${LAB_INSTANCES:-2}
STATS_PORT=$((LAB_PORT + 8))
CDN_PORT=$((LAB_PORT + 9))
DB_NAME=stratus_${LAB_NAME//[^A-Za-z0-9_]/_}
RUN=$LAB_DIR/run
LOGS=$LAB_DIR/logs
[[ $LAB_NAME =~ ^[A-Za-z0-9_-]+$ ]] || { echo "lab.sh: LAB_NAME may hold letters, digits, _ and - only" >&2; exit 2; }
NAMES=("One server" "Load balancer" "S3" "Auto scaling" "Cache" "CDN" "Log analysis")

say() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
die() {
    echo "lab.sh: $*" >&2
    exit 1
}
usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }

# tests/services.sh installs a missing server with apt_install; the lab only says what to run.
apt_install() { die "missing $*; install with: sudo apt-get install -y $*"; }
services() {
    # shellcheck source=tests/services.sh
    source tests/services.sh >/dev/null
    command -v haproxy >/dev/null || apt_install haproxy
    command -v mariadb >/dev/null || apt_install mariadb-client
}

binary() {
    if [ -n "${STRATUS_BIN:-}" ]; then
        echo "$STRATUS_BIN"
        return
    fi
    cargo build --release --locked --quiet --bin stratus >&2
    echo "$ROOT/target/release/stratus"
}

database_url() { # level
    if [ "$1" = 0 ]; then echo "sqlite://$LAB_DIR/data/stratus.db"; else echo "mysql://root@127.0.0.1:3306/$DB_NAME"; fi
}
storage_url() { # level
    case $1 in
        0) echo "file://$LAB_DIR/data/photos" ;;
        1) echo "file://$LAB_DIR/shared/photos" ;;
        *) echo "s3://$STRATUS_TEST_BUCKET/$LAB_NAME/photos" ;;
    esac
}

# The settings of one process at `level`: the level file's own, with what cannot be the same
# on a laptop moved to loopback and the lab's names.
level_env() { # level index
    local level=$1 i=$2
    echo "STRATUS_LEVEL=$level"
    echo "STRATUS_LOG=${STRATUS_LOG:-warn}"
    echo "ROCKET_DATABASE_URL=$(database_url "$level")"
    echo "ROCKET_STORAGE_URL=$(storage_url "$level")"
    echo "ROCKET_KEY_PREFIX=$LAB_NAME:"
    echo "ROCKET_SECRET_KEY=$(cat "$LAB_DIR/secret")"
    if [ "$level" = 0 ]; then
        echo "ROCKET_PORT=$LAB_PORT"
        echo "ROCKET_DATA_DIR=$LAB_DIR/data"
        echo "ROCKET_INSTANCE_ID=web-0"
        return
    fi
    echo "ROCKET_PORT=$((LAB_PORT + i))"
    echo "ROCKET_DATA_DIR=$LAB_DIR/web-$i"
    echo "ROCKET_INSTANCE_ID=web-$i"
    # haproxy connects from 127.0.0.2, as a load balancer is a host of its own: trusted, and
    # told apart from the browsers on 127.0.0.1, so /architecture draws it.
    echo "ROCKET_TRUSTED_PROXIES=[\"127.0.0.2\"]"
    if [ "$level" -ge 5 ]; then echo "ROCKET_MEDIA_BASE_URL=http://127.0.0.1:$CDN_PORT"; fi
}

current_level() { cat "$LAB_DIR/level" 2>/dev/null || true; }

# Runs the stratus CLI with the settings of `level` (instance 1's).
stratus_at() { # level, then stratus arguments
    local level=$1
    shift
    mapfile -t settings < <(level_env "$level" 1)
    env "${settings[@]}" "$BIN" "$@"
}

running_pids() {
    local file pid
    for file in "$RUN"/*.pid; do
        [ -e "$file" ] || continue
        pid=$(cat "$file")
        # A pid the system has reused for something else since is left alone.
        if grep -qE 'stratus|haproxy' "/proc/$pid/cmdline" 2>/dev/null; then echo "$pid"; fi
    done
}

down() {
    local pids
    mapfile -t pids < <(running_pids)
    if [ "${#pids[@]}" -gt 0 ]; then
        say "Stopping level $(current_level) (SIGTERM: the instances drain first)"
        kill -TERM "${pids[@]}" 2>/dev/null || true
        for _ in $(seq 1 100); do
            mapfile -t pids < <(running_pids)
            [ "${#pids[@]}" = 0 ] && break
            sleep 0.1
        done
        [ "${#pids[@]}" = 0 ] || kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    rm -f "$RUN"/*.pid
}

start() { # name, log, then env settings and the command after `--`
    local name=$1 log=$2
    shift 2
    local settings=()
    while [ "$1" != -- ]; do
        settings+=("$1")
        shift
    done
    shift
    # A session of its own: the process outlives a detached lab.sh and its terminal.
    env "${settings[@]}" setsid "$@" >>"$log" 2>&1 </dev/null &
    echo $! >"$RUN/$name.pid"
}

wait_ready() { # url, log
    for _ in $(seq 1 300); do
        curl -sf -o /dev/null "$1/readyz" && return 0
        sleep 0.1
    done
    echo "lab.sh: $1 did not become ready; the end of its log ($2):" >&2
    tail -n 20 "$2" >&2
    down
    exit 1
}

haproxy_config() { # level
    echo "global"
    echo "    stats socket $RUN/haproxy.sock mode 600 level admin"
    echo "defaults"
    echo "    mode http"
    echo "    timeout connect 2s"
    echo "    timeout client 30s"
    echo "    timeout server 30s"
    echo "    retries 2"
    echo "    option redispatch"
    echo "    retry-on conn-failure empty-response"
    echo "frontend site"
    echo "    bind 127.0.0.1:$LAB_PORT"
    echo "    option forwardfor"
    echo "    default_backend web"
    echo "backend web"
    echo "    source 127.0.0.2"
    echo "    balance roundrobin"
    echo "    option httpchk GET /readyz"
    echo "    http-check expect status 200"
    echo "    default-server inter 1s fall 2 rise 1"
    for i in $(seq 1 "$LAB_INSTANCES"); do echo "    server web-$i 127.0.0.1:$((LAB_PORT + i)) check"; done
    echo "listen stats"
    echo "    bind 127.0.0.1:$STATS_PORT"
    echo "    stats enable"
    echo "    stats uri /"
    echo "    stats refresh 2s"
    if [ "$1" -ge 5 ]; then
        # The CDN: an edge cache whose origin is the fleet's /media (CloudFront in front of a
        # bucket, on one laptop). Image URLs are this host + the blob's path in the bucket.
        echo "cache edge"
        echo "    total-max-size 64"
        echo "    max-object-size 10000000"
        echo "    max-age 31536000"
        echo "frontend cdn"
        echo "    bind 127.0.0.1:$CDN_PORT"
        echo "    default_backend edge"
        echo "backend edge"
        printf '    http-request replace-path ^/%s/photos/(.*) /media/\\1\n' "$LAB_NAME"
        echo "    http-request cache-use edge"
        echo "    http-response cache-store edge"
        echo "    source 127.0.0.2"
        echo "    balance roundrobin"
        echo "    option httpchk GET /readyz"
        echo "    default-server inter 1s fall 2 rise 1"
        for i in $(seq 1 "$LAB_INSTANCES"); do echo "    server web-$i 127.0.0.1:$((LAB_PORT + i)) check"; done
    fi
}

# Copies the data of `from` to where `to` keeps it, with the commands `stratus levels` names.
move_data() { # from-level to-level
    local from=$1 to=$2
    [ -n "$from" ] || return 0
    if [ "$(database_url "$from")" != "$(database_url "$to")" ]; then
        say "+ stratus migrate-db --from $(database_url "$from") --to $(database_url "$to")"
        "$BIN" migrate-db --from "$(database_url "$from")" --to "$(database_url "$to")"
    fi
    if [ "$(storage_url "$from")" != "$(storage_url "$to")" ]; then
        say "+ stratus migrate-storage --from $(storage_url "$from") --to $(storage_url "$to")"
        "$BIN" migrate-storage --from "$(storage_url "$from")" --to "$(storage_url "$to")"
    fi
}

# Requests through the load balancer until every instance has answered one.
wait_balanced() {
    local seen
    for _ in $(seq 1 100); do
        seen=$(for _ in $(seq 1 $((2 * LAB_INSTANCES))); do
            curl -s -o /dev/null -D - "http://127.0.0.1:$LAB_PORT/healthz" | awk -F': ' 'tolower($1) == "x-served-by" {print $2}'
        done | tr -d '\r' | sort -u | grep -c . || true)
        [ "$seen" -ge "$LAB_INSTANCES" ] && return 0
        sleep 0.2
    done
    die "haproxy did not reach all $LAB_INSTANCES instances (logs: $LOGS)"
}

up() { # level
    local level=$1 previous i
    previous=$(current_level)
    down
    mkdir -p "$RUN" "$LOGS" "$LAB_DIR/data" "$LAB_DIR/shared/photos"
    chmod 700 "$LAB_DIR"
    [ -s "$LAB_DIR/secret" ] || head -c 32 /dev/urandom | base64 >"$LAB_DIR/secret"
    mariadb -h127.0.0.1 -uroot -e "CREATE DATABASE IF NOT EXISTS $DB_NAME CHARACTER SET utf8mb4"
    move_data "$previous" "$level"
    echo "$level" >"$LAB_DIR/level"
    if [ "$level" = 0 ]; then
        mapfile -t settings < <(level_env 0 0)
        start web-0 "$LOGS/web-0.log" "${settings[@]}" -- "$BIN"
        wait_ready "http://127.0.0.1:$LAB_PORT" "$LOGS/web-0.log"
    else
        for i in $(seq 1 "$LAB_INSTANCES"); do
            mapfile -t settings < <(level_env "$level" "$i")
            start "web-$i" "$LOGS/web-$i.log" "${settings[@]}" -- "$BIN"
        done
        for i in $(seq 1 "$LAB_INSTANCES"); do wait_ready "http://127.0.0.1:$((LAB_PORT + i))" "$LOGS/web-$i.log"; done
        haproxy_config "$level" >"$RUN/haproxy.cfg"
        haproxy -c -q -f "$RUN/haproxy.cfg" || die "haproxy refused $RUN/haproxy.cfg"
        start haproxy "$LOGS/haproxy.log" PATH="$PATH" -- haproxy -db -f "$RUN/haproxy.cfg"
        wait_balanced
    fi
    say "Level $level (${NAMES[level]}) is up: http://127.0.0.1:$LAB_PORT/   the diagram: http://127.0.0.1:$LAB_PORT/architecture"
    if [ "$level" != 0 ]; then
        echo "  instances: $(for i in $(seq 1 "$LAB_INSTANCES"); do printf 'web-%s http://127.0.0.1:%s  ' "$i" $((LAB_PORT + i)); done)"
        echo "  haproxy stats: http://127.0.0.1:$STATS_PORT/"
    fi
    if [ "$level" -ge 5 ]; then echo "  the CDN (an haproxy edge cache): http://127.0.0.1:$CDN_PORT/"; fi
    echo "  logs: $LOGS/   the lab's stratus CLI: deploy/local/lab.sh stratus --help"
}

detach=false
if [ "${1:-}" = -d ] || [ "${1:-}" = --detach ]; then
    detach=true
    shift
fi
case ${1:-} in
    [0-6])
        [ $# = 1 ] || die "one level at a time: lab.sh [-d] LEVEL"
        services
        BIN=$(binary)
        [ -x "$BIN" ] || die "no stratus binary at $BIN"
        up "$1"
        if ! $detach; then
            echo "  Ctrl-C tears the level down (the data stays for the next level)."
            tail -n 0 -F "$LOGS"/web-*.log &
            TAIL=$!
            trap 'kill "$TAIL" 2>/dev/null; down; exit 0' INT TERM
            wait "$TAIL"
        fi
        ;;
    down)
        down
        ;;
    stratus)
        shift
        level=$(current_level)
        [ -n "$level" ] || die "no level has run yet: start one with lab.sh LEVEL"
        services
        BIN=$(binary)
        stratus_at "$level" "$@"
        ;;
    clean)
        down
        services
        mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $DB_NAME"
        redis-cli --scan --pattern "$LAB_NAME:*" | xargs -r redis-cli del >/dev/null
        # The lab's S3 prefix, through the filer of tests/services.sh's SeaweedFS.
        curl -s -o /dev/null -X DELETE "http://127.0.0.1:8888/buckets/$STRATUS_TEST_BUCKET/$LAB_NAME/?recursive=true" || true
        rm -rf "$LAB_DIR"
        ;;
    -h | --help | help)
        usage
        ;;
    *)
        usage >&2
        exit 2
        ;;
esac
