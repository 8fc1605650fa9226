-- auth4agent schema v7: key lifecycle (signing keys published ahead, operator recovery). A signing key is published from its insertion but signs only from
-- `activates_at` on (publish-ahead: verifiers caching the JWKS know it before any token carries its kid).
-- Keys inserted before v7 were active at once: they activate at their creation.
ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER NOT NULL DEFAULT 0;
UPDATE signing_keys SET activates_at = created_at;

-- Operator recovery: an operator that lost its root key proves its domain again with a new key. Each pending
-- recovery is one (operator, new key) pair with its own TXT token; the first whose DNS proof passes replaces the
-- operator's key (and TXT token), and the operator's pending recoveries are deleted.
CREATE TABLE operator_recoveries (
    operator_id TEXT NOT NULL REFERENCES operators (id),
    thumbprint  TEXT NOT NULL,
    public_key  BLOB NOT NULL CHECK (length(public_key) = 32),
    txt_token   TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (operator_id, thumbprint)
) STRICT, WITHOUT ROWID;
