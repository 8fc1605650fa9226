//! Row builders and backend-neutral checks shared by the SQLite and PostgreSQL store tests.

#![allow(dead_code)]

use auth4agent_protocol::{Did, Domain, PublicKey, SigningKey};
use auth4agent_server::ids;
use auth4agent_server::store::{
    Agent, AgentStatus, AuditEvent, IdentityVersion, Operator, OperatorStatus, SigningKeyRecord,
    Store, StoreError,
};

pub const NOW: u64 = 1_700_000_000;

/// The size of the status lists the store tests start: small, so they cross list boundaries.
pub const LIST_SIZE: u64 = 2;

pub fn public_key(seed: u8) -> (PublicKey, String) {
    let public = SigningKey::from_seed(&[seed; 32]).public_key();
    (public, public.thumbprint())
}

/// A well-formed DID no agent has.
pub const UNKNOWN_DID: &str = "did:agent:x.com:00000000000000000000000000000000";

pub fn domain(text: &str) -> Domain {
    Domain::parse(text).unwrap()
}

/// A well-formed DID (not derived from any key: the store does not check the binding).
pub fn did(text: &str) -> Did {
    Did::parse(text).unwrap()
}

pub fn operator(domain: &str, seed: u8) -> Operator {
    let (public_key, thumbprint) = public_key(seed);
    Operator {
        id: ids::operator_id(),
        domain: self::domain(domain),
        public_key,
        thumbprint,
        txt_token: ids::txt_token(),
        status: OperatorStatus::Unverified,
        domain_verified_at: None,
        verification_expires_at: None,
        created_at: NOW,
    }
}

pub fn agent(op: &Operator, seed: u8) -> Agent {
    let (public_key, thumbprint) = public_key(seed);
    Agent {
        did: did(&format!("did:agent:{}:{:032x}", op.domain, seed)),
        operator_id: op.id.clone(),
        public_key,
        thumbprint,
        status: AgentStatus::Pending,
        allowed_scopes: Default::default(),
        approval_scopes: Default::default(),
        created_at: NOW + u64::from(seed),
        updated_at: NOW + u64::from(seed),
        revoked_at: None,
        status_entry: None,
    }
}

/// A fresh challenge id (the store does not read its format: the MAC is the service's check).
pub fn challenge_id() -> String {
    format!("ch_{}", ids::jti())
}

/// The audit event a token issuance records with its redemption.
pub fn redemption_event() -> AuditEvent {
    AuditEvent {
        at: NOW,
        actor: "did:agent:example.com:00".into(),
        action: "token.issue".into(),
        subject: "jti".into(),
        detail: String::new(),
    }
}

/// An operator with one agent, stored.
pub async fn seeded(store: &dyn Store) -> (Operator, Agent) {
    let op = operator("example.com", 1);
    store.insert_operator(op.clone()).await.unwrap();
    let ag = store.insert_agent(agent(&op, 2), LIST_SIZE).await.unwrap();
    (op, ag)
}

pub fn key_record(seed: u8, now: u64) -> SigningKeyRecord {
    let key = SigningKey::from_seed(&[seed; 32]);
    SigningKeyRecord {
        kid: key.public_key().thumbprint(),
        pkcs8_pem: key.to_pkcs8_pem().unwrap(),
        created_at: now,
        activates_at: now,
        retired_at: None,
        not_after: None,
    }
}

/// `redeem_challenge` consumes and audits in one transaction (a refused redemption leaves no audit
/// row), and `get_agent_with_operator` returns both rows or `None`.
pub async fn redeem_and_joined_read(store: &dyn Store) {
    let (op, ag) = seeded(store).await;
    assert_eq!(
        store.get_agent_with_operator(&ag.did).await.unwrap(),
        Some((ag.clone(), op.clone()))
    );
    assert_eq!(
        store
            .get_agent_with_operator(&did(
                "did:agent:example.com:ffffffffffffffffffffffffffffffff"
            ))
            .await
            .unwrap(),
        None
    );
    let event = |jti: &str| AuditEvent {
        at: NOW + 1,
        actor: ag.did.to_string(),
        action: "token.issue".into(),
        subject: jti.into(),
        detail: String::new(),
    };
    let ch = challenge_id();
    store
        .redeem_challenge(&ch, NOW + 60, event("jti-1"), IdentityVersion::CURRENT)
        .await
        .unwrap();
    assert_eq!(
        store
            .redeem_challenge(&ch, NOW + 60, event("jti-2"), IdentityVersion::CURRENT)
            .await,
        Err(StoreError::AlreadyUsed)
    );
    store
        .redeem_challenge(
            &challenge_id(),
            NOW + 60,
            event("jti-3"),
            IdentityVersion::CURRENT,
        )
        .await
        .unwrap();
    let subjects: Vec<String> = store
        .list_audit(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.subject)
        .collect();
    assert_eq!(
        subjects,
        ["jti-3", "jti-1"],
        "only the redemptions that happened are audited"
    );
}

/// `purge_audit` deletes old events oldest first, looks at no more than `batch` rows, and keeps
/// events inside the retention.
pub async fn audit_purge_keeps_recent_events(store: &dyn Store) {
    for (i, at) in [NOW - 300, NOW - 200, NOW - 100, NOW]
        .into_iter()
        .enumerate()
    {
        store
            .append_audit(AuditEvent {
                at,
                actor: "op_a".into(),
                action: format!("action.{i}"),
                subject: "s".into(),
                detail: String::new(),
            })
            .await
            .unwrap();
    }
    // Batches of 2: the two oldest go first, then the third; the newest stays.
    assert_eq!(store.purge_audit(NOW - 50, 2).await.unwrap(), 2);
    assert_eq!(store.purge_audit(NOW - 50, 2).await.unwrap(), 1);
    assert_eq!(store.purge_audit(NOW - 50, 2).await.unwrap(), 0);
    let left: Vec<String> = store
        .list_audit(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(left, ["action.3"]);
}
