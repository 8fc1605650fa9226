//! Storage layer: the backend-neutral [`Store`] trait, its typed row types and [`StoreError`].
//!
//! Rows hold protocol types (`Did`, `Domain`, `ScopeSet`, `PublicKey`), decoded once as a row is
//! read by the one decoder both backends share ([`rows`]); stored data that does not decode is
//! [`StoreError::Corrupt`].
//!
//! The trait is object-safe (`Arc<dyn Store>`) and every method returns a boxed `Send` future, so
//! a backend may do real async I/O (a PostgreSQL pool) or, like [`sqlite::SqliteStore`], hand
//! blocking work to a thread of its own. Nothing here assumes SQLite: every state
//! change that must be race-free is one conditional `UPDATE` or one `INSERT` against a unique key.
//! All times are Unix seconds passed in by the caller (see [`crate::clock`]). Backends:
//! [`sqlite::SqliteStore`] (embedded default) and [`postgres::PostgresStore`] (several replicas).

mod checkpoint;
mod identities;
mod keycache;
mod pg_identities;
pub mod postgres;
mod postgres_tls;
mod rows;
mod sql;
pub mod sqlite;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use auth4agent_protocol::{Did, Domain, PublicKey, ScopeSet};

pub use postgres::PostgresStore;
pub use sql::{SHARED as SHARED_SQL, placeholders as sql_placeholders};
pub use sqlite::SqliteStore;

/// Unix time in seconds.
pub type UnixTime = u64;

/// A boxed future returned by every [`Store`] method.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Why a store operation failed. HTTP maps these to wire codes by context
/// (e.g. `NotFound` on an agent route → `agent_not_found`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The row addressed does not exist (or a referenced parent row does not).
    #[error("not found")]
    NotFound,
    /// A unique key already exists (operator domain or id, agent DID, challenge id, signing kid).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The challenge exists but its expiry has passed.
    #[error("expired")]
    Expired,
    /// The challenge was already consumed.
    #[error("already used")]
    AlreadyUsed,
    /// The (signer, jti) pair of a signed request was already consumed.
    #[error("replayed")]
    Replayed,
    /// A compare-and-set missed: the agent's status is no longer the one expected; it is this
    /// one now (see [`classify_agent_miss`]).
    #[error("agent status changed to {0}")]
    StatusChanged(AgentStatus),
    /// The backend cannot be reached or failed transiently (I/O, busy, pool closed).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Stored data does not decode (a DID, domain, key, scope list or status that does not parse;
    /// a negative time): a fault of the server's data, never of the client's request.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// A write conditioned on an [`IdentityVersion`] found agents or operators changed since that
    /// version was read: nothing was written; read them again.
    #[error("identity rows changed since they were read")]
    Stale,
}

/// The version of the agent and operator rows at which an issuance read them
/// ([`Store::get_agent_for_issuance`]); a redemption conditioned on it fails with
/// [`StoreError::Stale`] if any agent or operator changed since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityVersion(Option<i64>);

impl IdentityVersion {
    /// Rows read from the database itself, or from a cache that is never stale: nothing to check.
    pub const CURRENT: IdentityVersion = IdentityVersion(None);

    /// Rows read at database version `version`.
    pub fn at(version: i64) -> IdentityVersion {
        IdentityVersion(Some(version))
    }

    /// The version to check, if any.
    pub fn checked(self) -> Option<i64> {
        self.0
    }
}

/// The stored statuses are the wire enums of auth4agent-api, stored as their `as_str` text: one
/// definition and one string table for the wire and the database. An operator's stored status is
/// what its last DNS check found; whether that proof is still current is the service's judgement
/// (`service::operators::is_verified`). The agent lifecycle (`apply`) is in `service::lifecycle`.
pub use auth4agent_api::{AgentStatus, OperatorStatus};

/// An operator: owner of a domain and of the root key that signs its administrative requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// `op_` + 26 base32 chars (see [`crate::ids::operator_id`]).
    pub id: String,
    /// Stored normalized (`Domain::as_str`). Several unverified operators may claim one domain.
    pub domain: Domain,
    /// Stored as its raw 32 bytes.
    pub public_key: PublicKey,
    /// RFC 7638 thumbprint of `public_key`; the `kid` its signed requests must carry.
    pub thumbprint: String,
    /// The token published as `auth4agent-verification=<txt_token>` at `_auth4agent.<domain>`.
    pub txt_token: String,
    pub status: OperatorStatus,
    pub domain_verified_at: Option<UnixTime>,
    /// When the DNS proof must be re-checked; `None` while unverified.
    pub verification_expires_at: Option<UnixTime>,
    pub created_at: UnixTime,
}

