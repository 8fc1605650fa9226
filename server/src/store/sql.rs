//! The SQL text both backends run, each statement written once. SQLite and PostgreSQL read the same
//! `$N` placeholders, but SQLite numbers `$N` in order of first appearance (to SQLite `$N` is a
//! name, not a position): so in every statement here `$1, $2, …` first appear in that order, and
//! the N-th bound value is `$N` on both backends (checked by this module's test; the store
//! contract prepares every statement on both). What genuinely differs per backend (tie-breaks on
//! insertion order, the readiness probe, PostgreSQL's migration and lock bookkeeping) stays in
//! `sqlite.rs` and `postgres.rs`, with the reason beside it.

/// The columns of an operator row, in the order the statements write them.
macro_rules! operator_columns {
    () => {
        "id, domain, public_key, thumbprint, txt_token, status, domain_verified_at, \
         verification_expires_at, created_at"
    };
}
pub(super) use operator_columns;

/// The columns of an agent row, in the order the statements write them.
macro_rules! agent_columns {
    () => {
        "did, operator_id, public_key, thumbprint, status, allowed_scopes, created_at, \
         updated_at, revoked_at, approval_scopes, status_list, status_index"
    };
}

/// The columns of a device authorization row, in the order the statements write them.
macro_rules! device_columns {
    () => {
        "device_code_hash, user_code, did, operator_id, scopes, resource, binding_message, status, \
         granted_scopes, decided_by, interval_secs, last_poll_at, slow_down_at, created_at, \
         expires_at, decided_at, kind, agent_name"
    };
}

/// The columns of a remembered grant row, in the order the statements write them.
macro_rules! grant_columns {
    () => {
        "id, did, operator_id, resource, scopes, created_at, expires_at, revoked_at"
    };
}

// ----- operators

pub(super) const INSERT_OPERATOR: &str = concat!(
    "INSERT INTO operators (",
    operator_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
);

pub(super) const GET_OPERATOR: &str = concat!(
    "SELECT ",
    operator_columns!(),
    " FROM operators WHERE id = $1"
);

/// `$1` = the operator about to be verified, `$2` = now: another operator's lapsed proof of the
/// same domain no longer holds it.
pub(super) const RELEASE_LAPSED_DOMAIN: &str = "UPDATE operators SET status = 'unverified', \
     domain_verified_at = NULL, verification_expires_at = NULL WHERE status = 'verified' \
     AND id <> $1 AND verification_expires_at <= $2 \
     AND domain = (SELECT domain FROM operators WHERE id = $1)";

/// `$1` = verified at, `$2` = expires at, `$3` = id.
pub(super) const SET_OPERATOR_VERIFIED: &str = concat!(
    "UPDATE operators SET status = 'verified', domain_verified_at = $1, \
     verification_expires_at = $2 WHERE id = $3 RETURNING ",
    operator_columns!()
);

pub(super) const START_OPERATOR_RECOVERY: &str = "INSERT INTO operator_recoveries \
     (operator_id, thumbprint, public_key, txt_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (operator_id, thumbprint) DO UPDATE SET expires_at = excluded.expires_at \
     RETURNING operator_id, thumbprint, public_key, txt_token, created_at, expires_at";

pub(super) const COUNT_OPERATOR_RECOVERIES: &str =
    "SELECT count(*) FROM operator_recoveries WHERE operator_id = $1 AND expires_at > $2";

pub(super) const GET_OPERATOR_RECOVERY: &str = "SELECT operator_id, thumbprint, public_key, txt_token, \
     created_at, expires_at FROM operator_recoveries WHERE operator_id = $1 AND thumbprint = $2";

