-- auth4agent schema v6, PostgreSQL dialect of ../0006_console.sql: the browser operator console (single-use
-- login links, server-side sessions stored as hashes, passkeys and WebAuthn ceremonies).
CREATE TABLE console_links (
    link_hash   TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

-- A session ends at expires_at (its maximum age) or when it was not seen for the idle limit (the service's
-- rule, checked by the conditional UPDATE that touches it), or at sign-out (the row is deleted).
CREATE TABLE console_sessions (
    session_hash TEXT PRIMARY KEY,
    operator_id  TEXT NOT NULL REFERENCES operators (id),
    csrf_token   TEXT NOT NULL,
    method       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
CREATE INDEX console_links_expiry ON console_links (expires_at);

-- The operators' passkeys (WebAuthn credentials, as webauthn-rs serializes them), by credential id.
CREATE TABLE console_passkeys (
    credential_id TEXT PRIMARY KEY,
    operator_id   TEXT NOT NULL REFERENCES operators (id),
    passkey       TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX console_passkeys_by_operator ON console_passkeys (operator_id, created_at);

-- A WebAuthn ceremony in progress: its challenge state, taken once (one conditional DELETE).
CREATE TABLE webauthn_ceremonies (
    id          TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    purpose     TEXT NOT NULL,
    state       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);
