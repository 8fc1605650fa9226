-- auth4agent schema v4: token cutoffs. Tokens of a subject (an agent's DID or an operator's id) issued at or
-- before its cutoff stay inactive for good: the cutoff is the time of the agent's most recent suspension or
-- revocation, or of the operator's proof re-established after it had lapsed or been withdrawn.
CREATE TABLE token_cutoffs (
    subject TEXT PRIMARY KEY,
    cutoff  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