/// `$1` = operator id, `$2` = recovery key thumbprint, `$3` = verified at, `$4` = verification expires at.
pub(super) const COMPLETE_OPERATOR_RECOVERY: &str = concat!(
    "UPDATE operators SET \
     public_key = (SELECT r.public_key FROM operator_recoveries r WHERE r.operator_id = $1 AND r.thumbprint = $2), \
     txt_token = (SELECT r.txt_token FROM operator_recoveries r WHERE r.operator_id = $1 AND r.thumbprint = $2), \
     thumbprint = $2, status = 'verified', domain_verified_at = $3, verification_expires_at = $4 \
     WHERE id = $1 AND EXISTS (SELECT 1 FROM operator_recoveries r \
     WHERE r.operator_id = $1 AND r.thumbprint = $2 AND r.expires_at > $3) RETURNING ",
    operator_columns!()
);

pub(super) const DELETE_OPERATOR_RECOVERIES: &str =
    "DELETE FROM operator_recoveries WHERE operator_id = $1";

/// `$1` = new key bytes, `$2` = its thumbprint, `$3` = operator id, `$4` = the thumbprint it must still have.
pub(super) const CHANGE_OPERATOR_KEY: &str = concat!(
    "UPDATE operators SET public_key = $1, thumbprint = $2 WHERE id = $3 AND thumbprint = $4 RETURNING ",
    operator_columns!()
);

pub(super) const SET_OPERATOR_UNVERIFIED: &str = concat!(
    "UPDATE operators SET status = 'unverified', domain_verified_at = NULL, \
     verification_expires_at = NULL WHERE id = $1 RETURNING ",
    operator_columns!()
);

// ----- agents

pub(super) const INSERT_AGENT: &str = concat!(
    "INSERT INTO agents (",
    agent_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
);

pub(super) const GET_AGENT: &str =
    concat!("SELECT ", agent_columns!(), " FROM agents WHERE did = $1");

pub(super) const LIST_AGENTS: &str = concat!(
    "SELECT ",
    agent_columns!(),
    " FROM agents WHERE operator_id = $1 ORDER BY created_at, did"
);

/// One page of an operator's agents in list order, after the cursor `($2 created_at, $3 did)`; `$4` = page size.
pub(super) const LIST_AGENTS_PAGE: &str = concat!(
    "SELECT ",
    agent_columns!(),
    " FROM agents WHERE operator_id = $1 AND (created_at > $2 OR (created_at = $2 AND did > $3)) \
     ORDER BY created_at, did LIMIT $4"
);

/// One page of operator `$1`'s revoked agents in list order, after the cursor `($2 created_at, $3 did)`; `$4` = page
/// size.
pub(super) const LIST_REVOKED_AGENTS_PAGE: &str = concat!(
    "SELECT ",
    agent_columns!(),
    " FROM agents WHERE operator_id = $1 AND status = 'revoked' \
     AND (created_at > $2 OR (created_at = $2 AND did > $3)) ORDER BY created_at, did LIMIT $4"
);

/// Pending registrations of operator `$1`.
pub(super) const COUNT_PENDING_AGENTS: &str =
    "SELECT count(*) FROM agents WHERE operator_id = $1 AND status = 'pending'";

/// Pending agents registered before `$1`, never approved.
pub(super) const PURGE_PENDING_AGENTS: &str =
    "DELETE FROM agents WHERE status = 'pending' AND created_at < $1";

/// The compare-and-set: `$1` = new status, `$2` = scopes, `$3` = approval scopes, `$4` = updated at,
/// `$5` = revoked at, `$6` = DID, `$7` = the status expected.
pub(super) const UPDATE_AGENT: &str = concat!(
    "UPDATE agents SET status = $1, allowed_scopes = $2, approval_scopes = $3, updated_at = $4, \
     revoked_at = $5 WHERE did = $6 AND status = $7 RETURNING ",
    agent_columns!()
);

// ----- status lists

/// Takes the next entry of the newest list if it is not full: `(list, idx)`, or no row. Concurrent
/// allocations queue on the list's row lock and re-check `allocated < size` on its committed version.
pub(super) const ALLOCATE_STATUS_ENTRY: &str = "UPDATE status_lists SET allocated = allocated + 1 \
     WHERE list = (SELECT max(list) FROM status_lists) AND allocated < size \
     RETURNING list, allocated - 1 AS idx";

