//! `AccountStore`: registration, lookups, password hashes, profiles, privacy and deleting an
//! account with everything that belongs to it.

use crate::fixtures::*;
use crate::harness::{Arg, TestDb};
use zynk_backends::StoreError;
use zynk_backends::model::*;

conformance!(
    registration_stores_user_profile_device_session_and_identity,
    usernames_are_unique_case_insensitively,
    a_taken_fingerprint_refuses_the_whole_registration,
    password_hash_is_replaced,
    profile_changes_set_keep_and_clear_fields,
    privacy_settings_are_replaced,
    deleting_a_user_removes_everything_it_owns_and_returns_its_token_hashes,
    a_password_change_swaps_hash_and_backup_and_ends_other_sessions,
);

async fn registration_stores_user_profile_device_session_and_identity(db: &TestDb) {
    let t = now();
    let new = new_account("Alice_1", t);
    db.create_account(&new, t).await.unwrap();
    let user_id = new.user_id;

    let user = db.get_user(user_id).await.unwrap().expect("the user");
    assert_eq!(
        user,
        UserRecord {
            id: user_id,
            username: "Alice_1".into(),
            password_hash: new.password_hash.clone(),
            public_key: new.public_key.clone(),
            created_at: t,
            updated_at: t,
        }
    );
    for spelling in ["Alice_1", "alice_1", "ALICE_1"] {
        assert_eq!(
            db.find_user_by_username(spelling).await.unwrap().as_ref(),
            Some(&user),
            "{spelling}"
        );
    }
    assert_eq!(db.find_user_by_username("alice_2").await.unwrap(), None);
    assert_eq!(db.get_user(new_user_id()).await.unwrap(), None);

    assert_eq!(
        db.get_profile(user_id).await.unwrap(),
        Some(ProfileRecord {
            user_id,
            username: "Alice_1".into(),
            public_key: new.public_key.clone(),
            display_name: None,
            avatar_url: None,
            bio: None,
            last_seen_at: None,
            privacy: Privacy::default(),
            updated_at: t,
        })
    );
    assert_eq!(db.get_profile(new_user_id()).await.unwrap(), None);

    assert_eq!(
        db.list_devices(user_id).await.unwrap(),
        vec![DeviceRecord {
            id: new.device.id,
            user_id,
            name: Some(new.device.name.clone()),
            fingerprint: new.device.fingerprint.clone(),
            public_key: new.device.public_key.clone(),
            push_token: None,
            platform: "web".into(),
            last_active_at: Some(t),
            created_at: t,
        }]
    );
    let session = SessionRecord {
        id: new.session.id,
        user_id,
        device_id: new.device.id,
        access_hash: new.session.tokens.access_hash.clone(),
        expires_at: new.session.tokens.expires_at,
        refresh_expires_at: new.session.tokens.refresh_expires_at,
        created_at: t,
        last_used_at: t,
    };
    assert_eq!(
        db.session_by_access_hash(&new.session.tokens.access_hash)
            .await
            .unwrap(),
        Some(session.clone())
    );
    assert_eq!(db.list_sessions(user_id).await.unwrap(), vec![session]);

    // The identity waits, unverified, for a block to hold its registration.
    assert_eq!(
        db.identity_by_user(user_id).await.unwrap(),
        Some(IdentityRecord {
            did: new.identity.did.clone(),
            user_id,
            public_key: new.public_key.clone(),
            trust_score: 50,
            is_verified: false,
            transaction_hash: None,
            block_number: None,
            account_created_at: t,
        })
    );
    assert!(pending_tx_recorded(db, &new.identity.transaction.hash().to_string()).await);
}

async fn usernames_are_unique_case_insensitively(db: &TestDb) {
    let carol = register(db, "Carol").await;
    let t = now();
    let again = new_account("cAROL", t);
    let refused = db.create_account(&again, t).await;
    assert!(
        matches!(refused, Err(StoreError::UsernameTaken)),
        "{refused:?}"
    );
    // Nothing of the refused registration stays: the same ids, fingerprint, tokens and ledger
    // transaction register another name.
    assert_eq!(db.get_user(again.user_id).await.unwrap(), None);
    assert_eq!(
        db.session_by_access_hash(&again.session.tokens.access_hash)
            .await
            .unwrap(),
        None
    );
    assert!(!pending_tx_recorded(db, &again.identity.transaction.hash().to_string()).await);
    let other = NewAccount {
        username: "carol2".into(),
        ..again
    };
    db.create_account(&other, t).await.unwrap();
    assert_eq!(
        db.find_user_by_username("CAROL").await.unwrap().unwrap().id,
        carol.user_id
    );
    assert_eq!(
        db.find_user_by_username("Carol2")
            .await
            .unwrap()
            .unwrap()
            .id,
        other.user_id
    );
}

