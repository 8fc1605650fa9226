//! The store contract, written once and run on both backends: every test here is an async fn over
//! a [`TestStore`] (a fresh SQLite file or a fresh PostgreSQL database, from which a test opens as
//! many store handles as it needs: connections to one file, pools on one database, as separate
//! processes or replicas would), instantiated by [`store_contract!`] as
//! `store_contract::sqlite::<name>` and `store_contract::postgres::<name>`.
//!
//! What only one backend has (file modes and the serving lock; advisory locks, migrations racing
//! across replicas, URL redaction) lives in `store_sqlite` and `store_postgres`.

use std::sync::{Arc, Barrier};

use auth4agent_protocol::{Did, KeySet, ScopeSet};
use auth4agent_server::ids;
use auth4agent_server::keyring::KeyRing;
use auth4agent_server::store::{
    Agent, AgentStatus, AgentUpdate, AuditEvent, ConsoleLink, ConsoleSession, DeviceAuthorization,
    DeviceDecision, DeviceStatus, IdentityVersion, OperatorRecovery, OperatorStatus, PostgresStore,
    RememberedGrant, RevokedToken, SHARED_SQL, SqliteStore, StatusEntry, StatusListInfo, Store,
    StoreError, StoredPasskey, WebauthnCeremony, sql_placeholders,
};
use auth4agent_testkit::TestDatabase;

use crate::store_rows::*;

/// One fresh, empty database of one backend, removed when dropped.
pub enum TestStore {
    Sqlite(tempfile::TempDir),
    Postgres(TestDatabase),
}

impl TestStore {
    /// A fresh SQLite file in a temporary directory.
    pub fn sqlite() -> TestStore {
        TestStore::Sqlite(tempfile::tempdir().unwrap())
    }

    /// A fresh PostgreSQL database; fails with instructions without `AUTH4AGENT_TEST_DATABASE_URL`.
    pub fn postgres() -> TestStore {
        TestStore::Postgres(TestDatabase::create())
    }

    /// A new store handle on this database (a new connection or a new pool), migrating it first
    /// if needed.
    pub async fn open(&self) -> Arc<dyn Store> {
        match self {
            TestStore::Sqlite(dir) => {
                Arc::new(SqliteStore::open(dir.path().join("auth4agent.db")).unwrap())
            }
            TestStore::Postgres(db) => Arc::new(PostgresStore::connect(db.url(), 8).await.unwrap()),
        }
    }

    /// Runs `sql` on the database itself, past the store: to write what the store never would.
    pub async fn tamper(&self, sql: &str) {
        match self {
            TestStore::Sqlite(dir) => {
                let conn = rusqlite::Connection::open(dir.path().join("auth4agent.db")).unwrap();
                conn.busy_timeout(std::time::Duration::from_secs(5))
                    .unwrap();
                // Unchecked: the test writes rows the schema's foreign keys would refuse.
                conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
                conn.execute_batch(sql).unwrap();
            }
            TestStore::Postgres(db) => {
                let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(connection);
                client.batch_execute(sql).await.unwrap();
            }
        }
    }

    /// A literal of `bytes` in this backend's SQL.
    pub fn blob(&self, bytes: &[u8]) -> String {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        match self {
            TestStore::Sqlite(_) => format!("X'{hex}'"),
            TestStore::Postgres(_) => format!("'\\x{hex}'::bytea"),
        }
    }
}

/// Instantiates the contract: each async test on a two-worker runtime, each blocking test (which
/// drives its own runtime and threads) as a plain test, once per backend.
macro_rules! store_contract {
    (async: [$($test:ident),* $(,)?], blocking: [$($blocking:ident),* $(,)?] $(,)?) => {
        store_contract!(@backend sqlite, [$($test),*], [$($blocking),*]);
        store_contract!(@backend postgres, [$($test),*], [$($blocking),*]);
    };
    (@backend $backend:ident, [$($test:ident),*], [$($blocking:ident),*]) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::TestStore::$backend()).await;
                }
            )*
            $(
                #[test]
                fn $blocking() {
                    super::$blocking(super::TestStore::$backend());
                }
            )*
        }
    };
}

store_contract! {
    async: [
        operators_insert_get_conflict_and_verification,
        operators_due_for_reverification,
        agents_insert_get_list_conflict,
        agent_compare_and_set,
        agent_compare_and_set_race,
        challenge_consumption_outcomes,
        issuance_reads_are_checked_by_the_redemption,
        request_jti_replay_is_refused,
        request_jti_replay_under_concurrency,
        client_assertion_redeemed_once_with_its_audit_row,
        token_revocation_is_idempotent_and_listed_per_operator,
        revocations_are_listed_a_page_at_a_time,
        audit_log_appends_and_lists_newest_first,
        purge_removes_only_expired_rows,
        signing_keys_insert_rotate_purge,
        reopen_keeps_data,
        keyring_creates_one_key_and_keeps_it_across_restarts,
        keyring_rotation_keeps_retired_key_until_not_after,
        redeem_challenge_commits_single_use_and_audit_together,
        audit_purge_keeps_recent_events,
        operators_insert_get_and_the_verified_domain_constraint,
        two_replicas_verifying_one_domain_at_once_yield_one_owner,
        challenge_consumed_exactly_once_across_pools,
        request_jti_replay_is_refused_across_pools,
        concurrent_first_start_yields_one_active_key,
        concurrent_rotations_leave_one_active_key,
        scheduled_rotation_adds_one_key_per_current_key,
        keyring_publishes_ahead_and_switches_at_activation,
        keyring_rotates_on_schedule_once_across_replicas,
        operator_key_change_is_conditional_on_the_old_key,
        operator_recovery_lifecycle,
        undecodable_rows_are_corrupt,
        shared_statements_prepare,
        approval_scopes_are_stored,
        device_authorization_lifecycle,
        registration_requests_are_kept_apart,
        remembered_grants_in_force,
        device_code_redeemed_exactly_once_across_pools,
        status_entries_are_allocated_in_order_and_never_reused,
        status_list_flagged_names_suspended_revoked_and_lapsed,
        concurrent_registrations_across_pools_get_distinct_entries,
        migration_gives_existing_agents_entries,
        token_cutoffs_only_rise_and_the_later_one_counts,
        console_link_opens_one_session_once_across_pools,
        console_sessions_touch_idle_expire_and_delete,
        operator_audit_lists_the_operator_and_its_agents,
        passkeys_are_listed_per_operator_and_ceremonies_taken_once,
    ],
    blocking: [challenge_consumed_exactly_once_under_50_threads],
}

