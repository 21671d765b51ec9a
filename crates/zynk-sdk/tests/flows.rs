//! End-to-end flows through the public sans-I/O API: Olm to-device messages,
//! Megolm conversations with rotation, trust decisions against a misbehaving
//! server, and encrypted persistence.

mod common;

use common::{Directory, FAST_KDF, TestUser, me};
use serde_json::json;
use zynk_sdk::crypto::{
    CryptoError, CryptoMachine, DeviceRef, EncryptedToDevice, GroupError, OlmError,
    OutgoingToDevice, RoomEventContent, RoomEventKind, RotationPolicy, StoreError, ToDeviceEvent,
    TrustError, TrustLevel, UserIdentity, VerificationError, encode_base64,
};

fn custom(n: u32) -> OutgoingToDevice {
    OutgoingToDevice::Custom {
        event_type: "test.ping".into(),
        content: json!({ "n": n }),
    }
}

fn assert_custom(event: &ToDeviceEvent, n: u32) {
    assert_eq!(
        event,
        &ToDeviceEvent::Custom {
            event_type: "test.ping".into(),
            content: json!({ "n": n })
        }
    );
}

/// Alice and Bob, one device each, registered and synced.
fn pair() -> (Directory, CryptoMachine, CryptoMachine) {
    let mut directory = Directory::default();
    let mut alice = TestUser::new("alice").device("A1");
    let mut bob = TestUser::new("bob").device("B1");
    directory.register(&mut alice);
    directory.register(&mut bob);
    directory.sync_all(&mut alice);
    directory.sync_all(&mut bob);
    (directory, alice, bob)
}

fn connect(directory: &mut Directory, from: &mut CryptoMachine, to: &DeviceRef) {
    let key = directory.claim(to).unwrap();
    from.create_outbound_session(to, &key).unwrap();
}

fn decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text)
        .unwrap()
}

#[test]
fn olm_round_trip_in_both_directions() {
    let (mut directory, mut alice, mut bob) = pair();
    let (a, b) = (me(&alice), me(&bob));
    assert!(matches!(
        alice.encrypt_to_device(&b, custom(0)),
        Err(OlmError::NoSession { .. })
    ));
    connect(&mut directory, &mut alice, &b);

    let first = alice.encrypt_to_device(&b, custom(1)).unwrap();
    assert_eq!(
        first.message_type, 0,
        "first message establishes the session"
    );
    let decrypted = bob.decrypt_to_device(&first).unwrap();
    assert_eq!(decrypted.sender, a);
    assert_eq!(decrypted.sender_key, alice.curve25519_key());
    assert_custom(&decrypted.event, 1);

    let reply = bob.encrypt_to_device(&a, custom(2)).unwrap();
    assert_eq!(reply.message_type, 1);
    assert_custom(&alice.decrypt_to_device(&reply).unwrap().event, 2);
    let next = alice.encrypt_to_device(&b, custom(3)).unwrap();
    assert_eq!(next.message_type, 1, "established after the reply");
    assert_custom(&bob.decrypt_to_device(&next).unwrap().event, 3);
    assert_eq!(bob.olm_session_count(&a), 1);

    let dummy = alice
        .encrypt_to_device(&b, OutgoingToDevice::Dummy)
        .unwrap();
    assert_eq!(
        bob.decrypt_to_device(&dummy).unwrap().event,
        ToDeviceEvent::Dummy
    );
    let reserved = OutgoingToDevice::Custom {
        event_type: "room_key".into(),
        content: json!({}),
    };
    assert!(matches!(
        alice.encrypt_to_device(&b, reserved),
        Err(OlmError::InvalidPayload(_))
    ));
}

#[test]
fn olm_replays_are_rejected_and_sessions_keep_working() {
    let (mut directory, mut alice, mut bob) = pair();
    let (a, b) = (me(&alice), me(&bob));
    connect(&mut directory, &mut alice, &b);
    let pre_key = alice.encrypt_to_device(&b, custom(1)).unwrap();
    bob.decrypt_to_device(&pre_key).unwrap();
    assert_eq!(
        bob.decrypt_to_device(&pre_key).unwrap_err(),
        CryptoError::Olm(OlmError::Replayed)
    );
    let reply = bob.encrypt_to_device(&a, custom(2)).unwrap();
    alice.decrypt_to_device(&reply).unwrap();
    assert_eq!(
        alice.decrypt_to_device(&reply).unwrap_err(),
        CryptoError::Olm(OlmError::Replayed)
    );
    let normal = alice.encrypt_to_device(&b, custom(3)).unwrap();
    bob.decrypt_to_device(&normal).unwrap();
    assert_eq!(
        bob.decrypt_to_device(&normal).unwrap_err(),
        CryptoError::Olm(OlmError::Replayed)
    );
    // The next round still works both ways.
    let more = alice.encrypt_to_device(&b, custom(4)).unwrap();
    assert_custom(&bob.decrypt_to_device(&more).unwrap().event, 4);
    let back = bob.encrypt_to_device(&a, custom(5)).unwrap();
    assert_custom(&alice.decrypt_to_device(&back).unwrap().event, 5);
}

