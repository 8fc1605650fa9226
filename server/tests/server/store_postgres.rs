//! Store and key-ring tests on a real PostgreSQL server (mirroring `store.rs`), plus what only a
//! shared database has: migrations once across concurrently starting replicas, single use across
//! separate connection pools, and one background leader at a time.
//!
//! Needs `AUTH4AGENT_TEST_DATABASE_URL` (a `postgres://` URL of a role allowed to create databases;
//! `scripts/postgres.sh start` prints one). Each test works in its own fresh database. Without the
//! variable every test here fails with instructions: they are never silently skipped.

use std::sync::Arc;
use std::time::Duration;

use auth4agent_server::ids;
use auth4agent_server::keyring::KeyRing;
use auth4agent_server::store::{
    AgentStatus, AuditEvent, OperatorStatus, PostgresStore, RevokedToken, Store, StoreError,
};
use auth4agent_testkit::TestDatabase;

use crate::store_rows::*;

/// A fresh, empty database (the testkit's [`TestDatabase`], dropped at the end of the test) that
/// reads as its URL.
struct FreshDb(TestDatabase);

impl std::ops::Deref for FreshDb {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.url()
    }
}

async fn fresh_db() -> FreshDb {
    FreshDb(TestDatabase::create())
}

async fn open(url: &str) -> PostgresStore {
    PostgresStore::connect(url, 8).await.unwrap()
}

async fn fresh_store() -> (FreshDb, PostgresStore) {
    let url = fresh_db().await;
    let store = open(&url).await;
    (url, store)
}

/// A plain client on `url`, for inspecting or tampering with the schema.
async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once() {
    let url = fresh_db().await;
    let stores = futures_join(
        (0..4)
            .map(|_| {
                let url = url.to_owned();
                tokio::spawn(async move { PostgresStore::connect(&url, 2).await })
            })
            .collect(),
    )
    .await;
    for store in &stores {
        let store = store.as_ref().unwrap();
        assert_eq!(store.schema_version().await.unwrap(), 1);
        store.ping().await.unwrap();
    }
    let client = raw_client(&url).await;
    let rows = client
        .query("SELECT version FROM schema_version", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "migration 1 recorded once");
    // Reconnecting to an up-to-date database is a no-op.
    let again = open(&url).await;
    assert_eq!(again.schema_version().await.unwrap(), 1);
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn connect_refuses_a_newer_schema_and_bad_urls() {
    let (url, store) = fresh_store().await;
    drop(store);
    raw_client(&url)
        .await
        .execute("INSERT INTO schema_version (version) VALUES (99)", &[])
        .await
        .unwrap();
    match PostgresStore::connect(&url, 2).await {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains("99"), "{msg}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(matches!(
        PostgresStore::connect(&url.replace("sslmode=disable", "sslmode=require"), 2).await,
        Err(StoreError::Unavailable(_))
    ));
    // Nothing listens on port 1: a clean error, not a hang.
    assert!(matches!(
        PostgresStore::connect("postgres://postgres@127.0.0.1:1/x?sslmode=disable", 2).await,
        Err(StoreError::Unavailable(_))
    ));
}

