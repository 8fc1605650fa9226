-- auth4agent schema v6: the browser operator console. A login link is single-use and short-lived: opening it
-- consumes it (one conditional UPDATE) and starts a session. Only hashes of the link token and of the session
-- id are stored, so a read of the database opens no console.
CREATE TABLE console_links (
    link_hash   TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
) STRICT, WITHOUT ROWID;

-- A session ends at expires_at (its maximum age) or when it was not seen for the idle limit (the service's
-- rule, checked by the conditional UPDATE that touches it), or at sign-out (the row is deleted).
CREATE TABLE console_sessions (
    session_hash TEXT PRIMARY KEY,
    operator_id  TEXT NOT NULL REFERENCES operators (id),
    csrf_token   TEXT NOT NULL,
    method       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
CREATE INDEX console_links_expiry ON console_links (expires_at);

-- The operators' passkeys (WebAuthn credentials, as webauthn-rs serializes them: public key, counter,
-- flags), by credential id.
CREATE TABLE console_passkeys (
    credential_id TEXT PRIMARY KEY,
    operator_id   TEXT NOT NULL REFERENCES operators (id),
    passkey       TEXT NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX console_passkeys_by_operator ON console_passkeys (operator_id, created_at);

-- A WebAuthn ceremony in progress (registration, login or an approval's assertion): its challenge state,
-- taken once (one conditional DELETE) by whichever replica receives the answer.
CREATE TABLE webauthn_ceremonies (
    id          TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    purpose     TEXT NOT NULL,
    state       TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);
