//! Group (Megolm) flows, trust decisions against a misbehaving server and
//! encrypted persistence, through the public API.

mod common;

use common::{FAST_KDF, Group, TestUser, assert_custom, custom, decode, me, pair};
use zynk_sdk::crypto::{
    CryptoMachine, GroupError, RoomEventContent, RoomEventKind, RotationPolicy, StoreError,
    TrustError, TrustLevel, UserIdentity, VerificationError, encode_base64,
};

#[test]
fn group_messages_reach_every_participant_device() {
    let mut group = Group::new();
    let everyone = group.everyone();
    group.alice_shares("conv", &everyone, 0);
    let mut content = RoomEventContent::text("hello all");
    content.mentions = vec!["bob".into()];
    let envelope = group
        .alice
        .encrypt_room_event("conv", "m1", content.clone(), 10)
        .unwrap();
    for device in &everyone {
        let decrypted = group
            .machine(device)
            .decrypt_room_event("conv", "m1", &envelope)
            .unwrap();
        assert_eq!(decrypted.event.content, content);
        assert_eq!(decrypted.event.sender, "alice");
        assert_eq!(decrypted.event.sent_at, 10);
        assert_eq!(decrypted.sender, me(&group.alice));
        assert!(!decrypted.repeat);
    }
    // Re-reading history is flagged as a repeat, not treated as new.
    let again = group
        .carol
        .decrypt_room_event("conv", "m1", &envelope)
        .unwrap();
    assert!(again.repeat);
    assert_eq!(again.sender_trust, Some(TrustLevel::Unverified));

    // Replies, reactions and edits are events like any other.
    let reaction = RoomEventContent {
        kind: RoomEventKind::Reaction,
        body: Some("+1".into()),
        relates_to: Some("m1".into()),
        mentions: vec![],
        extra: None,
    };
    group
        .directory
        .share(&mut group.bob1, "conv", &everyone, 11)
        .into_iter()
        .for_each(|m| {
            let machine = match m.recipient.device_id.as_str() {
                "A1" => &mut group.alice,
                "B2" => &mut group.bob2,
                _ => &mut group.carol,
            };
            machine.decrypt_to_device(&m.envelope).unwrap();
        });
    let envelope = group
        .bob1
        .encrypt_room_event("conv", "m2", reaction.clone(), 12)
        .unwrap();
    let decrypted = group
        .alice
        .decrypt_room_event("conv", "m2", &envelope)
        .unwrap();
    assert_eq!(decrypted.event.content, reaction);
    assert_eq!(decrypted.sender, me(&group.bob1));
}

#[test]
fn server_cannot_move_rename_or_reattribute_group_messages() {
    let mut group = Group::new();
    let everyone = group.everyone();
    group.alice_shares("conv", &everyone, 0);
    group.alice_shares("other", &everyone, 0);
    let envelope = group
        .alice
        .encrypt_room_event("conv", "m1", RoomEventContent::text("x"), 1)
        .unwrap();
    // Moved to another conversation.
    assert!(
        group
            .carol
            .decrypt_room_event("other", "m1", &envelope)
            .is_err()
    );
    // Stored under another message id (a replay under a new id).
    assert_eq!(
        group
            .carol
            .decrypt_room_event("conv", "m9", &envelope)
            .unwrap_err(),
        GroupError::BindingMismatch("message_id")
    );
    // Attributed to another sender device.
    let mut reattributed = envelope.clone();
    reattributed.sender_key = group.bob1.curve25519_key();
    assert!(matches!(
        group.carol.decrypt_room_event("conv", "m1", &reattributed),
        Err(GroupError::UnknownSession { .. })
    ));
    // Altered or truncated ciphertext.
    let bytes = decode(&envelope.ciphertext);
    let mut altered = bytes.clone();
    altered[bytes.len() / 2] ^= 1;
    let mut tampered = envelope.clone();
    tampered.ciphertext = encode_base64(&altered);
    assert!(
        group
            .carol
            .decrypt_room_event("conv", "m1", &tampered)
            .is_err()
    );
    tampered.ciphertext = encode_base64(&bytes[..bytes.len() - 10]);
    assert!(
        group
            .carol
            .decrypt_room_event("conv", "m1", &tampered)
            .is_err()
    );
    tampered.ciphertext = "garbage".into();
    assert!(
        group
            .carol
            .decrypt_room_event("conv", "m1", &tampered)
            .is_err()
    );
    // After all that the genuine message decrypts, the first time.
    let decrypted = group
        .carol
        .decrypt_room_event("conv", "m1", &envelope)
        .unwrap();
    assert!(!decrypted.repeat);
}

