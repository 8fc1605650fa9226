//! Store and key-ring tests on real SQLite files in temporary directories.

use std::sync::{Arc, Barrier};

use auth4agent_protocol::KeySet;
use auth4agent_server::ids;
use auth4agent_server::keyring::KeyRing;
use auth4agent_server::store::{
    AgentStatus, AuditEvent, OperatorStatus, RevokedToken, SqliteStore, Store, StoreError,
};

use crate::store_rows::*;

fn temp_db() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth4agent.db");
    (dir, path)
}

#[tokio::test]
async fn open_applies_migrations_and_sets_wal() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 1);
    store.ping().await.unwrap();
    drop(store);

    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
    drop(conn);

    // Reopening an up-to-date database is a no-op.
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 1);
}

#[test]
fn open_refuses_a_newer_schema() {
    let (_dir, path) = temp_db();
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    match SqliteStore::open(&path) {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains("99"), "{msg}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn open_fails_cleanly_on_a_non_database_file() {
    let (_dir, path) = temp_db();
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt(_) | StoreError::Unavailable(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn operators_insert_get_conflict_and_verification() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
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

    // Same domain, other id and key: another unverified claim, allowed (the oldest stays the
    // domain's operator until one verifies). Same id, other domain: conflict.
    let dup_domain = operator("example.com", 3);
    store.insert_operator(dup_domain).await.unwrap();
    assert_eq!(
        store.get_operator_by_domain("example.com").await.unwrap(),
        Some(op.clone())
    );
    let mut dup_id = operator("other.com", 4);
    dup_id.id = op.id.clone();
    assert!(matches!(
        store.insert_operator(dup_id).await,
        Err(StoreError::Conflict(_))
    ));

    let verified = store
        .set_operator_verified(&op.id, NOW + 10, NOW + 86_400)
        .await
        .unwrap();
    assert_eq!(verified.status, OperatorStatus::Verified);
    assert_eq!(verified.domain_verified_at, Some(NOW + 10));
    assert_eq!(verified.verification_expires_at, Some(NOW + 86_400));
    assert_eq!(store.get_operator(&op.id).await.unwrap(), Some(verified));

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
}

#[tokio::test]
async fn operators_due_for_reverification() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
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
    // d stays unverified: never due.

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
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
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

    let listed = store.list_agents(&op.id).await.unwrap();
    assert_eq!(
        listed,
        vec![ag, second],
        "only this operator's, oldest first"
    );
    assert!(store.list_agents("op_missing").await.unwrap().is_empty());
}

#[tokio::test]
async fn agent_scopes_and_status_lifecycle() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let (_op, ag) = seeded(&store).await;

    // Setting scopes activates a pending agent; scopes are stored sorted and deduplicated.
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

    // Scopes on a suspended agent keep it suspended; an empty set is allowed (deny all).
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

    // Revoking again is idempotent and keeps the first revocation time.
    let again = store
        .set_agent_status(&ag.did, AgentStatus::Revoked, NOW + 200)
        .await
        .unwrap();
    assert_eq!(again, revoked);

    // Revoked is permanent.
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
    assert_eq!(store.get_agent(&ag.did).await.unwrap(), Some(revoked));

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
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
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

/// 50 threads race to consume one challenge: exactly one wins, the rest see AlreadyUsed. Half of
/// the threads use a second store opened on the same file (as a second process would), so the
/// guarantee comes from the conditional UPDATE, not from an in-process lock.
#[test]
fn challenge_consumed_exactly_once_under_50_threads() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .unwrap();
    let (_dir, path) = temp_db();
    let first = SqliteStore::open(&path).unwrap();
    let second = SqliteStore::open(&path).unwrap();
    let (ag, challenges) = rt.block_on(async {
        let (_op, ag) = seeded(&first).await;
        let mut challenges = Vec::new();
        for _ in 0..5 {
            let ch = challenge(&ag.did, NOW + 60);
            first.insert_challenge(ch.clone()).await.unwrap();
            challenges.push(ch);
        }
        (ag, challenges)
    });
    assert!(ag.did.starts_with("did:agent:"));

    for ch in &challenges {
        let barrier = Arc::new(Barrier::new(50));
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let store = if i % 2 == 0 {
                    first.clone()
                } else {
                    second.clone()
                };
                let handle = rt.handle().clone();
                let barrier = Arc::clone(&barrier);
                let id = ch.id.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    handle.block_on(store.redeem_challenge(&id, NOW + 1, redemption_event()))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "{results:?}");
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Ok(()) | Err(StoreError::AlreadyUsed))),
            "{results:?}"
        );
    }
}

#[tokio::test]
async fn request_jti_replay_is_refused() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let jti = ids::jti();
    store
        .consume_request_jti("thumb-a", &jti, NOW + 120)
        .await
        .unwrap();
    assert_eq!(
        store.consume_request_jti("thumb-a", &jti, NOW + 120).await,
        Err(StoreError::Replayed)
    );
    // The same jti from another signer is a different request.
    store
        .consume_request_jti("thumb-b", &jti, NOW + 120)
        .await
        .unwrap();
}

