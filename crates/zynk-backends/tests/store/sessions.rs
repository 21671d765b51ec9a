//! `SessionStore`: lookups, refresh-token rotation with replay detection, logout, activity and
//! the purge of expired sessions.

use crate::fixtures::*;
use crate::harness::TestDb;
use chrono::{DateTime, Utc};
use zynk_backends::model::*;

conformance!(
    sessions_are_listed_newest_first_and_found_by_access_hash,
    a_current_refresh_token_rotates_the_session,
    replaying_a_rotated_refresh_token_revokes_the_session,
    an_expired_refresh_token_is_refused_and_an_unknown_one_is_unknown,
    a_replay_after_logout_is_unknown,
    a_refresh_token_presented_twice_at_once_rotates_once_and_revokes,
    deleting_a_session_returns_its_access_hash_once,
    touching_a_session_records_activity,
    expired_sessions_are_purged,
);

/// Logs `account`'s first device in again at `now` with a session of the given refresh lifetime.
async fn login_again(
    db: &TestDb,
    account: &Account,
    now: DateTime<Utc>,
    refresh_secs: i64,
) -> NewSession {
    let session = NewSession {
        id: new_session_id(),
        tokens: SessionTokens {
            refresh_expires_at: plus(now, refresh_secs),
            ..tokens(now)
        },
    };
    let device = NewDevice {
        fingerprint: account.fingerprint.clone(),
        public_key: db.list_devices(account.user_id).await.unwrap()[0]
            .public_key
            .clone(),
        ..new_device("again")
    };
    db.login_device(account.user_id, &device, &session, now)
        .await
        .unwrap();
    session
}

async fn sessions_are_listed_newest_first_and_found_by_access_hash(db: &TestDb) {
    let t0 = now();
    let alice = register_at(db, "alice", t0).await;
    let bob = register_at(db, "bob", t0).await;
    let s1 = login_again(db, &alice, plus(t0, 1), 86_400).await;
    let s2 = login_again(db, &alice, plus(t0, 2), 86_400).await;

    let listed = db.list_sessions(alice.user_id).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![s2.id, s1.id, alice.session_id]
    );
    for session in &listed {
        assert!(db.session_exists(session.id).await.unwrap());
        assert_eq!(
            db.session_by_access_hash(&session.access_hash)
                .await
                .unwrap()
                .as_ref(),
            Some(session)
        );
    }
    assert_eq!(listed[0].created_at, plus(t0, 2));
    assert_eq!(listed[0].refresh_expires_at, s2.tokens.refresh_expires_at);
    assert!(!db.session_exists(new_session_id()).await.unwrap());
    assert_eq!(
        db.session_by_access_hash(&random_hex64()).await.unwrap(),
        None
    );
    // A refresh hash is not an access hash.
    assert_eq!(
        db.session_by_access_hash(&alice.tokens.refresh_hash)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        db.list_sessions(bob.user_id)
            .await
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        vec![bob.session_id]
    );
}

async fn a_current_refresh_token_rotates_the_session(db: &TestDb) {
    let t0 = now();
    let alice = register_at(db, "alice", t0).await;
    let t1 = plus(t0, 60);
    let next = tokens(t1);
    let outcome = db
        .rotate_refresh(&alice.tokens.refresh_hash, &next, t1)
        .await
        .unwrap();
    let expected = SessionRecord {
        id: alice.session_id,
        user_id: alice.user_id,
        device_id: alice.device_id,
        access_hash: next.access_hash.clone(),
        expires_at: next.expires_at,
        refresh_expires_at: next.refresh_expires_at,
        created_at: t0,
        last_used_at: t1,
    };
    assert_eq!(
        outcome,
        RefreshOutcome::Rotated {
            session: expected.clone(),
            old_access_hash: alice.tokens.access_hash.clone(),
        }
    );
    assert_eq!(
        db.session_by_access_hash(&alice.tokens.access_hash)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        db.session_by_access_hash(&next.access_hash).await.unwrap(),
        Some(expected)
    );
    // The new refresh token is the current one now.
    let t2 = plus(t0, 120);
    let after = tokens(t2);
    match db
        .rotate_refresh(&next.refresh_hash, &after, t2)
        .await
        .unwrap()
    {
        RefreshOutcome::Rotated {
            session,
            old_access_hash,
        } => {
            assert_eq!(old_access_hash, next.access_hash);
            assert_eq!(session.access_hash, after.access_hash);
            assert_eq!(session.id, alice.session_id);
        }
        other => panic!("expected a rotation, got {other:?}"),
    }
}

async fn replaying_a_rotated_refresh_token_revokes_the_session(db: &TestDb) {
    let t0 = now();
    let alice = register_at(db, "alice", t0).await;
    let other = login_again(db, &alice, t0, 86_400).await;
    let first = tokens(t0);
    let second = tokens(t0);
    db.rotate_refresh(&alice.tokens.refresh_hash, &first, plus(t0, 1))
        .await
        .unwrap();
    db.rotate_refresh(&first.refresh_hash, &second, plus(t0, 2))
        .await
        .unwrap();

    // The original token, rotated away twice, comes back: the whole session goes.
    let outcome = db
        .rotate_refresh(&alice.tokens.refresh_hash, &tokens(t0), plus(t0, 3))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        RefreshOutcome::Reused {
            user_id: alice.user_id,
            session_id: alice.session_id,
            access_hash: second.access_hash.clone(),
        }
    );
    assert!(!db.session_exists(alice.session_id).await.unwrap());
    assert_eq!(
        db.session_by_access_hash(&second.access_hash)
            .await
            .unwrap(),
        None
    );
    // The thief's (or owner's) current token is worthless too.
    assert_eq!(
        db.rotate_refresh(&second.refresh_hash, &tokens(t0), plus(t0, 4))
            .await
            .unwrap(),
        RefreshOutcome::Unknown
    );
    // The account's other sessions are untouched.
    assert!(db.session_exists(other.id).await.unwrap());
    assert_eq!(db.list_sessions(alice.user_id).await.unwrap().len(), 1);
}

