-- auth4agent schema v4, PostgreSQL dialect of ../0004_token_cutoffs.sql: token cutoffs. Tokens of a subject
-- (an agent's DID or an operator's id) issued at or before its cutoff stay inactive for good.
CREATE TABLE token_cutoffs (
    subject TEXT PRIMARY KEY,
    cutoff  BIGINT NOT NULL
);
