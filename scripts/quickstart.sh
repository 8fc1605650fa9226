#!/usr/bin/env bash
# The auth4agent quick start: builds the binaries, starts a throwaway server (temporary SQLite file)
# and a DNS server on loopback, then walks the whole flow with the real CLI, printing every command
# and its output. Everything runs on 127.0.0.1 and is removed at the end.
#
# Needs only the Rust toolchain and bash. Exits non-zero if any step that should succeed fails, or
# if a step that should be refused is not.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOMAIN=example.com
AUD=https://api.example.com

if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
    BOLD=$'\e[1m' DIM=$'\e[2m' GREEN=$'\e[32m' RED=$'\e[31m' RESET=$'\e[0m'
else
    BOLD='' DIM='' GREEN='' RED='' RESET=''
fi

WORK=''
SERVER_PID=''
DNS_PID=''
STEP=0

# --- output -----------------------------------------------------------------------------------

step() {
    STEP=$((STEP + 1))
    printf '\n%s%d. %s%s\n' "$BOLD" "$STEP" "$1" "$RESET"
    shift
    local line
    for line in "$@"; do printf '   %s\n' "$line"; done
}

say() { printf '   %s\n' "$@"; }

ok() { printf '   %s✔ %s%s\n' "$GREEN" "$1" "$RESET"; }

die() {
    printf '\n%serror: %s%s\n' "$RED" "$1" "$RESET" >&2
    exit 1
}

# Quotes an argument for display only where the shell would need it.
quote() {
    if [[ $1 =~ ^[A-Za-z0-9_./:=,@+%-]+$ ]]; then printf '%s' "$1"; else printf "'%s'" "${1//\'/\'\\\'\'}"; fi
}

# show_command CMD...: prints "$ CMD"; SUFFIX (e.g. "> token", "&") is appended when set.
show_command() {
    local words=() arg
    for arg in "$@"; do words+=("$(quote "$arg")"); done
    printf '\n   %s$ %s%s%s\n' "$DIM" "${words[*]}" "${SUFFIX:+ $SUFFIX}" "$RESET"
}

indent() { sed 's/^/     /' "$1"; }

# --- running commands -------------------------------------------------------------------------

# run CMD...: shows the command, runs it, shows its output; the step must succeed.
run() {
    show_command "$@"
    local rc=0
    "$@" >"$WORK/out" 2>&1 || rc=$?
    indent "$WORK/out"
    ((rc == 0)) || die "this step failed (exit $rc): $*"
}

# run_to FILE CMD...: like run, but stdout goes to FILE (shown as "> FILE"); stderr is shown.
run_to() {
    local file=$1
    shift
    SUFFIX="> $file" show_command "$@"
    local rc=0
    "$@" >"$file" 2>"$WORK/out" || rc=$?
    indent "$WORK/out"
    ((rc == 0)) || die "this step failed (exit $rc): $*"
}

# refused CODE CMD...: shows the command; it must fail with exit 1 and report the error CODE.
refused() {
    local code=$1
    shift
    show_command "$@"
    local rc=0
    "$@" >"$WORK/out" 2>&1 || rc=$?
    indent "$WORK/out"
    if ((rc == 0)); then die "this should have been refused with $code, but it succeeded: $*"; fi
    if ((rc != 1)) || ! grep -q "$code" "$WORK/out"; then
        die "expected a refusal with $code (exit 1), got exit $rc: $*"
    fi
    ok "refused with $code, as expected"
}

# --- processes --------------------------------------------------------------------------------

