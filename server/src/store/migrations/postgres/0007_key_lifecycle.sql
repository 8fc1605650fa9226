-- auth4agent schema v7, PostgreSQL dialect of ../0007_key_lifecycle.sql: key lifecycle. A signing key is
-- published from its insertion but signs only from `activates_at` on; keys inserted before v7 activate at
-- their creation.
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT NOT NULL DEFAULT 0;
UPDATE signing_keys SET activates_at = created_at;

-- Operator recovery: pending (operator, new key) pairs, each with its own TXT token (see the SQLite file).
CREATE TABLE operator_recoveries (
    operator_id TEXT NOT NULL REFERENCES operators (id),
    thumbprint  TEXT NOT NULL,
    public_key  BYTEA NOT NULL CHECK (length(public_key) = 32),
    txt_token   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (operator_id, thumbprint)
);
