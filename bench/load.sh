#!/usr/bin/env bash
# Level 0 load benchmark: Stratus (release build) against nginx serving a saved copy of the
# same front page, measured in one run on this machine, plus memory and upload throughput.
#
#   bench/load.sh                  # everything, DURATION=10s per wrk run
#   DURATION=5s bench/load.sh
#   bench/load.sh uploads          # one section: front | rows | uploads | media
#   ROUNDS=3 bench/load.sh media   # media: nginx and Stratus alternate 3 rounds (medians)
#
# Needs: wrk, nginx, curl (apt-get install -y wrk nginx-light curl) and Pillow for the big-JPEG
# test (pip install pillow). All traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECTION=${1:-all}
want() { [ "$SECTION" = all ] || [ "$SECTION" = "$1" ]; }
DURATION=${DURATION:-10s}
PORT=${PORT:-18080}
NGINX_PORT=${NGINX_PORT:-18090}

need() { command -v "$1" >/dev/null || { echo "bench: '$1' is missing: apt-get install -y $2" >&2; exit 1; }; }
need wrk wrk; need nginx nginx-light; need curl curl
python3 -c 'import PIL' 2>/dev/null || { echo "bench: Pillow is missing: pip install pillow" >&2; exit 1; }

cargo build --release --locked --quiet
BIN=$ROOT/target/release/stratus
WORK=$(mktemp -d /tmp/stratus-bench.XXXXXX)
chmod 755 "$WORK" # nginx workers run as an unprivileged user
PID=""
NGINX_PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=bench/server.sh
source bench/server.sh
rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
peak_rss_mb() { awk '/^VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

# shellcheck source=bench/wrk.sh
source bench/wrk.sh

declare -A RESULT
verdict() { if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; then echo "PASS"; else echo "FAIL"; fi; }

echo "== Stratus $(git rev-parse --short HEAD 2>/dev/null || echo '?') on $(nproc) cores, wrk -t2 -d$DURATION, $(date -u +%FT%TZ)"

# --- front page, cache on and off, against nginx ---------------------------------------------
if want front; then
start_stratus site
curl -sf "http://127.0.0.1:$PORT/" >/dev/null
sleep 1
IDLE_RSS=$(rss_mb "$PID")
mkdir -p "$WORK/www"
curl -sf "http://127.0.0.1:$PORT/" -o "$WORK/www/index.html"
PAGE_BYTES=$(stat -c %s "$WORK/www/index.html")
cat >"$WORK/nginx.conf" <<NGINX
worker_processes auto;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/www;
        location / { default_type text/html; try_files /index.html =404; }
    }
}
NGINX
nginx -c "$WORK/nginx.conf" -p "$WORK" &
NGINX_PID=$!
sleep 0.5
curl -sf "http://127.0.0.1:$NGINX_PORT/" >/dev/null

printf '\nGET / (%s bytes)       %8s %9s %9s %7s %8s\n' "$PAGE_BYTES" rps p50_ms p99_ms errors vs_nginx
for mode in on off; do
    if [ "$mode" = off ]; then
        stop_stratus
        start_stratus site ROCKET_CACHE_URL=none
    fi
    run_wrk "http://127.0.0.1:$PORT/" 32 >/dev/null # warm-up
    for c in 2 32 128; do
        run_wrk "http://127.0.0.1:$NGINX_PORT/" "$c"
        NGINX_RPS=$RPS
        [ "$mode" = on ] && printf '  nginx static   c=%-4s %8s %9s %9s %7s\n' "$c" "$RPS" "$P50" "$P99" "$ERRORS"
        run_wrk "http://127.0.0.1:$PORT/" "$c"
        RATIO=$(awk -v a="$RPS" -v b="$NGINX_RPS" 'BEGIN { printf "%.2f", a / b }')
        RESULT[$mode,$c]=$RATIO
        printf '  stratus cache=%-3s c=%-4s %8s %9s %9s %7s %7sx\n' "$mode" "$c" "$RPS" "$P50" "$P99" "$ERRORS" "$RATIO"
    done
    if [ "$mode" = on ]; then
        run_wrk "http://127.0.0.1:$PORT/" 64
        P99_64=$P99
        printf '  stratus cache=on  c=64   %8s %9s %9s %7s\n' "$RPS" "$P50" "$P99" "$ERRORS"
        # A browser asks for brotli: the memoised page's compressed form, made once.
        run_wrk "http://127.0.0.1:$PORT/" 32 -H 'Accept-Encoding: gzip, deflate, br'
        printf '  stratus cache=on  c=32 br %7s %9s %9s %7s\n' "$RPS" "$P50" "$P99" "$ERRORS"
    fi