/// Starts the next list (`$1` = its size) with its entry 0 taken, if no list has room: its number,
/// or no row if a list has room after all or another replica started the next one first (then
/// [`ALLOCATE_STATUS_ENTRY`] again). The room check matters on PostgreSQL, where this statement's
/// snapshot may see a list that committed after the allocation's snapshot: without it that list
/// would be skipped half empty. SQLite needs a `WHERE` to read `ON CONFLICT` as the upsert clause.
pub(super) const START_STATUS_LIST: &str = "INSERT INTO status_lists (list, size, allocated) \
     SELECT coalesce(max(list), 0) + 1, $1, 1 FROM status_lists \
     WHERE NOT EXISTS (SELECT 1 FROM status_lists WHERE allocated < size) \
     ON CONFLICT (list) DO NOTHING RETURNING list";

pub(super) const LIST_STATUS_LISTS: &str = "SELECT list, size FROM status_lists ORDER BY list";

pub(super) const GET_STATUS_LIST: &str = "SELECT list, size FROM status_lists WHERE list = $1";

/// The entries of list `$1` that may not be valid at `$2`: its suspended and revoked agents (through
/// the partial index `agents_flagged`, a few rows), then its other agents whose operator has no
/// current proof, found from those operators (through `agents_by_operator`; `+` keeps SQLite from
/// walking the whole list by `agents_status_entry` instead, and is a no-op on PostgreSQL), so a list
/// of a million valid agents costs two small lookups. Which value each gets is the service's decision.
pub(super) const STATUS_LIST_FLAGGED: &str = "SELECT a.status_index, a.status, \
     o.status AS operator_status, o.verification_expires_at FROM agents a \
     JOIN operators o ON o.id = a.operator_id \
     WHERE a.status_list = $1 AND a.status IN ('suspended', 'revoked') \
     UNION ALL SELECT a.status_index, a.status, o.status AS operator_status, \
     o.verification_expires_at FROM agents a JOIN operators o ON o.id = a.operator_id \
     WHERE a.operator_id IN (SELECT id FROM operators WHERE status <> 'verified' \
     OR verification_expires_at IS NULL OR verification_expires_at <= $2) \
     AND +a.status_list = $1 AND a.status NOT IN ('suspended', 'revoked')";

// ----- challenges (stateless: only redemptions are stored)

/// Changes no row when the challenge was already redeemed: `$1` = id, `$2` = its expiry.
pub(super) const INSERT_REDEEMED_CHALLENGE: &str = "INSERT INTO redeemed_challenges (id, expires_at) \
     VALUES ($1, $2) ON CONFLICT DO NOTHING";

/// `$1` = name, `$2` = a candidate value, kept only if the secret does not exist yet.
pub(super) const INSERT_SERVER_SECRET: &str =
    "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING";

pub(super) const GET_SERVER_SECRET: &str = "SELECT value FROM server_secrets WHERE name = $1";

// ----- signed-request replay protection

/// Changes no row when the (signer, jti) pair is already recorded.
pub(super) const INSERT_REQUEST_JTI: &str = "INSERT INTO request_jtis (signer, jti, expires_at) \
     VALUES ($1, $2, $3) ON CONFLICT (signer, jti) DO NOTHING";

// ----- device authorizations

pub(super) const INSERT_DEVICE_AUTHORIZATION: &str = concat!(
    "INSERT INTO device_authorizations (",
    device_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
);

pub(super) const DEVICE_AUTHORIZATION_BY_USER_CODE: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM device_authorizations WHERE user_code = $1"
);

/// `$1` = the agent: its registration request, if it registered asking for scopes.
pub(super) const REGISTRATION_REQUEST_OF_AGENT: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM device_authorizations WHERE did = $1 AND kind = 'registration' \
     ORDER BY created_at DESC LIMIT 1"
);

