#!/usr/bin/env bash
# Runs every check and test: formatting and lints, then builds the binaries the end-to-end tests drive,
# then the whole workspace's tests on SQLite, then the end-to-end suite again with every server on
# PostgreSQL. CI (.ci/run) runs exactly this script.
#
# PostgreSQL: AUTH4AGENT_TEST_DATABASE_URL names a server whose role may create databases. When it is
# unset, a throwaway cluster is started with scripts/postgres.sh (needs the PostgreSQL server binaries:
# `apt-get install -y postgresql`) and stopped at the end. Without either, this fails: the PostgreSQL
# tests are never skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
# The console's passkeys (webauthn-rs) link OpenSSL: its headers and pkg-config are needed to build.
if ! pkg-config --exists openssl 2>/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: installing libssl-dev and pkg-config from Debian's packages for webauthn-rs" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev pkg-config >/dev/null
fi
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
# The protocol crate is a library for services: its documentation builds without a warning.
RUSTDOCFLAGS="-D warnings" cargo doc -p auth4agent-protocol --no-deps --quiet
# The interop tests run the shipped Python (PyJWT) and Node (jose) verifiers; the OAuth client tests run
# Authlib (examples/oauth) and the MCP Python SDK (examples/mcp) at their pinned versions; the status list
# interop test runs an independent decoder with `cryptography` (tests/python); the Python SDK (sdk/python) and its
# pinned test requirements (pytest, FastAPI, uvicorn) for the python_sdk tests; the operator console's browser test
# drives headless Chromium with Selenium (tests/browser).
python3 -m pip install --quiet --disable-pip-version-check -r examples/python/requirements.txt \
    -r examples/dpop/requirements.txt -r tests/python/requirements.txt \
    -r examples/oauth/requirements.txt -r examples/mcp/requirements.txt \
    -r sdk/python/tests/requirements.txt ./sdk/python -r tests/browser/requirements.txt
# The console's browser test (tests/tests/e2e/console.rs) runs Debian's chromium and chromium-driver.
if { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; } && [ "$(id -u)" = 0 ] \
    && command -v apt-get >/dev/null; then
    echo "test.sh: installing chromium and chromium-driver from Debian's packages for the console's browser test" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    echo "error: the console's browser test needs /usr/bin/chromium and /usr/bin/chromedriver" >&2
    echo "  (Debian: apt-get install -y chromium chromium-driver)." >&2
    exit 1
fi
[ -d examples/node/node_modules/jose ] || npm ci --prefix examples/node --silent --no-audit --no-fund
cargo build --workspace --bins --examples

if [ -z "${AUTH4AGENT_TEST_DATABASE_URL:-}" ]; then
    if ! bash scripts/postgres.sh available && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "test.sh: installing PostgreSQL from Debian's packages for the PostgreSQL backend's tests" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    if ! bash scripts/postgres.sh available; then
        echo "error: the PostgreSQL tests need a server and none is available." >&2
        echo "  Install one (Debian: apt-get install -y postgresql) so scripts/postgres.sh can start a throwaway" >&2
        echo "  cluster, or set AUTH4AGENT_TEST_DATABASE_URL=postgres://user@host:port/db?sslmode=disable" >&2
        echo "  (a role allowed to CREATE DATABASE)." >&2
        exit 1
    fi
    AUTH4AGENT_TEST_DATABASE_URL=$(bash scripts/postgres.sh start)
    # The cluster also serves TLS with a certificate from this throwaway CA (the sslmode tests).
    AUTH4AGENT_TEST_DATABASE_CA=$(bash scripts/postgres.sh ca)
    trap 'bash scripts/postgres.sh stop' EXIT
fi
if [ -z "${AUTH4AGENT_TEST_DATABASE_CA:-}" ]; then
    echo "error: with your own AUTH4AGENT_TEST_DATABASE_URL, also set AUTH4AGENT_TEST_DATABASE_CA to the CA file" >&2
    echo "  of that server's TLS certificate (for 127.0.0.1); or unset the URL to use scripts/postgres.sh." >&2
    exit 1
fi
export AUTH4AGENT_TEST_DATABASE_URL AUTH4AGENT_TEST_DATABASE_CA

AUTH4AGENT_TEST_BACKEND=sqlite cargo test --workspace "$@"
AUTH4AGENT_TEST_BACKEND=postgres cargo test -p auth4agent-e2e --test e2e "$@"