done
stop_stratus
kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=""
fi

# --- front page latency against table size (cache off: every request reads the table) --------
if want rows; then
printf '\nGET / with cache off against photo rows\n'
start_stratus rows
stop_stratus
for rows in 1000 1000000; do
    ROCKET_DATA_DIR="$WORK/rows" STRATUS_LOG=warn ROCKET_SEED_DEMO=false "$BIN" seed-rows --count "$((rows - ${ROWS_SO_FAR:-10}))" >/dev/null
    ROWS_SO_FAR=$rows
    start_stratus rows ROCKET_CACHE_URL=none
    run_wrk "http://127.0.0.1:$PORT/" 2 >/dev/null
    run_wrk "http://127.0.0.1:$PORT/" 2
    RESULT[rows,$rows]=$P50
    printf '  %8s rows  c=2  %8s rps  p50 %6s ms  p99 %6s ms\n' "$rows" "$RPS" "$P50" "$P99"
    stop_stratus
done
fi

# --- uploads ---------------------------------------------------------------------------------
login() { # -> COOKIE, CSRF for a fresh user on the running instance
    local jar=$WORK/jar csrf
    rm -f "$jar"
    csrf=$(curl -sf -c "$jar" -b "$jar" "http://127.0.0.1:$PORT/register" | grep -o 'name="csrf" value="[^"]*"' | head -1 | cut -d'"' -f4)
    curl -sf -o /dev/null -c "$jar" -b "$jar" --data "username=bench$RANDOM&password=bench-password&csrf=$csrf" "http://127.0.0.1:$PORT/register"
    COOKIE="stratus_session=$(awk '$6 == "stratus_session" {print $7}' "$jar")"
    CSRF=$(curl -sf -b "$jar" "http://127.0.0.1:$PORT/" | grep -o 'name="csrf" value="[^"]*"' | head -1 | cut -d'"' -f4)
}
completed() { awk '/requests in/ {print $1}' "$WORK/wrk.out"; }

if want uploads; then
printf '\nUploads\n'
start_stratus uploads ROCKET_SEED_DEMO=false
login
python3 bench/make_upload_body.py tests/fixtures/images/valid/photo-exif-gps.jpg "$CSRF" "$WORK/body-2mp" BENCHBOUNDARY
BODY_FILE=$WORK/body-2mp BOUNDARY=BENCHBOUNDARY COOKIE=$COOKIE run_wrk "http://127.0.0.1:$PORT/photos" 4 -s bench/upload.lua --timeout 60s
UPLOADS_PER_S=$RPS
printf '  2 MP JPEG (1600x1200, %s KB), 4 clients: %s uploads/s, p50 %s ms, p99 %s ms, %s refused\n' \
    "$(($(stat -c %s tests/fixtures/images/valid/photo-exif-gps.jpg) / 1024))" "$RPS" "$P50" "$P99" "$ERRORS"
stop_stratus

python3 bench/make_big_jpeg.py "$WORK/big.jpg" 19 >/dev/null
start_stratus big ROCKET_SEED_DEMO=false
login
python3 bench/make_upload_body.py "$WORK/big.jpg" "$CSRF" "$WORK/body-big" BENCHBOUNDARY
DURATION=20s BODY_FILE=$WORK/body-big BOUNDARY=BENCHBOUNDARY COOKIE=$COOKIE run_wrk "http://127.0.0.1:$PORT/photos" 8 -s bench/upload.lua --timeout 60s
PEAK_RSS=$(peak_rss_mb "$PID")
printf '  %s MB JPEG (6000x4000), 8 clients for 20 s: %s uploads accepted (%s refused), peak RSS %s MB\n' \
    "$(awk -v b="$(stat -c %s "$WORK/big.jpg")" 'BEGIN { printf "%.1f", b / 1e6 }')" "$(($(completed) - ERRORS))" "$ERRORS" "$PEAK_RSS"
stop_stratus
fi