#[tokio::test]
async fn debug_output_hides_the_password() {
    let url = fresh_db().await;
    let (scheme, rest) = url.split_once("://").unwrap();
    let with_password = match rest.split_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap();
            format!("{scheme}://{user}:hunter2-secret@{host}")
        }
        None => format!("{scheme}://postgres:hunter2-secret@{rest}"),
    };
    // Trust authentication ignores the password; the store must not show it anywhere.
    let store = open(&with_password).await;
    let shown = format!("{store:?} {}", store.target());
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[tokio::test]
async fn operators_insert_get_and_the_verified_domain_constraint() {
    let (_url, store) = fresh_store().await;
    let op = operator("example.com", 1);
    store.insert_operator(op.clone()).await.unwrap();
    assert_eq!(store.get_operator(&op.id).await.unwrap(), Some(op.clone()));
    assert_eq!(
        store.get_operator_by_domain("example.com").await.unwrap(),
        Some(op.clone())
    );
    assert_eq!(store.get_operator("op_missing").await.unwrap(), None);
    assert_eq!(
        store.get_operator_by_domain("other.com").await.unwrap(),
        None
    );

    // Unverified claims on one domain coexist; the oldest is the domain's operator until one verifies.
    let rival = operator("example.com", 3);
    store.insert_operator(rival.clone()).await.unwrap();
    assert_eq!(
        store
            .get_operator_by_domain("example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        op.id
    );
    let mut dup_id = operator("other.com", 4);
    dup_id.id = op.id.clone();
    assert!(matches!(
        store.insert_operator(dup_id).await,
        Err(StoreError::Conflict(_))
    ));

    let verified = store
        .set_operator_verified(&rival.id, NOW + 10, NOW + 86_400)
        .await
        .unwrap();
    assert_eq!(verified.status, OperatorStatus::Verified);
    assert_eq!(verified.domain_verified_at, Some(NOW + 10));
    assert_eq!(verified.verification_expires_at, Some(NOW + 86_400));
    assert_eq!(
        store.get_operator_by_domain("example.com").await.unwrap(),
        Some(verified.clone()),
        "the verified claim wins"
    );
    // While the rival's proof is current, nobody else may verify the domain.
    assert!(matches!(
        store
            .set_operator_verified(&op.id, NOW + 20, NOW + 86_400)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_operator(&op.id).await.unwrap().unwrap().status,
        OperatorStatus::Unverified,
        "the refused verification left nothing behind"
    );
    // Once it has lapsed, the other claim may verify and the lapsed one is withdrawn.
    let now_owner = store
        .set_operator_verified(&op.id, NOW + 86_400, NOW + 2 * 86_400)
        .await
        .unwrap();
    assert_eq!(now_owner.status, OperatorStatus::Verified);
    assert_eq!(
        store.get_operator(&rival.id).await.unwrap().unwrap().status,
        OperatorStatus::Unverified
    );

    assert_eq!(
        store.set_operator_verified("op_missing", NOW, NOW).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.set_operator_unverified("op_missing").await,
        Err(StoreError::NotFound)
    );
    let unverified = store.set_operator_unverified(&op.id).await.unwrap();
    assert_eq!(unverified.status, OperatorStatus::Unverified);
    assert_eq!(unverified.domain_verified_at, None);
    assert_eq!(unverified.verification_expires_at, None);

    // The CHECK constraints of the schema are there too.
    let client = raw_client(&_url).await;
    assert!(
        client
            .execute(
                "UPDATE operators SET status = 'bogus' WHERE id = $1",
                &[&op.id]
            )
            .await
            .is_err()
    );
}

#[tokio::test]
async fn two_replicas_verifying_one_domain_at_once_yield_one_owner() {
    let (url, a) = fresh_store().await;
    let b = open(&url).await;
    for round in 0..10u8 {
        let domain = format!("race{round}.example");
        let first = operator(&domain, 1);
        let second = operator(&domain, 2);
        a.insert_operator(first.clone()).await.unwrap();
        a.insert_operator(second.clone()).await.unwrap();
        let (ra, rb) = tokio::join!(
            a.set_operator_verified(&first.id, NOW, NOW + 100),
            b.set_operator_verified(&second.id, NOW, NOW + 100)
        );
        assert_eq!(
            usize::from(ra.is_ok()) + usize::from(rb.is_ok()),
            1,
            "{ra:?} {rb:?}"
        );
        for r in [ra, rb] {
            assert!(matches!(r, Ok(_) | Err(StoreError::Conflict(_))), "{r:?}");
        }
    }
}

#[tokio::test]
async fn operators_due_for_reverification() {
    let (_url, store) = fresh_store().await;
    let a = operator("a.example", 1);
    let b = operator("b.example", 2);
    let c = operator("c.example", 3);
    let d = operator("d.example", 4);
    for op in [&a, &b, &c, &d] {
        store.insert_operator(op.clone()).await.unwrap();
    }
    store
        .set_operator_verified(&a.id, NOW, NOW + 300)
        .await
        .unwrap();
    store
        .set_operator_verified(&b.id, NOW, NOW + 100)
        .await
        .unwrap();
    store
        .set_operator_verified(&c.id, NOW, NOW + 10_000)
        .await
        .unwrap();
    let due = store
        .list_operators_due_for_reverification(NOW + 300, 10)
        .await
        .unwrap();
    let ids: Vec<_> = due.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, [b.id.as_str(), a.id.as_str()], "oldest expiry first");
    let limited = store
        .list_operators_due_for_reverification(NOW + 300, 1)
        .await
        .unwrap();
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].id, b.id);
    assert!(
        store
            .list_operators_due_for_reverification(NOW, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn agents_insert_get_list_conflict() {
    let (_url, store) = fresh_store().await;
    let (op, ag) = seeded(&store).await;
    assert_eq!(store.get_agent(&ag.did).await.unwrap(), Some(ag.clone()));
    assert_eq!(store.get_agent("did:agent:x.com:00").await.unwrap(), None);
    assert!(matches!(
        store.insert_agent(ag.clone()).await,
        Err(StoreError::Conflict(_))
    ));
    let mut orphan = agent(&op, 5);
    orphan.operator_id = "op_missing".into();
    assert_eq!(store.insert_agent(orphan).await, Err(StoreError::NotFound));

    let second = agent(&op, 3);
    store.insert_agent(second.clone()).await.unwrap();
    let other_op = operator("other.com", 9);
    store.insert_operator(other_op.clone()).await.unwrap();
    store.insert_agent(agent(&other_op, 4)).await.unwrap();
    assert_eq!(
        store.list_agents(&op.id).await.unwrap(),
        vec![ag, second],
        "only this operator's, oldest first"
    );
    assert!(store.list_agents("op_missing").await.unwrap().is_empty());
}

#[tokio::test]
async fn agent_scopes_and_status_lifecycle() {
    let (_url, store) = fresh_store().await;
    let (_op, ag) = seeded(&store).await;
    let active = store
        .set_agent_scopes(
            &ag.did,
            vec!["write".into(), "read".into(), "write".into()],
            NOW + 50,
        )
        .await
        .unwrap();
    assert_eq!(active.status, AgentStatus::Active);
    assert_eq!(active.allowed_scopes, ["read", "write"]);
    assert_eq!(active.updated_at, NOW + 50);
    assert_eq!(store.get_agent(&ag.did).await.unwrap(), Some(active));

    let suspended = store
        .set_agent_status(&ag.did, AgentStatus::Suspended, NOW + 60)
        .await
        .unwrap();
    assert_eq!(suspended.status, AgentStatus::Suspended);
    let still = store
        .set_agent_scopes(&ag.did, vec![], NOW + 70)
        .await
        .unwrap();
    assert_eq!(still.status, AgentStatus::Suspended);
    assert!(still.allowed_scopes.is_empty());
    let reactivated = store
        .set_agent_status(&ag.did, AgentStatus::Active, NOW + 80)
        .await
        .unwrap();
    assert_eq!(reactivated.status, AgentStatus::Active);
    assert_eq!(reactivated.revoked_at, None);

    let revoked = store
        .set_agent_status(&ag.did, AgentStatus::Revoked, NOW + 90)
        .await
        .unwrap();
    assert_eq!(revoked.status, AgentStatus::Revoked);
    assert_eq!(revoked.revoked_at, Some(NOW + 90));
    let again = store
        .set_agent_status(&ag.did, AgentStatus::Revoked, NOW + 200)
        .await
        .unwrap();
    assert_eq!(again, revoked, "revoking again keeps the first revocation");
    for status in [
        AgentStatus::Active,
        AgentStatus::Suspended,
        AgentStatus::Pending,
    ] {
        assert_eq!(
            store.set_agent_status(&ag.did, status, NOW + 300).await,
            Err(StoreError::Revoked)
        );
    }
    assert_eq!(
        store
            .set_agent_scopes(&ag.did, vec!["read".into()], NOW + 300)
            .await,
        Err(StoreError::Revoked)
    );
    assert_eq!(
        store
            .set_agent_status("did:agent:x.com:00", AgentStatus::Active, NOW)
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store
            .set_agent_scopes("did:agent:x.com:00", vec![], NOW)
            .await,
        Err(StoreError::NotFound)
    );
}

#[tokio::test]
async fn challenge_consumption_outcomes() {
    let (_url, store) = fresh_store().await;
    let (_op, ag) = seeded(&store).await;
    let ch = challenge(&ag.did, NOW + 60);
    store.insert_challenge(ch.clone()).await.unwrap();
    assert_eq!(store.get_challenge(&ch.id).await.unwrap(), Some(ch.clone()));
    assert!(matches!(
        store.insert_challenge(ch.clone()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .insert_challenge(challenge("did:agent:x.com:00", NOW + 60))
            .await,
        Err(StoreError::NotFound),
        "a challenge needs an existing agent"
    );
    store
        .redeem_challenge(&ch.id, NOW + 5, redemption_event())
        .await
        .unwrap();
    assert_eq!(
        store
            .redeem_challenge(&ch.id, NOW + 6, redemption_event())
            .await,
        Err(StoreError::AlreadyUsed)
    );
    assert_eq!(
        store.get_challenge(&ch.id).await.unwrap().unwrap().used_at,
        Some(NOW + 5)
    );
    let expiring = challenge(&ag.did, NOW + 60);
    store.insert_challenge(expiring.clone()).await.unwrap();
    assert_eq!(
        store
            .redeem_challenge(&expiring.id, NOW + 60, redemption_event())
            .await,
        Err(StoreError::Expired),
        "expires_at is exclusive"
    );
    assert_eq!(
        store
            .redeem_challenge(&expiring.id, NOW + 59, redemption_event())
            .await,
        Ok(()),
        "an expired attempt does not burn a still-valid challenge"
    );
    assert_eq!(
        store
            .redeem_challenge("ch_missing", NOW, redemption_event())
            .await,
        Err(StoreError::NotFound)
    );
}

/// 50 tasks on three separate pools (three replicas) race to consume each challenge: exactly one
/// wins each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_consumed_exactly_once_across_pools() {
    let (url, first) = fresh_store().await;
    let stores = [first.clone(), open(&url).await, open(&url).await];
    let (_op, ag) = seeded(&first).await;
    for _ in 0..5 {
        let ch = challenge(&ag.did, NOW + 60);
        first.insert_challenge(ch.clone()).await.unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(50));
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let store = stores[i % 3].clone();
                let barrier = Arc::clone(&barrier);
                let id = ch.id.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    store
                        .redeem_challenge(&id, NOW + 1, redemption_event())
                        .await
                })
            })
            .collect();
        let results = futures_join(tasks).await;
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Ok(()) | Err(StoreError::AlreadyUsed))),
            "{results:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_jti_replay_is_refused_across_pools() {
    let (url, a) = fresh_store().await;
    let b = open(&url).await;
    let jti = ids::jti();
    a.consume_request_jti("thumb-a", &jti, NOW + 120)
        .await
        .unwrap();
    assert_eq!(
        b.consume_request_jti("thumb-a", &jti, NOW + 120).await,
        Err(StoreError::Replayed)
    );
    b.consume_request_jti("thumb-b", &jti, NOW + 120)
        .await
        .unwrap();

    let jti = ids::jti();
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let jti = jti.clone();
            tokio::spawn(async move { store.consume_request_jti("thumb", &jti, NOW + 60).await })
        })
        .collect();
    let results = futures_join(tasks).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(StoreError::Replayed)))
    );
}

