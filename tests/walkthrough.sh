#!/usr/bin/env bash
# The teacher's walkthrough, docs/levels.md, run as written so it cannot rot: every line of its
# ```sh blocks in order (a failing line fails the test), against a lab of its own (free ports,
# its own database, key prefix and S3 prefix; the doc's 127.0.0.1:80xx become those ports).
# Between the lines it does what the doc asks the teacher to do in the browser (register alice,
# upload a photo, sign in again) and checks, after every `lab.sh LEVEL`, that the same site and
# data came along: the same photo ids, alice's password, her image loading, the level and every
# instance (behind the load balancer) on /architecture. Last, a lab in the foreground is torn
# down by Ctrl-C's SIGINT.
#
#   tests/walkthrough.sh        (tests/run.sh runs it; STRATUS_BIN picks the binary)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

apt_install() {
    echo "tests/walkthrough.sh: missing $*; tests/run.sh installs it" >&2
    exit 1
}
# shellcheck source=tests/services.sh
source tests/services.sh >/dev/null
command -v haproxy >/dev/null || apt_install haproxy

if [ -z "${STRATUS_BIN:-}" ]; then
    cargo build --locked --quiet --bin stratus
    STRATUS_BIN=$ROOT/target/debug/stratus
fi
export STRATUS_BIN

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 1 50); do
    LAB_PORT=$((20000 + RANDOM % 2000 * 10))
    all_free=true
    for offset in $(seq 0 9); do port_free $((LAB_PORT + offset)) || all_free=false; done
    $all_free && break
