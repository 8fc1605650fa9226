-- auth4agent schema v5, PostgreSQL dialect of ../0005_key_lifecycle.sql: key lifecycle. A signing key is
-- published from its insertion but signs only from `activates_at` on; keys inserted before v5 activate at
-- their creation.
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT NOT NULL DEFAULT 0;
UPDATE signing_keys SET activates_at = created_at;
