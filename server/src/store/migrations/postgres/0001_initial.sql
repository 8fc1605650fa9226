-- auth4agent schema v1, PostgreSQL dialect of ../0001_initial.sql (same tables, columns, constraints and
-- indexes). Times are Unix seconds (BIGINT). `seq` columns stand in for SQLite's implicit rowid where
-- insertion order breaks ties.

CREATE TABLE operators (
    id                      TEXT PRIMARY KEY,
    domain                  TEXT NOT NULL,
    public_key              BYTEA NOT NULL CHECK (length(public_key) = 32),
    thumbprint              TEXT NOT NULL,
    txt_token               TEXT NOT NULL,
    status                  TEXT NOT NULL CHECK (status IN ('unverified', 'verified')),
    domain_verified_at      BIGINT,
    verification_expires_at BIGINT,
    created_at              BIGINT NOT NULL,
    seq                     BIGINT GENERATED ALWAYS AS IDENTITY
);

-- Unverified claims on one domain may coexist (a squatter cannot block the owner); the first operator to
-- prove the domain owns it while its verification is current.
CREATE INDEX operators_by_domain ON operators (domain);
CREATE UNIQUE INDEX operators_verified_domain ON operators (domain) WHERE status = 'verified';

CREATE INDEX operators_reverification ON operators (verification_expires_at)
    WHERE status = 'verified';

CREATE TABLE agents (
    did            TEXT PRIMARY KEY,
    operator_id    TEXT NOT NULL REFERENCES operators (id),
    public_key     BYTEA NOT NULL CHECK (length(public_key) = 32),
    thumbprint     TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'active', 'suspended', 'revoked')),
    allowed_scopes TEXT NOT NULL DEFAULT '[]',
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    revoked_at     BIGINT
);

CREATE INDEX agents_by_operator ON agents (operator_id, created_at);

CREATE TABLE challenges (
    id         TEXT PRIMARY KEY,
    did        TEXT NOT NULL REFERENCES agents (did),
    nonce      TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE INDEX challenges_by_expiry ON challenges (expires_at);

CREATE TABLE request_jtis (
    signer     TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (signer, jti)
);

CREATE INDEX request_jtis_by_expiry ON request_jtis (expires_at);

CREATE TABLE revoked_tokens (
    jti         TEXT PRIMARY KEY,
    did         TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT NOT NULL
);

CREATE INDEX revoked_tokens_by_operator ON revoked_tokens (operator_id, revoked_at);
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);

CREATE TABLE audit_events (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL
);

CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    pkcs8_pem  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    not_after  BIGINT,
    seq        BIGINT GENERATED ALWAYS AS IDENTITY
);

-- At most one active (unretired) signing key: replicas starting together on an empty database insert
-- their first key concurrently; all but one get a unique violation and load the winner's key.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((retired_at IS NULL))
    WHERE retired_at IS NULL;