#[tokio::test]
async fn token_revocation_is_idempotent_and_listed_per_operator() {
    let (_url, store) = fresh_store().await;
    let revoked = RevokedToken {
        jti: ids::jti(),
        did: "did:agent:example.com:00".into(),
        operator_id: "op_a".into(),
        expires_at: NOW + 900,
        revoked_at: NOW,
    };
    assert!(!store.is_token_revoked(&revoked.jti).await.unwrap());
    assert!(store.revoke_token(revoked.clone()).await.unwrap());
    let mut later = revoked.clone();
    later.revoked_at = NOW + 10;
    assert!(!store.revoke_token(later).await.unwrap());
    assert!(store.is_token_revoked(&revoked.jti).await.unwrap());
    store
        .revoke_token(RevokedToken {
            jti: ids::jti(),
            operator_id: "op_b".into(),
            ..revoked.clone()
        })
        .await
        .unwrap();
    let newer = RevokedToken {
        jti: ids::jti(),
        revoked_at: NOW + 5,
        ..revoked.clone()
    };
    store.revoke_token(newer.clone()).await.unwrap();
    assert_eq!(
        store.list_revoked_tokens("op_a").await.unwrap(),
        vec![newer, revoked]
    );
}

#[tokio::test]
async fn audit_log_appends_and_lists_newest_first() {
    let (_url, store) = fresh_store().await;
    for i in 0..3u64 {
        store
            .append_audit(AuditEvent {
                at: NOW + i,
                actor: "op_a".into(),
                action: format!("action.{i}"),
                subject: "did:agent:example.com:00".into(),
                detail: r#"{"k":"v"}"#.into(),
            })
            .await
            .unwrap();
    }
    let events = store.list_audit(2).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].action, "action.2");
    assert_eq!(events[1].action, "action.1");
    assert_eq!(events[0].detail, r#"{"k":"v"}"#);
    assert_eq!(events[0].at, NOW + 2);
}

