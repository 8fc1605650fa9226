-- auth4agent schema v3: Token Status Lists (draft-ietf-oauth-status-list-20). Every agent owns one entry
-- (status_list, status_index) for good: allocated from `status_lists` when it registers, never reused.

-- The numbered lists. A list's size is fixed when it starts; `allocated` entries of it are taken, in order.
-- A new list starts (number + 1) when the newest is full.
CREATE TABLE status_lists (
    list      INTEGER PRIMARY KEY CHECK (list >= 1),
    size      INTEGER NOT NULL CHECK (size >= 1),
    allocated INTEGER NOT NULL CHECK (allocated >= 0 AND allocated <= size)
) STRICT;

-- SQLite cannot add a NOT NULL or UNIQUE column to a table with rows: nullable here, filled for every existing
-- agent below, unique by index, and always written by the server (a NULL reads as corrupt data).
ALTER TABLE agents ADD COLUMN status_list INTEGER REFERENCES status_lists (list);
ALTER TABLE agents ADD COLUMN status_index INTEGER;

-- Existing agents, oldest first, take list 1 (of the default size, or larger if they do not fit; whole bytes).
INSERT INTO status_lists (list, size, allocated)
    SELECT 1, max((count(*) + 3) / 4 * 4, 1048576), count(*) FROM agents HAVING count(*) > 0;
UPDATE agents SET status_list = 1, status_index = (
    SELECT n FROM (SELECT did, row_number() OVER (ORDER BY created_at, did) - 1 AS n FROM agents) AS ranked
    WHERE ranked.did = agents.did);

CREATE UNIQUE INDEX agents_status_entry ON agents (status_list, status_index);
-- The entries a list must show as not valid: the list's suspended and revoked agents.
CREATE INDEX agents_flagged ON agents (status_list) WHERE status IN ('suspended', 'revoked');