/// A pending recovery of an operator by a new root key: the key's holder must publish its own TXT token
/// at the operator's domain before `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRecovery {
    pub operator_id: String,
    /// The new key, stored as its raw 32 bytes.
    pub public_key: PublicKey,
    /// RFC 7638 thumbprint of `public_key`.
    pub thumbprint: String,
    /// Published as `auth4agent-verification=<txt_token>` at `_auth4agent.<domain>`.
    pub txt_token: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// An agent: a key bound to an operator's domain through its DID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// `did:agent:<domain>:<fp>`. Unique.
    pub did: Did,
    pub operator_id: String,
    /// Stored as its raw 32 bytes.
    pub public_key: PublicKey,
    /// RFC 7638 thumbprint of `public_key` (the proof `kid` and the token `cnf.jkt`).
    pub thumbprint: String,
    pub status: AgentStatus,
    /// Scopes the operator allows; deny-by-default when empty. Stored as a sorted JSON array.
    pub allowed_scopes: ScopeSet,
    /// Scopes issued only after an operator approves the request (device authorization grant).
    pub approval_scopes: ScopeSet,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
    /// Set once when the agent becomes `Revoked`.
    pub revoked_at: Option<UnixTime>,
    /// The agent's entry in the status lists. `None` only on an agent not inserted yet:
    /// [`Store::insert_agent`] allocates it, and every stored agent has one.
    pub status_entry: Option<StatusEntry>,
}

/// An agent's entry in the Token Status Lists: entry `index` of list `list`, the agent's for good
/// (never reused), so one write to the agent flips every token it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusEntry {
    /// The list's number, from 1.
    pub list: u64,
    /// The entry within the list, from 0.
    pub index: u64,
}

/// A status list as stored: its number and its size (fixed when it started).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusListInfo {
    pub list: u64,
    pub size: u64,
}

/// An entry of a list that may not be valid, with what decides its value
/// (`service::status_lists::entry_status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlaggedEntry {
    pub index: u64,
    pub agent_status: AgentStatus,
    pub operator_status: OperatorStatus,
    pub verification_expires_at: Option<UnixTime>,
}

/// The new state [`Store::update_agent`] writes over an agent row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentUpdate {
    pub status: AgentStatus,
    pub allowed_scopes: ScopeSet,
    pub approval_scopes: ScopeSet,
    pub updated_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
}

/// Where a device authorization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Waiting for the operator's decision.
    Pending,
    /// Approved (or approved at once); the next poll gets the token.
    Approved,
    Denied,
    /// Its one token was issued.
    Consumed,
    /// Expired while pending (marked by the background pass or a poll).
    Expired,
}

impl DeviceStatus {
    const ALL: [DeviceStatus; 5] = [
        DeviceStatus::Pending,
        DeviceStatus::Approved,
        DeviceStatus::Denied,
        DeviceStatus::Consumed,
        DeviceStatus::Expired,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Pending => "pending",
            DeviceStatus::Approved => "approved",
            DeviceStatus::Denied => "denied",
            DeviceStatus::Consumed => "consumed",
            DeviceStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<DeviceStatus> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

/// What a request of the approval queue asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalKind {
    /// A device authorization (RFC 8628): a token with scopes that need an approval.
    DeviceAuthorization,
    /// A registration that asked for scopes: approving it makes the agent active with them.
    Registration,
}

impl ApprovalKind {
    const ALL: [ApprovalKind; 2] = [
        ApprovalKind::DeviceAuthorization,
        ApprovalKind::Registration,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ApprovalKind::DeviceAuthorization => "device_authorization",
            ApprovalKind::Registration => "registration",
        }
    }

    pub fn parse(s: &str) -> Option<ApprovalKind> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s)
    }
}

