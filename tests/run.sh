#!/usr/bin/env bash
# The one test command: installs nothing for the single profile (SQLite, local disk and
# in-process cache/sessions need no server), then runs the whole suite.
#   tests/run.sh            # every test, TEST_PROFILE=single
# Idempotent: run it as often as you like.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
    echo "tests/run.sh: cargo is not installed (https://rustup.rs)" >&2
    exit 1
fi

export TEST_PROFILE="${TEST_PROFILE:-single}"
echo "== cargo test (TEST_PROFILE=$TEST_PROFILE)"
cargo test --locked
