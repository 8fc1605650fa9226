//! Operators: registration, DNS verification on demand and in the background re-verification pass,
//! and what an operator may read (its agents, its revocations).

use auth4agent_protocol::{
    Did, Domain, Jwk, KeyChangeRules, PublicKey, TxtRecord, verify_key_change,
};

use auth4agent_api::ErrorCode;

use super::{ServiceError, ServiceResult, audit, pages};
use crate::dns::TxtVerification;
use crate::ids;
use crate::state::AppState;
use crate::store::{Agent, Operator, OperatorRecovery, OperatorStatus, StoreError, UnixTime};

/// Whether an operator's domain proof is current at `now` (a verification past its expiry counts
/// as none until re-verified).
pub fn is_verified(op: &Operator, now: UnixTime) -> bool {
    proof_is_current(op.status, op.verification_expires_at, now)
}

/// [`is_verified`] on the two values it reads (for rows that carry only those, as status lists do).
pub fn proof_is_current(
    status: OperatorStatus,
    verification_expires_at: Option<UnixTime>,
    now: UnixTime,
) -> bool {
    status == OperatorStatus::Verified && verification_expires_at.is_some_and(|t| t > now)
}

/// Refuses what needs a proven domain (granting scopes, issuing tokens) while the operator's proof
/// is not current (`operator_not_verified`).
pub fn require_verified(op: &Operator, now: UnixTime) -> ServiceResult<()> {
    if is_verified(op, now) {
        Ok(())
    } else {
        Err(ServiceError::refused(
            ErrorCode::OperatorNotVerified,
            format!(
                "operator {} has no current DNS verification of {}",
                op.id, op.domain
            ),
        ))
    }
}

/// Parses a domain an operator may claim: valid DNS name, not a public suffix.
pub fn registrable_domain(s: &str) -> ServiceResult<Domain> {
    let domain = Domain::parse(s)
        .map_err(|e| ServiceError::refused(ErrorCode::InvalidDomain, e.to_string()))?;
    require_registrable(&domain)?;
    Ok(domain)
}

/// Refuses a public suffix (`public_suffix_domain`); checked again at every verification.
fn require_registrable(domain: &Domain) -> ServiceResult<()> {
    domain
        .ensure_registrable()
        .map_err(|e| ServiceError::refused(ErrorCode::PublicSuffixDomain, e.to_string()))
}

/// Parses a public JWK from a request body, or refuses with `invalid_key`.
pub fn body_key(jwk: &Jwk) -> ServiceResult<PublicKey> {
    PublicKey::from_jwk(jwk)
        .map_err(|e| ServiceError::refused(ErrorCode::InvalidKey, e.to_string()))
}