/// A request of the operator's approval queue, as stored: a device authorization request (RFC 8628) of an
/// agent, or an agent's registration that asked for scopes ([`ApprovalKind`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    pub kind: ApprovalKind,
    /// The name a registering agent gave itself (untrusted text); `None` for device authorizations.
    pub agent_name: Option<String>,
    /// base64url SHA-256 of the device code (the code itself is never stored).
    pub device_code_hash: String,
    /// Normalized (`UserCode::as_str`).
    pub user_code: String,
    pub did: Did,
    pub operator_id: String,
    /// The scopes asked for.
    pub scopes: ScopeSet,
    /// The token's audience.
    pub resource: String,
    pub binding_message: Option<String>,
    pub status: DeviceStatus,
    /// What the approver granted (a subset of `scopes`); empty until approved.
    pub granted_scopes: ScopeSet,
    /// How it was approved or denied (`cli_key`, `policy`, `remembered_grant`); `None` while pending.
    pub decided_by: Option<String>,
    /// Seconds the agent must wait between polls; grows by 5 with each `slow_down`.
    pub interval: u64,
    pub last_poll_at: Option<UnixTime>,
    /// The time of the last poll that came too early.
    pub slow_down_at: Option<UnixTime>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub decided_at: Option<UnixTime>,
}

/// An approval remembered for a while: the agent gets `scopes` for `resource` without a new approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RememberedGrant {
    /// `gr_` + 26 base32 chars.
    pub id: String,
    pub did: Did,
    pub operator_id: String,
    pub resource: String,
    pub scopes: ScopeSet,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
}

/// The operator's decision on a pending device authorization ([`Store::decide_device_authorization`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceDecision {
    Approve {
        scopes: ScopeSet,
        /// `cli_key` (an operator-signed request), later `browser_session` or `passkey`.
        method: String,
        /// Stored with the approval, in its transaction.
        remember: Option<RememberedGrant>,
    },
    Deny {
        method: String,
    },
}

/// A server signing key as stored. The PEM is secret: `Debug` redacts it and it is zeroized on drop.
#[derive(Clone)]
pub struct SigningKeyRecord {
    /// RFC 7638 thumbprint of the public key.
    pub kid: String,
    /// PKCS#8 PEM of the private key.
    pub pkcs8_pem: zeroize::Zeroizing<String>,
    pub created_at: UnixTime,
    /// From this instant on the key signs (until it is retired); before it, it is only published, so
    /// that verifiers caching the JWKS know it before any token carries its kid.
    pub activates_at: UnixTime,
    /// When the key stops signing: the next key's activation. `None` for the newest key.
    pub retired_at: Option<UnixTime>,
    /// After this instant no token signed by the key can still be valid; it leaves the JWKS.
    pub not_after: Option<UnixTime>,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("pkcs8_pem", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("retired_at", &self.retired_at)
            .field("not_after", &self.not_after)
            .finish()
    }
}

/// A revoked access token, kept until it would have expired anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedToken {
    pub jti: String,
    /// The token's `sub`.
    pub did: Did,
    pub operator_id: String,
    /// The token's `exp`.
    pub expires_at: UnixTime,
    pub revoked_at: UnixTime,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: UnixTime,
    /// Who did it: an operator id, an agent DID, or `"server"`.
    pub actor: String,
    /// What: e.g. `operator.register`, `agent.revoke`, `token.issue`.
    pub action: String,
    /// On what: an operator id, a DID, a jti.
    pub subject: String,
    /// Free text or a JSON document; never secrets.
    pub detail: String,
}

/// How many rows [`Store::purge_expired`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeStats {
    /// Redeemed challenges past their expiry ([`Store::purge_redeemed_challenges`]; 0 from `purge_expired`).
    pub challenges: u64,
    pub request_jtis: u64,
    pub revoked_tokens: u64,
    /// Operator recoveries past their `expires_at`.
    pub operator_recoveries: u64,
    /// Audit events past the retention ([`Store::purge_audit`]; 0 from `purge_expired`).
    pub audit_events: u64,
    /// Pending agents past `--pending-agent-ttl` ([`Store::purge_pending_agents`]; 0 from `purge_expired`).
    pub pending_agents: u64,
}

/// A one-time console login link as stored: the hash of its token, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleLink {
    pub link_hash: String,
    pub operator_id: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// A console session as stored: the hash of its id (the cookie's value), never the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub session_hash: String,
    pub operator_id: String,
    /// The per-session token every form of the session carries.
    pub csrf_token: String,
    /// How the session was opened: `login_link` (later `passkey`).
    pub method: String,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    /// The session's maximum age ends here, however active it is.
    pub expires_at: UnixTime,
}

/// An operator's passkey as stored: the credential id (base64url) and the credential as webauthn-rs
/// serializes it (JSON; the store does not look inside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    pub credential_id: String,
    pub operator_id: String,
    pub passkey: String,
    pub created_at: UnixTime,
}

