#!/usr/bin/env bash
# Rates of the data commands on ROWS photo rows (default 100,000; `stratus seed-rows` adds
# rows that reuse the newest photo's blobs, so the rows are many and the blobs few):
#   migrate-db  SQLite → a fresh MariaDB database, then MariaDB → a new SQLite file (rows/s)
#   backup      of the SQLite site (photos on disk), and of the MariaDB + S3 site (rows/s, and
#               MB/s of blobs fetched); a second backup into the same directory (nothing to fetch)
#   restore     of that backup into a fresh MariaDB database and S3 prefix
#   check       on the MariaDB + S3 site
#
#   bench/data.sh
#   ROWS=20000 bench/data.sh
#
# The shared servers come from tests/services.sh, as for the tests. Everything stays on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROWS=${ROWS:-100000}
# shellcheck source=tests/services.sh
source tests/services.sh >/dev/null
command -v mariadb >/dev/null || { echo "bench: needs mariadb-client" >&2; exit 1; }

cargo build --release --locked --quiet
BIN=$ROOT/target/release/stratus
WORK=$(mktemp -d /tmp/stratus-data.XXXXXX)
SERVER=
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; fi
    for db in $(cat "$WORK/databases" 2>/dev/null); do mariadb -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $db" || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
MYSQL_SERVER=${STRATUS_TEST_MYSQL:-mysql://root@127.0.0.1:3306}
BUCKET=${STRATUS_TEST_BUCKET:-stratus-test}
fresh_db() {
    local name=stratus_databench_$$_$RANDOM
    mariadb -uroot -h127.0.0.1 -e "CREATE DATABASE $name CHARACTER SET utf8mb4"
    echo "$name" >>"$WORK/databases"
    echo "$MYSQL_SERVER/$name"
}
# A site's environment: nothing inherited but the data directory and the two URLs.
site() { # data_dir database_url storage_url command...
    local data=$1 db=$2 storage=$3
    shift 3
    env -u ROCKET_PROFILE -u STRATUS_LEVEL STRATUS_LOG=error ROCKET_DATA_DIR="$data" ROCKET_DATABASE_URL="$db" \
        ROCKET_STORAGE_URL="$storage" "$BIN" "$@"
}
timed() { # label command...
    local label=$1 start end
    shift
    start=$(date +%s.%N)
    "$@" | tail -n 3 | sed "s/^/  /"
    end=$(date +%s.%N)
    printf '%s: %.1f s wall\n' "$label" "$(echo "$end - $start" | bc)"
}

echo "== $ROWS photo rows on a single-profile site (SQLite, photos on disk; the ten demo photos seeded)"
SQLITE="sqlite://$WORK/site/stratus.db"
PHOTOS="file://$WORK/site/photos"
site "$WORK/site" "$SQLITE" "$PHOTOS" seed-rows --count "$ROWS" | sed "s/^/  /"

MYSQL=$(fresh_db)
timed "migrate-db SQLite → MariaDB" "$BIN" migrate-db --from "$SQLITE" --to "$MYSQL"
timed "migrate-db MariaDB → SQLite" "$BIN" migrate-db --from "$MYSQL" --to "sqlite://$WORK/back.db"
timed "backup (SQLite + disk)" site "$WORK/site" "$SQLITE" "$PHOTOS" backup --to "$WORK/backup-sqlite"
echo "  row data written: $(du -sm "$WORK"/backup-sqlite/tables-* | cut -f1) MB (JSON lines; the same rows migrate-db moves)"

S3="s3://$BUCKET/bench-data-$RANDOM$RANDOM"
"$BIN" migrate-storage --from "$PHOTOS" --to "$S3" | tail -n 1 | sed "s/^/  /"
timed "backup (MariaDB + S3)" site "$WORK/site" "$MYSQL" "$S3" backup --to "$WORK/backup-fleet"
timed "backup again, same directory" site "$WORK/site" "$MYSQL" "$S3" backup --to "$WORK/backup-fleet"
MYSQL2=$(fresh_db)
S3_2="s3://$BUCKET/bench-data-$RANDOM$RANDOM"
timed "restore into MariaDB + S3" site "$WORK/site" "$MYSQL2" "$S3_2" restore --from "$WORK/backup-fleet"
timed "check (MariaDB + S3)" site "$WORK/site" "$MYSQL2" "$S3_2" check

UPLOADS=${UPLOADS:-60}
echo "== blob volume: $UPLOADS uploads of tests/fixtures/images/valid/alpha.png (550 KB) through a release server"
PORT=${PORT:-18300}
BLOBSITE=$WORK/blobsite
env -u ROCKET_PROFILE -u STRATUS_LEVEL STRATUS_LOG=error ROCKET_DATA_DIR="$BLOBSITE" ROCKET_PORT="$PORT" \
    ROCKET_SEED_DEMO=false "$BIN" >"$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
JAR=$WORK/jar
csrf() { curl -sf -c "$JAR" -b "$JAR" "http://127.0.0.1:$PORT$1" | grep -o 'name="csrf" value="[^"]*"' | head -1 | cut -d'"' -f4; }
curl -sf -o /dev/null -c "$JAR" -b "$JAR" --data "username=bench&password=bench-password&csrf=$(csrf /register)" \
    "http://127.0.0.1:$PORT/register"
CSRF=$(csrf /)
for i in $(seq 1 "$UPLOADS"); do
    curl -sf -o /dev/null -c "$JAR" -b "$JAR" -F "csrf=$CSRF" -F "caption=bench $i" \
        -F "photo=@tests/fixtures/images/valid/alpha.png" "http://127.0.0.1:$PORT/photos"
done
kill "$SERVER"
wait "$SERVER" 2>/dev/null || true
BSQLITE="sqlite://$BLOBSITE/stratus.db"
timed "backup (SQLite + disk)" site "$BLOBSITE" "$BSQLITE" "file://$BLOBSITE/photos" backup --to "$WORK/blobs-disk"
BMYSQL=$(fresh_db)
BS3="s3://$BUCKET/bench-data-$RANDOM$RANDOM"
"$BIN" migrate-db --from "$BSQLITE" --to "$BMYSQL" | tail -n 1 | sed "s/^/  /"
"$BIN" migrate-storage --from "file://$BLOBSITE/photos" --to "$BS3" | tail -n 1 | sed "s/^/  /"
timed "backup (MariaDB + S3)" site "$BLOBSITE" "$BMYSQL" "$BS3" backup --to "$WORK/blobs-s3"
BMYSQL2=$(fresh_db)
timed "restore into MariaDB + S3" site "$BLOBSITE" "$BMYSQL2" "s3://$BUCKET/bench-data-$RANDOM$RANDOM" restore --from "$WORK/blobs-s3"
