#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: initdb into a temporary directory, pg_ctl on a loopback
# port, run as a non-root user (postgres refuses root). Idempotent.
#
#   scripts/postgres.sh start      start (initdb first if needed); prints the test database URL on stdout
#   scripts/postgres.sh stop       stop it (data kept until `clean`)
#   scripts/postgres.sh clean      stop it and delete its directory
#   scripts/postgres.sh url        print the URL without starting anything
#   scripts/postgres.sh available  exit 0 when the PostgreSQL server binaries are installed
#   scripts/postgres.sh ca         print the path of the CA certificate that signed the cluster's TLS certificate
#
# The cluster also accepts TLS (ssl=on) with a certificate for 127.0.0.1 and localhost, signed by a throwaway CA
# made with openssl at initdb time ($PG_DIR/tls/ca.crt; other-ca.crt is an unrelated CA, for refusal tests).
#
# Environment: AUTH4AGENT_PG_DIR (default ${TMPDIR:-/tmp}/auth4agent-pg), AUTH4AGENT_PG_PORT (default 55432),
# AUTH4AGENT_PG_FSYNC (default off: a test cluster need not survive a power cut; set "on" for benchmarks).
# Install the binaries with `apt-get install -y postgresql` (Debian puts them in /usr/lib/postgresql/<ver>/bin).
set -euo pipefail

PG_DIR="${AUTH4AGENT_PG_DIR:-${TMPDIR:-/tmp}/auth4agent-pg}"
PG_PORT="${AUTH4AGENT_PG_PORT:-55432}"
PG_FSYNC="${AUTH4AGENT_PG_FSYNC:-off}"
PG_DB="auth4agent_test"
PG_SUPERUSER="postgres"
DATA="$PG_DIR/data"
URL="postgres://$PG_SUPERUSER@127.0.0.1:$PG_PORT/$PG_DB?sslmode=disable"
TLS="$PG_DIR/tls"

log() { echo "postgres.sh: $*" >&2; }

# The directory holding initdb, pg_ctl and postgres: the newest Debian version, else the PATH.
bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
        echo "$dir"
        return
    fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return
    fi
    return 1
}

# Runs a command as the cluster's owner: the invoking user, or (as root) the unprivileged `postgres`
# system user from the Debian package, created if missing.
as_owner() {
    if [ "$(id -u)" -ne 0 ]; then
        "$@"
        return
    fi
    if ! id -u postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    fi
    if command -v runuser >/dev/null 2>&1; then
        runuser -u postgres -- "$@"
    else
        su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
}

# A throwaway CA and a server certificate for 127.0.0.1 and localhost (plus an unrelated CA).
make_tls() {
    [ -f "$TLS/server.key" ] && return 0
    mkdir -p "$TLS"
    (
        cd "$TLS"
        for ca in ca other-ca; do
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
                -subj "/CN=auth4agent test $ca" -keyout "$ca.key" -out "$ca.crt" >/dev/null 2>&1
        done
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
            -keyout server.key -out server.csr >/dev/null 2>&1
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile server.ext -out server.crt >/dev/null 2>&1
        chmod 0600 server.key ca.key other-ca.key
        chmod 0644 ca.crt other-ca.crt server.crt
    )
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres "$TLS"
    fi
}

running() {
    local bin="$1"
    [ -f "$DATA/PG_VERSION" ] && as_owner "$bin/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

start() {
    local bin
    if ! bin=$(bindir); then
        log "PostgreSQL server binaries not found. Install them: apt-get install -y postgresql"
        exit 1
    fi
    mkdir -p "$PG_DIR"
    chmod 0755 "$PG_DIR"
    if [ "$(id -u)" -eq 0 ]; then
        id -u postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
        chown postgres "$PG_DIR"
    fi
    if ! [ -f "$DATA/PG_VERSION" ]; then
        log "initdb $DATA"
        as_owner "$bin/initdb" -D "$DATA" -U "$PG_SUPERUSER" --auth=trust --encoding=UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1 || {
            cat "$PG_DIR/initdb.log" >&2
            exit 1
        }
    fi
    make_tls
    if running "$bin"; then
        log "already running on 127.0.0.1:$PG_PORT"
    else
        log "starting on 127.0.0.1:$PG_PORT ($DATA)"
        as_owner "$bin/pg_ctl" start -D "$DATA" -l "$PG_DIR/server.log" -w -t 60 -o \
            "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_DIR \
             -c max_connections=400 -c fsync=$PG_FSYNC -c synchronous_commit=$PG_FSYNC \
             -c full_page_writes=$PG_FSYNC -c shared_buffers=128MB \
             -c ssl=on -c ssl_cert_file=$TLS/server.crt -c ssl_key_file=$TLS/server.key" >/dev/null || {
            tail -n 50 "$PG_DIR/server.log" >&2 || true
            exit 1
        }
    fi
    if ! as_owner "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres -Atqc \
        "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
        as_owner "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_SUPERUSER" "$PG_DB"
    fi
    echo "$URL"
}

stop() {
    local bin
    bin=$(bindir) || return 0
    if running "$bin"; then
        log "stopping"
        as_owner "$bin/pg_ctl" stop -D "$DATA" -m fast -w >/dev/null
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
clean)
    stop
    rm -rf "$PG_DIR"
    ;;
url) echo "$URL" ;;
ca) echo "$TLS/ca.crt" ;;
available) bindir >/dev/null ;;
*)
    echo "usage: $0 start|stop|clean|url|available|ca" >&2
    exit 2
    ;;
esac