async fn a_taken_fingerprint_refuses_the_whole_registration(db: &TestDb) {
    let alice = register(db, "alice").await;
    let t = now();
    let mut bob = new_account("bob", t);
    bob.device.fingerprint = alice.fingerprint.clone();
    let refused = db.create_account(&bob, t).await;
    assert!(
        matches!(refused, Err(StoreError::FingerprintTaken)),
        "{refused:?}"
    );
    assert_eq!(db.find_user_by_username("bob").await.unwrap(), None);
    assert_eq!(db.identity_by_user(bob.user_id).await.unwrap(), None);
    assert!(!pending_tx_recorded(db, &bob.identity.transaction.hash().to_string()).await);
    // Alice's device is untouched.
    let devices = db.list_devices(alice.user_id).await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].id, alice.device_id);
}

async fn password_hash_is_replaced(db: &TestDb) {
    let t0 = now();
    let alice = register_at(db, "alice", t0).await;
    let t1 = plus(t0, 60);
    db.set_password_hash(alice.user_id, "$argon2id$v=19$upgraded", t1)
        .await
        .unwrap();
    let user = db.get_user(alice.user_id).await.unwrap().unwrap();
    assert_eq!(user.password_hash, "$argon2id$v=19$upgraded");
    assert_eq!(user.created_at, t0);
    assert_eq!(user.updated_at, t1);
}