#[tokio::test]
async fn purge_removes_only_expired_rows() {
    let (_url, store) = fresh_store().await;
    let (op, ag) = seeded(&store).await;
    let old = challenge(&ag.did, NOW + 10);
    let fresh = challenge(&ag.did, NOW + 100);
    store.insert_challenge(old.clone()).await.unwrap();
    store.insert_challenge(fresh.clone()).await.unwrap();
    store
        .consume_request_jti("t", "old", NOW + 10)
        .await
        .unwrap();
    store
        .consume_request_jti("t", "fresh", NOW + 100)
        .await
        .unwrap();
    let token = |jti: &str, exp: u64| RevokedToken {
        jti: jti.into(),
        did: ag.did.clone(),
        operator_id: op.id.clone(),
        expires_at: exp,
        revoked_at: NOW,
    };
    store.revoke_token(token("old", NOW + 10)).await.unwrap();
    store.revoke_token(token("fresh", NOW + 100)).await.unwrap();
    let stats = store.purge_expired(NOW + 10).await.unwrap();
    assert_eq!(
        (stats.challenges, stats.request_jtis, stats.revoked_tokens),
        (1, 1, 1)
    );
    assert_eq!(store.get_challenge(&old.id).await.unwrap(), None);
    assert!(store.get_challenge(&fresh.id).await.unwrap().is_some());
    assert!(!store.is_token_revoked("old").await.unwrap());
    assert!(store.is_token_revoked("fresh").await.unwrap());
    store
        .consume_request_jti("t", "old", NOW + 200)
        .await
        .unwrap();
    assert_eq!(
        store.consume_request_jti("t", "fresh", NOW + 200).await,
        Err(StoreError::Replayed)
    );
    assert_eq!(store.purge_expired(NOW + 10).await.unwrap().challenges, 0);
}