#[test]
fn rotation_after_message_budget_and_age() {
    let mut group = Group::new();
    let everyone = group.everyone();
    group.alice.set_rotation_policy(RotationPolicy {
        max_messages: 3,
        max_age_ms: 1_000,
    });
    group.alice_shares("conv", &everyone, 0);
    let first = group.alice.outbound_session("conv").unwrap().session_id;
    for n in 0..3 {
        let id = format!("m{n}");
        group
            .alice
            .encrypt_room_event("conv", &id, RoomEventContent::text("x"), 5)
            .unwrap();
    }
    assert_eq!(
        group
            .alice
            .encrypt_room_event("conv", "m3", RoomEventContent::text("x"), 5)
            .unwrap_err(),
        GroupError::RotationRequired {
            conversation_id: "conv".into()
        }
    );
    assert!(group.alice.needs_rotation("conv", &everyone, 5));
    group.alice_shares("conv", &everyone, 5);
    let second = group.alice.outbound_session("conv").unwrap();
    assert_ne!(second.session_id, first);
    assert!(!group.alice.needs_rotation("conv", &everyone, 5));
    // Age: the caller's clock says the session is too old.
    assert!(!group.alice.needs_rotation("conv", &everyone, 1_004));
    assert!(group.alice.needs_rotation("conv", &everyone, 1_005));
    assert_eq!(
        group
            .alice
            .encrypt_room_event("conv", "m4", RoomEventContent::text("x"), 1_005)
            .unwrap_err(),
        GroupError::RotationRequired {
            conversation_id: "conv".into()
        }
    );
    let share = group
        .alice
        .share_room_key("conv", &everyone, 1_005)
        .unwrap();
    assert!(share.rotated);
}

#[test]
fn leaving_devices_force_rotation_and_newcomers_cannot_read_history() {
    let mut group = Group::new();
    let everyone = group.everyone();
    let without_carol: Vec<_> = everyone
        .iter()
        .filter(|d| d.user_id != "carol")
        .cloned()
        .collect();
    group.alice_shares("conv", &without_carol, 0);
    let early = group
        .alice
        .encrypt_room_event("conv", "m1", RoomEventContent::text("a"), 1)
        .unwrap();

    // Carol joins: no rotation, she gets the key from the current index on.
    assert!(!group.alice.needs_rotation("conv", &everyone, 2));
    group.alice_shares("conv", &everyone, 2);
    let later = group
        .alice
        .encrypt_room_event("conv", "m2", RoomEventContent::text("b"), 3)
        .unwrap();
    assert!(matches!(
        group.carol.decrypt_room_event("conv", "m1", &early),
        Err(GroupError::UnknownMessageIndex {
            first_known: 1,
            index: 0
        })
    ));
    group
        .carol
        .decrypt_room_event("conv", "m2", &later)
        .unwrap();

    // Bob's second device leaves: rotate, and B2 cannot read what follows.
    let without_b2: Vec<_> = everyone
        .iter()
        .filter(|d| d.device_id != "B2")
        .cloned()
        .collect();
    assert!(group.alice.needs_rotation("conv", &without_b2, 4));
    let share = group.alice.share_room_key("conv", &without_b2, 4).unwrap();
    assert!(share.rotated);
    assert!(share.messages.iter().all(|m| m.recipient.device_id != "B2"));
    for message in share.messages {
        group
            .machine(&message.recipient)
            .decrypt_to_device(&message.envelope)
            .unwrap();
    }
    let after = group
        .alice
        .encrypt_room_event("conv", "m3", RoomEventContent::text("c"), 5)
        .unwrap();
    assert!(matches!(
        group.bob2.decrypt_room_event("conv", "m3", &after),
        Err(GroupError::UnknownSession { .. })
    ));
    group.bob1.decrypt_room_event("conv", "m3", &after).unwrap();
    // History stays readable on devices that had the old key.
    group.bob2.decrypt_room_event("conv", "m2", &later).unwrap();
}