async fn profile_changes_set_keep_and_clear_fields(db: &TestDb) {
    let t0 = now();
    let alice = register_at(db, "alice", t0).await;
    let set_all = ProfileChanges {
        display_name: Some(Some("Alice".into())),
        avatar_url: Some(Some("https://example.org/a.png".into())),
        bio: Some(Some("hello".into())),
    };
    let t1 = plus(t0, 10);
    let profile = db
        .update_profile(alice.user_id, &set_all, t1)
        .await
        .unwrap()
        .expect("the profile");
    assert_eq!(profile.display_name.as_deref(), Some("Alice"));
    assert_eq!(
        profile.avatar_url.as_deref(),
        Some("https://example.org/a.png")
    );
    assert_eq!(profile.bio.as_deref(), Some("hello"));
    assert_eq!(profile.updated_at, t1);
    assert_eq!(profile.username, "alice");
    assert_eq!(
        db.get_profile(alice.user_id).await.unwrap(),
        Some(profile.clone())
    );

    // `None` keeps a field, `Some(None)` clears it.
    let mixed = ProfileChanges {
        display_name: None,
        avatar_url: Some(None),
        bio: Some(Some("bye".into())),
    };
    let t2 = plus(t0, 20);
    let profile = db
        .update_profile(alice.user_id, &mixed, t2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(profile.display_name.as_deref(), Some("Alice"));
    assert_eq!(profile.avatar_url, None);
    assert_eq!(profile.bio.as_deref(), Some("bye"));
    assert_eq!(profile.updated_at, t2);

    // No change at all keeps every field.
    let t3 = plus(t0, 30);
    let unchanged = db
        .update_profile(alice.user_id, &ProfileChanges::default(), t3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        unchanged,
        ProfileRecord {
            updated_at: t3,
            ..profile
        }
    );

    assert_eq!(
        db.update_profile(new_user_id(), &set_all, t3)
            .await
            .unwrap(),
        None
    );
}

async fn privacy_settings_are_replaced(db: &TestDb) {
    let t0 = now();
    let alice = register_at(db, "alice", t0).await;
    db.update_profile(
        alice.user_id,
        &ProfileChanges {
            display_name: Some(Some("Alice".into())),
            ..ProfileChanges::default()
        },
        t0,
    )
    .await
    .unwrap();
    let privacy = Privacy {
        show_online_status: false,
        show_last_seen: true,
        allow_read_receipts: false,
        allow_proximity_discovery: false,
        who_can_message: zynk_proto::WhoCanMessage::Contacts,
    };
    let t1 = plus(t0, 5);
    let profile = db
        .set_privacy(alice.user_id, &privacy, t1)
        .await
        .unwrap()
        .expect("the profile");
    assert_eq!(profile.privacy, privacy);
    assert_eq!(profile.updated_at, t1);
    assert_eq!(profile.display_name.as_deref(), Some("Alice"));
    assert_eq!(db.get_profile(alice.user_id).await.unwrap(), Some(profile));
    assert_eq!(
        db.set_privacy(new_user_id(), &privacy, t1).await.unwrap(),
        None
    );
}

async fn deleting_a_user_removes_everything_it_owns_and_returns_its_token_hashes(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    // Three sessions on two devices: the first device logs in again, a second device logs in.
    let again = new_session(t);
    let first_device = NewDevice {
        fingerprint: alice.fingerprint.clone(),
        ..new_device("alice again")
    };
    db.login_device(alice.user_id, &first_device, &again, t)
        .await
        .unwrap();
    let (second_device, second) = add_device(db, &alice, "alice's phone", t).await;
    let mut expected = vec![
        alice.tokens.access_hash.clone(),
        again.tokens.access_hash.clone(),
        second.tokens.access_hash.clone(),
    ];
    expected.sort();

    // Things that belong to alice, and things of others that point at her.
    db.put_identity_backup(alice.user_id, b"sealed identity", t)
        .await
        .unwrap();
    db.upload_keys(alice.device_id, None, &[key("a1")], Some(&key("f")), 100, t)
        .await
        .unwrap();
    let conversation = one_to_one(db, &alice, &bob).await;
    let from_alice = send(db, text(conversation, &alice), t).await;
    let from_bob = send(db, text(conversation, &bob), t).await;
    let to_bob = NewToDevice {
        recipient_user_id: bob.user_id,
        recipient_device_id: bob.device_id,
        content: serde_json::json!({"room_key": 1}),
    };
    db.send_to_device(
        alice.user_id,
        alice.device_id,
        "t1",
        "m.room_key",
        &[to_bob],
        t,
    )
    .await
    .unwrap();
    let vouch = TrustChange {
        did: bob.did.clone(),
        old_score: 50,
        new_score: 53,
        reason: "verified_by_community",
        changed_by: Some(alice.user_id),
        history_id: new_uuid(),
        evidence: TrustEvidence::Vouch {
            voucher: alice.user_id,
        },
        tx: Some(pending_tx("trust_score_update", Some(bob.user_id))),
    };
    assert_eq!(
        db.apply_trust_change(&vouch, t).await.unwrap(),
        TrustOutcome::Applied
    );
    let credential = CredentialRecord {
        id: new_uuid(),
        user_id: alice.user_id,
        subject_did: alice.did.clone(),
        issuer_did: "did:key:issuer".into(),
        credential_type: "ZynkTrustCredential".into(),
        transaction_hash: tx_hash(),
        issued_at: t,
        expires_at: plus(t, 86_400),
    };
    db.record_credential(
        &credential,
        &pending_tx("credential_issuance", Some(alice.user_id)),
        t,
    )
    .await
    .unwrap();

    let mut revoked = db
        .delete_user(alice.user_id)
        .await
        .unwrap()
        .expect("alice existed");
    revoked.sort();
    assert_eq!(revoked, expected);

    assert_eq!(db.get_user(alice.user_id).await.unwrap(), None);
    assert_eq!(db.find_user_by_username("alice").await.unwrap(), None);
    assert_eq!(db.get_profile(alice.user_id).await.unwrap(), None);
    assert_eq!(db.identity_by_user(alice.user_id).await.unwrap(), None);
    assert_eq!(db.identity_by_did(&alice.did).await.unwrap(), None);
    assert!(db.list_devices(alice.user_id).await.unwrap().is_empty());
    assert!(db.list_sessions(alice.user_id).await.unwrap().is_empty());
    for hash in &expected {
        assert_eq!(db.session_by_access_hash(hash).await.unwrap(), None);
    }
    assert!(!db.session_exists(alice.session_id).await.unwrap());
    assert_eq!(db.get_identity_backup(alice.user_id).await.unwrap(), None);
    for device in [alice.device_id, second_device] {
        assert_eq!(
            db.key_stock(device).await.unwrap(),
            KeyStock {
                one_time_keys: 0,
                fallback_key: false,
                device_keys: false
            }
        );
    }
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM credentials WHERE id = $1",
            &[Arg::id(credential.id)]
        )
        .await,
        0
    );

    // Bob keeps the conversation, his own message and the payload alice sent him (now from
    // nobody), and his trust history (now changed by nobody).
    let seen_by_bob = db
        .get_conversation(conversation, bob.user_id)
        .await
        .unwrap()
        .expect("bob still participates");
    assert_eq!(seen_by_bob.participants.len(), 1);
    assert_eq!(
        db.participants(conversation).await.unwrap(),
        vec![bob.user_id]
    );
    let (history, _) = db
        .history(conversation, HistoryRange::After(0), 10, now())
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![from_bob.id]
    );
    assert_eq!(db.get_message(from_alice.id, now()).await.unwrap(), None);
    assert_eq!(db.messages_sent(alice.user_id, 10).await.unwrap(), 0);
    let (inbox, _) = db.to_device_inbox(bob.device_id, 0, 10).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].sender_user_id, None);
    assert_eq!(inbox[0].sender_device_id, None);
    let bob_history = db.trust_history(&bob.did, 10).await.unwrap();
    assert_eq!(bob_history.len(), 1);
    assert_eq!(bob_history[0].changed_by, None);

    // Deleting again finds no one; the name is free again.
    assert_eq!(db.delete_user(alice.user_id).await.unwrap(), None);
    register(db, "Alice").await;

    // A conversation left without any participant goes with its last one.
    assert!(db.delete_user(bob.user_id).await.unwrap().is_some());
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM conversations WHERE id = $1",
            &[Arg::id(conversation)]
        )
        .await,
        0
    );
}