async fn an_expired_refresh_token_is_refused_and_an_unknown_one_is_unknown(db: &TestDb) {
    let t0 = now();
    let alice = register_at(db, "alice", t0).await;
    let short = login_again(db, &alice, t0, 10).await;
    assert_eq!(
        db.rotate_refresh(&short.tokens.refresh_hash, &tokens(t0), plus(t0, 11))
            .await
            .unwrap(),
        RefreshOutcome::Expired
    );
    // Nothing changed: the session keeps its tokens.
    let stored = db
        .session_by_access_hash(&short.tokens.access_hash)
        .await
        .unwrap()
        .expect("still there");
    assert_eq!(stored.id, short.id);
    assert_eq!(stored.last_used_at, t0);
    assert_eq!(
        db.rotate_refresh(&random_hex64(), &tokens(t0), t0)
            .await
            .unwrap(),
        RefreshOutcome::Unknown
    );
    // An access hash is not a refresh hash.
    assert_eq!(
        db.rotate_refresh(&alice.tokens.access_hash, &tokens(t0), t0)
            .await
            .unwrap(),
        RefreshOutcome::Unknown
    );
}

async fn a_replay_after_logout_is_unknown(db: &TestDb) {
    let t0 = now();
    let alice = register_at(db, "alice", t0).await;
    let next = tokens(t0);
    db.rotate_refresh(&alice.tokens.refresh_hash, &next, plus(t0, 1))
        .await
        .unwrap();
    assert_eq!(
        db.delete_session(alice.user_id, alice.session_id)
            .await
            .unwrap(),
        Some(next.access_hash.clone())
    );
    assert_eq!(
        db.rotate_refresh(&alice.tokens.refresh_hash, &tokens(t0), plus(t0, 2))
            .await
            .unwrap(),
        RefreshOutcome::Unknown
    );
}

async fn a_refresh_token_presented_twice_at_once_rotates_once_and_revokes(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let store = db.shared();
            let refresh = alice.tokens.refresh_hash.clone();
            tokio::spawn(async move {
                store
                    .rotate_refresh(&refresh, &tokens(t), plus(t, 1))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut rotated = 0;
    let mut reused = 0;
    for task in tasks {
        match task.await.unwrap() {
            RefreshOutcome::Rotated { .. } => rotated += 1,
            RefreshOutcome::Reused { session_id, .. } => {
                assert_eq!(session_id, alice.session_id);
                reused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // One presentation rotates; the other is a replay of a rotated token and ends the session.
    assert_eq!((rotated, reused), (1, 1));
    assert!(!db.session_exists(alice.session_id).await.unwrap());
}

async fn deleting_a_session_returns_its_access_hash_once(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    assert_eq!(
        db.delete_session(bob.user_id, alice.session_id)
            .await
            .unwrap(),
        None,
        "not bob's session"
    );
    assert!(db.session_exists(alice.session_id).await.unwrap());
    assert_eq!(
        db.delete_session(alice.user_id, alice.session_id)
            .await
            .unwrap(),
        Some(alice.tokens.access_hash.clone())
    );
    assert!(!db.session_exists(alice.session_id).await.unwrap());
    assert_eq!(
        db.delete_session(alice.user_id, alice.session_id)
            .await
            .unwrap(),
        None
    );
    assert!(db.session_exists(bob.session_id).await.unwrap());
}

async fn touching_a_session_records_activity(db: &TestDb) {
    let t0 = now();
    let alice = register_at(db, "alice", t0).await;
    let bob = register_at(db, "bob", t0).await;
    let t1 = plus(t0, 90);
    db.touch_session(alice.session_id, alice.device_id, alice.user_id, t1)
        .await
        .unwrap();
    assert_eq!(
        db.list_sessions(alice.user_id).await.unwrap()[0].last_used_at,
        t1
    );
    assert_eq!(
        db.list_devices(alice.user_id).await.unwrap()[0].last_active_at,
        Some(t1)
    );
    assert_eq!(
        db.get_profile(alice.user_id)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        Some(t1)
    );
    // Nobody else's activity moves.
    assert_eq!(
        db.list_sessions(bob.user_id).await.unwrap()[0].last_used_at,
        t0
    );
    assert_eq!(
        db.get_profile(bob.user_id)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        None
    );
}

async fn expired_sessions_are_purged(db: &TestDb) {
    let t0 = now();
    let alice = register_at(db, "alice", t0).await;
    let soon = login_again(db, &alice, t0, 10).await;
    let later = login_again(db, &alice, t0, 20).await;
    assert_eq!(db.purge_expired_sessions(plus(t0, 15)).await.unwrap(), 1);
    assert!(!db.session_exists(soon.id).await.unwrap());
    assert!(db.session_exists(later.id).await.unwrap());
    assert!(db.session_exists(alice.session_id).await.unwrap());
    assert_eq!(db.purge_expired_sessions(plus(t0, 15)).await.unwrap(), 0);
    assert_eq!(db.purge_expired_sessions(plus(t0, 25)).await.unwrap(), 1);
    assert!(!db.session_exists(later.id).await.unwrap());
    assert_eq!(
        db.list_sessions(alice.user_id)
            .await
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        vec![alice.session_id]
    );
}
