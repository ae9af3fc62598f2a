#!/usr/bin/env bash
# The one test command. It installs what the tests need when it is missing, starts the
# shared servers the fleet backends are tested against (tests/services.sh), then runs:
#   0. tests/aws_stack.sh    — cfn-lint, packer validate and the AWS stack (deploy/aws) in moto
#   1. cargo test            — unit tests, then the one integration-test binary (tests/it):
#                              the contract tests of every backend (fleet ones included), the
#                              CLI and fleet processes, and the HTTP suite (`-- http::`) once
#                              per profile: single, then fleet with Redis, with memcached, with
#                              a Redis Cluster, and over TLS
#   2. tests/browser         — real-browser tests in Debian's chromium (playwright-core) and
#                              W3C Nu validation of every page (vnu-jar, run with Java)
#   3. tests/walkthrough.sh  — the teacher's walkthrough (docs/levels.md) as written, level 0
#                              to 6 through deploy/local/lab.sh
# Idempotent: run it as often as you like. Installing uses apt-get (as root) and npm.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
    echo "tests/run.sh: cargo is not installed (https://rustup.rs)" >&2
    exit 1
fi

apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "tests/run.sh: missing $*; install with: sudo apt-get install -y $*" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

echo "== shared servers: MariaDB, Redis, memcached, SeaweedFS (S3)"
# shellcheck source=tests/services.sh
source tests/services.sh

# Everything above runs now: a test that finds a server (or haproxy) missing fails instead of
# skipping, as it does under a plain `cargo test` (tests/it/common/services.rs).
export STRATUS_REQUIRE_SERVERS=1

# haproxy stands in front of stratus in tests/it/cli/edges.rs (forwarded addresses).
command -v haproxy >/dev/null || apt_install haproxy

# promtool (Debian's prometheus package) lints /metrics in tests/it/http/metrics.rs.
command -v promtool >/dev/null || apt_install prometheus
export STRATUS_REQUIRE_PROMTOOL=1
promtool check rules deploy/prometheus-rules.yml

echo "== AWS deployment: cfn-lint, packer validate, the stack in moto's CloudFormation per level"
tests/aws_stack.sh

echo "== cargo test (TEST_PROFILE=single): unit tests, contract tests of every backend, HTTP suite"
TEST_PROFILE=single cargo test --locked
echo "== cargo test (TEST_PROFILE=fleet): the HTTP suite on MySQL, S3 (SeaweedFS) and Redis"
TEST_PROFILE=fleet TEST_FLEET_KV=redis cargo test --locked --test it -- http::
echo "== cargo test (TEST_PROFILE=fleet): the HTTP suite on MySQL, S3 (SeaweedFS) and memcached"
TEST_PROFILE=fleet TEST_FLEET_KV=memcached cargo test --locked --test it -- http::
echo "== cargo test (TEST_PROFILE=fleet): the HTTP suite on MySQL, S3 (SeaweedFS) and a Redis Cluster"
TEST_PROFILE=fleet TEST_FLEET_KV=redis-cluster cargo test --locked --test it -- http::

echo "== cargo test (TEST_PROFILE=fleet): the HTTP suite over TLS: MariaDB requiring secure transport, a TLS Redis Cluster (cache), memcached -Z (sessions)"
TEST_PROFILE=fleet TEST_FLEET_KV=mixed TEST_FLEET_TLS=1 cargo test --locked --test it -- http::

echo "== browser tests (chromium) and HTML validation (vnu)"
[ -x /usr/bin/chromium ] || apt_install chromium
command -v java >/dev/null || apt_install default-jre-headless
command -v npm >/dev/null || apt_install nodejs npm
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
cargo build --locked --bin stratus
# One file at a time: Lighthouse scores and layout-shift figures are timings, and five browsers
# with five servers at once on two cores measure the machine, not the pages.
(cd tests/browser && STRATUS_BIN="$PWD/../../target/debug/stratus" node --test --test-concurrency=1)

echo "== the teacher's walkthrough: every command of docs/levels.md, levels 0 to 6 (deploy/local/lab.sh)"
STRATUS_BIN="$PWD/target/debug/stratus" tests/walkthrough.sh