pub async fn operators_insert_get_conflict_and_verification(db: TestStore) {
    let store = db.open().await;
    let op = operator("example.com", 1);
    store.insert_operator(op.clone()).await.unwrap();

    assert_eq!(store.get_operator(&op.id).await.unwrap(), Some(op.clone()));
    assert_eq!(
        store
            .get_operator_by_domain(&domain("example.com"))
            .await
            .unwrap(),
        Some(op.clone())
    );
    assert_eq!(store.get_operator("op_missing").await.unwrap(), None);
    assert_eq!(
        store
            .get_operator_by_domain(&domain("other.com"))
            .await
            .unwrap(),
        None
    );

    // Same domain, other id and key: another unverified claim, allowed (the oldest stays the
    // domain's operator until one verifies). Same id, other domain: conflict.
    let dup_domain = operator("example.com", 3);
    store.insert_operator(dup_domain).await.unwrap();
    assert_eq!(
        store
            .get_operator_by_domain(&domain("example.com"))
            .await
            .unwrap(),
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

pub async fn operators_due_for_reverification(db: TestStore) {
    let store = db.open().await;
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

pub async fn agents_insert_get_list_conflict(db: TestStore) {
    let store = db.open().await;
    let (op, ag) = seeded(&*store).await;

    assert_eq!(store.get_agent(&ag.did).await.unwrap(), Some(ag.clone()));
    assert_eq!(store.get_agent(&did(UNKNOWN_DID)).await.unwrap(), None);
    assert!(matches!(
        store.insert_agent(ag.clone(), LIST_SIZE).await,
        Err(StoreError::Conflict(_))
    ));

    let mut orphan = agent(&op, 5);
    orphan.operator_id = "op_missing".into();
    assert_eq!(
        store.insert_agent(orphan, LIST_SIZE).await,
        Err(StoreError::NotFound)
    );

    let second = store.insert_agent(agent(&op, 3), LIST_SIZE).await.unwrap();
    let other_op = operator("other.com", 9);
    store.insert_operator(other_op.clone()).await.unwrap();
    store
        .insert_agent(agent(&other_op, 4), LIST_SIZE)
        .await
        .unwrap();

    let listed = store.list_agents(&op.id).await.unwrap();
    assert_eq!(
        listed,
        vec![ag, second],
        "only this operator's, oldest first"
    );
    assert!(store.list_agents("op_missing").await.unwrap().is_empty());
}

/// Approves a pending agent for `read`, as its operator does.
async fn activate(store: &dyn Store, did: &Did) -> Agent {
    store
        .update_agent(
            did,
            AgentStatus::Pending,
            update(AgentStatus::Active, &["read"], NOW + 1, None),
        )
        .await
        .unwrap()
}

fn update(status: AgentStatus, scopes: &[&str], at: u64, revoked_at: Option<u64>) -> AgentUpdate {
    AgentUpdate {
        status,
        allowed_scopes: ScopeSet::from_list(scopes).unwrap(),
        approval_scopes: Default::default(),
        updated_at: at,
        revoked_at,
    }
}

pub async fn agent_compare_and_set(db: TestStore) {
    let store = db.open().await;
    let (_op, ag) = seeded(&*store).await;

    // A write from the expected status lands; scopes are stored sorted and deduplicated.
    let active = store
        .update_agent(
            &ag.did,
            AgentStatus::Pending,
            update(
                AgentStatus::Active,
                &["write", "read", "write"],
                NOW + 50,
                None,
            ),
        )
        .await
        .unwrap();
    assert_eq!(active.status, AgentStatus::Active);
    assert_eq!(active.allowed_scopes.to_vec(), ["read", "write"]);
    assert_eq!(active.updated_at, NOW + 50);
    assert_eq!(
        store.get_agent(&ag.did).await.unwrap(),
        Some(active.clone())
    );

    // A write from a status the agent no longer has misses, names the status found, and changes
    // nothing.
    assert_eq!(
        store
            .update_agent(
                &ag.did,
                AgentStatus::Pending,
                update(AgentStatus::Suspended, &[], NOW + 60, None),
            )
            .await,
        Err(StoreError::StatusChanged(AgentStatus::Active))
    );
    assert_eq!(store.get_agent(&ag.did).await.unwrap(), Some(active));

    let revoked = store
        .update_agent(
            &ag.did,
            AgentStatus::Active,
            update(AgentStatus::Revoked, &["read"], NOW + 90, Some(NOW + 90)),
        )
        .await
        .unwrap();
    assert_eq!(revoked.status, AgentStatus::Revoked);
    assert_eq!(revoked.revoked_at, Some(NOW + 90));
    assert_eq!(store.get_agent(&ag.did).await.unwrap(), Some(revoked));

    assert_eq!(
        store
            .update_agent(
                &did(UNKNOWN_DID),
                AgentStatus::Active,
                update(AgentStatus::Suspended, &[], NOW, None),
            )
            .await,
        Err(StoreError::NotFound)
    );
}

/// Two writers from the same status: exactly one compare-and-set lands.
pub async fn agent_compare_and_set_race(db: TestStore) {
    let store = db.open().await;
    let (_op, ag) = seeded(&*store).await;
    let writes = [AgentStatus::Active, AgentStatus::Revoked].map(|to| {
        let store = std::sync::Arc::clone(&store);
        let did = ag.did.clone();
        tokio::spawn(async move {
            store
                .update_agent(&did, AgentStatus::Pending, update(to, &[], NOW + 1, None))
                .await
        })
    });
    let mut landed = 0;
    for w in writes {
        match w.await.unwrap() {
            Ok(_) => landed += 1,
            Err(StoreError::StatusChanged(_)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(landed, 1);
}

pub async fn challenge_consumption_outcomes(db: TestStore) {
    let store = db.open().await;
    let ch = challenge_id();
    store
        .redeem_challenge(&ch, NOW + 60, redemption_event(), IdentityVersion::CURRENT)
        .await
        .unwrap();
    assert_eq!(
        store
            .redeem_challenge(&ch, NOW + 60, redemption_event(), IdentityVersion::CURRENT)
            .await,
        Err(StoreError::AlreadyUsed)
    );
    // Another store on the same database (a replica, or the server after a restart) sees the redemption.
    assert_eq!(
        db.open()
            .await
            .redeem_challenge(&ch, NOW + 60, redemption_event(), IdentityVersion::CURRENT)
            .await,
        Err(StoreError::AlreadyUsed)
    );

    // The server secret: the first candidate written is the one every later caller gets.
    let first = store.server_secret("challenge", vec![1; 32]).await.unwrap();
    assert_eq!(first, vec![1; 32]);
    let again = db
        .open()
        .await
        .server_secret("challenge", vec![2; 32])
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(
        store.server_secret("other", vec![3; 32]).await.unwrap(),
        vec![3; 32]
    );
}

/// An issuance's read may come from a replica's cache (PostgreSQL): a redemption conditioned on the
/// version it was read at is refused Stale, writing nothing, once the agent changed (through another
/// store, as another replica would change it); the next read is current again. SQLite's serving reads
/// are always current.
pub async fn issuance_reads_are_checked_by_the_redemption(db: TestStore) {
    let store = db.open().await;
    let other = db.open().await;
    let (_op, ag) = seeded(&*store).await;
    let (read, _, read_at) = store
        .get_agent_for_issuance(&ag.did)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, ag);
    activate(&*other, &ag.did).await;
    let ch = challenge_id();
    let outcome = store
        .redeem_challenge(&ch, NOW + 60, redemption_event(), read_at)
        .await;
    let jti = store
        .redeem_client_assertion("thumb", "jti-v", NOW + 60, redemption_event(), read_at)
        .await;
    match db {
        TestStore::Postgres(_) => {
            assert_ne!(read_at, IdentityVersion::CURRENT);
            assert_eq!(
                (outcome, jti),
                (Err(StoreError::Stale), Err(StoreError::Stale))
            );
            assert!(
                store.list_audit(10).await.unwrap().is_empty(),
                "nothing written"
            );
            let (fresh, _, fresh_at) = store
                .get_agent_for_issuance(&ag.did)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(fresh.status, AgentStatus::Active);
            store
                .redeem_challenge(&ch, NOW + 60, redemption_event(), fresh_at)
                .await
                .unwrap();
            assert_eq!(
                store
                    .redeem_challenge(&ch, NOW + 60, redemption_event(), fresh_at)
                    .await,
                Err(StoreError::AlreadyUsed)
            );
        }
        TestStore::Sqlite(_) => {
            // Two stores on one file here (no serving lock), so each read is the file's.
            assert_eq!(read_at, IdentityVersion::CURRENT);
            assert_eq!((outcome, jti), (Ok(()), Ok(())));
        }
    }
}

/// 50 threads race to consume one challenge: exactly one wins, the rest see AlreadyUsed. Half of
/// the threads use a second store opened on the same file (as a second process would), so the
/// guarantee comes from the conditional UPDATE, not from an in-process lock.
pub fn challenge_consumed_exactly_once_under_50_threads(db: TestStore) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .unwrap();
    let (first, second) = rt.block_on(async { (db.open().await, db.open().await) });
    let (ag, challenges) = rt.block_on(async {
        let (_op, ag) = seeded(&*first).await;
        let challenges: Vec<String> = (0..5).map(|_| challenge_id()).collect();
        (ag, challenges)
    });
    assert!(ag.did.as_str().starts_with("did:agent:"));

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
                let id = ch.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    handle.block_on(store.redeem_challenge(
                        &id,
                        NOW + 60,
                        redemption_event(),
                        IdentityVersion::CURRENT,
                    ))
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

pub async fn request_jti_replay_is_refused(db: TestStore) {
    let store = db.open().await;
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

pub async fn request_jti_replay_under_concurrency(db: TestStore) {
    let store = db.open().await;
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

pub async fn token_revocation_is_idempotent_and_listed_per_operator(db: TestStore) {
    let store = db.open().await;
    let revoked = RevokedToken {
        jti: ids::jti(),
        did: did("did:agent:example.com:00000000000000000000000000000000"),
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
        store
            .list_revoked_tokens_page("op_a", NOW, None, 10)
            .await
            .unwrap(),
        vec![newer, revoked],
        "first revocation time kept, newest first, other operators excluded"
    );
}

pub async fn revocations_are_listed_a_page_at_a_time(db: TestStore) {
    let store = db.open().await;
    let token = |jti: &str, revoked_at: u64, expires_at: u64| RevokedToken {
        jti: jti.into(),
        did: did("did:agent:example.com:00000000000000000000000000000000"),
        operator_id: "op_a".into(),
        expires_at,
        revoked_at,
    };
    let (b, a, c) = (
        token("b", NOW + 5, NOW + 900),
        token("a", NOW + 5, NOW + 900),
        token("c", NOW + 1, NOW + 900),
    );
    for t in [&b, &a, &c, &token("expired", NOW + 9, NOW + 10)] {
        store.revoke_token(t.clone()).await.unwrap();
    }
    // Newest first, the same second by jti; live after NOW + 10 only; resumed after a cursor position.
    let live = NOW + 10;
    assert_eq!(
        store
            .list_revoked_tokens_page("op_a", live, None, 2)
            .await
            .unwrap(),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        store
            .list_revoked_tokens_page("op_a", live, Some((NOW + 5, "a".into())), 2)
            .await
            .unwrap(),
        vec![b, c.clone()]
    );
    assert_eq!(
        store
            .list_revoked_tokens_page("op_a", live, Some((NOW + 5, "b".into())), 2)
            .await
            .unwrap(),
        vec![c]
    );

    // Revoked agents only, in agent-list order, after a cursor position.
    let op = operator("example.com", 1);
    store.insert_operator(op.clone()).await.unwrap();
    let mut revoked = Vec::new();
    for seed in 2..6 {
        let ag = store
            .insert_agent(agent(&op, seed), LIST_SIZE)
            .await
            .unwrap();
        if seed != 3 {
            let gone = update(AgentStatus::Revoked, &[], NOW + 60, Some(NOW + 60));
            revoked.push(
                store
                    .update_agent(&ag.did, AgentStatus::Pending, gone)
                    .await
                    .unwrap(),
            );
        }
    }
    assert_eq!(
        store
            .list_revoked_agents_page(&op.id, None, 2)
            .await
            .unwrap(),
        revoked[..2]
    );
    let after = Some((revoked[1].created_at, revoked[1].did.clone()));
    assert_eq!(
        store
            .list_revoked_agents_page(&op.id, after, 2)
            .await
            .unwrap(),
        revoked[2..]
    );
}

pub async fn audit_log_appends_and_lists_newest_first(db: TestStore) {
    let store = db.open().await;
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

pub async fn purge_removes_only_expired_rows(db: TestStore) {
    let store = db.open().await;
    let (op, ag) = seeded(&*store).await;
    // Redeemed challenges are purged in batches, oldest first, by their expiry.
    let (old, fresh) = (challenge_id(), challenge_id());
    let old_expiry = NOW + 10;
    for (id, expires_at) in [(&old, old_expiry), (&fresh, old_expiry + 1)] {
        store
            .redeem_challenge(id, expires_at, redemption_event(), IdentityVersion::CURRENT)
            .await
            .unwrap();
    }
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
        (0, 1, 1)
    );
    let extra = challenge_id();
    store
        .redeem_challenge(
            &extra,
            NOW + 5,
            redemption_event(),
            IdentityVersion::CURRENT,
        )
        .await
        .unwrap();
    assert_eq!(
        store.purge_redeemed_challenges(NOW + 10, 1).await.unwrap(),
        1,
        "a full batch"
    );
    assert_eq!(
        store.purge_redeemed_challenges(NOW + 10, 5).await.unwrap(),
        1
    );
    assert_eq!(
        store
            .redeem_challenge(
                &extra,
                NOW + 5,
                redemption_event(),
                IdentityVersion::CURRENT
            )
            .await,
        Ok(()),
        "the oldest went first"
    );
    // The purged redemption could be recorded again (its challenge's expiry refuses it first); the
    // other is still recorded.
    store
        .redeem_challenge(
            &old,
            old_expiry,
            redemption_event(),
            IdentityVersion::CURRENT,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .redeem_challenge(
                &fresh,
                old_expiry + 1,
                redemption_event(),
                IdentityVersion::CURRENT
            )
            .await,
        Err(StoreError::AlreadyUsed)
    );
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
    assert_eq!(
        store.purge_redeemed_challenges(NOW + 9, 10).await.unwrap(),
        1,
        "only the extra one (NOW + 5) is due; the re-recorded old one expires at NOW + 10"
    );
}

pub async fn signing_keys_insert_rotate_purge(db: TestStore) {
    let store = db.open().await;
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
        .rotate_signing_key(second.clone(), NOW + 100 + 3660)
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
            .rotate_signing_key(second.clone(), NOW + 5000)
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

pub async fn reopen_keeps_data(db: TestStore) {
    let (op, ag, ch, jti) = {
        let store = db.open().await;
        let (op, ag) = seeded(&*store).await;
        let op = store
            .set_operator_verified(&op.id, NOW, NOW + 86_400)
            .await
            .unwrap();
        let ag = activate(&*store, &ag.did).await;
        let ch = challenge_id();
        store
            .redeem_challenge(&ch, NOW + 60, redemption_event(), IdentityVersion::CURRENT)
            .await
            .unwrap();
        let jti = ids::jti();
        store
            .consume_request_jti("t", &jti, NOW + 60)
            .await
            .unwrap();
        (op, ag, ch, jti)
    };
    let store = db.open().await;
    assert_eq!(store.get_operator(&op.id).await.unwrap(), Some(op));
    assert_eq!(store.get_agent(&ag.did).await.unwrap(), Some(ag));
    assert_eq!(
        store
            .redeem_challenge(&ch, NOW + 60, redemption_event(), IdentityVersion::CURRENT)
            .await,
        Err(StoreError::AlreadyUsed)
    );
    assert_eq!(
        store.consume_request_jti("t", &jti, NOW + 60).await,
        Err(StoreError::Replayed)
    );
}

pub async fn keyring_creates_one_key_and_keeps_it_across_restarts(db: TestStore) {
    let (kid, signature) = {
        let store: Arc<dyn Store> = db.open().await;
        let ring = KeyRing::load_or_init(Arc::clone(&store), NOW, 3660)
            .await
            .unwrap();
        let active = ring.active(NOW);
        assert_eq!(active.kid(), active.signing_key().public_key().thumbprint());
        assert_eq!(store.load_signing_keys().await.unwrap().len(), 1);
        (active.kid().to_owned(), active.signing_key().sign(b"hello"))
    };
    let store: Arc<dyn Store> = db.open().await;
    let ring = KeyRing::load_or_init(Arc::clone(&store), NOW + 10, 3660)
        .await
        .unwrap();
    assert_eq!(ring.active(NOW + 10).kid(), kid);
    assert_eq!(
        ring.active(NOW + 10).signing_key().sign(b"hello"),
        signature
    );
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

pub async fn keyring_rotation_keeps_retired_key_until_not_after(db: TestStore) {
    let store: Arc<dyn Store> = db.open().await;
    let ring = KeyRing::load_or_init(Arc::clone(&store), NOW, 3660)
        .await
        .unwrap();
    let old_kid = ring.active(NOW).kid().to_owned();
    let new_kid = ring.rotate(NOW + 100, NOW + 100).await.unwrap().kid;
    assert_ne!(old_kid, new_kid);
    assert_eq!(ring.active(NOW + 100).kid(), new_kid);

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
    let reopened = KeyRing::load_or_init(db.open().await, NOW + 200, 3660)
        .await
        .unwrap();
    assert_eq!(reopened.active(NOW + 200).kid(), new_kid);
    assert_eq!(reopened.jwks(NOW + 200), ring.jwks(NOW + 200));
}

pub async fn client_assertion_redeemed_once_with_its_audit_row(db: TestStore) {
    let store = db.open().await;
    let jti = ids::jti();
    let event = |n: usize| AuditEvent {
        at: NOW,
        actor: "did:agent:example.com:x".into(),
        action: "token.issue".into(),
        subject: format!("tok-{n}"),
        detail: "grant=client_credentials".into(),
    };
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let store = Arc::clone(&store);
            let jti = jti.clone();
            tokio::spawn(async move {
                store
                    .redeem_client_assertion(
                        "thumb",
                        &jti,
                        NOW + 300,
                        event(n),
                        IdentityVersion::CURRENT,
                    )
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Replayed) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 1, "one assertion, one redemption");
    let audit = store.list_audit(100).await.unwrap();
    assert_eq!(audit.len(), 1, "refused redemptions leave no audit row");
    // The namespace is the signer's, shared with signed requests.
    assert_eq!(
        store.consume_request_jti("thumb", &jti, NOW + 300).await,
        Err(StoreError::Replayed)
    );
    store
        .redeem_client_assertion(
            "other-thumb",
            &jti,
            NOW + 300,
            event(99),
            IdentityVersion::CURRENT,
        )
        .await
        .unwrap();
}

pub async fn redeem_challenge_commits_single_use_and_audit_together(db: TestStore) {
    let store = db.open().await;
    crate::store_rows::redeem_and_joined_read(&*store).await;
}

pub async fn audit_purge_keeps_recent_events(db: TestStore) {
    let store = db.open().await;
    crate::store_rows::audit_purge_keeps_recent_events(&*store).await;
}

pub async fn operators_insert_get_and_the_verified_domain_constraint(db: TestStore) {
    let store = db.open().await;
    let op = operator("example.com", 1);
    store.insert_operator(op.clone()).await.unwrap();
    assert_eq!(store.get_operator(&op.id).await.unwrap(), Some(op.clone()));
    assert_eq!(
        store
            .get_operator_by_domain(&domain("example.com"))
            .await
            .unwrap(),
        Some(op.clone())
    );
    assert_eq!(store.get_operator("op_missing").await.unwrap(), None);
    assert_eq!(
        store
            .get_operator_by_domain(&domain("other.com"))
            .await
            .unwrap(),
        None
    );

    // Unverified claims on one domain coexist; the oldest is the domain's operator until one verifies.
    let rival = operator("example.com", 3);
    store.insert_operator(rival.clone()).await.unwrap();
    assert_eq!(
        store
            .get_operator_by_domain(&domain("example.com"))
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
        store
            .get_operator_by_domain(&domain("example.com"))
            .await
            .unwrap(),
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
}

pub async fn two_replicas_verifying_one_domain_at_once_yield_one_owner(db: TestStore) {
    let a = db.open().await;
    let b = db.open().await;
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

/// 50 tasks on three separate pools (three replicas) race to consume each challenge: exactly one
/// wins each time.
pub async fn challenge_consumed_exactly_once_across_pools(db: TestStore) {
    let first = db.open().await;
    let stores = [first.clone(), db.open().await, db.open().await];
    for _ in 0..5 {
        let ch = challenge_id();
        let barrier = Arc::new(tokio::sync::Barrier::new(50));
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let store = stores[i % 3].clone();
                let barrier = Arc::clone(&barrier);
                let id = ch.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    store
                        .redeem_challenge(
                            &id,
                            NOW + 60,
                            redemption_event(),
                            IdentityVersion::CURRENT,
                        )
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

pub async fn request_jti_replay_is_refused_across_pools(db: TestStore) {
    let a = db.open().await;
    let b = db.open().await;
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

/// Three replicas starting on an empty database settle on one active signing key.
pub async fn concurrent_first_start_yields_one_active_key(db: TestStore) {
    let stores: Vec<Arc<dyn Store>> = vec![db.open().await, db.open().await, db.open().await];
    let (ra, rb, rc) = tokio::join!(
        KeyRing::load_or_init(Arc::clone(&stores[0]), NOW, 3660),
        KeyRing::load_or_init(Arc::clone(&stores[1]), NOW, 3660),
        KeyRing::load_or_init(Arc::clone(&stores[2]), NOW, 3660)
    );
    let (ra, rb, rc) = (ra.unwrap(), rb.unwrap(), rc.unwrap());
    assert_eq!(ra.active(NOW).kid(), rb.active(NOW).kid());
    assert_eq!(ra.active(NOW).kid(), rc.active(NOW).kid());
    assert_eq!(stores[0].load_signing_keys().await.unwrap().len(), 1);

    // A rotation through one replica reaches the others on reload; the JWKS stays identical.
    let new_kid = ra.rotate(NOW + 10, NOW + 10).await.unwrap().kid;
    rb.reload().await.unwrap();
    assert_eq!(rb.active(NOW + 10).kid(), new_kid);
    assert_eq!(rb.jwks(NOW + 10), ra.jwks(NOW + 10));
}

/// Two replicas rotating at the same moment both succeed and leave exactly one active key.
pub async fn concurrent_rotations_leave_one_active_key(db: TestStore) {
    let a = db.open().await;
    let b = db.open().await;
    a.insert_signing_key(key_record(1, NOW)).await.unwrap();
    for round in 0..5u8 {
        let t = NOW + 100 * u64::from(round + 1);
        let (ra, rb) = tokio::join!(
            a.rotate_signing_key(key_record(10 + 2 * round, t), t + 3660),
            b.rotate_signing_key(key_record(11 + 2 * round, t), t + 3660)
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

/// `rotate_signing_key_after` adds the key only while the named kid is still the newest: a stale
/// kid changes nothing, and of two processes racing with the same current kid exactly one wins.
pub async fn scheduled_rotation_adds_one_key_per_current_key(db: TestStore) {
    let a = db.open().await;
    let b = db.open().await;
    let first = key_record(1, NOW);
    a.insert_signing_key(first.clone()).await.unwrap();
    let mut current = first.kid.clone();
    for round in 0..5u8 {
        let t = NOW + 1000 * u64::from(round + 1);
        let mut next_a = key_record(20 + 2 * round, t - 300);
        next_a.activates_at = t;
        let mut next_b = key_record(21 + 2 * round, t - 300);
        next_b.activates_at = t;
        let (ra, rb) = tokio::join!(
            a.rotate_signing_key_after(&current, next_a.clone(), t + 3660),
            b.rotate_signing_key_after(&current, next_b.clone(), t + 3660)
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert!(
            ra ^ rb,
            "round {round}: exactly one scheduled rotation wins ({ra}, {rb})"
        );
        let winner = if ra { next_a } else { next_b };
        let keys = a.load_signing_keys().await.unwrap();
        assert_eq!(keys.len(), usize::from(round) + 2, "{keys:?}");
        let newest: Vec<_> = keys.iter().filter(|k| k.retired_at.is_none()).collect();
        assert_eq!(newest.len(), 1, "{keys:?}");
        assert_eq!(newest[0].kid, winner.kid);
        assert_eq!(newest[0].activates_at, t);
        let retired = keys.iter().find(|k| k.kid == current).unwrap();
        assert_eq!(
            (retired.retired_at, retired.not_after),
            (Some(t), Some(t + 3660))
        );
        // The loser's kid, now stale, adds nothing.
        let mut late = key_record(100 + round, t);
        late.activates_at = t + 500;
        assert!(
            !a.rotate_signing_key_after(&current, late, t + 9999)
                .await
                .unwrap()
        );
        assert_eq!(a.load_signing_keys().await.unwrap().len(), keys.len());
        current = winner.kid;
    }
}

/// A key added with a publish-ahead is in the JWKS at once but signs only from its activation; the
/// key it replaces signs until then and stays published for the retention after it. An immediate
/// rotation supersedes a pending one.
pub async fn keyring_publishes_ahead_and_switches_at_activation(db: TestStore) {
    let store: Arc<dyn Store> = db.open().await;
    let ring = KeyRing::load_or_init(Arc::clone(&store), NOW, 3660)
        .await
        .unwrap();
    let old = ring.active(NOW).kid().to_owned();
    let next = ring.rotate(NOW + 10, NOW + 10 + 360).await.unwrap();
    assert_eq!(next.activates_at, NOW + 370);
    assert_eq!(next.previous_not_after, NOW + 370 + 3660);
    for t in [NOW + 10, NOW + 369] {
        assert_eq!(
            ring.active(t).kid(),
            old,
            "the old key signs until the activation"
        );
        let set = ring.key_set(t);
        assert!(set.get(&old).is_some() && set.get(&next.kid).is_some());
    }
    assert_eq!(ring.active(NOW + 370).kid(), next.kid);
    assert!(ring.key_set(NOW + 370 + 3659).get(&old).is_some());
    assert!(ring.key_set(NOW + 370 + 3660).get(&old).is_none());

    // Another process reads the same ring (a replica), and so does a restart.
    let replica = KeyRing::load_or_init(db.open().await, NOW + 20, 3660)
        .await
        .unwrap();
    assert_eq!(replica.active(NOW + 20).kid(), old);
    assert_eq!(replica.active(NOW + 370).kid(), next.kid);
    assert_eq!(replica.jwks(NOW + 20), ring.jwks(NOW + 20));

    // While `next` is pending, a second publish-ahead rotation retires it at its own activation...
    let third = ring.rotate(NOW + 100, NOW + 500).await.unwrap();
    assert_eq!(ring.active(NOW + 369).kid(), old);
    assert_eq!(ring.active(NOW + 370).kid(), next.kid);
    assert_eq!(ring.active(NOW + 500).kid(), third.kid);
    // ...and an immediate one (`keys rotate --now`) supersedes both at once.
    let urgent = ring.rotate(NOW + 200, NOW + 200).await.unwrap();
    for t in [NOW + 200, NOW + 370, NOW + 500] {
        assert_eq!(ring.active(t).kid(), urgent.kid, "at {t}");
    }
    let keys = store.load_signing_keys().await.unwrap();
    assert_eq!(
        keys.iter().filter(|k| k.retired_at.is_none()).count(),
        1,
        "{keys:?}"
    );
    for k in keys.iter().filter(|k| k.kid != urgent.kid) {
        assert!(k.retired_at.unwrap() <= NOW + 200, "{k:?}");
        assert_eq!(k.not_after, Some(k.retired_at.unwrap() + 3660), "{k:?}");
    }
    replica.reload().await.unwrap();
    assert_eq!(replica.active(NOW + 200).kid(), urgent.kid);
}

/// `--key-rotation-interval`: nothing before the current key is `interval - publish_ahead` old,
/// then one next key activating at `interval`, published ahead; nothing more while it is pending;
/// two replicas scheduling at the same moment add one key.
pub async fn keyring_rotates_on_schedule_once_across_replicas(db: TestStore) {
    let store: Arc<dyn Store> = db.open().await;
    let a = KeyRing::load_or_init(Arc::clone(&store), NOW, 3660)
        .await
        .unwrap();
    let b = KeyRing::load_or_init(db.open().await, NOW, 3660)
        .await
        .unwrap();
    let first = a.active(NOW).kid().to_owned();
    assert_eq!(
        a.rotate_on_schedule(NOW + 899, 1000, 100).await.unwrap(),
        None
    );
    let (ra, rb) = tokio::join!(
        a.rotate_on_schedule(NOW + 900, 1000, 100),
        b.rotate_on_schedule(NOW + 900, 1000, 100)
    );
    let scheduled: Vec<_> = [ra.unwrap(), rb.unwrap()].into_iter().flatten().collect();
    assert_eq!(scheduled.len(), 1, "{scheduled:?}");
    let next = &scheduled[0];
    assert_eq!(next.activates_at, NOW + 1000);
    assert_eq!(store.load_signing_keys().await.unwrap().len(), 2);
    for ring in [&a, &b] {
        ring.reload().await.unwrap();
        assert_eq!(ring.active(NOW + 999).kid(), first);
        assert!(
            ring.key_set(NOW + 900).get(&next.kid).is_some(),
            "published ahead"
        );
        assert_eq!(ring.active(NOW + 1000).kid(), next.kid);
    }
    // Pending, then active but not yet due: nothing.
    assert_eq!(
        a.rotate_on_schedule(NOW + 950, 1000, 100).await.unwrap(),
        None
    );
    assert_eq!(
        a.rotate_on_schedule(NOW + 1899, 1000, 100).await.unwrap(),
        None
    );
    // A late pass (the schedule was missed) still publishes ahead: activation now + publish_ahead.
    let late = a
        .rotate_on_schedule(NOW + 5000, 1000, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(late.activates_at, NOW + 5100);
    assert_eq!(a.active(NOW + 5099).kid(), next.kid);
    assert_eq!(a.active(NOW + 5100).kid(), late.kid);
}

/// `change_operator_key` replaces the key only while the operator still holds the old one: of two
/// changes from one key exactly one applies, and a reopened store reads the new key.
pub async fn operator_key_change_is_conditional_on_the_old_key(db: TestStore) {
    let a = db.open().await;
    let b = db.open().await;
    let op = operator("keys.example", 1);
    a.insert_operator(op.clone()).await.unwrap();
    // Read once, so a caching backend holds the row.
    assert_eq!(
        a.get_operator(&op.id).await.unwrap().unwrap().thumbprint,
        op.thumbprint
    );
    let (k2, t2) = public_key(2);
    let (k3, t3) = public_key(3);
    let (ra, rb) = tokio::join!(
        a.change_operator_key(&op.id, &op.thumbprint, k2),
        b.change_operator_key(&op.id, &op.thumbprint, k3)
    );
    let winner = match (ra, rb) {
        (Ok(changed), Err(StoreError::NotFound)) | (Err(StoreError::NotFound), Ok(changed)) => {
            changed
        }
        other => panic!("exactly one change applies: {other:?}"),
    };
    assert!(winner.thumbprint == t2 || winner.thumbprint == t3);
    assert_eq!(winner.public_key.thumbprint(), winner.thumbprint);
    assert_eq!(
        (winner.id.as_str(), &winner.domain),
        (op.id.as_str(), &op.domain)
    );
    for store in [&a, &b] {
        let read = store.get_operator(&op.id).await.unwrap().unwrap();
        assert_eq!(read, winner, "every reader sees the new key");
    }
    // The old key no longer matches; an unknown operator is NotFound too.
    assert_eq!(
        a.change_operator_key(&op.id, &op.thumbprint, public_key(4).0)
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        a.change_operator_key("op_missing", &winner.thumbprint, public_key(4).0)
            .await,
        Err(StoreError::NotFound)
    );
    let reopened = db.open().await;
    assert_eq!(
        reopened.get_operator(&op.id).await.unwrap().unwrap(),
        winner
    );
}

/// A recovery: started (a second start keeps its token and renews it), completed once when live (the
/// operator gets the key, thumbprint and TXT token, verified; every pending recovery is deleted), never
/// after it expired or was spent, and not while another operator holds the domain's current proof.
pub async fn operator_recovery_lifecycle(db: TestStore) {
    let store = db.open().await;
    let op = operator("recover.example", 1);
    store.insert_operator(op.clone()).await.unwrap();
    let _ = store.get_operator(&op.id).await.unwrap();
    let recovery = |seed: u8, expires_at: u64| {
        let (public_key, thumbprint) = public_key(seed);
        OperatorRecovery {
            operator_id: op.id.clone(),
            public_key,
            thumbprint,
            txt_token: ids::txt_token(),
            created_at: NOW,
            expires_at,
        }
    };
    let first = store
        .start_operator_recovery(recovery(2, NOW + 100))
        .await
        .unwrap();
    let renewed = store
        .start_operator_recovery(recovery(2, NOW + 500))
        .await
        .unwrap();
    assert_eq!(
        renewed.txt_token, first.txt_token,
        "a restart keeps the published token"
    );
    assert_eq!(renewed.expires_at, NOW + 500);
    assert_eq!(
        store
            .get_operator_recovery(&op.id, &first.thumbprint)
            .await
            .unwrap(),
        Some(renewed.clone())
    );
    let other = store
        .start_operator_recovery(recovery(3, NOW + 50))
        .await
        .unwrap();
    assert_eq!(
        store.count_operator_recoveries(&op.id, NOW).await.unwrap(),
        2
    );
    assert_eq!(
        store
            .count_operator_recoveries(&op.id, NOW + 50)
            .await
            .unwrap(),
        1
    );
    assert_ne!(other.txt_token, first.txt_token);

    // Expired: nothing happens.
    assert_eq!(
        store
            .complete_operator_recovery(&op.id, &other.thumbprint, NOW + 50, NOW + 9999)
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(store.get_operator(&op.id).await.unwrap().unwrap(), op);

    let recovered = store
        .complete_operator_recovery(&op.id, &first.thumbprint, NOW + 60, NOW + 9999)
        .await
        .unwrap();
    assert_eq!(recovered.public_key, renewed.public_key);
    assert_eq!(recovered.thumbprint, renewed.thumbprint);
    assert_eq!(recovered.txt_token, renewed.txt_token);
    assert_eq!(recovered.status, OperatorStatus::Verified);
    assert_eq!(
        (
            recovered.domain_verified_at,
            recovered.verification_expires_at
        ),
        (Some(NOW + 60), Some(NOW + 9999))
    );
    assert_eq!(
        store.get_operator(&op.id).await.unwrap().unwrap(),
        recovered
    );
    for thumbprint in [&first.thumbprint, &other.thumbprint] {
        assert_eq!(
            store
                .get_operator_recovery(&op.id, thumbprint)
                .await
                .unwrap(),
            None
        );
    }
    // Spent.
    assert_eq!(
        store
            .complete_operator_recovery(&op.id, &first.thumbprint, NOW + 61, NOW + 9999)
            .await,
        Err(StoreError::NotFound)
    );

    // Another claimant of the domain, recovering while the first operator's proof is current.
    let rival = operator("recover.example", 4);
    store.insert_operator(rival.clone()).await.unwrap();
    let (public_key, thumbprint) = public_key(5);
    store
        .start_operator_recovery(OperatorRecovery {
            operator_id: rival.id.clone(),
            public_key,
            thumbprint: thumbprint.clone(),
            txt_token: ids::txt_token(),
            created_at: NOW,
            expires_at: NOW + 500,
        })
        .await
        .unwrap();
    assert!(matches!(
        store
            .complete_operator_recovery(&rival.id, &thumbprint, NOW + 70, NOW + 9999)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store
            .get_operator_recovery(&rival.id, &thumbprint)
            .await
            .unwrap()
            .is_some()
    );
    // The purge deletes recoveries past their time only.
    assert_eq!(
        store
            .purge_expired(NOW + 499)
            .await
            .unwrap()
            .operator_recoveries,
        0
    );
    assert_eq!(
        store
            .purge_expired(NOW + 500)
            .await
            .unwrap()
            .operator_recoveries,
        1
    );
    assert_eq!(
        store
            .get_operator_recovery(&rival.id, &thumbprint)
            .await
            .unwrap(),
        None
    );
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[track_caller]
fn assert_corrupt<T: std::fmt::Debug>(read: Result<T, StoreError>, what: &str) {
    match read {
        Err(StoreError::Corrupt(message)) => assert!(!message.is_empty()),
        other => panic!("{what}: expected Corrupt, got {other:?}"),
    }
}

/// Rows hold decoded values: a stored DID, domain, public key, scope list or time that does not
/// decode makes every read of its row `Corrupt` (an internal error), on both backends.
pub async fn undecodable_rows_are_corrupt(db: TestStore) {
    let store = db.open().await;
    let (op, ag) = seeded(&*store).await;
    let did = ag.did.as_str();
    let id = &op.id;

    // An agent key that is no valid Ed25519 key (the small-order identity point; 32 bytes, as the
    // schema requires).
    let mut identity = [0u8; 32];
    identity[0] = 1;
    db.tamper(&format!(
        "UPDATE agents SET public_key = {} WHERE did = '{did}'",
        db.blob(&identity)
    ))
    .await;
    assert_corrupt(store.get_agent(&ag.did).await, "get_agent, key");
    assert_corrupt(
        store.get_agent_with_operator(&ag.did).await,
        "get_agent_with_operator, key",
    );
    assert_corrupt(store.list_agents(id).await, "list_agents, key");
    assert_corrupt(
        store
            .update_agent(
                &ag.did,
                AgentStatus::Pending,
                update(AgentStatus::Active, &["read"], NOW + 1, None),
            )
            .await,
        "update_agent, key",
    );
    db.tamper(&format!(
        "UPDATE agents SET public_key = {}, status = 'pending', allowed_scopes = '[]', \
         updated_at = {} WHERE did = '{did}'",
        db.blob(ag.public_key.as_bytes()),
        ag.updated_at
    ))
    .await;
    assert_eq!(store.get_agent(&ag.did).await.unwrap(), Some(ag.clone()));

    // Scopes that are not a JSON array of scope tokens; a negative time.
    for bad in [
        "allowed_scopes = '[\"not a scope\"]'",
        "allowed_scopes = 'read'",
        "created_at = -1",
    ] {
        db.tamper(&format!("UPDATE agents SET {bad} WHERE did = '{did}'"))
            .await;
        assert_corrupt(store.get_agent(&ag.did).await, bad);
        db.tamper(&format!(
            "UPDATE agents SET allowed_scopes = '[]', created_at = {} WHERE did = '{did}'",
            ag.created_at
        ))
        .await;
        assert_eq!(store.get_agent(&ag.did).await.unwrap(), Some(ag.clone()));
    }

    // An operator domain that does not parse, or is not in its normalized form.
    for bad in ["not a domain", "Example.COM"] {
        db.tamper(&format!(
            "UPDATE operators SET domain = '{bad}' WHERE id = '{id}'"
        ))
        .await;
        assert_corrupt(store.get_operator(id).await, bad);
        assert_corrupt(store.get_agent_with_operator(&ag.did).await, bad);
        assert_corrupt(store.set_operator_unverified(id).await, bad);
    }
    db.tamper(&format!(
        "UPDATE operators SET domain = 'example.com' WHERE id = '{id}'"
    ))
    .await;
    assert_eq!(store.get_operator(id).await.unwrap(), Some(op.clone()));

    // A DID that does not parse: in an agent row and a revoked token.
    let other = store.insert_agent(agent(&op, 9), LIST_SIZE).await.unwrap();
    db.tamper(&format!(
        "UPDATE agents SET did = 'did:agent:Example.com:zz' WHERE did = '{}'",
        other.did
    ))
    .await;
    assert_corrupt(store.list_agents(id).await, "list_agents, DID");
    store
        .revoke_token(RevokedToken {
            jti: "jti-corrupt".into(),
            did: ag.did.clone(),
            operator_id: id.clone(),
            expires_at: NOW + 900,
            revoked_at: NOW,
        })
        .await
        .unwrap();
    db.tamper("UPDATE revoked_tokens SET did = 'not a did' WHERE jti = 'jti-corrupt'")
        .await;
    assert_corrupt(
        store.list_revoked_tokens_page(id, NOW, None, 10).await,
        "list_revoked_tokens_page",
    );
}

/// Every statement written once for both backends prepares on each, and binds its N-th value to
/// `$N` (SQLite numbers `$N` placeholders in order of first appearance, not by N).
pub async fn shared_statements_prepare(db: TestStore) {
    drop(db.open().await);
    match &db {
        TestStore::Sqlite(dir) => {
            let conn = rusqlite::Connection::open(dir.path().join("auth4agent.db")).unwrap();
            for (name, sql) in SHARED_SQL {
                let stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{name}: {e}"));
                let n = sql_placeholders(sql).len();
                assert_eq!(stmt.parameter_count(), n, "{name}");
                for i in 1..=n {
                    assert_eq!(
                        stmt.parameter_name(i),
                        Some(format!("${i}").as_str()),
                        "{name}"
                    );
                }
            }
        }
        TestStore::Postgres(pg) => {
            let (client, connection) = tokio_postgres::connect(pg.url(), tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            for (name, sql) in SHARED_SQL {
                let stmt = client
                    .prepare(sql)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(stmt.params().len(), sql_placeholders(sql).len(), "{name}");
            }
        }
    }
}

fn scopes(list: &[&str]) -> ScopeSet {
    ScopeSet::from_list(list).unwrap()
}

fn device_authorization(ag: &auth4agent_server::store::Agent, code: &str) -> DeviceAuthorization {
    DeviceAuthorization {
        kind: auth4agent_server::store::ApprovalKind::DeviceAuthorization,
        agent_name: None,
        device_code_hash: format!("hash-{code}"),
        user_code: code.into(),
        did: ag.did.clone(),
        operator_id: ag.operator_id.clone(),
        scopes: scopes(&["pay", "read"]),
        resource: "https://api.example.com".into(),
        binding_message: Some("Pay #1".into()),
        status: DeviceStatus::Pending,
        granted_scopes: ScopeSet::default(),
        decided_by: None,
        interval: 5,
        last_poll_at: None,
        slow_down_at: None,
        created_at: NOW,
        expires_at: NOW + 600,
        decided_at: None,
    }
}

fn approve(method: &str, remember: Option<RememberedGrant>) -> DeviceDecision {
    DeviceDecision::Approve {
        scopes: scopes(&["pay"]),
        method: method.into(),
        remember,
    }
}

pub async fn approval_scopes_are_stored(db: TestStore) {
    let store = db.open().await;
    let (_op, ag) = seeded(&*store).await;
    let mut change = update(AgentStatus::Active, &["read"], NOW + 1, None);
    change.approval_scopes = scopes(&["admin", "pay"]);
    let written = store
        .update_agent(&ag.did, ag.status, change)
        .await
        .unwrap();
    assert_eq!(written.approval_scopes, scopes(&["admin", "pay"]));
    let read = store.get_agent(&ag.did).await.unwrap().unwrap();
    assert_eq!(read.approval_scopes, scopes(&["admin", "pay"]));
    assert_eq!(read.allowed_scopes, scopes(&["read"]));
}

/// A registration request is stored with its kind and the agent's name, listed with the device
/// authorizations, and found by the agent's DID; a device authorization is never taken for one.
pub async fn registration_requests_are_kept_apart(db: TestStore) {
    let store = db.open().await;
    let (op, ag) = seeded(&*store).await;
    assert_eq!(store.get_registration_request(&ag.did).await.unwrap(), None);
    store
        .insert_device_authorization(device_authorization(&ag, "BCDFGHJK"), redemption_event())
        .await
        .unwrap();
    assert_eq!(store.get_registration_request(&ag.did).await.unwrap(), None);
    let newcomer = store.insert_agent(agent(&op, 9), LIST_SIZE).await.unwrap();
    let mut registration = device_authorization(&newcomer, "LMNPQRST");
    registration.device_code_hash = "registration-hash".into();
    registration.kind = auth4agent_server::store::ApprovalKind::Registration;
    registration.agent_name = Some("build bot".into());
    registration.resource = String::new();
    registration.binding_message = None;
    registration.created_at = NOW + 1;
    store
        .insert_device_authorization(registration.clone(), redemption_event())
        .await
        .unwrap();
    assert_eq!(
        store.get_registration_request(&newcomer.did).await.unwrap(),
        Some(registration.clone())
    );
    let pending = store
        .list_pending_device_authorizations(&op.id, NOW, None, 100)
        .await
        .unwrap();
    let kinds: Vec<_> = pending
        .iter()
        .map(|a| (a.user_code.as_str(), a.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            (
                "BCDFGHJK",
                auth4agent_server::store::ApprovalKind::DeviceAuthorization
            ),
            (
                "LMNPQRST",
                auth4agent_server::store::ApprovalKind::Registration
            ),
        ]
    );
    // A page at a time: one, then the one after the first's (created_at, user_code).
    let first = store
        .list_pending_device_authorizations(&op.id, NOW, None, 1)
        .await
        .unwrap();
    assert_eq!(first, pending[..1]);
    let after = Some((first[0].created_at, first[0].user_code.clone()));
    assert_eq!(
        store
            .list_pending_device_authorizations(&op.id, NOW, after, 1)
            .await
            .unwrap(),
        pending[1..]
    );
    let denied = store
        .decide_device_authorization(
            &op.id,
            "LMNPQRST",
            DeviceDecision::Deny {
                method: "cli_key".into(),
            },
            NOW + 2,
            redemption_event(),
        )
        .await
        .unwrap();
    assert_eq!(
        denied.kind,
        auth4agent_server::store::ApprovalKind::Registration
    );
    assert_eq!(denied.agent_name.as_deref(), Some("build bot"));
    let found = store
        .get_registration_request(&newcomer.did)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.status, DeviceStatus::Denied);
}

pub async fn device_authorization_lifecycle(db: TestStore) {
    let store = db.open().await;
    let (op, ag) = seeded(&*store).await;
    let other = agent(&op, 7);
    let other = store.insert_agent(other, LIST_SIZE).await.unwrap();
    let a = device_authorization(&ag, "BCDFGHJK");
    store
        .insert_device_authorization(a.clone(), redemption_event())
        .await
        .unwrap();
    let mut clash = device_authorization(&ag, "BCDFGHJK");
    clash.device_code_hash = "another".into();
    assert!(matches!(
        store
            .insert_device_authorization(clash, redemption_event())
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_device_authorization("BCDFGHJK").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.get_device_authorization("ZZZZZZZZ").await.unwrap(),
        None
    );

    // Polls: the first is free; one too early grows the interval; another agent's poll finds nothing.
    let first = store
        .poll_device_authorization(&a.device_code_hash, &ag.did, NOW + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.last_poll_at, first.slow_down_at, first.interval),
        (Some(NOW + 1), None, 5)
    );
    let early = store
        .poll_device_authorization(&a.device_code_hash, &ag.did, NOW + 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((early.slow_down_at, early.interval), (Some(NOW + 3), 10));
    let timely = store
        .poll_device_authorization(&a.device_code_hash, &ag.did, NOW + 13)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((timely.slow_down_at, timely.interval), (Some(NOW + 3), 10));
    assert_eq!(
        store
            .poll_device_authorization(&a.device_code_hash, &other.did, NOW + 30)
            .await
            .unwrap(),
        None
    );

    assert_eq!(
        store
            .list_pending_device_authorizations(&op.id, NOW + 20, None, 100)
            .await
            .unwrap(),
        vec![timely.clone()]
    );
    assert!(
        store
            .list_pending_device_authorizations(&op.id, NOW + 600, None, 100)
            .await
            .unwrap()
            .is_empty()
    );

    // Not approved yet: nothing to redeem.
    assert!(matches!(
        store
            .redeem_device_code(&a.device_code_hash, &ag.did, NOW + 20, redemption_event())
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .decide_device_authorization(
                "op_other",
                "BCDFGHJK",
                approve("cli_key", None),
                NOW + 20,
                redemption_event()
            )
            .await,
        Err(StoreError::NotFound)
    );
    let decided = store
        .decide_device_authorization(
            &op.id,
            "BCDFGHJK",
            approve("cli_key", None),
            NOW + 20,
            redemption_event(),
        )
        .await
        .unwrap();
    assert_eq!(decided.status, DeviceStatus::Approved);
    assert_eq!(decided.granted_scopes, scopes(&["pay"]));
    assert_eq!(decided.decided_by.as_deref(), Some("cli_key"));
    assert_eq!(decided.decided_at, Some(NOW + 20));
    assert_eq!(
        store
            .decide_device_authorization(
                &op.id,
                "BCDFGHJK",
                DeviceDecision::Deny {
                    method: "cli_key".into()
                },
                NOW + 21,
                redemption_event()
            )
            .await,
        Err(StoreError::AlreadyUsed)
    );
    assert_eq!(
        store
            .redeem_device_code(
                &a.device_code_hash,
                &other.did,
                NOW + 22,
                redemption_event()
            )
            .await,
        Err(StoreError::NotFound)
    );
    store
        .redeem_device_code(&a.device_code_hash, &ag.did, NOW + 22, redemption_event())
        .await
        .unwrap();
    assert_eq!(
        store
            .redeem_device_code(&a.device_code_hash, &ag.did, NOW + 23, redemption_event())
            .await,
        Err(StoreError::AlreadyUsed)
    );

    // Expiry: a pending request past its time is marked once; deciding it is Expired.
    let b = device_authorization(&ag, "CDFGHJKL");
    store
        .insert_device_authorization(b.clone(), redemption_event())
        .await
        .unwrap();
    assert_eq!(
        store
            .decide_device_authorization(
                &op.id,
                "CDFGHJKL",
                approve("cli_key", None),
                NOW + 600,
                redemption_event()
            )
            .await,
        Err(StoreError::Expired)
    );
    let expired = store.expire_device_authorizations(NOW + 600).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].user_code, "CDFGHJKL");
    assert_eq!(expired[0].status, DeviceStatus::Expired);
    assert!(
        store
            .expire_device_authorizations(NOW + 700)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.purge_device_state(NOW + 600, NOW).await.unwrap(),
        2,
        "both requests are past their expiry"
    );
    assert_eq!(
        store.get_device_authorization("BCDFGHJK").await.unwrap(),
        None
    );
}

pub async fn remembered_grants_in_force(db: TestStore) {
    let store = db.open().await;
    let (op, ag) = seeded(&*store).await;
    let grant = RememberedGrant {
        id: ids::grant_id(),
        did: ag.did.clone(),
        operator_id: op.id.clone(),
        resource: "https://api.example.com".into(),
        scopes: scopes(&["pay"]),
        created_at: NOW + 20,
        expires_at: NOW + 3600,
        revoked_at: None,
    };
    store
        .insert_device_authorization(device_authorization(&ag, "BCDFGHJK"), redemption_event())
        .await
        .unwrap();
    store
        .decide_device_authorization(
            &op.id,
            "BCDFGHJK",
            approve("cli_key", Some(grant.clone())),
            NOW + 20,
            redemption_event(),
        )
        .await
        .unwrap();
    let active = |at| store.active_remembered_grants(&ag.did, "https://api.example.com", at);
    assert_eq!(active(NOW + 30).await.unwrap(), vec![grant.clone()]);
    assert!(active(NOW + 3600).await.unwrap().is_empty(), "expired");
    assert!(
        store
            .active_remembered_grants(&ag.did, "https://other.example.com", NOW + 30)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_remembered_grants(&op.id, NOW + 30, None, 100)
            .await
            .unwrap(),
        vec![grant.clone()]
    );
    assert_eq!(
        store
            .revoke_remembered_grant("op_other", &grant.id, NOW + 40)
            .await,
        Err(StoreError::NotFound)
    );
    let revoked = store
        .revoke_remembered_grant(&op.id, &grant.id, NOW + 40)
        .await
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(NOW + 40));
    assert_eq!(
        store
            .revoke_remembered_grant(&op.id, &grant.id, NOW + 41)
            .await,
        Err(StoreError::NotFound)
    );
    assert!(active(NOW + 50).await.unwrap().is_empty());
    assert!(
        store
            .list_remembered_grants(&op.id, NOW + 50, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn device_code_redeemed_exactly_once_across_pools(db: TestStore) {
    let first = db.open().await;
    let stores = [first.clone(), db.open().await, db.open().await];
    let (op, ag) = seeded(&*first).await;
    for round in 0..3 {
        let code = ["BCDFGHJK", "CDFGHJKL", "DFGHJKLM"][round];
        let a = device_authorization(&ag, code);
        first
            .insert_device_authorization(a.clone(), redemption_event())
            .await
            .unwrap();
        first
            .decide_device_authorization(
                &op.id,
                code,
                approve("cli_key", None),
                NOW + 1,
                redemption_event(),
            )
            .await
            .unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(50));
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let store = stores[i % 3].clone();
                let barrier = Arc::clone(&barrier);
                let hash = a.device_code_hash.clone();
                let did = ag.did.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    store
                        .redeem_device_code(&hash, &did, NOW + 2, redemption_event())
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

fn entry(list: u64, index: u64) -> Option<StatusEntry> {
    Some(StatusEntry { list, index })
}

/// Entries come in order from the newest list; a full list starts the next one (with the size given
/// then); a refused insert takes no entry; entries survive a reopen.
pub async fn status_entries_are_allocated_in_order_and_never_reused(db: TestStore) {
    let store = db.open().await;
    assert!(store.list_status_lists().await.unwrap().is_empty());
    let (op, first) = seeded(&*store).await;
    assert_eq!(first.status_entry, entry(1, 0));
    let mut entries = vec![first.status_entry];
    for seed in 3..7 {
        let agent = store
            .insert_agent(agent(&op, seed), LIST_SIZE)
            .await
            .unwrap();
        assert_eq!(
            store.get_agent(&agent.did).await.unwrap(),
            Some(agent.clone())
        );
        entries.push(agent.status_entry);
    }
    assert_eq!(
        entries,
        [
            entry(1, 0),
            entry(1, 1),
            entry(2, 0),
            entry(2, 1),
            entry(3, 0)
        ]
    );
    // A refused registration (the DID exists; the operator does not) takes no entry.
    assert!(matches!(
        store.insert_agent(agent(&op, 3), LIST_SIZE).await,
        Err(StoreError::Conflict(_))
    ));
    let mut orphan = agent(&op, 20);
    orphan.operator_id = "op_missing".into();
    assert_eq!(
        store.insert_agent(orphan, LIST_SIZE).await,
        Err(StoreError::NotFound)
    );
    let next = store.insert_agent(agent(&op, 7), LIST_SIZE).await.unwrap();
    assert_eq!(next.status_entry, entry(3, 1));
    // A new size applies from the next list on.
    let bigger = store.insert_agent(agent(&op, 8), 8).await.unwrap();
    assert_eq!(bigger.status_entry, entry(4, 0));
    let lists = store.list_status_lists().await.unwrap();
    let sizes: Vec<(u64, u64)> = lists.iter().map(|l| (l.list, l.size)).collect();
    assert_eq!(sizes, [(1, 2), (2, 2), (3, 2), (4, 8)]);
    assert_eq!(
        store.get_status_list(4).await.unwrap(),
        Some(StatusListInfo { list: 4, size: 8 })
    );
    assert_eq!(store.get_status_list(5).await.unwrap(), None);
    let store = db.open().await;
    assert_eq!(
        store
            .get_agent(&next.did)
            .await
            .unwrap()
            .unwrap()
            .status_entry,
        entry(3, 1)
    );
    let again = store.insert_agent(agent(&op, 9), 8).await.unwrap();
    assert_eq!(again.status_entry, entry(4, 1));
}

/// The entries a list must flag: its suspended and revoked agents, and those whose operator's proof
/// is not current at the time asked (verified until `exp` counts up to `exp` only).
pub async fn status_list_flagged_names_suspended_revoked_and_lapsed(db: TestStore) {
    let store = db.open().await;
    let op = operator("example.com", 1);
    store.insert_operator(op.clone()).await.unwrap();
    store
        .set_operator_verified(&op.id, NOW, NOW + 100)
        .await
        .unwrap();
    let mut agents = Vec::new();
    for seed in 2..6 {
        agents.push(store.insert_agent(agent(&op, seed), 8).await.unwrap());
    }
    let set = |status: AgentStatus| update(status, &["read"], NOW + 1, None);
    for (i, status) in [
        (0, AgentStatus::Active),
        (1, AgentStatus::Active),
        (2, AgentStatus::Active),
    ] {
        store
            .update_agent(&agents[i].did, AgentStatus::Pending, set(status))
            .await
            .unwrap();
    }
    store
        .update_agent(
            &agents[1].did,
            AgentStatus::Active,
            set(AgentStatus::Suspended),
        )
        .await
        .unwrap();
    store
        .update_agent(
            &agents[2].did,
            AgentStatus::Active,
            update(AgentStatus::Revoked, &["read"], NOW + 2, Some(NOW + 2)),
        )
        .await
        .unwrap();
    // Another operator, never verified, with an agent in the same list.
    let other = operator("other.com", 9);
    store.insert_operator(other.clone()).await.unwrap();
    let stranger = store.insert_agent(agent(&other, 10), 8).await.unwrap();

    let flagged = |now: u64| {
        let store = store.clone();
        async move {
            let mut found: Vec<(u64, AgentStatus, OperatorStatus)> = store
                .status_list_flagged(1, now)
                .await
                .unwrap()
                .into_iter()
                .map(|e| (e.index, e.agent_status, e.operator_status))
                .collect();
            found.sort_by_key(|f| f.0);
            found
        }
    };
    let index = |i: usize| agents[i].status_entry.unwrap().index;
    use AgentStatus as A;
    use OperatorStatus as O;
    assert_eq!(
        flagged(NOW + 99).await,
        [
            (index(1), A::Suspended, O::Verified),
            (index(2), A::Revoked, O::Verified),
            (
                stranger.status_entry.unwrap().index,
                A::Pending,
                O::Unverified
            ),
        ]
    );
    // At the proof's expiry the operator's active and pending agents are flagged too.
    assert_eq!(
        flagged(NOW + 100).await,
        [
            (index(0), A::Active, O::Verified),
            (index(1), A::Suspended, O::Verified),
            (index(2), A::Revoked, O::Verified),
            (index(3), A::Pending, O::Verified),
            (
                stranger.status_entry.unwrap().index,
                A::Pending,
                O::Unverified
            ),
        ]
    );
    assert!(store.status_list_flagged(2, NOW).await.unwrap().is_empty());
}

/// 40 registrations on three pools (three replicas) at once, lists of 3: every agent a distinct
/// entry, the lists filled in order with no gap.
pub async fn concurrent_registrations_across_pools_get_distinct_entries(db: TestStore) {
    let first = db.open().await;
    let stores = [first.clone(), db.open().await, db.open().await];
    let op = operator("example.com", 1);
    first.insert_operator(op.clone()).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(40));
    let tasks: Vec<_> = (0..40u8)
        .map(|i| {
            let store = stores[usize::from(i) % 3].clone();
            let barrier = Arc::clone(&barrier);
            let agent = agent(&op, 100 + i);
            tokio::spawn(async move {
                barrier.wait().await;
                store.insert_agent(agent, 3).await
            })
        })
        .collect();
    let mut entries: Vec<(u64, u64)> = futures_join(tasks)
        .await
        .into_iter()
        .map(|r| {
            let e = r.unwrap().status_entry.unwrap();
            (e.list, e.index)
        })
        .collect();
    entries.sort_unstable();
    let expected: Vec<(u64, u64)> = (0..40u64).map(|n| (n / 3 + 1, n % 3)).collect();
    assert_eq!(entries, expected);
    assert_eq!(first.list_status_lists().await.unwrap().len(), 14);
}

/// A database of schema v1 with agents: the migration gives them list 1's first entries, oldest
/// first, in a list of the default size, and the next registration continues after them.
pub async fn migration_gives_existing_agents_entries(db: TestStore) {
    let (v1, bump) = match &db {
        TestStore::Sqlite(_) => (
            include_str!("../../src/store/migrations/0001_initial.sql"),
            "PRAGMA user_version = 1;",
        ),
        TestStore::Postgres(_) => (
            include_str!("../../src/store/migrations/postgres/0001_initial.sql"),
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, \
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()); \
             INSERT INTO schema_version (version) VALUES (1);",
        ),
    };
    db.tamper(&format!("{v1}\n{bump}")).await;
    let op = operator("example.com", 1);
    let key = |seed: u8| db.blob(public_key(seed).0.as_bytes());
    db.tamper(&format!(
        "INSERT INTO operators (id, domain, public_key, thumbprint, txt_token, status, created_at) \
         VALUES ('{}', 'example.com', {}, 't', 'x', 'unverified', {NOW});",
        op.id,
        key(1)
    ))
    .await;
    for (seed, created) in [(3u8, NOW + 5), (2, NOW + 1), (4, NOW + 9)] {
        let agent = agent(&op, seed);
        db.tamper(&format!(
            "INSERT INTO agents (did, operator_id, public_key, thumbprint, status, created_at, \
             updated_at) VALUES ('{}', '{}', {}, 't', 'pending', {created}, {created});",
            agent.did,
            op.id,
            key(seed)
        ))
        .await;
    }
    let store = db.open().await;
    for (seed, index) in [(2u8, 0), (3, 1), (4, 2)] {
        let did = agent(&op, seed).did;
        assert_eq!(
            store.get_agent(&did).await.unwrap().unwrap().status_entry,
            entry(1, index),
            "agent {seed}"
        );
    }
    assert_eq!(
        store.list_status_lists().await.unwrap(),
        [StatusListInfo {
            list: 1,
            size: 1 << 20
        }]
    );
    let next = store.insert_agent(agent(&op, 5), LIST_SIZE).await.unwrap();
    assert_eq!(next.status_entry, entry(1, 3));
}

/// A subject's cutoff only ever rises; the cutoff of a token is the later of its agent's and its operator's.
pub async fn token_cutoffs_only_rise_and_the_later_one_counts(db: TestStore) {
    let store = db.open().await;
    let (op, ag) = seeded(&*store).await;
    assert_eq!(store.token_cutoff(&ag.did, &op.id).await.unwrap(), None);
    store
        .set_token_cutoff(ag.did.as_str(), NOW + 10)
        .await
        .unwrap();
    store
        .set_token_cutoff(ag.did.as_str(), NOW + 5)
        .await
        .unwrap();
    assert_eq!(
        store.token_cutoff(&ag.did, &op.id).await.unwrap(),
        Some(NOW + 10)
    );
    store.set_token_cutoff(&op.id, NOW + 20).await.unwrap();
    assert_eq!(
        store.token_cutoff(&ag.did, &op.id).await.unwrap(),
        Some(NOW + 20)
    );
    assert_eq!(
        store.token_cutoff(&ag.did, "op_other").await.unwrap(),
        Some(NOW + 10)
    );
}

fn console_link(op_id: &str, hash: &str, expires_at: u64) -> ConsoleLink {
    ConsoleLink {
        link_hash: hash.into(),
        operator_id: op_id.into(),
        created_at: NOW,
        expires_at,
    }
}

fn console_session(hash: &str, now: u64) -> ConsoleSession {
    ConsoleSession {
        session_hash: hash.into(),
        operator_id: String::new(),
        csrf_token: format!("csrf-{hash}"),
        method: "login_link".into(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + 8 * 3600,
    }
}

pub async fn console_link_opens_one_session_once_across_pools(db: TestStore) {
    let first = db.open().await;
    let stores = [first.clone(), db.open().await, db.open().await];
    let (op, _) = seeded(&*first).await;
    first
        .insert_console_link(console_link(&op.id, "link-1", NOW + 60))
        .await
        .unwrap();
    assert!(matches!(
        first
            .insert_console_link(console_link(&op.id, "link-1", NOW + 60))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let barrier = Arc::new(tokio::sync::Barrier::new(30));
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let store = stores[i % 3].clone();
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .redeem_console_link(
                        "link-1",
                        NOW + 1,
                        console_session(&format!("s-{i}"), NOW + 1),
                    )
                    .await
            })
        })
        .collect();
    let results = futures_join(tasks).await;
    let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert_eq!(
        won[0].operator_id, op.id,
        "the session is the link's operator's"
    );
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(StoreError::AlreadyUsed))),
        "{results:?}"
    );
    // Only the winner's session exists.
    let winner = won[0].session_hash.clone();
    for i in 0..30 {
        let hash = format!("s-{i}");
        let found = first
            .touch_console_session(&hash, NOW + 2, NOW)
            .await
            .unwrap();
        assert_eq!(found.is_some(), hash == winner, "{hash}");
    }
    // Expired and unknown links.
    first
        .insert_console_link(console_link(&op.id, "link-2", NOW + 60))
        .await
        .unwrap();
    assert_eq!(
        first
            .redeem_console_link("link-2", NOW + 60, console_session("late", NOW + 60))
            .await,
        Err(StoreError::Expired)
    );
    assert_eq!(
        first
            .redeem_console_link("nope", NOW, console_session("none", NOW))
            .await,
        Err(StoreError::NotFound)
    );
    // Purged with the other expired rows.
    first.purge_expired(NOW + 60).await.unwrap();
    assert_eq!(
        first
            .redeem_console_link("link-2", NOW + 10, console_session("after", NOW + 10))
            .await,
        Err(StoreError::NotFound)
    );
}

pub async fn console_sessions_touch_idle_expire_and_delete(db: TestStore) {
    let store = db.open().await;
    let (op, _) = seeded(&*store).await;
    store
        .insert_console_link(console_link(&op.id, "link", NOW + 60))
        .await
        .unwrap();
    let opened = store
        .redeem_console_link("link", NOW, console_session("sess", NOW))
        .await
        .unwrap();
    assert_eq!(opened.csrf_token, "csrf-sess");
    // Seen at NOW + 100: live while last seen after the idle bound.
    let seen = store
        .touch_console_session("sess", NOW + 100, NOW + 100 - 900)
        .await
        .unwrap()
        .expect("live");
    assert_eq!(seen.last_seen_at, NOW + 100);
    assert_eq!(seen.operator_id, op.id);
    // Idle: last seen at NOW + 100, the bound is after it.
    assert_eq!(
        store
            .touch_console_session("sess", NOW + 1100, NOW + 200)
            .await
            .unwrap(),
        None
    );
    // Still live within the idle bound, but never past the maximum age.
    assert!(
        store
            .touch_console_session("sess", NOW + 900, NOW)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .touch_console_session("sess", NOW + 8 * 3600, NOW)
            .await
            .unwrap(),
        None
    );
    assert!(store.delete_console_session("sess").await.unwrap());
    assert!(!store.delete_console_session("sess").await.unwrap());
    assert_eq!(
        store
            .touch_console_session("sess", NOW + 901, NOW)
            .await
            .unwrap(),
        None
    );
}

pub async fn operator_audit_lists_the_operator_and_its_agents(db: TestStore) {
    let store = db.open().await;
    let (op, ag) = seeded(&*store).await;
    let event = |actor: &str, action: &str| AuditEvent {
        at: NOW,
        actor: actor.into(),
        action: action.into(),
        subject: "s".into(),
        detail: String::new(),
    };
    store.append_audit(event(&op.id, "mine")).await.unwrap();
    store
        .append_audit(event(ag.did.as_str(), "my agent's"))
        .await
        .unwrap();
    store
        .append_audit(event("op_other", "not mine"))
        .await
        .unwrap();
    store.append_audit(event("server", "server")).await.unwrap();
    let listed = store.list_operator_audit(&op.id, 10).await.unwrap();
    let actions: Vec<&str> = listed.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["my agent's", "mine"]);
    assert_eq!(store.list_operator_audit(&op.id, 1).await.unwrap().len(), 1);
}

pub async fn passkeys_are_listed_per_operator_and_ceremonies_taken_once(db: TestStore) {
    let first = db.open().await;
    let stores = [first.clone(), db.open().await, db.open().await];
    let (op, _) = seeded(&*first).await;
    let passkey = |id: &str, at: u64| StoredPasskey {
        credential_id: id.into(),
        operator_id: op.id.clone(),
        passkey: format!("{{\"cred\":\"{id}\"}}"),
        created_at: at,
    };
    first
        .insert_passkey(passkey("cred-b", NOW + 1))
        .await
        .unwrap();
    first
        .insert_passkey(passkey("cred-a", NOW + 2))
        .await
        .unwrap();
    assert!(matches!(
        first.insert_passkey(passkey("cred-a", NOW + 3)).await,
        Err(StoreError::Conflict(_))
    ));
    let listed = first.list_passkeys(&op.id).await.unwrap();
    assert_eq!(
        listed,
        vec![passkey("cred-b", NOW + 1), passkey("cred-a", NOW + 2)]
    );
    assert!(first.list_passkeys("op_other").await.unwrap().is_empty());

    let ceremony = WebauthnCeremony {
        id: "cer-1".into(),
        operator_id: op.id.clone(),
        purpose: "approve".into(),
        state: "{}".into(),
        expires_at: NOW + 300,
    };
    first
        .insert_webauthn_ceremony(ceremony.clone())
        .await
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(30));
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let store = stores[i % 3].clone();
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                store.take_webauthn_ceremony("cer-1", NOW + 1).await
            })
        })
        .collect();
    let results = futures_join(tasks).await;
    let taken: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().unwrap().clone())
        .collect();
    assert_eq!(taken, vec![ceremony.clone()], "taken exactly once");
    // Expired: not taken, and purged.
    first
        .insert_webauthn_ceremony(WebauthnCeremony {
            id: "cer-2".into(),
            ..ceremony
        })
        .await
        .unwrap();
    assert_eq!(
        first
            .take_webauthn_ceremony("cer-2", NOW + 300)
            .await
            .unwrap(),
        None
    );
    first.purge_expired(NOW + 300).await.unwrap();
    assert_eq!(
        first
            .take_webauthn_ceremony("cer-2", NOW + 1)
            .await
            .unwrap(),
        None,
        "purged"
    );
}