#[test]
fn fallback_key_sessions_cannot_be_replayed() {
    let (mut directory, mut alice, mut bob) = pair();
    let b = me(&bob);
    directory.one_time_keys.get_mut(&b).unwrap().clear();
    let fallback = directory.claim(&b).unwrap();
    assert!(fallback.fallback);
    alice.create_outbound_session(&b, &fallback).unwrap();
    let pre_key = alice.encrypt_to_device(&b, custom(1)).unwrap();
    assert_custom(&bob.decrypt_to_device(&pre_key).unwrap().event, 1);

    // Push that session out of Bob's store with newer sessions on the same
    // fallback key; a replay must still not re-create it.
    for n in 2..12 {
        alice.create_outbound_session(&b, &fallback).unwrap();
        let message = alice.encrypt_to_device(&b, custom(n)).unwrap();
        assert_custom(&bob.decrypt_to_device(&message).unwrap().event, n);
    }
    assert!(bob.olm_session_count(&me(&alice)) < 10);
    assert_eq!(
        bob.decrypt_to_device(&pre_key).unwrap_err(),
        CryptoError::Olm(OlmError::Replayed)
    );
}

#[test]
fn corrupted_olm_messages_fail_cleanly_without_wedging() {
    let (mut directory, mut alice, mut bob) = pair();
    let (a, b) = (me(&alice), me(&bob));
    connect(&mut directory, &mut alice, &b);
    let genuine = alice.encrypt_to_device(&b, custom(1)).unwrap();
    let bytes = decode(&genuine.ciphertext);

    let mut variants: Vec<EncryptedToDevice> = Vec::new();
    for position in [
        0,
        1,
        5,
        40,
        bytes.len() / 2,
        bytes.len() - 9,
        bytes.len() - 1,
    ] {
        let mut altered = bytes.clone();
        altered[position] ^= 0x04;
        variants.push(EncryptedToDevice {
            ciphertext: encode_base64(&altered),
            ..genuine.clone()
        });
    }
    for cut in [0, 1, 20, bytes.len() - 8, bytes.len() - 1] {
        variants.push(EncryptedToDevice {
            ciphertext: encode_base64(&bytes[..cut]),
            ..genuine.clone()
        });
    }
    variants.push(EncryptedToDevice {
        message_type: 1,
        ..genuine.clone()
    });
    variants.push(EncryptedToDevice {
        message_type: 7,
        ..genuine.clone()
    });
    variants.push(EncryptedToDevice {
        algorithm: "m.olm.v1".into(),
        ..genuine.clone()
    });
    variants.push(EncryptedToDevice {
        ciphertext: "!!not base64".into(),
        ..genuine.clone()
    });
    variants.push(EncryptedToDevice {
        sender_key: "short".into(),
        ..genuine.clone()
    });
    variants.push(EncryptedToDevice {
        sender_key: encode_base64(&[9; 32]),
        ..genuine.clone()
    });
    for variant in &variants {
        assert!(
            bob.decrypt_to_device(variant).is_err(),
            "{variant:?} must be rejected"
        );
    }
    assert_custom(&bob.decrypt_to_device(&genuine).unwrap().event, 1);

    // An established session also survives corrupted normal messages.
    let reply = bob.encrypt_to_device(&a, custom(2)).unwrap();
    let mut altered = decode(&reply.ciphertext);
    let last = altered.len() - 1;
    altered[last] ^= 1;
    let altered = EncryptedToDevice {
        ciphertext: encode_base64(&altered),
        ..reply.clone()
    };
    assert!(matches!(
        alice.decrypt_to_device(&altered),
        Err(CryptoError::Olm(_))
    ));
    assert_custom(&alice.decrypt_to_device(&reply).unwrap().event, 2);
}

#[test]
fn messages_from_unverified_devices_are_rejected_until_verified() {
    let (mut directory, _alice, mut bob) = pair();
    let mut mallory = TestUser::new("mallory").device("M1");
    directory.register(&mut mallory);
    directory.sync_all(&mut mallory);
    let b = me(&bob);
    connect(&mut directory, &mut mallory, &b);
    let message = mallory.encrypt_to_device(&b, custom(1)).unwrap();
    // Bob has not fetched Mallory's keys: rejected, nothing consumed.
    assert!(matches!(
        bob.decrypt_to_device(&message),
        Err(CryptoError::Olm(OlmError::UnknownSenderDevice { .. }))
    ));
    directory.sync(&mut bob, "mallory");
    assert_custom(&bob.decrypt_to_device(&message).unwrap().event, 1);
}

