-- auth4agent schema v2, PostgreSQL dialect of ../0002_device_authorization.sql: scopes issued only after an operator's approval, device authorizations (RFC 8628)
-- and remembered approvals. Times are Unix seconds.

ALTER TABLE agents ADD COLUMN approval_scopes TEXT NOT NULL DEFAULT '[]';

-- One row per device authorization request. The device code itself is never stored: its SHA-256
-- (base64url) is the key. `user_code` is normalized (eight characters, no dash); it is unique while
-- the row lives, so an operator's approval names exactly one request. `binding_message` and
-- `decided_by` are '' when absent.
CREATE TABLE device_authorizations (
    device_code_hash TEXT PRIMARY KEY,
    user_code        TEXT NOT NULL UNIQUE,
    did              TEXT NOT NULL REFERENCES agents (did),
    operator_id      TEXT NOT NULL,
    scopes           TEXT NOT NULL,
    resource         TEXT NOT NULL,
    binding_message  TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL
                     CHECK (status IN ('pending', 'approved', 'denied', 'consumed', 'expired')),
    granted_scopes   TEXT NOT NULL DEFAULT '[]',
    decided_by       TEXT NOT NULL DEFAULT '',
    interval_secs    BIGINT NOT NULL,
    last_poll_at     BIGINT,
    slow_down_at     BIGINT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    decided_at       BIGINT
);

CREATE INDEX device_authorizations_pending ON device_authorizations (operator_id, created_at)
    WHERE status = 'pending';
CREATE INDEX device_authorizations_by_expiry ON device_authorizations (expires_at);

-- An approval remembered until `expires_at`: the agent gets `scopes` for `resource` without asking again.
CREATE TABLE remembered_grants (
    id          TEXT PRIMARY KEY,
    did         TEXT NOT NULL REFERENCES agents (did),
    operator_id TEXT NOT NULL,
    resource    TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE INDEX remembered_grants_by_agent ON remembered_grants (did, resource);
CREATE INDEX remembered_grants_by_operator ON remembered_grants (operator_id, created_at);
CREATE INDEX remembered_grants_by_expiry ON remembered_grants (expires_at);