#[test]
fn server_swapping_an_identity_key_is_reported_never_accepted() {
    let mut group = Group::new();
    let mallory = TestUser::new("bob");
    let mut mallory_as_bob = mallory.device("B1");
    // The server replaces Bob's identity key and devices with Mallory's.
    let real_devices = group.directory.devices["bob"].clone();
    group
        .directory
        .identities
        .insert("bob".into(), mallory.identity_key());
    group
        .directory
        .devices
        .insert("bob".into(), vec![mallory_as_bob.device_keys()]);
    group.directory.replenish(&mut mallory_as_bob);

    let identity = group.directory.identities["bob"];
    let devices = group.directory.devices["bob"].clone();
    let error = group
        .alice
        .update_devices("bob", &identity, &devices)
        .unwrap_err();
    assert!(matches!(
        error,
        TrustError::IdentityKeyChanged {
            was_verified: false,
            ..
        }
    ));
    assert_eq!(group.alice.trust_level("bob"), Some(TrustLevel::Changed));
    // Bob's devices are unusable until the user decides.
    let share = group
        .alice
        .share_room_key("conv", &group.everyone(), 0)
        .unwrap();
    assert!(share.unavailable.iter().all(|d| d.user_id == "bob"));
    assert_eq!(share.unavailable.len(), 2);
    assert!(group.alice.safety_number("bob").is_err());

    // The user keeps the old key; Bob is usable again.
    group.alice.reject_identity_change("bob").unwrap();
    assert_eq!(group.alice.trust_level("bob"), Some(TrustLevel::Unverified));
    let share = group
        .alice
        .share_room_key("conv", &group.everyone(), 0)
        .unwrap();
    assert!(share.unavailable.is_empty());

    // A device injected under the real key but not signed by it is rejected.
    let mut injected = real_devices.clone();
    injected.push(mallory_as_bob.device_keys());
    let real_key = group.bob1.identity_key();
    let update = group
        .alice
        .update_devices("bob", &real_key, &injected)
        .unwrap();
    assert!(update.added.is_empty());
    assert_eq!(update.rejected.len(), 1);
    assert!(matches!(
        update.rejected[0].1,
        VerificationError::BadIdentitySignature
    ));
    let b1 = group.alice.device(&me(&group.bob1)).unwrap();
    assert_eq!(b1.curve25519_base64(), group.bob1.curve25519_key());
}

