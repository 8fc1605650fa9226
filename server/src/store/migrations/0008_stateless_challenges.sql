-- auth4agent schema v8: stateless challenges. A challenge id carries its expiry under a MAC of the server's
-- challenge secret (spec §8.1), so issuing a challenge writes nothing; only a redeemed challenge is recorded,
-- until its expiry (plus a grace for clock skew between replicas), which is what makes it single-use.
DROP TABLE challenges;

CREATE TABLE redeemed_challenges (
    id         TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX redeemed_challenges_by_expiry ON redeemed_challenges (expires_at);

-- Secrets every replica shares, created once by the first server to start: `challenge` (32 bytes).
CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT, WITHOUT ROWID;
