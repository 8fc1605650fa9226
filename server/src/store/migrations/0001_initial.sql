-- auth4agent schema v1. Times are Unix seconds.

CREATE TABLE operators (
    id                      TEXT PRIMARY KEY,
    domain                  TEXT NOT NULL,
    public_key              BLOB NOT NULL CHECK (length(public_key) = 32),
    thumbprint              TEXT NOT NULL,
    txt_token               TEXT NOT NULL,
    status                  TEXT NOT NULL CHECK (status IN ('unverified', 'verified')),
    domain_verified_at      INTEGER,
    verification_expires_at INTEGER,
    created_at              INTEGER NOT NULL
) STRICT;

-- Unverified claims on one domain may coexist (a squatter cannot block the owner); the first operator to
-- prove the domain owns it while its verification is current.
CREATE INDEX operators_by_domain ON operators (domain);
CREATE UNIQUE INDEX operators_verified_domain ON operators (domain) WHERE status = 'verified';

CREATE INDEX operators_reverification ON operators (verification_expires_at)
    WHERE status = 'verified';

CREATE TABLE agents (
    did            TEXT PRIMARY KEY,
    operator_id    TEXT NOT NULL REFERENCES operators (id),
    public_key     BLOB NOT NULL CHECK (length(public_key) = 32),
    thumbprint     TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'active', 'suspended', 'revoked')),
    allowed_scopes TEXT NOT NULL DEFAULT '[]',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    revoked_at     INTEGER
) STRICT;

CREATE INDEX agents_by_operator ON agents (operator_id, created_at);

CREATE TABLE challenges (
    id         TEXT PRIMARY KEY,
    did        TEXT NOT NULL REFERENCES agents (did),
    nonce      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

CREATE INDEX challenges_by_expiry ON challenges (expires_at);

CREATE TABLE request_jtis (
    signer     TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (signer, jti)
) STRICT, WITHOUT ROWID;

CREATE INDEX request_jtis_by_expiry ON request_jtis (expires_at);

CREATE TABLE revoked_tokens (
    jti         TEXT PRIMARY KEY,
    did         TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX revoked_tokens_by_operator ON revoked_tokens (operator_id, revoked_at);
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);

CREATE TABLE audit_events (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL
) STRICT;

CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    pkcs8_pem  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER,
    not_after  INTEGER
) STRICT;

-- At most one active (unretired) signing key.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((retired_at IS NULL))
    WHERE retired_at IS NULL;