async fn a_password_change_swaps_hash_and_backup_and_ends_other_sessions(db: &TestDb) {
    let t0 = now();
    let alice = register_at(db, "alice", t0).await;
    let bob = register_at(db, "bob", t0).await;
    let (_, phone) = add_device(db, &alice, "phone", t0).await;
    let (_, laptop) = add_device(db, &alice, "laptop", t0).await;
    db.put_identity_backup(alice.user_id, b"old backup", t0)
        .await
        .unwrap();
    let old_hash = db
        .get_user(alice.user_id)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    let t1 = plus(t0, 60);
    let change = PasswordChange {
        user_id: alice.user_id,
        old_hash,
        new_hash: "$pbkdf2-sha256$new".into(),
        identity_backup: Some(b"new backup".to_vec()),
        keep_only_session: Some(phone.id),
    };
    let mut revoked = db
        .change_password(&change, t1)
        .await
        .unwrap()
        .expect("changed");
    revoked.sort();
    let mut expected = vec![
        alice.tokens.access_hash.clone(),
        laptop.tokens.access_hash.clone(),
    ];
    expected.sort();
    assert_eq!(revoked, expected);
    let user = db.get_user(alice.user_id).await.unwrap().unwrap();
    assert_eq!(user.password_hash, "$pbkdf2-sha256$new");
    assert_eq!(user.updated_at, t1);
    assert_eq!(
        db.get_identity_backup(alice.user_id)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"new backup"[..])
    );
    let sessions = db.list_sessions(alice.user_id).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].id, phone.id);
    // Bob's sessions are untouched.
    assert_eq!(db.list_sessions(bob.user_id).await.unwrap().len(), 1);

    // A change against a stale hash writes nothing.
    let stale = PasswordChange {
        new_hash: "$pbkdf2-sha256$other".into(),
        identity_backup: Some(b"other backup".to_vec()),
        keep_only_session: None,
        ..change.clone()
    };
    assert_eq!(db.change_password(&stale, plus(t1, 1)).await.unwrap(), None);
    let user = db.get_user(alice.user_id).await.unwrap().unwrap();
    assert_eq!(user.password_hash, "$pbkdf2-sha256$new");
    assert_eq!(
        db.get_identity_backup(alice.user_id)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"new backup"[..])
    );
    // Keeping every session, without a new backup.
    let keep_all = PasswordChange {
        old_hash: "$pbkdf2-sha256$new".into(),
        new_hash: "$pbkdf2-sha256$third".into(),
        identity_backup: None,
        keep_only_session: None,
        ..change.clone()
    };
    assert_eq!(
        db.change_password(&keep_all, plus(t1, 2)).await.unwrap(),
        Some(vec![])
    );
    assert_eq!(db.list_sessions(alice.user_id).await.unwrap().len(), 1);
    assert_eq!(
        db.get_identity_backup(alice.user_id)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"new backup"[..])
    );
    // An unknown user.
    let nobody = PasswordChange {
        user_id: new_user_id(),
        ..keep_all
    };
    assert_eq!(db.change_password(&nobody, t1).await.unwrap(), None);
}