# --- /media against nginx (one worker, sendfile) serving the very same files ------------------
if want media; then
start_stratus media
curl -sf "http://127.0.0.1:$PORT/" -o "$WORK/media-page.raw.html"
# The paths as a browser reads them (the templates escape `/` in attributes as &#x2f;).
sed 's|&#x2f;|/|g' "$WORK/media-page.raw.html" >"$WORK/media-page.html"
MEDIA_ROOT=$WORK/media/photos # the store's directory: nginx serves these files as /media/
mkdir -p "$WORK/media-www/static"
cp "$WORK/media-page.raw.html" "$WORK/media-www/index.html"
# The page view as a browser at 1 device pixel fetches it: the page, its CSS, JS and icon, and
# every image the grid shows (at 1280 px, the 320 px candidates of srcset).
grep -o '/static/[^"]*' "$WORK/media-page.html" | sort -u >"$WORK/static.list"
while read -r asset; do curl -sf "http://127.0.0.1:$PORT$asset" -o "$WORK/media-www$asset"; done <"$WORK/static.list"
grep -o 'srcset="[^ ]*' "$WORK/media-page.html" | cut -d'"' -f2 >"$WORK/thumbs.list"
{ echo /; cat "$WORK/static.list" "$WORK/thumbs.list"; } >"$WORK/mix.list"
THUMB=$(grep -o 'img src="[^"]*' "$WORK/media-page.html" | head -1 | cut -d'"' -f2)
THUMB_BYTES=$(curl -sf "http://127.0.0.1:$PORT$THUMB" | wc -c)
# A 20 MB original straight into the store's directory (the key a 20 MB upload would get).
BIG_KEY=photos/01JBENCHBIGORIGINAL0000000.jpg
head -c 20000000 /dev/urandom >"$MEDIA_ROOT/$BIG_KEY"
cat >"$WORK/media-nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $WORK/media-nginx.pid;
error_log $WORK/media-nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    types { text/css css; application/javascript js; image/svg+xml svg; image/jpeg jpg; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/media-www;
        location = / { default_type text/html; try_files /index.html =404; }
        location /static/ { }
        location /media/ { alias $MEDIA_ROOT/; }
    }
}
NGINX
chmod -R a+rX "$WORK"
nginx -c "$WORK/media-nginx.conf" -p "$WORK" &
NGINX_PID=$!
sleep 0.5
curl -sf "http://127.0.0.1:$NGINX_PORT$THUMB" >/dev/null
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# The machine's load moves between wrk runs: nginx and Stratus take turns for ROUNDS rounds and
# the medians are compared. pair PATH CONNECTIONS [wrk args...] -> NGINX_RPS, RPS (medians), P99
ROUNDS=${ROUNDS:-1}
pair() {
    local path=$1 conns=$2 n=() s=() p=()
    shift 2
    STRATUS_ERRORS=0
    for _ in $(seq 1 "$ROUNDS"); do
        run_wrk "http://127.0.0.1:$NGINX_PORT$path" "$conns" "$@"
        n+=("$RPS")
        run_wrk "http://127.0.0.1:$PORT$path" "$conns" "$@"
        s+=("$RPS") p+=("$P99")
        STRATUS_ERRORS=$((STRATUS_ERRORS + ERRORS))
    done
    NGINX_RPS=$(median "${n[@]}") RPS=$(median "${s[@]}") P99=$(median "${p[@]}")
    ROUNDS_SEEN="stratus ${s[*]} / nginx ${n[*]}"
}

printf '\nGET %s (%s bytes), %s round(s) of %s each\n' "$THUMB" "$THUMB_BYTES" "$ROUNDS" "$DURATION"
run_wrk "http://127.0.0.1:$PORT$THUMB" 32 >/dev/null # warm-up
for c in 2 32; do
    pair "$THUMB" "$c"
    RESULT[thumb,$c]=$(ratio "$RPS" "$NGINX_RPS")
    printf '  thumbnail c=%-3s stratus %8s rps (p99 %s ms)  nginx %8s rps  %sx  [%s]\n' "$c" "$RPS" "$P99" "$NGINX_RPS" "${RESULT[thumb,$c]}" "$ROUNDS_SEEN"
done

printf '\nPage-view mix (%s requests per view: /, %s assets, %s images), c=32\n' \
    "$(wc -l <"$WORK/mix.list")" "$(wc -l <"$WORK/static.list")" "$(wc -l <"$WORK/thumbs.list")"
MIX_FILE=$WORK/mix.list pair "" 32 -s bench/mix.lua
RESULT[mix]=$(ratio "$RPS" "$NGINX_RPS")
printf '  stratus %8s rps (%s errors)  nginx %8s rps  %sx  [%s]\n' "$RPS" "$STRATUS_ERRORS" "$NGINX_RPS" "${RESULT[mix]}" "$ROUNDS_SEEN"

pair / 32
RESULT[page1w]=$(ratio "$RPS" "$NGINX_RPS")
printf '  cached front page alone, c=32: stratus %s rps  nginx %s rps  %sx  [%s]\n' "$RPS" "$NGINX_RPS" "${RESULT[page1w]}" "$ROUNDS_SEEN"

