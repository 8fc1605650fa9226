-- auth4agent schema v5: registrations approved in the operator's approval queue. An agent registered with the
-- scopes it asks for gets a row of kind 'registration' in device_authorizations (the queue device
-- authorization requests use): its `scopes` are the scopes asked for, `resource` is '', and `agent_name` the
-- name the agent gave ('' when absent). Approving it makes the agent active with the approved scopes.
ALTER TABLE device_authorizations ADD COLUMN kind TEXT NOT NULL DEFAULT 'device_authorization'
    CHECK (kind IN ('device_authorization', 'registration'));
ALTER TABLE device_authorizations ADD COLUMN agent_name TEXT NOT NULL DEFAULT '';

CREATE INDEX device_authorizations_registration ON device_authorizations (did) WHERE kind = 'registration';
