//! `DeviceStore`: logging devices in, refreshing a known fingerprint, deleting devices with their
//! sessions, push tokens.

use crate::fixtures::*;
use crate::harness::TestDb;
use zynk_backends::StoreError;
use zynk_backends::model::*;

conformance!(
    a_new_device_logs_in_with_a_session_of_its_own,
    a_known_fingerprint_refreshes_the_device_and_a_new_key_voids_its_keys,
    another_accounts_fingerprint_is_refused,
    deleting_a_device_revokes_only_its_sessions,
    push_tokens_are_set_cleared_and_listed,
);

async fn a_new_device_logs_in_with_a_session_of_its_own(db: &TestDb) {
    let t0 = now();
    let alice = register_at(db, "alice", t0).await;
    let t1 = plus(t0, 1);
    let device = NewDevice {
        platform: "ios".into(),
        ..new_device("phone")
    };
    let session = new_session(t1);
    let id = db
        .login_device(alice.user_id, &device, &session, t1)
        .await
        .unwrap();
    assert_eq!(id, device.id);

    let devices = db.list_devices(alice.user_id).await.unwrap();
    assert_eq!(
        devices.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![alice.device_id, device.id],
        "oldest first"
    );
    assert_eq!(
        devices[1],
        DeviceRecord {
            id: device.id,
            user_id: alice.user_id,
            name: Some("phone".into()),
            fingerprint: device.fingerprint.clone(),
            public_key: device.public_key.clone(),
            push_token: None,
            platform: "ios".into(),
            last_active_at: Some(t1),
            created_at: t1,
        }
    );
    let stored = db
        .session_by_access_hash(&session.tokens.access_hash)
        .await
        .unwrap()
        .expect("the new session");
    assert_eq!(stored.id, session.id);
    assert_eq!(stored.device_id, device.id);
    assert_eq!(stored.user_id, alice.user_id);
    assert_eq!(
        db.list_sessions(alice.user_id)
            .await
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        vec![session.id, alice.session_id],
        "newest first"
    );
}

async fn a_known_fingerprint_refreshes_the_device_and_a_new_key_voids_its_keys(db: &TestDb) {
    let t0 = now();
    let alice = register_at(db, "alice", t0).await;
    let bundle = serde_json::json!({"ed25519": "k"});
    db.upload_keys(
        alice.device_id,
        Some(&bundle),
        &[key("a"), key("b")],
        Some(&key("f")),
        100,
        t0,
    )
    .await
    .unwrap();
    let public_key = db.list_devices(alice.user_id).await.unwrap()[0]
        .public_key
        .clone();

    // Same fingerprint and key: the device is renamed, its keys stay, a session is added.
    let t1 = plus(t0, 10);
    let same = NewDevice {
        fingerprint: alice.fingerprint.clone(),
        public_key: public_key.clone(),
        platform: "android".into(),
        ..new_device("renamed")
    };
    let session = new_session(t1);
    let id = db
        .login_device(alice.user_id, &same, &session, t1)
        .await
        .unwrap();
    assert_eq!(id, alice.device_id, "the known device, not the proposed id");
    let devices = db.list_devices(alice.user_id).await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].name.as_deref(), Some("renamed"));
    assert_eq!(devices[0].platform, "android");
    assert_eq!(devices[0].last_active_at, Some(t1));
    assert_eq!(devices[0].created_at, t0);
    assert_eq!(
        db.key_stock(alice.device_id).await.unwrap(),
        KeyStock {
            one_time_keys: 2,
            fallback_key: true,
            device_keys: true
        }
    );
    let sessions = db.list_sessions(alice.user_id).await.unwrap();
    assert_eq!(sessions.len(), 2);
    assert!(sessions.iter().all(|s| s.device_id == alice.device_id));

    // A reinstalled device with a new key: what it published under the old key is void.
    let t2 = plus(t0, 20);
    let reinstalled = NewDevice {
        fingerprint: alice.fingerprint.clone(),
        ..new_device("reinstalled")
    };
    let id = db
        .login_device(alice.user_id, &reinstalled, &new_session(t2), t2)
        .await
        .unwrap();
    assert_eq!(id, alice.device_id);
    assert_eq!(
        db.list_devices(alice.user_id).await.unwrap()[0].public_key,
        reinstalled.public_key
    );
    assert_eq!(
        db.key_stock(alice.device_id).await.unwrap(),
        KeyStock {
            one_time_keys: 0,
            fallback_key: false,
            device_keys: false
        }
    );
    assert_eq!(db.list_sessions(alice.user_id).await.unwrap().len(), 3);
}