pub(super) const DEVICE_AUTHORIZATION_BY_HASH: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM device_authorizations WHERE device_code_hash = $1"
);

/// One poll, as one conditional update (every SET reads the row as it was): `$1` = now, `$2` = the
/// device code hash, `$3` = the polling agent. A pending authorization polled before `last_poll_at +
/// interval_secs` gets `slow_down_at = now` and 5 more seconds of interval.
pub(super) const POLL_DEVICE_AUTHORIZATION: &str = concat!(
    "UPDATE device_authorizations SET \
     slow_down_at = CASE WHEN status = 'pending' AND last_poll_at IS NOT NULL \
     AND $1 < last_poll_at + interval_secs THEN $1 ELSE slow_down_at END, \
     interval_secs = CASE WHEN status = 'pending' AND last_poll_at IS NOT NULL \
     AND $1 < last_poll_at + interval_secs THEN interval_secs + 5 ELSE interval_secs END, \
     last_poll_at = $1 WHERE device_code_hash = $2 AND did = $3 RETURNING ",
    device_columns!()
);

/// Single use, as one conditional update: `$1` = now, `$2` = hash, `$3` = DID. Changes one row or none.
pub(super) const REDEEM_DEVICE_CODE: &str = "UPDATE device_authorizations SET status = 'consumed', \
     last_poll_at = $1 WHERE device_code_hash = $2 AND did = $3 AND status = 'approved' AND expires_at > $1";

/// `$1` = operator, `$2` = now.
pub(super) const LIST_PENDING_DEVICE_AUTHORIZATIONS: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM device_authorizations WHERE operator_id = $1 AND status = 'pending' \
     AND expires_at > $2 AND (created_at > $3 OR (created_at = $3 AND user_code > $4)) \
     ORDER BY created_at, user_code LIMIT $5"
);

/// `$1` = new status, `$2` = granted scopes, `$3` = method, `$4` = now, `$5` = user code, `$6` = operator.
pub(super) const DECIDE_DEVICE_AUTHORIZATION: &str = concat!(
    "UPDATE device_authorizations SET status = $1, granted_scopes = $2, decided_by = $3, \
     decided_at = $4 WHERE user_code = $5 AND operator_id = $6 AND status = 'pending' \
     AND expires_at > $4 RETURNING ",
    device_columns!()
);

pub(super) const EXPIRE_DEVICE_AUTHORIZATIONS: &str = concat!(
    "UPDATE device_authorizations SET status = 'expired' WHERE status = 'pending' \
     AND expires_at <= $1 RETURNING ",
    device_columns!()
);

pub(super) const PURGE_DEVICE_AUTHORIZATIONS: &str =
    "DELETE FROM device_authorizations WHERE expires_at <= $1";

// ----- remembered grants

pub(super) const INSERT_REMEMBERED_GRANT: &str = concat!(
    "INSERT INTO remembered_grants (",
    grant_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);

/// `$1` = DID, `$2` = resource, `$3` = now.
pub(super) const ACTIVE_REMEMBERED_GRANTS: &str = concat!(
    "SELECT ",
    grant_columns!(),
    " FROM remembered_grants WHERE did = $1 AND resource = $2 AND revoked_at IS NULL \
     AND expires_at > $3 ORDER BY created_at, id"
);

/// `$1` = operator, `$2` = now.
pub(super) const LIST_REMEMBERED_GRANTS: &str = concat!(
    "SELECT ",
    grant_columns!(),
    " FROM remembered_grants WHERE operator_id = $1 AND revoked_at IS NULL \
     AND expires_at > $2 AND (created_at < $3 OR (created_at = $3 AND id > $4)) \
     ORDER BY created_at DESC, id LIMIT $5"
);

/// `$1` = now, `$2` = id, `$3` = operator.
pub(super) const REVOKE_REMEMBERED_GRANT: &str = concat!(
    "UPDATE remembered_grants SET revoked_at = $1 WHERE id = $2 AND operator_id = $3 \
     AND revoked_at IS NULL AND expires_at > $1 RETURNING ",
    grant_columns!()
);