printf '\n20 MB original, 64 concurrent downloads, %s round(s) of %s each\n' "$ROUNDS" "$DURATION"
mbps() { awk '/^Transfer\/sec/ { v = $2 + 0; if ($2 ~ /GB$/) v *= 1024; else if ($2 ~ /KB$/) v /= 1024; printf "%.0f", v }' "$WORK/wrk.out"; }
curl -sf "http://127.0.0.1:$PORT/media/$BIG_KEY" -o /dev/null
BEFORE_RSS=$(rss_mb "$PID")
( peak=0; while kill -0 "$PID" 2>/dev/null; do
      r=$(rss_mb "$PID"); peak=$(awk -v a="$r" -v b="$peak" 'BEGIN { print (a > b ? a : b) }')
      echo "$peak" >"$WORK/peak"; sleep 0.1
  done ) &
SAMPLER=$!
n=() s=() DOWNLOADS_SEEN=""
for _ in $(seq 1 "$ROUNDS"); do
    run_wrk "http://127.0.0.1:$NGINX_PORT/media/$BIG_KEY" 64 --timeout 30s
    n+=("$(mbps)") DOWNLOADS_SEEN+=" nginx $REQUESTS"
    run_wrk "http://127.0.0.1:$PORT/media/$BIG_KEY" 64 --timeout 30s
    s+=("$(mbps)") DOWNLOADS_SEEN+=" stratus $REQUESTS ($ERRORS errors)"
done
kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null || true
STRATUS_MBPS=$(median "${s[@]}") NGINX_MBPS=$(median "${n[@]}")
PEAK=$(cat "$WORK/peak")
RESULT[big_rss]=$(awk -v a="$PEAK" -v b="$BEFORE_RSS" 'BEGIN { printf "%.1f", a - b }')
RESULT[big]=$(ratio "$STRATUS_MBPS" "$NGINX_MBPS")
printf '  stratus %s MB/s, RSS %s -> peak %s MB (+%s)  nginx %s MB/s  %sx  [stratus %s / nginx %s MB/s; downloads:%s]\n' \
    "$STRATUS_MBPS" "$BEFORE_RSS" "$PEAK" "${RESULT[big_rss]}" "$NGINX_MBPS" "${RESULT[big]}" "${s[*]}" "${n[*]}" "$DOWNLOADS_SEEN"
stop_stratus
kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=""
fi

printf '\nTargets\n'
if want front; then
    printf '  cached front page >= 0.45x nginx at c=32: %sx  %s\n' "${RESULT[on,32]}" "$(verdict "${RESULT[on,32]}" 0.45)"
    printf '  cached front page >= 1.0x nginx at c=2:   %sx  %s\n' "${RESULT[on,2]}" "$(verdict "${RESULT[on,2]}" 1.0)"
    printf '  p99 < 20 ms at c=64 (cache on):          %s ms  %s\n' "$P99_64" "$(verdict 20 "$P99_64")"
    printf '  idle RSS < 40 MB:                        %s MB  %s\n' "$IDLE_RSS" "$(verdict 40 "$IDLE_RSS")"
fi
if want uploads; then
    printf '  peak RSS < 300 MB, 8 x 19 MB uploads:    %s MB  %s\n' "$PEAK_RSS" "$(verdict 300 "$PEAK_RSS")"
    printf '  >= 80 uploads/s of 2 MP JPEGs, 4 clients: %s/s  %s\n' "$UPLOADS_PER_S" "$(verdict "$UPLOADS_PER_S" 80)"
fi
if want media; then
    printf '  thumbnail >= 0.8x nginx at c=2:          %sx  %s\n' "${RESULT[thumb,2]}" "$(verdict "${RESULT[thumb,2]}" 0.8)"
    printf '  thumbnail >= 0.8x nginx at c=32:         %sx  %s\n' "${RESULT[thumb,32]}" "$(verdict "${RESULT[thumb,32]}" 0.8)"
    printf '  page-view mix >= 0.7x nginx:             %sx  %s\n' "${RESULT[mix]}" "$(verdict "${RESULT[mix]}" 0.7)"
    printf '  20 MB x 64 downloads >= 0.5x nginx MB/s: %sx  %s\n' "${RESULT[big]}" "$(verdict "${RESULT[big]}" 0.5)"
    printf '  ... raising RSS by <= 100 MB:            +%s MB  %s\n' "${RESULT[big_rss]}" "$(verdict 100 "${RESULT[big_rss]}")"
fi
if want rows; then
    RATIO_ROWS=$(awk -v a="${RESULT[rows,1000000]}" -v b="${RESULT[rows,1000]}" 'BEGIN { printf "%.2f", a / b }')
    printf '  p50 at 1M rows / p50 at 1k rows <= 1.5:  %s  %s\n' "$RATIO_ROWS" "$(verdict 1.5 "$RATIO_ROWS")"
fi