#[tokio::test]
async fn signing_keys_insert_rotate_purge() {
    let (_url, store) = fresh_store().await;
    let first = key_record(1, NOW);
    store.insert_signing_key(first.clone()).await.unwrap();
    assert!(matches!(
        store.insert_signing_key(first.clone()).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        matches!(
            store.insert_signing_key(key_record(2, NOW)).await,
            Err(StoreError::Conflict(_))
        ),
        "at most one active key"
    );
    let second = key_record(3, NOW + 100);
    store
        .rotate_signing_key(second.clone(), NOW + 100, NOW + 100 + 3660)
        .await
        .unwrap();
    let keys = store.load_signing_keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].kid, first.kid);
    assert_eq!(keys[0].retired_at, Some(NOW + 100));
    assert_eq!(keys[0].not_after, Some(NOW + 3760));
    assert_eq!(*keys[0].pkcs8_pem, *first.pkcs8_pem);
    assert_eq!(keys[1].kid, second.kid);
    assert_eq!(keys[1].retired_at, None);
    assert!(
        store
            .rotate_signing_key(second.clone(), NOW + 200, NOW + 5000)
            .await
            .is_err(),
        "a rotation to an existing kid fails"
    );
    let keys = store.load_signing_keys().await.unwrap();
    assert_eq!(
        keys[1].retired_at, None,
        "and leaves the active key in place"
    );
    assert_eq!(
        store.purge_retired_signing_keys(NOW + 3759).await.unwrap(),
        0
    );
    assert_eq!(
        store.purge_retired_signing_keys(NOW + 3760).await.unwrap(),
        1
    );
    let keys = store.load_signing_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid, second.kid);
}

