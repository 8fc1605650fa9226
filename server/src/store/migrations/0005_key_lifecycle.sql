-- auth4agent schema v5: key lifecycle. A signing key is published from its insertion but signs only from
-- `activates_at` on (publish-ahead: verifiers caching the JWKS know it before any token carries its kid).
-- Keys inserted before v5 were active at once: they activate at their creation.
ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER NOT NULL DEFAULT 0;
UPDATE signing_keys SET activates_at = created_at;