cleanup() {
    local rc=$?
    set +e
    for pid in "$SERVER_PID" "$DNS_PID"; do
        if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
        fi
    done
    if ((rc != 0)) && [[ -n $WORK && -s $WORK/server.log ]]; then
        printf '\nLast lines of the server log:\n' >&2
        tail -n 20 "$WORK/server.log" | sed 's/^/  /' >&2
    fi
    [[ -n $WORK ]] && rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A TCP port on 127.0.0.1 that nothing answers on (the server is retried if it loses a race for it).
free_port() {
    local port _
    for _ in $(seq 1 200); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# start_dns ARGS...: starts auth4agent-testdns in the background; sets DNS_PID and DNS_ADDR.
start_dns() {
    SUFFIX='&' show_command auth4agent-testdns "$@"
    : >"$WORK/dns.addr"
    auth4agent-testdns "$@" >"$WORK/dns.addr" 2>"$WORK/dns.log" &
    DNS_PID=$!
    local _
    for _ in $(seq 1 100); do
        if [[ $(wc -l <"$WORK/dns.addr") -ge 1 ]]; then
            read -r DNS_ADDR <"$WORK/dns.addr"
            say "DNS server listening on $DNS_ADDR (UDP and TCP)"
            return 0
        fi
        kill -0 "$DNS_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$WORK/dns.log" >&2
    die "the DNS server did not start"
}

stop_pid() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# Starts the server on a free port; sets SERVER_PID, PORT and URL once /health and /ready answer.
start_server() {
    local attempt _
    for attempt in 1 2 3 4 5; do
        PORT=$(free_port) || die "no free TCP port found on 127.0.0.1"
        URL="http://127.0.0.1:$PORT"
        local cmd=(auth4agent-server --listen "127.0.0.1:$PORT" --db auth4agent.db --issuer "$URL" --dns-server "$DNS_ADDR")
        if ((attempt == 1)); then SUFFIX='> server.log 2>&1 &' show_command "${cmd[@]}"; fi
        "${cmd[@]}" >>"$WORK/server.log" 2>&1 &
        SERVER_PID=$!
        for _ in $(seq 1 150); do
            if ! kill -0 "$SERVER_PID" 2>/dev/null; then
                break # it exited: most likely another process took the port first
            fi
            if auth4agent --server "$URL" health >/dev/null 2>&1; then
                say "server up at $URL (GET /health and /ready answer)"
                return 0
            fi
            sleep 0.1
        done
        stop_pid "$SERVER_PID"
        SERVER_PID=''
    done
    die "the server did not start"
}

# --- the walk-through -------------------------------------------------------------------------

printf '%sauth4agent quick start%s\n' "$BOLD" "$RESET"
say "An operator proves its domain over DNS, approves an agent and its scopes; the agent gets a short-lived" \
    "token for one service; the service verifies it offline. Everything runs on 127.0.0.1 and is deleted at the end."

step "Build the binaries" "(debug profile; the first build takes a few minutes)"
show_command cargo build --bins -q
(cd "$ROOT" && cargo build --bins -q) || die "the build failed"
TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[[ -x $TARGET_DIR/debug/auth4agent-server ]] || die "built binaries not found in $TARGET_DIR/debug"
export PATH="$TARGET_DIR/debug:$PATH"
ok "auth4agent, auth4agent-server and auth4agent-testdns built in $TARGET_DIR/debug"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/auth4agent-quickstart.XXXXXX")
cd "$WORK"
# Identities live in these home directories (normally ~/.auth4agent, one per machine or user).
unset AUTH4AGENT_HOME
say "working directory: $WORK"

step "Start a DNS server on loopback" \
    "It stands in for your DNS provider: the auth4agent server asks it for TXT records over real DNS."
start_dns --listen 127.0.0.1:0

step "Start the auth4agent server" \
    "A fresh SQLite database; it creates its token-signing key on first start. --issuer is the URL tokens" \
    "name as iss and that signed requests are checked against; --dns-server points it at our DNS server."
start_server

step "Operator: create an identity" \
    "An Ed25519 root key is generated locally (PKCS#8 PEM, mode 0600) in the home directory ./operator."
run auth4agent --home operator init --operator --domain "$DOMAIN" --server "$URL"

step "Operator: register with the server" "The request is signed by the operator key it registers."
run auth4agent --home operator register operator
OPERATOR_ID=$(auth4agent --home operator --json whoami | grep -o 'op_[a-z2-7]*' | head -n1)
[[ -n $OPERATOR_ID ]] || die "no operator id in operator/operator.json"

step "Operator: get the DNS record that proves the domain"
run auth4agent --home operator verify-operator instructions
TXT_VALUE=$(auth4agent --home operator --json verify-operator instructions | grep -o 'auth4agent-verification=[0-9a-f]*')
[[ -n $TXT_VALUE ]] || die "no TXT value in the instructions"

step "Operator: confirming too early is refused" \
    "The record is not published yet, so the server's DNS lookup finds nothing."
refused dns_record_not_found auth4agent --home operator verify-operator confirm

step "Publish the TXT record" \
    "In real life you add this record at your DNS provider (see SETUP.md). Here the loopback DNS server" \
    "is restarted on the same port, now serving the record."
stop_pid "$DNS_PID"
DNS_PID=''
start_dns --listen "$DNS_ADDR" --txt "_auth4agent.$DOMAIN=$TXT_VALUE"

step "Operator: confirm" "The server looks up _auth4agent.$DOMAIN over DNS and compares the value."
run auth4agent --home operator verify-operator confirm

step "Agent: create an identity" \
    "On the agent's machine (here the home directory ./agent): its own Ed25519 key, which never leaves" \
    "it, and a DID derived from the operator's domain and the key."
run auth4agent --home agent init --domain "$DOMAIN" --server "$URL"
DID=$(auth4agent --home agent --json whoami | grep -o 'did:agent:[^"]*' | head -n1)
[[ -n $DID ]] || die "no DID in agent/agent.json"

step "Agent: register under the operator" "Signed by the agent key. The agent starts pending: no token yet."
run auth4agent --home agent register agent --operator-id "$OPERATOR_ID"

step "Operator: approve the agent and set its scopes" \
    "Deny by default: the agent may request only these scopes. Signed by the operator key; an agent can" \
    "never set its own scopes."
run auth4agent --home operator agent-scopes set --scopes read,write --did "$DID"

step "Agent: get a token for one service" \
    "Challenge, proof of possession signed by the agent key, then a token valid only for --aud."
run_to token auth4agent --home agent issue --scope read --aud "$AUD"
say "token (a JWT, $(wc -c <token | tr -d ' ') bytes): $(cut -c1-48 token)…"

step "Agent: a scope the operator did not allow is refused"
refused scope_not_allowed auth4agent --home agent issue --scope admin --aud "$AUD"

step "Service: fetch the server's public keys once" \
    "A service that accepts these tokens needs only the JWKS (cache it; refresh on an unknown kid)."
run auth4agent --home service --server "$URL" jwks

step "Stop the server" "From here on nothing can reach it: verification is offline."
show_command kill "$SERVER_PID"
stop_pid "$SERVER_PID"
SERVER_PID=''
ok "server stopped"

step "Service: verify the token offline" \
    "Signature (EdDSA, strict), typ at+jwt, issuer, audience, expiry; the claims name the agent and its scope."
run auth4agent --home service verify --token token --jwks service/jwks.json --iss "$URL" --aud "$AUD"

step "Service: a token for another audience is refused"
refused wrong_audience auth4agent --home service verify --token token --jwks service/jwks.json --iss "$URL" \
    --aud https://other.example.com

printf '\n%sThe whole flow worked.%s Temporary files are being removed.\n' "$BOLD$GREEN" "$RESET"
cat <<'EOF'

Run it for real (details, every flag, systemd, reverse proxy, backups: SETUP.md):

  cargo install --locked --path server && cargo install --locked --path cli
  auth4agent-server --listen 127.0.0.1:8080 --issuer https://auth.example.com \
      --db /var/lib/auth4agent/auth4agent.db            # behind a TLS reverse proxy
  auth4agent init --operator --domain example.com --server https://auth.example.com
  auth4agent register operator
  auth4agent verify-operator instructions               # add the TXT record at your DNS provider
  auth4agent verify-operator confirm --wait 10m
EOF