pub(super) const PURGE_REMEMBERED_GRANTS: &str =
    "DELETE FROM remembered_grants WHERE expires_at <= $1";

// ----- the operator console

pub(super) const INSERT_CONSOLE_LINK: &str = "INSERT INTO console_links \
     (link_hash, operator_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";

/// `$1` = now, `$2` = hash: the one statement that consumes a login link.
pub(super) const REDEEM_CONSOLE_LINK: &str = "UPDATE console_links SET used_at = $1 \
     WHERE link_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING operator_id";

pub(super) const GET_CONSOLE_LINK: &str =
    "SELECT used_at, expires_at FROM console_links WHERE link_hash = $1";

macro_rules! session_columns {
    () => {
        "session_hash, operator_id, csrf_token, method, created_at, last_seen_at, expires_at"
    };
}

pub(super) const INSERT_CONSOLE_SESSION: &str = concat!(
    "INSERT INTO console_sessions (",
    session_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
);

/// `$1` = now, `$2` = hash, `$3` = idle before.
pub(super) const TOUCH_CONSOLE_SESSION: &str = concat!(
    "UPDATE console_sessions SET last_seen_at = $1 WHERE session_hash = $2 AND expires_at > $1 \
     AND last_seen_at > $3 RETURNING ",
    session_columns!()
);

pub(super) const DELETE_CONSOLE_SESSION: &str =
    "DELETE FROM console_sessions WHERE session_hash = $1";

pub(super) const PURGE_CONSOLE_LINKS: &str = "DELETE FROM console_links WHERE expires_at <= $1";

pub(super) const PURGE_CONSOLE_SESSIONS: &str =
    "DELETE FROM console_sessions WHERE expires_at <= $1";

/// The operator's own events and its agents' (`$2` = limit).
pub(super) const LIST_OPERATOR_AUDIT: &str = "SELECT at, actor, action, subject, detail \
     FROM audit_events WHERE actor = $1 OR actor IN (SELECT did FROM agents WHERE operator_id = $1) \
     ORDER BY id DESC LIMIT $2";

pub(super) const INSERT_PASSKEY: &str = "INSERT INTO console_passkeys \
     (credential_id, operator_id, passkey, created_at) VALUES ($1, $2, $3, $4)";

pub(super) const LIST_PASSKEYS: &str = "SELECT credential_id, operator_id, passkey, created_at \
     FROM console_passkeys WHERE operator_id = $1 ORDER BY created_at, credential_id";

pub(super) const INSERT_WEBAUTHN_CEREMONY: &str = "INSERT INTO webauthn_ceremonies \
     (id, operator_id, purpose, state, expires_at) VALUES ($1, $2, $3, $4, $5)";

/// `$1` = id, `$2` = now: the one statement that takes a ceremony.
pub(super) const TAKE_WEBAUTHN_CEREMONY: &str = "DELETE FROM webauthn_ceremonies \
     WHERE id = $1 AND expires_at > $2 RETURNING id, operator_id, purpose, state, expires_at";

pub(super) const PURGE_WEBAUTHN_CEREMONIES: &str =
    "DELETE FROM webauthn_ceremonies WHERE expires_at <= $1";

// ----- token revocation

/// Changes no row when the jti is already revoked.
pub(super) const REVOKE_TOKEN: &str = "INSERT INTO revoked_tokens \
     (jti, did, operator_id, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (jti) DO NOTHING";

pub(super) const IS_TOKEN_REVOKED: &str = "SELECT 1 FROM revoked_tokens WHERE jti = $1";

