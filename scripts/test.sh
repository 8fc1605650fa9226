#!/usr/bin/env bash
# Runs every test: builds the binaries the end-to-end tests drive, then the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins
cargo test --workspace "$@"
