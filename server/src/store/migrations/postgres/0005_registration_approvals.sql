-- auth4agent schema v5, PostgreSQL dialect of ../0005_registration_approvals.sql: registrations approved in
-- the operator's approval queue (rows of kind 'registration' in device_authorizations).
ALTER TABLE device_authorizations ADD COLUMN kind TEXT NOT NULL DEFAULT 'device_authorization'
    CHECK (kind IN ('device_authorization', 'registration'));
ALTER TABLE device_authorizations ADD COLUMN agent_name TEXT NOT NULL DEFAULT '';

CREATE INDEX device_authorizations_registration ON device_authorizations (did) WHERE kind = 'registration';