#[test]
fn claimed_keys_are_verified_before_a_session_is_made() {
    let (mut directory, mut alice, bob) = pair();
    let b = me(&bob);
    let mut key = directory.claim(&b).unwrap();
    let mut signature = decode(&key.signature);
    signature[3] ^= 1;
    key.signature = encode_base64(&signature);
    assert!(matches!(
        alice.create_outbound_session(&b, &key),
        Err(OlmError::OneTimeKey(_))
    ));

    // A key of another device presented as Bob's.
    let mut carol = TestUser::new("carol").device("C1");
    directory.register(&mut carol);
    let carols = directory.claim(&me(&carol)).unwrap();
    assert!(matches!(
        alice.create_outbound_session(&b, &carols),
        Err(OlmError::OneTimeKey(_))
    ));
    // An unknown device.
    let ghost = DeviceRef::new("bob", "GHOST");
    let key = directory.claim(&b).unwrap();
    assert!(matches!(
        alice.create_outbound_session(&ghost, &key),
        Err(OlmError::UnknownDevice { .. })
    ));
    assert!(!alice.has_olm_session(&b));
}

#[test]
fn simultaneous_sessions_converge() {
    let (mut directory, mut alice, mut bob) = pair();
    let (a, b) = (me(&alice), me(&bob));
    connect(&mut directory, &mut alice, &b);
    connect(&mut directory, &mut bob, &a);
    let from_alice = alice.encrypt_to_device(&b, custom(1)).unwrap();
    let from_bob = bob.encrypt_to_device(&a, custom(2)).unwrap();
    assert_custom(&bob.decrypt_to_device(&from_alice).unwrap().event, 1);
    assert_custom(&alice.decrypt_to_device(&from_bob).unwrap().event, 2);
    assert_eq!(alice.olm_session_count(&b), 2);
    for n in 3..8 {
        let m = alice.encrypt_to_device(&b, custom(n)).unwrap();
        assert_custom(&bob.decrypt_to_device(&m).unwrap().event, n);
        let m = bob.encrypt_to_device(&a, custom(n + 100)).unwrap();
        assert_custom(&alice.decrypt_to_device(&m).unwrap().event, n + 100);
    }
}

/// Alice (A1), Bob with two devices (B1, B2) and Carol (C1), all synced.
struct Group {
    directory: Directory,
    alice: CryptoMachine,
    bob1: CryptoMachine,
    bob2: CryptoMachine,
    carol: CryptoMachine,
}

impl Group {
    fn new() -> Self {
        let mut directory = Directory::default();
        let bob = TestUser::new("bob");
        let mut alice = TestUser::new("alice").device("A1");
        let mut bob1 = bob.device("B1");
        let mut bob2 = bob.device("B2");
        let mut carol = TestUser::new("carol").device("C1");
        for machine in [&mut alice, &mut bob1, &mut bob2, &mut carol] {
            directory.register(machine);
        }
        for machine in [&mut alice, &mut bob1, &mut bob2, &mut carol] {
            directory.sync_all(machine);
        }
        Self {
            directory,
            alice,
            bob1,
            bob2,
            carol,
        }
    }

    fn everyone(&self) -> Vec<DeviceRef> {
        vec![
            me(&self.alice),
            me(&self.bob1),
            me(&self.bob2),
            me(&self.carol),
        ]
    }

    fn machine(&mut self, device: &DeviceRef) -> &mut CryptoMachine {
        match device.device_id.as_str() {
            "A1" => &mut self.alice,
            "B1" => &mut self.bob1,
            "B2" => &mut self.bob2,
            _ => &mut self.carol,
        }
    }

    /// Alice shares her key with `participants` and the messages are delivered.
    fn alice_shares(&mut self, conversation: &str, participants: &[DeviceRef], now: u64) {
        let messages = self
            .directory
            .share(&mut self.alice, conversation, participants, now);
        for message in messages {
            let decrypted = self
                .machine(&message.recipient)
                .decrypt_to_device(&message.envelope);
            assert!(matches!(
                decrypted.unwrap().event,
                ToDeviceEvent::RoomKey(_)
            ));
        }
    }
}

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
    let mut fake_bob = mallory.device("B1");
    // The server replaces Bob's identity key and devices with Mallory's.
    let real_devices = group.directory.devices["bob"].clone();
    group
        .directory
        .identities
        .insert("bob".into(), mallory.identity_key());
    group
        .directory
        .devices
        .insert("bob".into(), vec![fake_bob.device_keys()]);
    group.directory.replenish(&mut fake_bob);

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
    injected.push(fake_bob.device_keys());
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