/// One page of operator `$1`'s revoked tokens expiring after `$2`, newest revocation first, after the cursor
/// `($3 revoked_at, $4 jti)`; `$5` = page size.
pub(super) const LIST_REVOKED_TOKENS_PAGE: &str = "SELECT jti, did, operator_id, expires_at, \
     revoked_at FROM revoked_tokens WHERE operator_id = $1 AND expires_at > $2 \
     AND (revoked_at < $3 OR (revoked_at = $3 AND jti > $4)) ORDER BY revoked_at DESC, jti LIMIT $5";

// ----- audit

pub(super) const INSERT_AUDIT: &str = "INSERT INTO audit_events \
     (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)";

/// `$1` = batch size, `$2` = delete events before this time.
pub(super) const PURGE_AUDIT: &str = "DELETE FROM audit_events WHERE id IN (SELECT id FROM \
     (SELECT id, at FROM audit_events ORDER BY id LIMIT $1) AS oldest WHERE at < $2)";

pub(super) const LIST_AUDIT: &str = "SELECT at, actor, action, subject, detail FROM audit_events \
     ORDER BY id DESC LIMIT $1";

// ----- signing keys

pub(super) const INSERT_SIGNING_KEY: &str = "INSERT INTO signing_keys \
     (kid, pkcs8_pem, created_at, activates_at, retired_at, not_after) VALUES ($1, $2, $3, $4, $5, $6)";

/// `$1` = retired at (the new key's activation), `$2` = not after: the newest key, and any key
/// scheduled to retire later than `$1` (a pending rotation superseded by an immediate one).
pub(super) const RETIRE_SIGNING_KEYS: &str = "UPDATE signing_keys SET retired_at = $1, not_after = $2 \
     WHERE retired_at IS NULL OR retired_at > $1";

/// `$1` = retired at, `$2` = not after, `$3` = the kid that must still be the newest key.
pub(super) const RETIRE_NEWEST_SIGNING_KEY: &str = "UPDATE signing_keys SET retired_at = $1, not_after = $2 \
     WHERE kid = $3 AND retired_at IS NULL";

pub(super) const PURGE_RETIRED_SIGNING_KEYS: &str =
    "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND not_after <= $1";

// ----- housekeeping

/// At most `$2` redeemed challenges with `expires_at <= $1`, oldest first.
pub(super) const PURGE_REDEEMED_CHALLENGES: &str = "DELETE FROM redeemed_challenges WHERE id IN \
     (SELECT id FROM redeemed_challenges WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)";

pub(super) const PURGE_OPERATOR_RECOVERIES: &str =
    "DELETE FROM operator_recoveries WHERE expires_at <= $1";
pub(super) const PURGE_REQUEST_JTIS: &str = "DELETE FROM request_jtis WHERE expires_at <= $1";
pub(super) const PURGE_REVOKED_TOKENS: &str = "DELETE FROM revoked_tokens WHERE expires_at <= $1";

/// Raises the cutoff of subject `$1` to `$2`, never lowering it.
pub(super) const SET_TOKEN_CUTOFF: &str = "INSERT INTO token_cutoffs (subject, cutoff) VALUES ($1, $2) \
     ON CONFLICT (subject) DO UPDATE SET cutoff = CASE WHEN excluded.cutoff > token_cutoffs.cutoff \
     THEN excluded.cutoff ELSE token_cutoffs.cutoff END";

/// The later cutoff of the agent `$1` and its operator `$2` (NULL: none).
pub(super) const TOKEN_CUTOFF: &str =
    "SELECT max(cutoff) FROM token_cutoffs WHERE subject = $1 OR subject = $2";

