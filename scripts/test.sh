#!/usr/bin/env bash
# Runs every test: builds the binaries the end-to-end tests drive, then the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# The interop tests run the shipped Python (PyJWT) and Node (jose) verifiers.
python3 -m pip install --quiet --disable-pip-version-check -r examples/python/requirements.txt
[ -d examples/node/node_modules/jose ] || npm ci --prefix examples/node --silent --no-audit --no-fund
cargo build --workspace --bins
cargo test --workspace "$@"