/// A WebAuthn ceremony in progress: its challenge state (JSON, webauthn-rs's), for one operator and purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnCeremony {
    pub id: String,
    pub operator_id: String,
    /// `register`, `login` or `approve`.
    pub purpose: String,
    pub state: String,
    pub expires_at: UnixTime,
}

/// The persistence interface of the server. Implementations must be safe to share across tasks
/// and, for non-embedded backends, across server replicas.
pub trait Store: Send + Sync + fmt::Debug {
    /// Readiness: the backend answers a trivial query.
    fn ping(&self) -> StoreFuture<'_, ()>;

    /// Whether this process should run the background passes (re-verification, purge) now.
    /// Replicas sharing a database must not all run them: a shared backend answers `true` to one
    /// process at a time (PostgreSQL: a session-level advisory lock kept by the leader until its
    /// connection ends). An embedded backend has a single server and always answers `true`.
    fn try_lead_background(&self) -> StoreFuture<'_, bool>;

    // ----- operators -----

    /// Conflict if the id already exists. Several unverified operators may claim one domain.
    fn insert_operator(&self, operator: Operator) -> StoreFuture<'_, ()>;
    fn get_operator(&self, id: &str) -> StoreFuture<'_, Option<Operator>>;
    /// The operator holding `domain`: the verified one if any, else the oldest claim.
    fn get_operator_by_domain(&self, domain: &Domain) -> StoreFuture<'_, Option<Operator>>;
    /// Marks the domain proven at `verified_at` until `expires_at`. NotFound if no such operator;
    /// Conflict if another operator's verification of the same domain is still current at `verified_at`.
    fn set_operator_verified(
        &self,
        id: &str,
        verified_at: UnixTime,
        expires_at: UnixTime,
    ) -> StoreFuture<'_, Operator>;
    /// Clears the proof (status `unverified`, both times `None`). NotFound if no such operator.
    fn set_operator_unverified(&self, id: &str) -> StoreFuture<'_, Operator>;
    /// Starts, or for the same (operator, key) pair renews, a recovery: inserted as given, or, if the
    /// pair exists, only its `expires_at` is set (the TXT token a holder may have published stays).
    /// Returns the stored recovery. `NotFound` if the operator does not exist.
    fn start_operator_recovery(
        &self,
        recovery: OperatorRecovery,
    ) -> StoreFuture<'_, OperatorRecovery>;
    /// How many recoveries of `operator_id` are live at `now` (`expires_at > now`).
    fn count_operator_recoveries(&self, operator_id: &str, now: UnixTime) -> StoreFuture<'_, u64>;
    /// The pending recovery of `operator_id` by the key of thumbprint `thumbprint`, expired or not.
    fn get_operator_recovery(
        &self,
        operator_id: &str,
        thumbprint: &str,
    ) -> StoreFuture<'_, Option<OperatorRecovery>>;
    /// Completes a recovery whose DNS proof passed, in one transaction: another operator's lapsed
    /// proof of the domain is released (as in [`Store::set_operator_verified`]), then one conditional
    /// UPDATE gives the operator the recovery's key, thumbprint and TXT token and marks it verified
    /// (`verified_at`, `expires_at`), only if that recovery exists with `expires_at > verified_at`;
    /// then every pending recovery of the operator is deleted. `NotFound` if there is no such live
    /// recovery (expired, or completed by a concurrent call), `Conflict` if another operator holds
    /// the domain's current verification. The old key is refused by every read from the commit on.
    fn complete_operator_recovery(
        &self,
        operator_id: &str,
        thumbprint: &str,
        verified_at: UnixTime,
        expires_at: UnixTime,
    ) -> StoreFuture<'_, Operator>;
    /// Replaces operator `id`'s root key with `new_key` (and its thumbprint) if its key is still the
    /// one of thumbprint `old_thumbprint`: one conditional UPDATE, so of two concurrent changes from
    /// one key at most one applies. Returns the updated operator; `NotFound` when no operator `id`
    /// holds that key (none exists, or its key changed meanwhile). From its commit on, reads return
    /// the new key only (the SQLite row cache is invalidated).
    fn change_operator_key(
        &self,
        id: &str,
        old_thumbprint: &str,
        new_key: PublicKey,
    ) -> StoreFuture<'_, Operator>;
    /// Verified operators whose `verification_expires_at <= now`, oldest first, at most `limit`.
    fn list_operators_due_for_reverification(
        &self,
        now: UnixTime,
        limit: u32,
    ) -> StoreFuture<'_, Vec<Operator>>;