/// Three replicas starting on an empty database settle on one active signing key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_start_yields_one_active_key() {
    let url = fresh_db().await;
    let stores: Vec<Arc<dyn Store>> = vec![
        Arc::new(open(&url).await),
        Arc::new(open(&url).await),
        Arc::new(open(&url).await),
    ];
    let (ra, rb, rc) = tokio::join!(
        KeyRing::load_or_init(Arc::clone(&stores[0]), NOW, 3660),
        KeyRing::load_or_init(Arc::clone(&stores[1]), NOW, 3660),
        KeyRing::load_or_init(Arc::clone(&stores[2]), NOW, 3660)
    );
    let (ra, rb, rc) = (ra.unwrap(), rb.unwrap(), rc.unwrap());
    assert_eq!(ra.active().kid(), rb.active().kid());
    assert_eq!(ra.active().kid(), rc.active().kid());
    assert_eq!(stores[0].load_signing_keys().await.unwrap().len(), 1);

    // A rotation through one replica reaches the others on reload; the JWKS stays identical.
    let new_kid = ra.rotate(NOW + 10).await.unwrap();
    rb.reload().await.unwrap();
    assert_eq!(rb.active().kid(), new_kid);
    assert_eq!(rb.jwks(NOW + 10), ra.jwks(NOW + 10));
}

/// Two replicas rotating at the same moment both succeed and leave exactly one active key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rotations_leave_one_active_key() {
    let (url, a) = fresh_store().await;
    let b = open(&url).await;
    a.insert_signing_key(key_record(1, NOW)).await.unwrap();
    for round in 0..5u8 {
        let t = NOW + 100 * u64::from(round + 1);
        let (ra, rb) = tokio::join!(
            a.rotate_signing_key(key_record(10 + 2 * round, t), t, t + 3660),
            b.rotate_signing_key(key_record(11 + 2 * round, t), t, t + 3660)
        );
        ra.unwrap();
        rb.unwrap();
        let keys = a.load_signing_keys().await.unwrap();
        assert_eq!(
            keys.iter().filter(|k| k.retired_at.is_none()).count(),
            1,
            "{keys:?}"
        );
    }
}

/// One replica at a time leads the background passes; leadership is sticky and passes to another
/// replica when the leader goes away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_leadership_is_exclusive_and_fails_over() {
    let (url, a) = fresh_store().await;
    let b = open(&url).await;
    let c = open(&url).await;
    assert!(a.try_lead_background().await.unwrap());
    for _ in 0..3 {
        assert!(a.try_lead_background().await.unwrap(), "sticky");
        assert!(!b.try_lead_background().await.unwrap());
        assert!(!c.try_lead_background().await.unwrap());
    }
    // Calling again does not stack the session lock: one unlock (the session ending) frees it.
    let client = raw_client(&url).await;
    let held: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(held, 1);

    drop(a);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let leader = loop {
        let (lb, lc) = (
            b.try_lead_background().await.unwrap(),
            c.try_lead_background().await.unwrap(),
        );
        assert!(!(lb && lc), "two leaders at once");
        if lb || lc {
            break if lb { b.clone() } else { c.clone() };
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nobody took over the background lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(leader.try_lead_background().await.unwrap());
}

/// The store keeps working after the server side kills its connections (a PostgreSQL restart or
/// failover): pooled connections are replaced, the background lock is re-acquired.
#[tokio::test]
async fn store_recovers_from_killed_connections() {
    let (url, store) = fresh_store().await;
    let (_op, ag) = seeded(&store).await;
    assert!(store.try_lead_background().await.unwrap());
    let client = raw_client(&url).await;
    let db = url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db],
        )
        .await
        .unwrap();
    // The first call on a dead pooled connection may fail; the store must come back by itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(found)) = store.get_agent(&ag.did).await {
            assert_eq!(found, ag);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "store did not recover"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !store.try_lead_background().await.unwrap_or(false) {
        assert!(
            std::time::Instant::now() < deadline,
            "background lock not re-acquired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeem_challenge_commits_single_use_and_audit_together() {
    let (_url, store) = fresh_store().await;
    crate::store_rows::redeem_and_joined_read(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_purge_keeps_recent_events() {
    let (_url, store) = fresh_store().await;
    crate::store_rows::audit_purge_keeps_recent_events(&store).await;
}