#[tokio::test]
async fn request_jti_replay_under_concurrency() {
    let (_dir, path) = temp_db();
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let jti = ids::jti();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            let jti = jti.clone();
            tokio::spawn(async move { store.consume_request_jti("thumb", &jti, NOW + 60).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Replayed) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn token_revocation_is_idempotent_and_listed_per_operator() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
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
    assert!(
        !store.revoke_token(later).await.unwrap(),
        "second revoke is a no-op"
    );
    assert!(store.is_token_revoked(&revoked.jti).await.unwrap());

    let other = RevokedToken {
        jti: ids::jti(),
        operator_id: "op_b".into(),
        ..revoked.clone()
    };
    store.revoke_token(other).await.unwrap();
    let newer = RevokedToken {
        jti: ids::jti(),
        revoked_at: NOW + 5,
        ..revoked.clone()
    };
    store.revoke_token(newer.clone()).await.unwrap();

    assert_eq!(
        store.list_revoked_tokens("op_a").await.unwrap(),
        vec![newer, revoked],
        "first revocation time kept, newest first, other operators excluded"
    );
}

#[tokio::test]
async fn audit_log_appends_and_lists_newest_first() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
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
}

#[tokio::test]
async fn purge_removes_only_expired_rows() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
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
    // A purged jti can be recorded again (its request has long expired); a live one cannot.
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
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
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

    // A failed rotation (kid already present) leaves the active key in place.
    assert!(
        store
            .rotate_signing_key(second.clone(), NOW + 200, NOW + 5000)
            .await
            .is_err()
    );
    let keys = store.load_signing_keys().await.unwrap();
    assert_eq!(keys[1].retired_at, None);

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

    // Debug never shows the private key.
    let shown = format!("{:?}", keys[0]);
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
}

#[tokio::test]
async fn reopen_keeps_data() {
    let (_dir, path) = temp_db();
    let (op, ag, ch, jti) = {
        let store = SqliteStore::open(&path).unwrap();
        let (op, ag) = seeded(&store).await;
        let op = store
            .set_operator_verified(&op.id, NOW, NOW + 86_400)
            .await
            .unwrap();
        let ag = store
            .set_agent_scopes(&ag.did, vec!["read".into()], NOW + 1)
            .await
            .unwrap();
        let ch = challenge(&ag.did, NOW + 60);
        store.insert_challenge(ch.clone()).await.unwrap();
        store
            .redeem_challenge(&ch.id, NOW + 2, redemption_event())
            .await
            .unwrap();
        let jti = ids::jti();
        store
            .consume_request_jti("t", &jti, NOW + 60)
            .await
            .unwrap();
        (op, ag, ch, jti)
    };
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.get_operator(&op.id).await.unwrap(), Some(op));
    assert_eq!(store.get_agent(&ag.did).await.unwrap(), Some(ag));
    assert_eq!(
        store
            .redeem_challenge(&ch.id, NOW + 3, redemption_event())
            .await,
        Err(StoreError::AlreadyUsed)
    );
    assert_eq!(
        store.consume_request_jti("t", &jti, NOW + 60).await,
        Err(StoreError::Replayed)
    );
}

#[tokio::test]
async fn keyring_creates_one_key_and_keeps_it_across_restarts() {
    let (_dir, path) = temp_db();
    let (kid, signature) = {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        let ring = KeyRing::load_or_init(Arc::clone(&store), NOW, 3660)
            .await
            .unwrap();
        let active = ring.active();
        assert_eq!(active.kid(), active.signing_key().public_key().thumbprint());
        assert_eq!(store.load_signing_keys().await.unwrap().len(), 1);
        (active.kid().to_owned(), active.signing_key().sign(b"hello"))
    };
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let ring = KeyRing::load_or_init(Arc::clone(&store), NOW + 10, 3660)
        .await
        .unwrap();
    assert_eq!(ring.active().kid(), kid);
    assert_eq!(ring.active().signing_key().sign(b"hello"), signature);
    assert_eq!(
        store.load_signing_keys().await.unwrap().len(),
        1,
        "no second key on restart"
    );

    let jwks = ring.jwks_json(NOW + 10);
    let set = KeySet::from_json(&jwks).unwrap();
    assert_eq!(set.len(), 1);
    let public = set.get(&kid).unwrap();
    public.verify_strict(b"hello", &signature).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&jwks).unwrap();
    assert_eq!(doc["keys"][0]["alg"], "EdDSA");
    assert_eq!(doc["keys"][0]["use"], "sig");
    assert!(
        doc["keys"][0].get("d").is_none(),
        "no private part in the JWKS"
    );
}

