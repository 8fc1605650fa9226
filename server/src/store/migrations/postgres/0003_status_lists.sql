-- auth4agent schema v3, PostgreSQL dialect of ../0003_status_lists.sql: Token Status Lists
-- (draft-ietf-oauth-status-list-20). Every agent owns one entry (status_list, status_index) for good.

CREATE TABLE status_lists (
    list      BIGINT PRIMARY KEY CHECK (list >= 1),
    size      BIGINT NOT NULL CHECK (size >= 1),
    allocated BIGINT NOT NULL CHECK (allocated >= 0 AND allocated <= size)
);

ALTER TABLE agents ADD COLUMN status_list BIGINT REFERENCES status_lists (list);
ALTER TABLE agents ADD COLUMN status_index BIGINT;

INSERT INTO status_lists (list, size, allocated)
    SELECT 1, greatest((count(*) + 3) / 4 * 4, 1048576), count(*) FROM agents HAVING count(*) > 0;
UPDATE agents SET status_list = 1, status_index = ranked.n
    FROM (SELECT did, row_number() OVER (ORDER BY created_at, did) - 1 AS n FROM agents) AS ranked
    WHERE ranked.did = agents.did;

-- PostgreSQL can enforce what SQLite leaves to the server.
ALTER TABLE agents ALTER COLUMN status_list SET NOT NULL;
ALTER TABLE agents ALTER COLUMN status_index SET NOT NULL;

CREATE UNIQUE INDEX agents_status_entry ON agents (status_list, status_index);
CREATE INDEX agents_flagged ON agents (status_list) WHERE status IN ('suspended', 'revoked');