#[test]
fn verified_contact_with_changed_key_is_blocked_until_reverified() {
    let (_, mut alice, bob) = pair();
    let bob_key = bob.identity_key();
    let alice_number = alice.safety_number("bob").unwrap();
    assert_eq!(bob.safety_number("alice").unwrap(), alice_number);
    assert_eq!(alice_number.digits().len(), 60);
    alice.verify_identity("bob", &bob_key).unwrap();
    assert_eq!(alice.trust_level("bob"), Some(TrustLevel::Verified));

    let new_key = UserIdentity::generate().unwrap().public_key();
    let error = alice.update_devices("bob", &new_key, &[]).unwrap_err();
    assert!(matches!(
        error,
        TrustError::IdentityKeyChanged {
            was_verified: true,
            ..
        }
    ));
    assert_eq!(alice.trust_level("bob"), Some(TrustLevel::Blocked));
    assert_eq!(
        alice.accept_identity_change("bob", &new_key),
        Err(TrustError::ReverificationRequired {
            user_id: "bob".into()
        })
    );
    assert!(alice.device(&me(&bob)).is_none());
    alice.verify_identity("bob", &new_key).unwrap();
    assert_eq!(alice.trust_level("bob"), Some(TrustLevel::Verified));
    // Devices signed by the old key were forgotten with it.
    assert!(alice.device(&me(&bob)).is_none());
}

#[test]
fn state_survives_save_and_load_mid_conversation() {
    let mut group = Group::new();
    let everyone = group.everyone();
    group.alice_shares("conv", &everyone, 0);
    let before = group
        .alice
        .encrypt_room_event("conv", "m1", RoomEventContent::text("a"), 1)
        .unwrap();
    group
        .carol
        .decrypt_room_event("conv", "m1", &before)
        .unwrap();

    let alice_bytes = group
        .alice
        .save_with_params("alice pass", FAST_KDF)
        .unwrap();
    let carol_bytes = group
        .carol
        .save_with_params("carol pass", FAST_KDF)
        .unwrap();
    let mut alice = CryptoMachine::load(&alice_bytes, "alice pass").unwrap();
    let mut carol = CryptoMachine::load(&carol_bytes, "carol pass").unwrap();
    assert_eq!(alice.identity_key(), group.alice.identity_key());
    assert_eq!(alice.device_keys(), group.alice.device_keys());

    // History, replay table, outbound session and Olm sessions all survived.
    assert!(
        carol
            .decrypt_room_event("conv", "m1", &before)
            .unwrap()
            .repeat
    );
    let after = alice
        .encrypt_room_event("conv", "m2", RoomEventContent::text("b"), 2)
        .unwrap();
    assert_eq!(
        carol
            .decrypt_room_event("conv", "m2", &after)
            .unwrap()
            .message_index,
        1
    );
    let ping = carol.encrypt_to_device(&me(&alice), custom(1));
    // Carol only has an inbound session from Alice, which she can reply on.
    assert_custom(&alice.decrypt_to_device(&ping.unwrap()).unwrap().event, 1);
    assert_eq!(
        alice.safety_number("carol").unwrap(),
        carol.safety_number("alice").unwrap()
    );

    // A wrong passphrase or a flipped byte gives a clear error.
    assert_eq!(
        CryptoMachine::load(&alice_bytes, "wrong").unwrap_err(),
        StoreError::WrongPassphraseOrTampered
    );
    let mut tampered = alice_bytes.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x80;
    assert_eq!(
        CryptoMachine::load(&tampered, "alice pass").unwrap_err(),
        StoreError::WrongPassphraseOrTampered
    );
    assert_eq!(
        CryptoMachine::load(&alice_bytes[..30], "alice pass").unwrap_err(),
        StoreError::Truncated
    );
    assert_eq!(
        CryptoMachine::load(b"", "alice pass").unwrap_err(),
        StoreError::Truncated
    );
}

#[test]
fn default_kdf_parameters_work_and_nothing_secret_is_in_the_clear() {
    let alice = TestUser::new("alice").device("A1");
    let bytes = alice.save("passphrase").unwrap();
    let restored = CryptoMachine::load(&bytes, "passphrase").unwrap();
    assert_eq!(restored.curve25519_key(), alice.curve25519_key());
    // No public key (let alone a secret) appears in the file in the clear.
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(&alice.curve25519_key()));
    assert!(!text.contains("alice"));
    let debug = format!("{alice:?}");
    assert!(debug.contains("<redacted>"));
    assert!(!debug.contains("pickle"));
}
