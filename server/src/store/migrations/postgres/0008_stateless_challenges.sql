-- auth4agent schema v8, PostgreSQL dialect of ../0008_stateless_challenges.sql: stateless challenges. A challenge id
-- carries its expiry under a MAC of the server's challenge secret (spec §8.1), so issuing a challenge writes
-- nothing; only a redeemed challenge is recorded, until its expiry (plus a grace for clock skew between replicas), which is what makes it single-use.
DROP TABLE challenges;

CREATE TABLE redeemed_challenges (
    id         TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE INDEX redeemed_challenges_by_expiry ON redeemed_challenges (expires_at);

-- Secrets every replica shares, created once by the first server to start: `challenge` (32 bytes).
CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

-- The version of the identity rows: every statement that updates or deletes agents or operators bumps
-- it (statement triggers, so a change made by hand counts too). A replica may then answer an issuance
-- from its own cached copy of an agent and its operator, because the redemption is written only if the
-- version is still the one the copy was read at (else the replica reads the rows again).
CREATE TABLE identity_version (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    version   BIGINT NOT NULL
);
INSERT INTO identity_version (singleton, version) VALUES (TRUE, 0);

CREATE FUNCTION auth4agent_identity_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE identity_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER agents_changed AFTER UPDATE OR DELETE ON agents
    FOR EACH STATEMENT EXECUTE FUNCTION auth4agent_identity_changed();
CREATE TRIGGER operators_changed AFTER UPDATE OR DELETE ON operators
    FOR EACH STATEMENT EXECUTE FUNCTION auth4agent_identity_changed();