async fn another_accounts_fingerprint_is_refused(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let stolen = NewDevice {
        fingerprint: alice.fingerprint.clone(),
        ..new_device("bob's copy")
    };
    let session = new_session(t);
    let refused = db.login_device(bob.user_id, &stolen, &session, t).await;
    assert!(
        matches!(refused, Err(StoreError::FingerprintTaken)),
        "{refused:?}"
    );
    assert_eq!(
        db.session_by_access_hash(&session.tokens.access_hash)
            .await
            .unwrap(),
        None
    );
    assert_eq!(db.list_sessions(bob.user_id).await.unwrap().len(), 1);
    assert_eq!(db.list_devices(bob.user_id).await.unwrap().len(), 1);
    let devices = db.list_devices(alice.user_id).await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].name.as_deref(), Some("alice's first device"));
}

async fn deleting_a_device_revokes_only_its_sessions(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let phone = new_device("phone");
    let first = new_session(t);
    let second = new_session(t);
    for session in [&first, &second] {
        db.login_device(alice.user_id, &phone, session, t)
            .await
            .unwrap();
    }
    db.upload_keys(phone.id, None, &[key("p1")], None, 100, t)
        .await
        .unwrap();
    let payload = NewToDevice {
        recipient_user_id: alice.user_id,
        recipient_device_id: phone.id,
        content: serde_json::json!({"k": 1}),
    };
    db.send_to_device(bob.user_id, bob.device_id, "txn", "m.test", &[payload], t)
        .await
        .unwrap();

    // Someone else's device, or an unknown one, is not found and nothing is deleted.
    assert_eq!(db.delete_device(bob.user_id, phone.id).await.unwrap(), None);
    assert_eq!(
        db.delete_device(alice.user_id, new_device_id())
            .await
            .unwrap(),
        None
    );
    assert_eq!(db.list_devices(alice.user_id).await.unwrap().len(), 2);

    let mut revoked = db
        .delete_device(alice.user_id, phone.id)
        .await
        .unwrap()
        .expect("alice's phone");
    revoked.sort();
    assert_eq!(
        revoked,
        sorted(&[
            first.tokens.access_hash.clone(),
            second.tokens.access_hash.clone()
        ])
    );
    assert_eq!(
        db.list_devices(alice.user_id)
            .await
            .unwrap()
            .iter()
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        vec![alice.device_id]
    );
    assert!(db.session_exists(alice.session_id).await.unwrap());
    assert!(!db.session_exists(first.id).await.unwrap());
    assert!(!db.session_exists(second.id).await.unwrap());
    assert_eq!(db.key_stock(phone.id).await.unwrap().one_time_keys, 0);
    assert!(
        db.to_device_inbox(phone.id, 0, 10)
            .await
            .unwrap()
            .0
            .is_empty()
    );
    assert_eq!(
        db.delete_device(alice.user_id, phone.id).await.unwrap(),
        None
    );

    // A device whose sessions are all gone is still found, with nothing to revoke.
    db.delete_session(alice.user_id, alice.session_id)
        .await
        .unwrap();
    assert_eq!(
        db.delete_device(alice.user_id, alice.device_id)
            .await
            .unwrap(),
        Some(vec![])
    );
    assert_eq!(db.list_devices(bob.user_id).await.unwrap().len(), 1);
}

async fn push_tokens_are_set_cleared_and_listed(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let carol = register_at(db, "carol", t).await;
    let (alice_phone, _) = add_device(db, &alice, "phone", plus(t, 1)).await;

    assert!(
        db.set_push_token(alice.user_id, alice.device_id, Some("tok-a"))
            .await
            .unwrap()
    );
    assert!(
        db.set_push_token(bob.user_id, bob.device_id, Some("tok-b"))
            .await
            .unwrap()
    );
    // Not the caller's device, or no such device: refused, nothing changed.
    assert!(
        !db.set_push_token(bob.user_id, alice.device_id, Some("evil"))
            .await
            .unwrap()
    );
    assert!(
        !db.set_push_token(alice.user_id, new_device_id(), Some("x"))
            .await
            .unwrap()
    );

    let mut targets = db
        .push_targets(&[alice.user_id, bob.user_id, carol.user_id])
        .await
        .unwrap();
    targets.sort();
    assert_eq!(
        targets,
        sorted(&[
            (alice.user_id, alice.device_id, "tok-a".to_owned()),
            (bob.user_id, bob.device_id, "tok-b".to_owned()),
        ])
    );
    assert!(db.push_targets(&[]).await.unwrap().is_empty());
    assert!(
        db.push_targets(&[carol.user_id, new_user_id()])
            .await
            .unwrap()
            .is_empty()
    );
    let devices = db.list_devices(alice.user_id).await.unwrap();
    assert_eq!(devices[0].push_token.as_deref(), Some("tok-a"));
    assert_eq!(devices[1].id, alice_phone);
    assert_eq!(devices[1].push_token, None);

    assert!(
        db.set_push_token(alice.user_id, alice.device_id, None)
            .await
            .unwrap()
    );
    assert!(db.push_targets(&[alice.user_id]).await.unwrap().is_empty());
    assert_eq!(
        db.list_devices(alice.user_id).await.unwrap()[0].push_token,
        None
    );
}