done
export LAB_PORT
export LAB_NAME=walk$$
LAB_DIR=$(mktemp -d /tmp/stratus-walkthrough.XXXXXX)
export LAB_DIR
WORK=$(mktemp -d /tmp/stratus-walkthrough-client.XXXXXX)
LAB_PID=""
cleanup() {
    [ -n "$LAB_PID" ] && kill "$LAB_PID" 2>/dev/null
    deploy/local/lab.sh clean >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

SITE=http://127.0.0.1:$LAB_PORT
PASSWORD="correct horse battery"
fail() {
    echo "tests/walkthrough.sh: $*" >&2
    exit 1
}

csrf() { # page, cookie jar
    curl -s -b "$2" -c "$2" "$SITE$1" | grep -o 'name="csrf" value="[^"]*"' | head -n 1 | sed 's/.*value="//; s/"$//'
}
post() { # path, cookie jar, curl form arguments...: prints the status and the Location
    local path=$1 jar=$2
    shift 2
    curl -s -o /dev/null -b "$jar" -c "$jar" -w '%{http_code} %{redirect_url}' "$@" "$SITE$path"
}
photo_ids() { curl -sf "$SITE/api/photos?limit=100" | python3 -c 'import json,sys; print(" ".join(p["id"] for p in json.load(sys.stdin)["photos"]))'; }
image_url() { # photo id: its image URL, absolute
    curl -sf "$SITE/api/photos?limit=100" | python3 -c '
import json, sys
for p in json.load(sys.stdin)["photos"]:
    if p["id"] == sys.argv[1]:
        print(p["url"] if "://" in p["url"] else sys.argv[2] + p["url"])' "$1" "$SITE"
}

# What the doc asks of the teacher at level 0: register alice, upload a photo.
register_and_upload() {
    local jar=$WORK/alice0 answer
    answer=$(post /register "$jar" --data-urlencode "csrf=$(csrf /register "$jar")" --data-urlencode username=alice \
        --data-urlencode "password=$PASSWORD")
    [[ $answer == 303* ]] || fail "registering alice at level 0 answered $answer"
    answer=$(post /photos "$jar" -F "csrf=$(csrf / "$jar")" -F caption="alice at level 0" \
        -F "photo=@tests/fixtures/images/valid/progressive.jpg;type=image/jpeg")
    [[ $answer == 303*/photos/* ]] || fail "alice's upload answered $answer"
    ALICE_PHOTO=${answer##*/photos/}
    PHOTOS=$(photo_ids)
    [[ " $PHOTOS " == *" $ALICE_PHOTO "* ]] || fail "alice's photo $ALICE_PHOTO is not listed: $PHOTOS"
}

check_level() { # level, instances
    local level=$1 instances=$2 jar=$WORK/alice$1 answer page ok
    [ "$(photo_ids)" = "$PHOTOS" ] || fail "level $level lists other photos: $(photo_ids), not $PHOTOS"
    answer=$(post /login "$jar" --data-urlencode "csrf=$(csrf /login "$jar")" --data-urlencode username=alice \
        --data-urlencode "password=$PASSWORD")
    [[ $answer == 303* ]] || fail "alice cannot sign in at level $level: $answer"
    answer=$(curl -s -o /dev/null -w '%{http_code}' "$(image_url "$ALICE_PHOTO")")
    [ "$answer" = 200 ] || fail "alice's image at level $level answered $answer"
    # Instances beat every 2 s: give the roster a few beats to list them all.
    for _ in $(seq 1 40); do
        page=$(curl -sf "$SITE/architecture")
        ok=true
        grep -q "tutorial level <strong>$level</strong>" <<<"$page" || ok=false
        if [ "$level" != 0 ]; then
            grep -q "Load balancer" <<<"$page" || ok=false
            for i in $(seq 1 "$instances"); do grep -q ">web-$i" <<<"$page" || ok=false; done
            [ "$(grep -o '<td>web-[0-9]*' <<<"$page" | sort -u | wc -l)" = "$instances" ] || ok=false
        fi
        $ok && break
        sleep 0.25
    done
    $ok || fail "/architecture at level $level does not show the level and its $instances instances: $page"
    echo "  level $level: the same $(wc -w <<<"$PHOTOS") photos, alice signs in, her image loads, /architecture shows $instances instance(s)"
}

mapfile -t COMMANDS < <(python3 - "$LAB_PORT" <<'PY'
import re, sys
port = int(sys.argv[1])
text = open("docs/levels.md").read()
for block in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M):
    for line in block.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            print(re.sub(r"127\.0\.0\.1:80(8\d)", lambda m: f"127.0.0.1:{port + int(m.group(1)) - 80}", line))
PY
)
[ "${#COMMANDS[@]}" -ge 10 ] || fail "docs/levels.md has only ${#COMMANDS[@]} commands"
levels_seen=""
for command in "${COMMANDS[@]}"; do
    echo "\$ $command"
    bash -o pipefail -c "$command" >"$WORK/out" 2>&1 || { cat "$WORK/out" >&2; fail "this line of docs/levels.md failed: $command"; }
    sed 's/^/    /' "$WORK/out" | tail -n 12
    if [[ $command =~ lab\.sh\ -d\ ([0-6])$ ]]; then
        level=${BASH_REMATCH[1]}
        instances=2
        [[ $command =~ LAB_INSTANCES=([0-9]+) ]] && instances=${BASH_REMATCH[1]}
        [ "$level" = 0 ] && instances=1
        [ -z "$levels_seen" ] && register_and_upload
        check_level "$level" "$instances"
        levels_seen="$levels_seen$level"
    fi
done
[ "$levels_seen" = 01233456 ] || fail "the walkthrough brought up levels $levels_seen, not 0 to 6 in order"
port_free "$LAB_PORT" || fail "lab.sh down left the site up"

# Without -d, lab.sh stays in the foreground, and Ctrl-C tears it down. Started under job
# control, it does not ignore SIGINT as a plain background command would; and since a shell
# cannot trap a signal that was ignored when it started (as it is under a runner that started
# this script in the background), `env --default-signal` hands lab.sh SIGINT's default.
set -m
env --default-signal=INT deploy/local/lab.sh 4 >"$WORK/foreground.log" 2>&1 &
LAB_PID=$!
set +m
for _ in $(seq 1 300); do
    curl -sf -o /dev/null "$SITE/healthz" && grep -q "Ctrl-C" "$WORK/foreground.log" && break
    sleep 0.1
done
grep -q "Ctrl-C" "$WORK/foreground.log" || { cat "$WORK/foreground.log" >&2; fail "lab.sh 4 did not come up"; }
check_level 4 2
kill -INT "$LAB_PID"
wait "$LAB_PID" || fail "lab.sh exited with $? on Ctrl-C"
LAB_PID=""
for offset in 0 1 2; do port_free $((LAB_PORT + offset)) || fail "port $((LAB_PORT + offset)) still open after Ctrl-C"; done
[ -z "$(ls "$LAB_DIR"/run/*.pid 2>/dev/null)" ] || fail "pid files left in $LAB_DIR/run"
echo "walkthrough: every command of docs/levels.md ran; levels 0-6 kept the same site and data; Ctrl-C tears the lab down"