#[tokio::test]
async fn keyring_rotation_keeps_retired_key_until_not_after() {
    let (_dir, path) = temp_db();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let ring = KeyRing::load_or_init(Arc::clone(&store), NOW, 3660)
        .await
        .unwrap();
    let old_kid = ring.active().kid().to_owned();
    let new_kid = ring.rotate(NOW + 100).await.unwrap();
    assert_ne!(old_kid, new_kid);
    assert_eq!(ring.active().kid(), new_kid);

    let set = ring.key_set(NOW + 100);
    assert!(set.get(&old_kid).is_some() && set.get(&new_kid).is_some());
    assert!(ring.key_set(NOW + 100 + 3659).get(&old_kid).is_some());
    let later = ring.key_set(NOW + 100 + 3660);
    assert!(
        later.get(&old_kid).is_none(),
        "retired key leaves at not_after"
    );
    assert!(later.get(&new_kid).is_some());

    // A restart sees the same ring.
    let reopened = KeyRing::load_or_init(
        Arc::new(SqliteStore::open(&path).unwrap()) as Arc<dyn Store>,
        NOW + 200,
        3660,
    )
    .await
    .unwrap();
    assert_eq!(reopened.active().kid(), new_kid);
    assert_eq!(reopened.jwks(NOW + 200), ring.jwks(NOW + 200));
}

/// Child half of `acknowledged_write_survives_sigkill`: only does something when run by it.
#[test]
#[ignore = "helper process for acknowledged_write_survives_sigkill"]
fn sigkill_child_writer() {
    let Ok(path) = std::env::var("A4A_SIGKILL_DB") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        let mut n = 0u32;
        loop {
            let op = operator(&format!("d{n}.example"), 1);
            store.insert_operator(op.clone()).await.unwrap();
            // Acknowledge only after the write returned.
            println!("ACK {}", op.id);
            n += 1;
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    });
}

/// Every write the store acknowledged is present after the writing process is SIGKILLed.
#[tokio::test]
async fn acknowledged_write_survives_sigkill() {
    use std::io::BufRead as _;

    let (_dir, path) = temp_db();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            // Test names are module paths in the one integration-test binary.
            concat!(module_path!(), "::sigkill_child_writer")
                .split_once("::")
                .map_or("sigkill_child_writer", |(_crate, path)| path),
            "--nocapture",
        ])
        .env("A4A_SIGKILL_DB", &path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("ACK ") {
            acked.push(id.to_owned());
            if acked.len() == 25 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert_eq!(acked.len(), 25, "child acknowledged writes");

    let store = SqliteStore::open(&path).unwrap();
    for id in &acked {
        assert!(
            store.get_operator(id).await.unwrap().is_some(),
            "acknowledged operator {id} lost"
        );
    }
}

/// Two server instances starting together on a fresh database agree on one active key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_start_yields_one_active_key() {
    let (_dir, path) = temp_db();
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let (ra, rb) = tokio::join!(
        KeyRing::load_or_init(Arc::clone(&a), NOW, 3660),
        KeyRing::load_or_init(Arc::clone(&b), NOW, 3660)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.active().kid(), rb.active().kid());
    assert_eq!(a.load_signing_keys().await.unwrap().len(), 1);
}

#[tokio::test]
async fn redeem_challenge_commits_single_use_and_audit_together() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    crate::store_rows::redeem_and_joined_read(&store).await;
}

#[tokio::test]
async fn one_serving_process_per_file_and_its_row_cache_sees_every_change() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open_serving(&path).unwrap();
    match SqliteStore::open_serving(&path) {
        Err(StoreError::Unavailable(msg)) => assert!(msg.contains("already served"), "{msg}"),
        other => panic!("a second serving open must be refused: {other:?}"),
    }
    // Tools that do not serve (keys rotate) may still open the file.
    drop(SqliteStore::open(&path).unwrap());

    let (op, ag) = seeded(&store).await;
    // Cached by these reads...
    assert_eq!(
        store.get_agent_with_operator(&ag.did).await.unwrap(),
        Some((ag.clone(), op.clone()))
    );
    // ...and every acknowledged change is visible to the next read.
    let suspended = store
        .set_agent_status(&ag.did, AgentStatus::Suspended, NOW + 5)
        .await
        .unwrap();
    assert_eq!(
        store.get_agent(&ag.did).await.unwrap().map(|a| a.status),
        Some(AgentStatus::Suspended)
    );
    assert_eq!(store.get_agent(&ag.did).await.unwrap(), Some(suspended));
    let scoped = store
        .set_agent_scopes(&ag.did, vec!["read".into()], NOW + 6)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_agent_with_operator(&ag.did)
            .await
            .unwrap()
            .map(|(a, _)| a),
        Some(scoped)
    );
    store
        .set_operator_verified(&op.id, NOW + 7, NOW + 100)
        .await
        .unwrap();
    assert_eq!(
        store.get_operator(&op.id).await.unwrap().map(|o| o.status),
        Some(OperatorStatus::Verified)
    );
    store.set_operator_unverified(&op.id).await.unwrap();
    assert_eq!(
        store
            .get_agent_with_operator(&ag.did)
            .await
            .unwrap()
            .map(|(_, o)| o.status),
        Some(OperatorStatus::Unverified)
    );

    drop(store);
    // The lock goes with the store.
    drop(SqliteStore::open_serving(&path).unwrap());
}

#[tokio::test]
async fn audit_purge_keeps_recent_events() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    crate::store_rows::audit_purge_keeps_recent_events(&store).await;
}