    // ----- agents -----

    /// Inserts the agent with the next free status-list entry, in one transaction, and returns the row
    /// as written (`agent.status_entry` is ignored). The entry is the next of the newest list while it
    /// has room; when it is full, list + 1 starts with `list_size` entries and the agent takes its
    /// entry 0. Entries come from the lists' `allocated` counters, never from `max(index) + 1`: under
    /// any concurrency, across replicas, no two agents share one. Conflict if the DID already
    /// exists; NotFound if `operator_id` does not exist.
    fn insert_agent(&self, agent: Agent, list_size: u64) -> StoreFuture<'_, Agent>;
    fn get_agent(&self, did: &Did) -> StoreFuture<'_, Option<Agent>>;
    /// An agent and its operator, read together: the token and introspection paths need both.
    /// `None` if the agent does not exist.
    fn get_agent_with_operator(&self, did: &Did) -> StoreFuture<'_, Option<(Agent, Operator)>>;
    /// [`Store::get_agent_with_operator`] for an issuance whose redemption is conditioned on the version
    /// returned: a backend may answer from a per-process cache (PostgreSQL does, as replicas change rows
    /// behind its back), since the redemption then fails Stale rather than act on a changed row.
    fn get_agent_for_issuance(
        &self,
        did: &Did,
    ) -> StoreFuture<'_, Option<(Agent, Operator, IdentityVersion)>> {
        let read = self.get_agent_with_operator(did);
        Box::pin(async move {
            Ok(read
                .await?
                .map(|(agent, op)| (agent, op, IdentityVersion::CURRENT)))
        })
    }
    /// All agents of an operator, oldest first.
    fn list_agents(&self, operator_id: &str) -> StoreFuture<'_, Vec<Agent>>;
    /// At most `limit` agents of an operator in list order (registration time, then DID), after
    /// `after` (the last `(created_at, did)` of the previous page) when given.
    fn list_agents_page(
        &self,
        operator_id: &str,
        after: Option<(UnixTime, Did)>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<Agent>>;
    /// At most `limit` revoked agents of an operator in list order (registration time, then DID), after `after`.
    fn list_revoked_agents_page(
        &self,
        operator_id: &str,
        after: Option<(UnixTime, Did)>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<Agent>>;
    /// How many of the operator's agents are pending (registered, never approved).
    fn count_pending_agents(&self, operator_id: &str) -> StoreFuture<'_, u64>;
    /// Deletes pending agents registered before `before` (and their challenges); returns how many.
    fn purge_pending_agents(&self, before: UnixTime) -> StoreFuture<'_, u64>;
    /// Compare-and-set: writes `update` over the agent if its status is still `expected`, with ONE
    /// conditional update (`UPDATE … WHERE did = $1 AND status = $2 RETURNING …`), and returns the
    /// row as written. On a miss, [`classify_agent_miss`] names the error: NotFound, or
    /// StatusChanged with the status found. The transitions themselves are the service layer's
    /// (`AgentStatus::apply`).
    fn update_agent(
        &self,
        did: &Did,
        expected: AgentStatus,
        update: AgentUpdate,
    ) -> StoreFuture<'_, Agent>;

    // ----- status lists -----

    /// Every status list, by number.
    fn list_status_lists(&self) -> StoreFuture<'_, Vec<StatusListInfo>>;
    fn get_status_list(&self, list: u64) -> StoreFuture<'_, Option<StatusListInfo>>;
    /// The entries of `list` that may not be valid at `now` (every entry not returned is valid): its
    /// suspended and revoked agents, and its agents whose operator has no current proof at `now`.
    fn status_list_flagged(&self, list: u64, now: UnixTime) -> StoreFuture<'_, Vec<FlaggedEntry>>;

    // ----- challenges (stateless: the id carries its expiry under a MAC; only redemptions are stored) -----

    /// The deployment's secret called `name`: stores `candidate` if there is none yet, and returns the
    /// stored value, so every replica (and every restart) agrees on one secret.
    fn server_secret(&self, name: &str, candidate: Vec<u8>) -> StoreFuture<'_, Vec<u8>>;
    /// Records challenge `id` (valid until `expires_at`) as redeemed and appends `event` to the audit log,
    /// in one transaction: the challenge path's only write. Under any concurrency, and across replicas,
    /// exactly one caller gets `Ok`; the others get AlreadyUsed and leave no audit row. The id's MAC and
    /// expiry are the caller's checks.
    /// With `read_at` other than [`IdentityVersion::CURRENT`], also Stale (nothing written) if agents or
    /// operators changed since that version.
    fn redeem_challenge(
        &self,
        id: &str,
        expires_at: UnixTime,
        event: AuditEvent,
        read_at: IdentityVersion,
    ) -> StoreFuture<'_, ()>;
    /// Deletes at most `batch` redeemed challenges with `expires_at <= before`, oldest first; returns how
    /// many (the caller repeats while a batch comes back full, so no one write holds the writer long).
    fn purge_redeemed_challenges(&self, before: UnixTime, batch: u32) -> StoreFuture<'_, u64>;

    // ----- signed-request replay protection -----

    /// Records `(signer thumbprint, jti)` until `expires_at`. Replayed if already recorded.
    fn consume_request_jti(
        &self,
        signer: &str,
        jti: &str,
        expires_at: UnixTime,
    ) -> StoreFuture<'_, ()>;

    /// Records `(signer thumbprint, jti)` until `expires_at`, as [`Store::consume_request_jti`] does (one
    /// namespace per key for every message it signs), and appends `event` to the audit log, in one
    /// transaction: the client-credentials token path's only write. Replayed, with no audit row, if the
    /// pair was already recorded; under any concurrency exactly one caller gets `Ok`.
    fn redeem_client_assertion(
        &self,
        signer: &str,
        jti: &str,
        expires_at: UnixTime,
        event: AuditEvent,
        read_at: IdentityVersion,
    ) -> StoreFuture<'_, ()>;

    // ----- device authorizations (RFC 8628) -----

    /// Stores a new device authorization and appends `event`, in one transaction. Conflict if the
    /// device code hash or the user code exists (the caller draws new codes).
    fn insert_device_authorization(
        &self,
        authorization: DeviceAuthorization,
        event: AuditEvent,
    ) -> StoreFuture<'_, ()>;
    /// The authorization with this user code (normalized), in any status.
    fn get_device_authorization(
        &self,
        user_code: &str,
    ) -> StoreFuture<'_, Option<DeviceAuthorization>>;
    /// The newest registration request (kind `registration`) of the agent `did`, in any status.
    fn get_registration_request(&self, did: &Did) -> StoreFuture<'_, Option<DeviceAuthorization>>;
    /// Records a poll by `did` at `now` with ONE conditional update and returns the row as written: a
    /// poll of a pending authorization less than `interval` seconds after the previous one grows
    /// `interval` by 5 and sets `slow_down_at = now`. `None` if no authorization of `did` has this hash.
    fn poll_device_authorization(
        &self,
        device_code_hash: &str,
        did: &Did,
        now: UnixTime,
    ) -> StoreFuture<'_, Option<DeviceAuthorization>>;
    /// Consumes an approved authorization of `did` (`status` `approved` → `consumed`, not expired) with
    /// ONE conditional update and appends `event`, in one transaction: the device grant's token write.
    /// Under any concurrency exactly one caller gets `Ok`; the others get NotFound (no such row of
    /// `did`), AlreadyUsed (consumed), Expired, or Conflict (pending or denied).
    fn redeem_device_code(
        &self,
        device_code_hash: &str,
        did: &Did,
        now: UnixTime,
        event: AuditEvent,
    ) -> StoreFuture<'_, ()>;
    /// At most `limit` pending, unexpired authorizations of the operator's agents, oldest first (then by user
    /// code), after `after` (the last `(created_at, user_code)` of the previous page).
    fn list_pending_device_authorizations(
        &self,
        operator_id: &str,
        now: UnixTime,
        after: Option<(UnixTime, String)>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<DeviceAuthorization>>;
    /// Decides a pending, unexpired authorization of the operator's agents with ONE conditional update
    /// (plus the remembered grant, if any, and `event`, in one transaction) and returns it as written.
    /// On a miss: NotFound (no such code of this operator), AlreadyUsed (decided), Expired.
    fn decide_device_authorization(
        &self,
        operator_id: &str,
        user_code: &str,
        decision: DeviceDecision,
        now: UnixTime,
        event: AuditEvent,
    ) -> StoreFuture<'_, DeviceAuthorization>;
    /// Marks every pending authorization with `expires_at <= now` expired and returns them (each to
    /// exactly one caller, for its audit row).
    fn expire_device_authorizations(
        &self,
        now: UnixTime,
    ) -> StoreFuture<'_, Vec<DeviceAuthorization>>;
    /// Remembered grants of `did` for `resource` in force at `now` (unrevoked, unexpired).
    fn active_remembered_grants(
        &self,
        did: &Did,
        resource: &str,
        now: UnixTime,
    ) -> StoreFuture<'_, Vec<RememberedGrant>>;
    /// At most `limit` of the operator's remembered grants in force at `now`, newest first (then by id), after
    /// `after` (the last `(created_at, id)` of the previous page).
    fn list_remembered_grants(
        &self,
        operator_id: &str,
        now: UnixTime,
        after: Option<(UnixTime, String)>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<RememberedGrant>>;
    /// Revokes one of the operator's grants in force (ONE conditional update) and returns it as
    /// written. NotFound if it is not the operator's, or already revoked or expired.
    fn revoke_remembered_grant(
        &self,
        operator_id: &str,
        id: &str,
        now: UnixTime,
    ) -> StoreFuture<'_, RememberedGrant>;
    /// Deletes device authorizations with `expires_at <= device_before` and remembered grants with
    /// `expires_at <= grants_before`; returns how many rows.
    fn purge_device_state(
        &self,
        device_before: UnixTime,
        grants_before: UnixTime,
    ) -> StoreFuture<'_, u64>;

    // ----- the operator console -----

    /// Stores a new login link. Conflict if the hash exists.
    fn insert_console_link(&self, link: ConsoleLink) -> StoreFuture<'_, ()>;
    /// Consumes the link with ONE conditional update
    /// (`SET used_at = now WHERE link_hash = ? AND used_at IS NULL AND expires_at > now`) and stores
    /// `session` (opened for the link's operator; `session.operator_id` is ignored), in one transaction.
    /// Under any concurrency, across replicas, exactly one caller gets the session; the others get
    /// AlreadyUsed, Expired or NotFound, and store nothing.
    fn redeem_console_link(
        &self,
        link_hash: &str,
        now: UnixTime,
        session: ConsoleSession,
    ) -> StoreFuture<'_, ConsoleSession>;
    /// Stores a session opened without a link (a passkey login). Conflict if the hash exists.
    fn insert_console_session(&self, session: ConsoleSession) -> StoreFuture<'_, ()>;
    /// Marks the session seen at `now` if it is still live (ONE conditional update: `expires_at > now`
    /// and `last_seen_at > idle_before`) and returns it as written; `None` if there is no live session
    /// with this hash.
    fn touch_console_session(
        &self,
        session_hash: &str,
        now: UnixTime,
        idle_before: UnixTime,
    ) -> StoreFuture<'_, Option<ConsoleSession>>;
    /// Deletes the session (sign-out); `false` if there was none.
    fn delete_console_session(&self, session_hash: &str) -> StoreFuture<'_, bool>;
    /// The most recent audit events by the operator or by its agents, at most `limit`.
    fn list_operator_audit(
        &self,
        operator_id: &str,
        limit: u32,
    ) -> StoreFuture<'_, Vec<AuditEvent>>;

    /// Stores a passkey. Conflict if its credential id is already registered (to anyone).
    fn insert_passkey(&self, passkey: StoredPasskey) -> StoreFuture<'_, ()>;
    /// The operator's passkeys, oldest first.
    fn list_passkeys(&self, operator_id: &str) -> StoreFuture<'_, Vec<StoredPasskey>>;
    /// Stores a ceremony in progress. Conflict if the id exists.
    fn insert_webauthn_ceremony(&self, ceremony: WebauthnCeremony) -> StoreFuture<'_, ()>;
    /// Takes the ceremony (ONE conditional DELETE: `WHERE id = ? AND expires_at > now RETURNING …`):
    /// under any concurrency, across replicas, one caller gets it; `None` for everyone else, and for an
    /// unknown or expired id.
    fn take_webauthn_ceremony(
        &self,
        id: &str,
        now: UnixTime,
    ) -> StoreFuture<'_, Option<WebauthnCeremony>>;

    // ----- token revocation -----

    /// Idempotent: `Ok(true)` if newly revoked, `Ok(false)` if the jti was already revoked.
    fn revoke_token(&self, token: RevokedToken) -> StoreFuture<'_, bool>;
    /// Raises the token cutoff of `subject` (an agent's DID or an operator's id) to `at` (never lowers
    /// it): its tokens issued at or before the cutoff stay inactive for good.
    fn set_token_cutoff(&self, subject: &str, at: UnixTime) -> StoreFuture<'_, ()>;
    /// The later of the token cutoffs of the agent `did` and of its operator, if either has one.
    fn token_cutoff(&self, did: &Did, operator_id: &str) -> StoreFuture<'_, Option<UnixTime>>;
    fn is_token_revoked(&self, jti: &str) -> StoreFuture<'_, bool>;
    /// At most `limit` revoked tokens of an operator's agents expiring after `live_after`, newest revocation first
    /// (`revoked_at` descending, then `jti`), after `after` (the last `(revoked_at, jti)` of the previous page).
    fn list_revoked_tokens_page(
        &self,
        operator_id: &str,
        live_after: UnixTime,
        after: Option<(UnixTime, String)>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<RevokedToken>>;

    // ----- audit -----

    fn append_audit(&self, event: AuditEvent) -> StoreFuture<'_, ()>;
    /// Deletes, among the `batch` oldest events (by insertion), those with `at < before`; returns
    /// how many. Looks at no more than `batch` rows, so a pass with nothing to delete stays cheap;
    /// call again while it returns `batch`.
    fn purge_audit(&self, before: UnixTime, batch: u32) -> StoreFuture<'_, u64>;
    /// Most recent events first, at most `limit`.
    fn list_audit(&self, limit: u32) -> StoreFuture<'_, Vec<AuditEvent>>;

    // ----- signing keys -----

    /// All signing keys, oldest first (active and retired).
    fn load_signing_keys(&self) -> StoreFuture<'_, Vec<SigningKeyRecord>>;
    /// Conflict if the kid exists.
    fn insert_signing_key(&self, key: SigningKeyRecord) -> StoreFuture<'_, ()>;
    /// In one transaction: every key not retired by `new_key.activates_at` (the newest key, and any
    /// key retired later than that) gets `retired_at = new_key.activates_at, not_after = not_after`,
    /// then `new_key` is inserted as the newest key. A rotation committed meanwhile by another
    /// process is retired too: the last one wins.
    fn rotate_signing_key(
        &self,
        new_key: SigningKeyRecord,
        not_after: UnixTime,
    ) -> StoreFuture<'_, ()>;
    /// The scheduled rotation: like [`Store::rotate_signing_key`], but only while `current_kid` is
    /// still the newest (unretired) key, decided by one conditional UPDATE in the transaction.
    /// Returns `false`, changing nothing, when another process has rotated since `current_kid` was
    /// read, so several replicas scheduling at once add exactly one key.
    fn rotate_signing_key_after(
        &self,
        current_kid: &str,
        new_key: SigningKeyRecord,
        not_after: UnixTime,
    ) -> StoreFuture<'_, bool>;
    /// Deletes signing keys whose `not_after <= now` (they can verify no live token).
    fn purge_retired_signing_keys(&self, now: UnixTime) -> StoreFuture<'_, u64>;

    // ----- housekeeping -----

    /// Deletes request jtis, revoked-token rows, console links, console sessions and operator
    /// recoveries with `expires_at <= now`.
    fn purge_expired(&self, now: UnixTime) -> StoreFuture<'_, PurgeStats>;
}

/// Why [`Store::update_agent`] wrote nothing, judged from the row as it is now; shared by every
/// backend.
pub(crate) fn classify_agent_miss(current: Option<Agent>) -> StoreError {
    match current {
        None => StoreError::NotFound,
        Some(agent) => StoreError::StatusChanged(agent.status),
    }
}

/// Why [`Store::redeem_device_code`] wrote nothing, judged from the row as it is now.
pub(crate) fn classify_device_miss(
    current: Option<DeviceAuthorization>,
    did: &Did,
    now: UnixTime,
) -> StoreError {
    match current {
        Some(a) if &a.did == did => match a.status {
            DeviceStatus::Consumed => StoreError::AlreadyUsed,
            _ if a.expires_at <= now => StoreError::Expired,
            status => StoreError::Conflict(format!("device authorization is {}", status.as_str())),
        },
        _ => StoreError::NotFound,
    }
}

/// Why [`Store::decide_device_authorization`] wrote nothing, judged from the row as it is now.
pub(crate) fn classify_decision_miss(
    current: Option<DeviceAuthorization>,
    operator_id: &str,
    now: UnixTime,
) -> StoreError {
    match current {
        Some(a) if a.operator_id == operator_id => match a.status {
            DeviceStatus::Pending if a.expires_at <= now => StoreError::Expired,
            DeviceStatus::Expired => StoreError::Expired,
            _ => StoreError::AlreadyUsed,
        },
        _ => StoreError::NotFound,
    }
}