/// Loads an operator or refuses with `operator_not_found`.
pub async fn load(state: &AppState, id: &str) -> ServiceResult<Operator> {
    state
        .store
        .get_operator(id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// The operator a registration names: by `operator_id`, or by `domain` (the operator that has proven it, as of
/// `now`), exactly one of the two.
pub async fn load_for_registration(
    state: &AppState,
    operator_id: Option<&str>,
    domain: Option<&str>,
    now: UnixTime,
) -> ServiceResult<Operator> {
    match (operator_id, domain) {
        (Some(id), None) => load(state, id).await,
        (None, Some(domain)) => {
            let domain = Domain::parse(domain)
                .map_err(|e| ServiceError::refused(ErrorCode::InvalidDomain, e.to_string()))?;
            domain_owner(state, &domain, None, now)
                .await?
                .ok_or_else(|| {
                    ServiceError::refused(
                        ErrorCode::OperatorNotFound,
                        format!("no operator has a current proof of the domain {domain}"),
                    )
                })
        }
        _ => Err(ServiceError::refused(
            ErrorCode::InvalidRequest,
            "name the operator by operator_id or by domain, exactly one of the two",
        )),
    }
}

pub(crate) fn not_found(id: &str) -> ServiceError {
    ServiceError::refused(ErrorCode::OperatorNotFound, format!("no operator {id:?}"))
}

fn operator_exists(domain: &Domain) -> ServiceError {
    ServiceError::refused(
        ErrorCode::OperatorExists,
        format!("an operator is already registered for {domain}"),
    )
}

/// Registers an operator whose request was signed by `key` (checked by the caller). Unverified
/// claims on a domain may coexist; once one operator has proven it, it owns it.
pub async fn register(
    state: &AppState,
    domain: Domain,
    key: PublicKey,
    now: UnixTime,
) -> ServiceResult<Operator> {
    if domain_owner(state, &domain, None, now).await?.is_some() {
        return Err(operator_exists(&domain));
    }
    let operator = Operator {
        id: ids::operator_id(),
        domain: domain.clone(),
        public_key: key,
        thumbprint: key.thumbprint(),
        txt_token: ids::txt_token(),
        status: OperatorStatus::Unverified,
        domain_verified_at: None,
        verification_expires_at: None,
        created_at: now,
    };
    match state.store.insert_operator(operator.clone()).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(operator_exists(&domain)),
        Err(e) => return Err(e.into()),
    }
    let detail = format!("domain={domain}");
    audit::record(
        state,
        now,
        &operator.id,
        "operator.register",
        &operator.id,
        detail,
    )
    .await;
    Ok(operator)
}

/// Replaces the operator's root key (the ACME key change, RFC 8555 §7.3.5): the request was signed by
/// the current key (checked by the caller); `key_change`, signed by `new_key`, binds the operator, the
/// current key and this server. From the store's commit on, the old key is refused and the new one works.
pub async fn change_key(
    state: &AppState,
    operator: &Operator,
    new_key: &Jwk,
    key_change: &str,
    now: UnixTime,
) -> ServiceResult<Operator> {
    let new_key = body_key(new_key)?;
    if new_key == operator.public_key {
        return Err(ServiceError::refused(
            ErrorCode::InvalidRequest,
            "public_key is the operator's current key",
        ));
    }
    let rules = KeyChangeRules {
        operator_id: &operator.id,
        old_key: &operator.public_key,
        issuer: &state.config.issuer,
        now: auth4agent_protocol::UnixTime::from_secs(now),
        leeway: std::time::Duration::from_secs(state.config.leeway),
    };
    verify_key_change(key_change, &new_key, &rules).map_err(|e| {
        ServiceError::refused(
            ErrorCode::InvalidSignature,
            format!("key_change: {} ({e})", e.code()),
        )
    })?;
    let updated = match state
        .store
        .change_operator_key(&operator.id, &operator.thumbprint, new_key)
        .await
    {
        Ok(updated) => updated,
        Err(StoreError::NotFound) => {
            return Err(ServiceError::refused(
                ErrorCode::Forbidden,
                "the operator's key changed meanwhile; sign with its current key",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let detail = format!("old={} new={}", operator.thumbprint, updated.thumbprint);
    audit::record(
        state,
        now,
        &operator.id,
        "operator.key_change",
        &operator.id,
        detail,
    )
    .await;
    Ok(updated)
}

/// How long a started recovery waits for its DNS proof.
pub const RECOVERY_TTL: u64 = 86_400;
/// Live recoveries an operator may have at once (different new keys), so nobody can fill the table.
pub const MAX_PENDING_RECOVERIES: u64 = 8;

/// Starts (or renews) the recovery of `operator` by `new_key`, whose holder signed the request
/// (checked by the caller): the TXT record to publish. Nothing about the operator changes: its key
/// keeps working and the new key can do nothing but confirm this recovery (spec §10.6).
pub async fn start_recovery(
    state: &AppState,
    operator: &Operator,
    new_key: PublicKey,
    now: UnixTime,
) -> ServiceResult<(OperatorRecovery, TxtRecord)> {
    if new_key == operator.public_key {
        return Err(ServiceError::refused(
            ErrorCode::InvalidRequest,
            "public_key is the operator's current key: nothing to recover",
        ));
    }
    let renewal = state
        .store
        .get_operator_recovery(&operator.id, &new_key.thumbprint())
        .await?
        .is_some_and(|r| r.expires_at > now);
    // Not a hard bound under concurrency (starts racing past it may each land), but a small one.
    if !renewal
        && state
            .store
            .count_operator_recoveries(&operator.id, now)
            .await?
            >= MAX_PENDING_RECOVERIES
    {
        return Err(ServiceError::RateLimited {
            retry_after: RECOVERY_TTL,
            message: format!(
                "operator {} has {MAX_PENDING_RECOVERIES} recoveries in progress, the most at once; retry later",
                operator.id
            ),
        });
    }
    let recovery = state
        .store
        .start_operator_recovery(OperatorRecovery {
            operator_id: operator.id.clone(),
            public_key: new_key,
            thumbprint: new_key.thumbprint(),
            txt_token: ids::txt_token(),
            created_at: now,
            expires_at: now.saturating_add(RECOVERY_TTL),
        })
        .await?;
    let detail = format!(
        "key={} expires_at={}",
        recovery.thumbprint, recovery.expires_at
    );
    audit::record(
        state,
        now,
        &recovery_actor(&recovery.thumbprint),
        "operator.recovery_start",
        &operator.id,
        detail,
    )
    .await;
    let record = TxtRecord::new(&operator.domain, &recovery.txt_token);
    Ok((recovery, record))
}

/// Checks the recovery's TXT record now; when it matches, `new_key` becomes the operator's root key
/// (and its TXT token the operator's), the operator is verified, and the old key is refused from then
/// on. A failed check changes nothing: the operator's own verification is not the claimant's to withdraw.
pub async fn confirm_recovery(
    state: &AppState,
    operator: &Operator,
    new_key: PublicKey,
) -> ServiceResult<Operator> {
    let thumbprint = new_key.thumbprint();
    let now = state.clock.now();
    let recovery = state
        .store
        .get_operator_recovery(&operator.id, &thumbprint)
        .await?
        .filter(|r| r.expires_at > now)
        .ok_or_else(|| {
            ServiceError::refused(
                ErrorCode::Forbidden,
                "no recovery of this operator by this key is in progress (never started, expired or \
                 already completed); start one with POST /v1/operators/{id}/recovery",
            )
        })?;
    let domain = &operator.domain;
    require_registrable(domain)?;
    if domain_owner(state, domain, Some(&operator.id), now)
        .await?
        .is_some()
    {
        return Err(ServiceError::refused(
            ErrorCode::OperatorExists,
            format!("{domain} is already verified by another operator"),
        ));
    }
    let outcome = state.dns.verify(domain, &recovery.txt_token).await;
    let now = state.clock.now();
    let actor = recovery_actor(&thumbprint);
    if outcome != TxtVerification::Verified {
        let failure = dns_failure(domain, &recovery.txt_token, outcome);
        let detail = format!("key={thumbprint} {failure}");
        audit::record(
            state,
            now,
            &actor,
            "operator.recovery_failed",
            &operator.id,
            detail,
        )
        .await;
        return Err(failure);
    }
    let expires = now.saturating_add(state.config.verification_lifetime);
    cut_off_tokens_after_a_gap(state, operator, now).await?;
    let recovered = match state
        .store
        .complete_operator_recovery(&operator.id, &thumbprint, now, expires)
        .await
    {
        Ok(recovered) => recovered,
        Err(StoreError::Conflict(_)) => return Err(operator_exists(domain)),
        Err(StoreError::NotFound) => {
            return Err(ServiceError::refused(
                ErrorCode::Forbidden,
                "this recovery expired or another one completed meanwhile",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let detail = format!("old={} new={thumbprint}", operator.thumbprint);
    audit::record(state, now, &actor, "operator.recover", &operator.id, detail).await;
    Ok(recovered)
}

/// The audit actor of a recovery: the claimant's key, not yet the operator's.
fn recovery_actor(thumbprint: &str) -> String {
    format!("key:{thumbprint}")
}

/// What the operator must publish in DNS.
pub fn instructions(operator: &Operator) -> TxtRecord {
    TxtRecord::new(&operator.domain, &operator.txt_token)
}

/// Looks the operator's TXT record up now. A definite answer (no record, wrong record) withdraws a
/// current verification; a lookup failure proves nothing either way and changes nothing (spec §10.4).
pub async fn confirm(state: &AppState, operator: &Operator) -> ServiceResult<Operator> {
    let domain = &operator.domain;
    require_registrable(domain)?;
    // The owner's id is not named: a rival claimant learns only that the domain is taken.
    if domain_owner(state, domain, Some(&operator.id), state.clock.now())
        .await?
        .is_some()
    {
        return Err(ServiceError::refused(
            ErrorCode::OperatorExists,
            format!("{domain} is already verified by another operator"),
        ));
    }
    let outcome = state.dns.verify(domain, &operator.txt_token).await;
    // The lookup takes time: judge and record as of its answer.
    let now = state.clock.now();
    let failure = match outcome {
        TxtVerification::Verified => {
            let expires = now.saturating_add(state.config.verification_lifetime);
            cut_off_tokens_after_a_gap(state, operator, now).await?;
            let updated = match state
                .store
                .set_operator_verified(&operator.id, now, expires)
                .await
            {
                Ok(updated) => updated,
                // Another operator proved the same domain a moment earlier.
                Err(StoreError::Conflict(_)) => return Err(operator_exists(domain)),
                Err(e) => return Err(e.into()),
            };
            let detail = format!("success domain={domain}");
            audit::record(
                state,
                now,
                &operator.id,
                "operator.verify",
                &operator.id,
                detail,
            )
            .await;
            return Ok(updated);
        }
        failure => dns_failure(domain, &operator.txt_token, failure),
    };
    let id = &operator.id;
    audit::record(
        state,
        now,
        id,
        "operator.verify_failed",
        id,
        failure.to_string(),
    )
    .await;
    let definite = matches!(
        failure.code(),
        Some(ErrorCode::DnsRecordNotFound | ErrorCode::DnsRecordMismatch)
    );
    if definite && operator.status == OperatorStatus::Verified {
        state.store.set_token_cutoff(id, now).await?;
        state.store.set_operator_unverified(id).await?;
        let detail = format!(
            "explicit check: {}",
            failure.code().map_or("", ErrorCode::as_str)
        );
        audit::record(state, now, id, "operator.unverify", id, detail).await;
    }
    Err(failure)
}

/// A proof re-established after the operator's had lapsed: tokens issued before now stay inactive for good
/// (spec §13.1), so nothing issued before the gap comes back with the new proof.
async fn cut_off_tokens_after_a_gap(
    state: &AppState,
    operator: &Operator,
    now: UnixTime,
) -> ServiceResult<()> {
    // Lapsed: still stored as verified, its proof past its time. A first proof, or one after a withdrawal
    // (whose cutoff was set when it was withdrawn), needs none here.
    if lapsed(operator, now) {
        state.store.set_token_cutoff(&operator.id, now).await?;
    }
    Ok(())
}

/// Still stored as verified, but its proof past its time.
fn lapsed(operator: &Operator, now: UnixTime) -> bool {
    operator.status == OperatorStatus::Verified && !is_verified(operator, now)
}

/// The operator that has proven `domain`, other than `except`, if any.
async fn domain_owner(
    state: &AppState,
    domain: &Domain,
    except: Option<&str>,
    now: UnixTime,
) -> ServiceResult<Option<Operator>> {
    // Time-aware: an owner whose proof lapsed holds the domain no more (the store releases it when
    // the next claimant's proof is recorded).
    Ok(state
        .store
        .get_operator_by_domain(domain)
        .await?
        .filter(|op| is_verified(op, now) && Some(op.id.as_str()) != except))
}

/// The refusal for a failed TXT check.
fn dns_failure(domain: &Domain, token: &str, outcome: TxtVerification) -> ServiceError {
    let record = TxtRecord::new(domain, token);
    match outcome {
        TxtVerification::Verified => ServiceError::internal("verified outcome treated as failure"),
        TxtVerification::NoRecord => ServiceError::refused(
            ErrorCode::DnsRecordNotFound,
            format!(
                "no TXT record at {}; publish {:?} there",
                record.name, record.value
            ),
        ),
        TxtVerification::WrongValue { found } => {
            let shown: Vec<String> = found
                .iter()
                .take(5)
                .map(|v| v.chars().take(200).collect())
                .collect();
            ServiceError::refused(
                ErrorCode::DnsRecordMismatch,
                format!(
                    "TXT records at {} are {:?}; expected {:?}",
                    record.name, shown, record.value
                ),
            )
        }
        TxtVerification::LookupFailed(message) => ServiceError::refused(
            ErrorCode::DnsLookupFailed,
            format!("looking up {} failed: {message}", record.name),
        ),
    }
}

/// One page of the operator's agents, oldest first (then by DID), after `cursor` (the previous page's
/// `next_cursor`); returns the page and the cursor of the next one, `None` on the last page.
pub async fn agents(
    state: &AppState,
    operator: &Operator,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> ServiceResult<(Vec<Agent>, Option<String>)> {
    let limit = pages::limit(limit)?;
    let after = cursor.map(decode_agent_cursor).transpose()?.flatten();
    let mut page = state
        .store
        .list_agents_page(&operator.id, after, limit + 1)
        .await?;
    let next = if page.len() > limit as usize {
        page.truncate(limit as usize);
        page.last()
            .map(|a| pages::encode("", a.created_at, a.did.as_str()))
    } else {
        None
    };
    Ok((page, next))
}

/// The position of an agent cursor made with `prefix`: `(created_at, did)`, or `None` for the list's start.
pub(crate) fn decode_agent_cursor_with(
    cursor: &str,
    prefix: &str,
) -> ServiceResult<Option<(UnixTime, Did)>> {
    pages::decode(cursor, prefix)?
        .map(|(at, did)| Ok((at, Did::parse(&did).map_err(|_| pages::invalid())?)))
        .transpose()
}

fn decode_agent_cursor(cursor: &str) -> ServiceResult<Option<(UnixTime, Did)>> {
    decode_agent_cursor_with(cursor, "")
}

/// Operators re-checked per pass.
const REVERIFY_BATCH: u32 = 1000;

/// What one re-verification pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReverifyStats {
    /// Still published: verification extended.
    pub renewed: u32,
    /// Record gone or changed: the operator is now unverified.
    pub lapsed: u32,
    /// Lookup failed: left as is, retried next pass.
    pub failed: u32,
}

/// Re-checks the DNS record of every verified operator last checked at least one interval ago or
/// whose verification expires before the next pass. A record still in place extends the
/// verification; a record gone or changed makes the operator unverified (its agents get no
/// tokens); a failed lookup leaves it for the next pass.
pub async fn reverify_due(state: &AppState) -> Result<ReverifyStats, StoreError> {
    let now = state.clock.now();
    // Due: last checked at least one interval ago (expires_at = checked_at + lifetime), or expiring
    // before the next pass. A withdrawn record is thus noticed within one interval, not one lifetime.
    let interval = state.config.reverify_interval.as_secs();
    let horizon = now.saturating_add(
        state
            .config
            .verification_lifetime
            .saturating_sub(interval)
            .max(interval),
    );
    let due = state
        .store
        .list_operators_due_for_reverification(horizon, REVERIFY_BATCH)
        .await?;
    let mut stats = ReverifyStats::default();
    for operator in due {
        let outcome = match require_registrable(&operator.domain) {
            Ok(()) => {
                state
                    .dns
                    .verify(&operator.domain, &operator.txt_token)
                    .await
            }
            Err(e) => TxtVerification::WrongValue {
                found: vec![format!("domain refused: {e}")],
            },
        };
        let now = state.clock.now();
        let id = &operator.id;
        match outcome {
            TxtVerification::Verified => {
                let expires = now.saturating_add(state.config.verification_lifetime);
                if lapsed(&operator, now) {
                    state.store.set_token_cutoff(id, now).await?;
                }
                state.store.set_operator_verified(id, now, expires).await?;
                audit::record(state, now, "server", "operator.reverify", id, "success").await;
                stats.renewed += 1;
            }
            TxtVerification::NoRecord | TxtVerification::WrongValue { .. } => {
                let reason = match &outcome {
                    TxtVerification::NoRecord => "no TXT record".to_owned(),
                    other => format!("{other:?}"),
                };
                state.store.set_token_cutoff(id, now).await?;
                state.store.set_operator_unverified(id).await?;
                audit::record(state, now, "server", "operator.unverified", id, reason).await;
                tracing::warn!(operator = %id, domain = %operator.domain, "domain verification lapsed");
                stats.lapsed += 1;
            }
            TxtVerification::LookupFailed(message) => {
                audit::record(
                    state,
                    now,
                    "server",
                    "operator.reverify_failed",
                    id,
                    &*message,
                )
                .await;
                tracing::warn!(operator = %id, error = %message, "re-verification lookup failed");
                stats.failed += 1;
            }
        }
    }
    Ok(stats)
}