/// Every shared statement, by name: the store contract prepares each on both backends.
pub const SHARED: &[(&str, &str)] = &[
    ("SET_TOKEN_CUTOFF", SET_TOKEN_CUTOFF),
    ("TOKEN_CUTOFF", TOKEN_CUTOFF),
    ("INSERT_OPERATOR", INSERT_OPERATOR),
    ("GET_OPERATOR", GET_OPERATOR),
    ("RELEASE_LAPSED_DOMAIN", RELEASE_LAPSED_DOMAIN),
    ("SET_OPERATOR_VERIFIED", SET_OPERATOR_VERIFIED),
    ("SET_OPERATOR_UNVERIFIED", SET_OPERATOR_UNVERIFIED),
    ("CHANGE_OPERATOR_KEY", CHANGE_OPERATOR_KEY),
    ("START_OPERATOR_RECOVERY", START_OPERATOR_RECOVERY),
    ("GET_OPERATOR_RECOVERY", GET_OPERATOR_RECOVERY),
    ("COUNT_OPERATOR_RECOVERIES", COUNT_OPERATOR_RECOVERIES),
    ("COMPLETE_OPERATOR_RECOVERY", COMPLETE_OPERATOR_RECOVERY),
    ("DELETE_OPERATOR_RECOVERIES", DELETE_OPERATOR_RECOVERIES),
    ("INSERT_AGENT", INSERT_AGENT),
    ("GET_AGENT", GET_AGENT),
    ("LIST_AGENTS", LIST_AGENTS),
    ("LIST_AGENTS_PAGE", LIST_AGENTS_PAGE),
    ("LIST_REVOKED_AGENTS_PAGE", LIST_REVOKED_AGENTS_PAGE),
    ("COUNT_PENDING_AGENTS", COUNT_PENDING_AGENTS),
    ("PURGE_PENDING_AGENTS", PURGE_PENDING_AGENTS),
    ("UPDATE_AGENT", UPDATE_AGENT),
    ("ALLOCATE_STATUS_ENTRY", ALLOCATE_STATUS_ENTRY),
    ("START_STATUS_LIST", START_STATUS_LIST),
    ("LIST_STATUS_LISTS", LIST_STATUS_LISTS),
    ("GET_STATUS_LIST", GET_STATUS_LIST),
    ("STATUS_LIST_FLAGGED", STATUS_LIST_FLAGGED),
    ("INSERT_REDEEMED_CHALLENGE", INSERT_REDEEMED_CHALLENGE),
    ("INSERT_SERVER_SECRET", INSERT_SERVER_SECRET),
    ("GET_SERVER_SECRET", GET_SERVER_SECRET),
    ("INSERT_REQUEST_JTI", INSERT_REQUEST_JTI),
    ("INSERT_DEVICE_AUTHORIZATION", INSERT_DEVICE_AUTHORIZATION),
    (
        "DEVICE_AUTHORIZATION_BY_USER_CODE",
        DEVICE_AUTHORIZATION_BY_USER_CODE,
    ),
    ("DEVICE_AUTHORIZATION_BY_HASH", DEVICE_AUTHORIZATION_BY_HASH),
    (
        "REGISTRATION_REQUEST_OF_AGENT",
        REGISTRATION_REQUEST_OF_AGENT,
    ),
    ("POLL_DEVICE_AUTHORIZATION", POLL_DEVICE_AUTHORIZATION),
    ("REDEEM_DEVICE_CODE", REDEEM_DEVICE_CODE),
    (
        "LIST_PENDING_DEVICE_AUTHORIZATIONS",
        LIST_PENDING_DEVICE_AUTHORIZATIONS,
    ),
    ("DECIDE_DEVICE_AUTHORIZATION", DECIDE_DEVICE_AUTHORIZATION),
    ("EXPIRE_DEVICE_AUTHORIZATIONS", EXPIRE_DEVICE_AUTHORIZATIONS),
    ("PURGE_DEVICE_AUTHORIZATIONS", PURGE_DEVICE_AUTHORIZATIONS),
    ("INSERT_REMEMBERED_GRANT", INSERT_REMEMBERED_GRANT),
    ("ACTIVE_REMEMBERED_GRANTS", ACTIVE_REMEMBERED_GRANTS),
    ("LIST_REMEMBERED_GRANTS", LIST_REMEMBERED_GRANTS),
    ("REVOKE_REMEMBERED_GRANT", REVOKE_REMEMBERED_GRANT),
    ("PURGE_REMEMBERED_GRANTS", PURGE_REMEMBERED_GRANTS),
    ("INSERT_CONSOLE_LINK", INSERT_CONSOLE_LINK),
    ("REDEEM_CONSOLE_LINK", REDEEM_CONSOLE_LINK),
    ("GET_CONSOLE_LINK", GET_CONSOLE_LINK),
    ("INSERT_CONSOLE_SESSION", INSERT_CONSOLE_SESSION),
    ("TOUCH_CONSOLE_SESSION", TOUCH_CONSOLE_SESSION),
    ("DELETE_CONSOLE_SESSION", DELETE_CONSOLE_SESSION),
    ("PURGE_CONSOLE_LINKS", PURGE_CONSOLE_LINKS),
    ("PURGE_CONSOLE_SESSIONS", PURGE_CONSOLE_SESSIONS),
    ("LIST_OPERATOR_AUDIT", LIST_OPERATOR_AUDIT),
    ("INSERT_PASSKEY", INSERT_PASSKEY),
    ("LIST_PASSKEYS", LIST_PASSKEYS),
    ("INSERT_WEBAUTHN_CEREMONY", INSERT_WEBAUTHN_CEREMONY),
    ("TAKE_WEBAUTHN_CEREMONY", TAKE_WEBAUTHN_CEREMONY),
    ("PURGE_WEBAUTHN_CEREMONIES", PURGE_WEBAUTHN_CEREMONIES),
    ("REVOKE_TOKEN", REVOKE_TOKEN),
    ("IS_TOKEN_REVOKED", IS_TOKEN_REVOKED),
    ("LIST_REVOKED_TOKENS_PAGE", LIST_REVOKED_TOKENS_PAGE),
    ("INSERT_AUDIT", INSERT_AUDIT),
    ("PURGE_AUDIT", PURGE_AUDIT),
    ("LIST_AUDIT", LIST_AUDIT),
    ("INSERT_SIGNING_KEY", INSERT_SIGNING_KEY),
    ("RETIRE_SIGNING_KEYS", RETIRE_SIGNING_KEYS),
    ("RETIRE_NEWEST_SIGNING_KEY", RETIRE_NEWEST_SIGNING_KEY),
    ("PURGE_RETIRED_SIGNING_KEYS", PURGE_RETIRED_SIGNING_KEYS),
    ("PURGE_REDEEMED_CHALLENGES", PURGE_REDEEMED_CHALLENGES),
    ("PURGE_OPERATOR_RECOVERIES", PURGE_OPERATOR_RECOVERIES),
    ("PURGE_REQUEST_JTIS", PURGE_REQUEST_JTIS),
    ("PURGE_REVOKED_TOKENS", PURGE_REVOKED_TOKENS),
];

/// The `$N` placeholders of `sql` in order of first appearance (each once).
pub fn placeholders(sql: &str) -> Vec<u32> {
    let mut seen = Vec::new();
    let mut rest = sql;
    while let Some(i) = rest.find('$') {
        let digits: String = rest[i + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        rest = &rest[i + 1 + digits.len()..];
        if let Ok(n) = digits.parse::<u32>()
            && !seen.contains(&n)
        {
            seen.push(n);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_first_appear_in_order() {
        for (name, sql) in SHARED {
            let found = placeholders(sql);
            let expected: Vec<u32> = (1..=found.len() as u32).collect();
            assert_eq!(found, expected, "{name}: {sql}");
            assert!(!sql.contains('?'), "{name} uses SQLite-only placeholders");
        }
        assert_eq!(placeholders("a = $2 AND b = $1 AND c = $2"), [2, 1]);
    }

    #[test]
    fn every_statement_is_listed_once() {
        let source = include_str!("sql.rs");
        let declared = source
            .lines()
            .filter(|line| line.starts_with("pub(super) const "))
            .count();
        assert_eq!(declared, SHARED.len());
        let mut names: Vec<&str> = SHARED.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SHARED.len());
    }
}
