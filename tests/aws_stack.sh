#!/usr/bin/env bash
# The AWS deployment (deploy/aws/, deploy/cloud-init.yaml) checked without an AWS account:
# cfn-lint, packer validate, and the stack created in moto's CloudFormation once per level
# (tests/aws_stack.py says what is checked where), and the settings the user data writes read
# by the stratus binary. Installs what it needs: cfn-lint, moto's server, boto3 and PyYAML from
# PyPI, packer from Debian. Run by tests/run.sh; runs alone too.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -c 'import cfnlint, moto.server, boto3, yaml, flask_cors' 2>/dev/null ||
    python3 -m pip install --quiet cfn-lint "moto[server]" boto3 PyYAML
command -v cfn-lint >/dev/null || export PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
if ! command -v packer >/dev/null; then
    if [ "$(id -u)" != 0 ]; then
        echo "tests/aws_stack.sh: missing packer; install with: sudo apt-get install -y packer" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq packer >/dev/null
fi
# `stratus config` reads the env file each level's user data writes (STRATUS_BIN, else this build).
[ -n "${STRATUS_BIN:-}" ] || cargo build --locked --quiet --bin stratus
# No real AWS call is ever made; keep any credentials or profile of the caller out of it.
env -u AWS_PROFILE -u AWS_ENDPOINT_URL -u AWS_ENDPOINT PACKER_CHECKPOINT_DISABLE=1 python3 tests/aws_stack.py
