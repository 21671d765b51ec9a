//! Malicious-sender tests that need to forge plaintexts inside valid
//! encryption: re-attributed and mis-routed Olm payloads, forged room keys,
//! re-attributed and moved Megolm events, non-contributory keys.

use serde_json::{Value, json};
use vodozemac::Curve25519PublicKey;

use super::*;
use crate::crypto::events::RoomEventContent;
use crate::crypto::megolm::EncryptedRoomMessage;

fn machine(user: &str, device: &str) -> CryptoMachine {
    CryptoMachine::new(user, device, UserIdentity::generate().unwrap())
}

fn me(machine: &CryptoMachine) -> DeviceRef {
    DeviceRef::new(machine.user_id(), machine.device_id())
}

/// Give `from` an Olm session to `to` and establish it both ways.
fn connect(from: &mut CryptoMachine, to: &mut CryptoMachine) {
    let key = to.keys_to_upload(0, 1, false).one_time_keys.remove(0);
    to.mark_keys_as_published();
    from.create_outbound_session(&me(to), &key).unwrap();
    let hello = from
        .encrypt_to_device(&me(to), OutgoingToDevice::Dummy)
        .unwrap();
    to.decrypt_to_device(&hello).unwrap();
}

/// Alice, Bob and Carol who all know each other; Bob has a session to Carol.
fn trio() -> (CryptoMachine, CryptoMachine, CryptoMachine) {
    let (mut alice, mut bob, mut carol) = (
        machine("alice", "A1"),
        machine("bob", "B1"),
        machine("carol", "C1"),
    );
    let bundles: Vec<_> = [&alice, &bob, &carol]
        .iter()
        .map(|m| (m.user_id().to_owned(), m.identity_key(), m.device_keys()))
        .collect();
    for viewer in [&mut alice, &mut bob, &mut carol] {
        for (user, identity, keys) in &bundles {
            if user != viewer.user_id() {
                viewer
                    .update_devices(user, identity, std::slice::from_ref(keys))
                    .unwrap();
            }
        }
    }
    connect(&mut bob, &mut carol);
    (alice, bob, carol)
}

/// Encrypt an arbitrary payload from `from` to `to` over their session.
fn forge(from: &mut CryptoMachine, to: &CryptoMachine, payload: &Value) -> EncryptedToDevice {
    let bytes = serde_json::to_vec(payload).unwrap();
    let own = from.account.inner().curve25519_key();
    let peer = from.device(&me(to)).unwrap().curve25519();
    from.olm.encrypt(own, &peer, &bytes).unwrap().unwrap()
}

fn payload(from: &CryptoMachine, to: &CryptoMachine) -> Value {
    json!({
        "type": "test.ping",
        "content": {},
        "sender": from.user_id(),
        "sender_device": from.device_id(),
        "sender_ed25519": from.ed25519_key(),
        "recipient": to.user_id(),
        "recipient_device": to.device_id(),
        "recipient_ed25519": to.ed25519_key(),
    })
}

#[test]
fn reattributed_and_misrouted_olm_payloads_are_rejected() {
    let (alice, mut bob, mut carol) = trio();
    let cases: [(&str, Value); 6] = [
        ("sender", json!(alice.user_id())),
        ("sender_device", json!("A1")),
        ("sender_ed25519", json!(alice.ed25519_key())),
        ("recipient", json!("dave")),
        ("recipient_device", json!("C2")),
        ("recipient_ed25519", json!(bob.ed25519_key())),
    ];
    for (field, value) in cases {
        let mut forged = payload(&bob, &carol);
        forged[field] = value;
        let message = forge(&mut bob, &carol, &forged);
        assert_eq!(
            carol.decrypt_to_device(&message).unwrap_err(),
            CryptoError::Olm(OlmError::PayloadMismatch(field))
        );
    }
    // Non-JSON plaintext is a typed error too.
    let own = bob.account.inner().curve25519_key();
    let peer = bob.device(&me(&carol)).unwrap().curve25519();
    let garbage = bob
        .olm
        .encrypt(own, &peer, b"\x00not json")
        .unwrap()
        .unwrap();
    assert!(matches!(
        carol.decrypt_to_device(&garbage),
        Err(CryptoError::Olm(OlmError::InvalidPayload(_)))
    ));
    // The session is not wedged.
    let genuine = bob
        .encrypt_to_device(&me(&carol), OutgoingToDevice::Dummy)
        .unwrap();
    assert_eq!(
        carol.decrypt_to_device(&genuine).unwrap().event,
        ToDeviceEvent::Dummy
    );
}

#[test]
fn forged_room_keys_are_rejected() {
    let (alice, mut bob, mut carol) = trio();
    let group = crate::crypto::megolm::OutboundGroup::new(0);
    let room_key = |sender_curve: String, sender_ed: String, session_id: String| {
        json!({
            "algorithm": crate::crypto::device_keys::MEGOLM_ALGORITHM,
            "conversation_id": "conv",
            "session_id": session_id,
            "session_key": group.session_key().as_str(),
            "sender_curve25519": sender_curve,
            "sender_ed25519": sender_ed,
        })
    };
    let cases = [
        // Claims to come from Alice's device.
        room_key(
            alice.curve25519_key(),
            alice.ed25519_key(),
            group.session_id(),
        ),
        room_key(
            bob.curve25519_key(),
            alice.ed25519_key(),
            group.session_id(),
        ),
        // Announces another session id than the key's.
        room_key(bob.curve25519_key(), bob.ed25519_key(), "other".into()),
        json!({ "conversation_id": "conv" }),
    ];
    for content in cases {
        let mut forged = payload(&bob, &carol);
        forged["type"] = json!("room_key");
        forged["content"] = content;
        let message = forge(&mut bob, &carol, &forged);
        assert!(matches!(
            carol.decrypt_to_device(&message),
            Err(CryptoError::Group(GroupError::InvalidRoomKey(_)))
        ));
    }
    assert!(carol.groups.inbound.is_empty());
}

/// Bob (malicious participant) shares one session key for two
/// conversations and encrypts hand-made events with it.
#[test]
fn reattributed_or_moved_group_events_are_rejected() {
    let (alice, mut bob, mut carol) = trio();
    let share = bob.share_room_key("a", &[me(&carol)], 0).unwrap();
    for message in share.messages {
        carol.decrypt_to_device(&message.envelope).unwrap();
    }
    // The same session key announced for conversation "b" too.
    let outbound = &bob.groups.outbound["a"];
    let mut forged = payload(&bob, &carol);
    forged["type"] = json!("room_key");
    forged["content"] = json!({
        "algorithm": crate::crypto::device_keys::MEGOLM_ALGORITHM,
        "conversation_id": "b",
        "session_id": outbound.session_id(),
        "session_key": outbound.session_key().as_str(),
        "sender_curve25519": bob.curve25519_key(),
        "sender_ed25519": bob.ed25519_key(),
    });
    let message = forge(&mut bob, &carol, &forged);
    carol.decrypt_to_device(&message).unwrap();

    let encrypt = |bob: &mut CryptoMachine, event: Value| -> EncryptedRoomMessage {
        let key = bob.curve25519_key();
        let bytes = serde_json::to_vec(&event).unwrap();
        bob.groups
            .outbound
            .get_mut("a")
            .unwrap()
            .encrypt(&bytes, &key)
    };
    let event = |conversation: &str, sender: &str, device: &str| {
        json!({
            "type": "text", "body": "hi", "message_id": "m1",
            "conversation_id": conversation, "sender": sender,
            "sender_device": device, "sent_at": 1,
        })
    };
    // Claims to be from Alice.
    let envelope = encrypt(&mut bob, event("a", alice.user_id(), "A1"));
    assert_eq!(
        carol.decrypt_room_event("a", "m1", &envelope).unwrap_err(),
        GroupError::BindingMismatch("sender")
    );
    // Written for "a", delivered in "b".
    let envelope = encrypt(&mut bob, event("a", "bob", "B1"));
    assert_eq!(
        carol.decrypt_room_event("b", "m1", &envelope).unwrap_err(),
        GroupError::BindingMismatch("conversation_id")
    );
    // Not an event at all.
    let envelope = encrypt(&mut bob, json!(["no"]));
    assert!(matches!(
        carol.decrypt_room_event("a", "m1", &envelope),
        Err(GroupError::InvalidPayload(_))
    ));
    // The genuine path still works.
    let envelope = bob
        .encrypt_room_event("a", "m2", RoomEventContent::text("ok"), 2)
        .unwrap();
    assert_eq!(
        carol
            .decrypt_room_event("a", "m2", &envelope)
            .unwrap()
            .event
            .sender,
        "bob"
    );
}

#[test]
fn non_contributory_one_time_keys_are_rejected() {
    let (mut alice, bob, _) = trio();
    for low_order in [[0u8; 32], {
        let mut one = [0u8; 32];
        one[0] = 1;
        one
    }] {
        let key = SignedOneTimeKey::new_signed(
            bob.user_id(),
            bob.device_id(),
            "AAAAAAAAAAE".into(),
            Curve25519PublicKey::from_bytes(low_order),
            false,
            |m| bob.account.sign(m),
        );
        assert_eq!(
            alice.create_outbound_session(&me(&bob), &key),
            Err(OlmError::NonContributoryKey)
        );
    }
    assert!(!alice.has_olm_session(&me(&bob)));
}

#[test]
fn debug_output_is_redacted() {
    let (alice, _, _) = trio();
    let seed = crate::crypto::encoding::encode_base64(alice.identity.export_seed().as_slice());
    let debug = format!("{alice:?}");
    assert!(!debug.contains(&seed));
    assert!(debug.contains("<redacted>"));
}

/// Alice's devices A1 and A2 (one identity) and Bob's B1, all knowing each
/// other; A1 has an Olm session to A2 and to B1, B1 one to A2.
fn siblings() -> (CryptoMachine, CryptoMachine, CryptoMachine) {
    let identity = UserIdentity::generate().unwrap();
    let seed = identity.export_seed();
    let mut a1 = CryptoMachine::new("alice", "A1", identity);
    let mut a2 = CryptoMachine::new("alice", "A2", UserIdentity::from_seed(&seed));
    let mut b1 = machine("bob", "B1");
    let alice_devices = [a1.device_keys(), a2.device_keys()];
    let bob_devices = [b1.device_keys()];
    let (alice_key, bob_key) = (a1.identity_key(), b1.identity_key());
    for viewer in [&mut a1, &mut a2, &mut b1] {
        viewer
            .update_devices("alice", &alice_key, &alice_devices)
            .unwrap();
        viewer
            .update_devices("bob", &bob_key, &bob_devices)
            .unwrap();
    }
    connect(&mut a1, &mut a2);
    connect(&mut a1, &mut b1);
    connect(&mut b1, &mut a2);
    (a1, a2, b1)
}

/// A forwarded session entry as the wire carries it.
fn forwarded_entry(group: &crate::crypto::megolm::InboundGroup, conversation: &str) -> Value {
    json!({
        "conversation_id": conversation,
        "session_id": group.session_id(),
        "session_key": group.export().as_str(),
        "first_known_index": group.first_known_index(),
        "sender_user_id": group.sender.user_id,
        "sender_device_id": group.sender.device_id,
        "sender_curve25519": group.sender.curve25519,
        "sender_ed25519": group.sender.ed25519,
    })
}

#[test]
fn forwarded_keys_and_key_requests_from_another_user_are_refused() {
    let (mut a1, mut a2, mut b1) = siblings();
    // Bob's device holds a session (its own) and tries to hand it to A2 as
    // forwarded history, and to ask A2 for A2's sessions.
    b1.share_room_key("conv", &[], 0).unwrap();
    let entry = {
        let group = b1.groups.inbound.values().next().unwrap();
        forwarded_entry(group, "conv")
    };
    let mut forged = payload(&b1, &a2);
    forged["type"] = json!("forwarded_room_key");
    forged["content"] = json!({
        "algorithm": crate::crypto::device_keys::MEGOLM_ALGORITHM,
        "sessions": [entry],
    });
    let message = forge(&mut b1, &a2, &forged);
    assert_eq!(
        a2.decrypt_to_device(&message).unwrap_err(),
        CryptoError::Group(GroupError::NotOwnDevice {
            user_id: "bob".into(),
            device_id: "B1".into(),
        })
    );
    assert!(a2.groups.inbound.is_empty(), "nothing imported");

    let mut request = payload(&b1, &a2);
    request["type"] = json!("room_key_request");
    request["content"] = json!({"sessions": []});
    let message = forge(&mut b1, &a2, &request);
    assert!(matches!(
        a2.decrypt_to_device(&message),
        Err(CryptoError::Group(GroupError::NotOwnDevice { .. }))
    ));

    // The sending side refuses another user's device too, even one with an
    // Olm session.
    a1.share_room_key("conv", &[me(&b1)], 0).unwrap();
    assert!(matches!(
        a1.forward_room_keys(&me(&b1), None),
        Err(CryptoError::Group(GroupError::NotOwnDevice { .. }))
    ));
    assert!(matches!(
        a1.request_room_keys(&me(&b1), &[]),
        Err(CryptoError::Group(GroupError::NotOwnDevice { .. }))
    ));
    // Reserved types cannot be smuggled as application events.
    for reserved in ["forwarded_room_key", "room_key_request"] {
        let event = OutgoingToDevice::Custom {
            event_type: reserved.into(),
            content: json!({}),
        };
        assert!(matches!(
            a1.encrypt_to_device(&me(&a2), event),
            Err(OlmError::InvalidPayload(_))
        ));
    }

    // Nothing is wedged: A2 still takes Bob's genuine key and A1's forward.
    let share = b1.share_room_key("conv", &[me(&a2)], 0).unwrap();
    for m in share.messages {
        a2.decrypt_to_device(&m.envelope).unwrap();
    }
    let forward = a1.forward_room_keys(&me(&a2), None).unwrap();
    assert!(!forward.messages.is_empty());
    for m in forward.messages {
        assert!(matches!(
            a2.decrypt_to_device(&m.envelope).unwrap().event,
            ToDeviceEvent::ForwardedRoomKeys(_)
        ));
    }
}

/// Alice's two devices and Bob's, with A1 holding Bob's session of "conv"
/// and that session as a forwarded entry.
fn siblings_holding_bobs_session() -> (CryptoMachine, CryptoMachine, CryptoMachine, Value) {
    let (mut a1, a2, mut b1) = siblings();
    let share = b1.share_room_key("conv", &[me(&a1)], 0).unwrap();
    for m in share.messages {
        a1.decrypt_to_device(&m.envelope).unwrap();
    }
    let bob_curve = b1.curve25519_key();
    let entry = {
        let group = a1
            .groups
            .inbound
            .iter()
            .find(|(k, _)| k.1 == bob_curve)
            .unwrap()
            .1;
        forwarded_entry(group, "conv")
    };
    (a1, a2, b1, entry)
}

#[test]
fn garbled_forwarded_keys_are_reported_and_the_rest_imported() {
    let (mut a1, mut a2, mut b1, good) = siblings_holding_bobs_session();
    let with = |field: &str, value: Value| {
        let mut entry = good.clone();
        entry[field] = value;
        entry
    };
    let mut truncated_key = good["session_key"].as_str().unwrap().to_owned();
    truncated_key.truncate(40);
    let sessions = vec![
        json!("not an object"),
        with("session_key", json!(truncated_key)),
        with("session_key", json!("%%%")),
        with("session_id", json!("another id")),
        with("first_known_index", json!(7)),
        with("first_known_index", json!(-1)),
        // Names A2 itself, or names Bob's key with another device's ids.
        with("sender_curve25519", json!(a2.curve25519_key())),
        with("sender_device_id", json!("B9")),
        with("sender_ed25519", json!(a1.ed25519_key())),
        good.clone(),
    ];
    let rejected_count = sessions.len() - 1;
    let mut forged = payload(&a1, &a2);
    forged["type"] = json!("forwarded_room_key");
    forged["content"] = json!({
        "algorithm": crate::crypto::device_keys::MEGOLM_ALGORITHM,
        "sessions": sessions,
    });
    let message = forge(&mut a1, &a2, &forged);
    let ToDeviceEvent::ForwardedRoomKeys(report) = a2.decrypt_to_device(&message).unwrap().event
    else {
        panic!("a forwarded-keys event");
    };
    assert_eq!(report.imported.len(), 1, "{report:?}");
    assert_eq!(report.rejected.len(), rejected_count, "{report:?}");
    assert_eq!(a2.groups.inbound.len(), 1);

    // A ratchet that is not the known session's under its id (and index)
    // is refused and the known copy kept.
    use crate::crypto::encoding::{decode_base64, encode_base64};
    let mut bytes = decode_base64("k", good["session_key"].as_str().unwrap()).unwrap();
    bytes[20] ^= 1;
    let mut conflicting = payload(&a1, &a2);
    conflicting["type"] = json!("forwarded_room_key");
    conflicting["content"] = json!({
        "algorithm": crate::crypto::device_keys::MEGOLM_ALGORITHM,
        "sessions": [with("session_key", json!(encode_base64(&bytes)))],
    });
    let message = forge(&mut a1, &a2, &conflicting);
    let ToDeviceEvent::ForwardedRoomKeys(report) = a2.decrypt_to_device(&message).unwrap().event
    else {
        panic!("a forwarded-keys event");
    };
    assert!(
        report.imported.is_empty() && report.rejected.len() == 1,
        "{report:?}"
    );

    // Whole payloads that make no sense are errors, not panics.
    for content in [
        json!("garbage"),
        json!({"algorithm": "other", "sessions": []}),
        json!({"algorithm": crate::crypto::device_keys::MEGOLM_ALGORITHM}),
        json!({
            "algorithm": crate::crypto::device_keys::MEGOLM_ALGORITHM,
            "sessions": vec![json!(1); 257],
        }),
    ] {
        let mut forged = payload(&a1, &a2);
        forged["type"] = json!("forwarded_room_key");
        forged["content"] = content;
        let message = forge(&mut a1, &a2, &forged);
        assert!(matches!(
            a2.decrypt_to_device(&message),
            Err(CryptoError::Group(
                GroupError::InvalidRoomKey(_) | GroupError::UnsupportedAlgorithm(_)
            ))
        ));
    }
    let mut request = payload(&a1, &a2);
    request["type"] = json!("room_key_request");
    request["content"] = json!({"sessions": "all"});
    let message = forge(&mut a1, &a2, &request);
    assert!(matches!(
        a2.decrypt_to_device(&message),
        Err(CryptoError::Group(GroupError::InvalidPayload(_)))
    ));

    // The imported session reads Bob's message from index 0.
    let envelope = b1
        .encrypt_room_event("conv", "m1", RoomEventContent::text("hi"), 1)
        .unwrap();
    let decrypted = a2.decrypt_room_event("conv", "m1", &envelope).unwrap();
    assert_eq!(decrypted.sender, me(&b1));
    assert_eq!(decrypted.message_index, 0);
}

#[test]
fn a_direct_key_overrides_a_forwarded_copy_with_another_sender() {
    // A1 (trusted, but here wrong) forwards Bob's session naming an unknown
    // device of Bob's as its sender.
    let (mut a1, mut a2, mut b1, mut entry) = siblings_holding_bobs_session();
    // Unknown to A2's registry under that key: the claim is accepted...
    a2.registry.forget_user("bob");
    entry["sender_device_id"] = json!("B7");
    let mut forged = payload(&a1, &a2);
    forged["type"] = json!("forwarded_room_key");
    forged["content"] = json!({
        "algorithm": crate::crypto::device_keys::MEGOLM_ALGORITHM,
        "sessions": [entry],
    });
    let message = forge(&mut a1, &a2, &forged);
    a2.decrypt_to_device(&message).unwrap();
    let info = a2.inbound_sessions();
    assert_eq!(info[0].sender, DeviceRef::new("bob", "B7"));
    // ...until Bob's real device authenticates the key over Olm.
    a2.update_devices("bob", &b1.identity_key(), &[b1.device_keys()])
        .unwrap();
    let share = b1.share_room_key("conv", &[me(&a1), me(&a2)], 0).unwrap();
    assert!(!share.rotated);
    for m in share.messages {
        a2.decrypt_to_device(&m.envelope).unwrap();
    }
    let info = a2.inbound_sessions();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].sender, me(&b1));
    assert_eq!(info[0].forwarded_by, None);
}

#[test]
fn shared_secret_epochs_reach_members_only_and_senders_cannot_be_forged() {
    use crate::crypto::shared_secret::{GroupSecret, SharedSecretError};
    let (mut alice, mut bob, mut carol) = trio();
    connect(&mut alice, &mut bob);
    connect(&mut alice, &mut carol);
    let conversation = "conv-s";
    let receive = |machine: &mut CryptoMachine, message: &ToDeviceMessage| match machine
        .decrypt_to_device(&message.envelope)
        .unwrap()
        .event
    {
        ToDeviceEvent::Custom {
            event_type,
            content,
        } => {
            assert_eq!(event_type, crate::crypto::shared_secret::GROUP_SECRET_EVENT);
            let (conv, secret) = CryptoMachine::group_secret_from_event(&content).unwrap();
            assert_eq!(conv, conversation);
            secret
        }
        other => panic!("unexpected {other:?}"),
    };
    // Epoch 1: alice (the admin) shares with bob and carol.
    let first = GroupSecret::generate(1).unwrap();
    let share = alice.share_group_secret(conversation, &first, &[me(&alice), me(&bob), me(&carol)]);
    assert!(share.unavailable.is_empty());
    assert_eq!(share.messages.len(), 2);
    let bob_secrets = [receive(&mut bob, &share.messages[0])];
    let carol_secrets = vec![receive(&mut carol, &share.messages[1])];
    let sealed = bob
        .seal_shared_secret(&bob_secrets[0], conversation, "m1", b"hi all")
        .unwrap();
    for (machine, secrets) in [(&carol, &carol_secrets), (&alice, &vec![first.clone()])] {
        let plain = machine
            .open_shared_secret(&sealed, conversation, "m1", &me(&bob), secrets)
            .unwrap();
        assert_eq!(plain.as_slice(), b"hi all");
    }
    // Carol, holding the secret, cannot pass a message off as bob's.
    let forged = carol
        .seal_shared_secret(&carol_secrets[0], conversation, "m2", b"forged")
        .unwrap();
    assert!(matches!(
        alice.open_shared_secret(
            &forged,
            conversation,
            "m2",
            &me(&bob),
            std::slice::from_ref(&first)
        ),
        Err(SharedSecretError::Mismatch("sender"))
    ));
    // Carol is removed: epoch 2 goes to bob only; carol cannot read what follows.
    let second = GroupSecret::generate(2).unwrap();
    let share = alice.share_group_secret(conversation, &second, &[me(&bob)]);
    assert_eq!(share.messages.len(), 1);
    let bob_second = receive(&mut bob, &share.messages[0]);
    let after = alice
        .seal_shared_secret(&second, conversation, "m3", b"after carol")
        .unwrap();
    assert_eq!(
        bob.open_shared_secret(&after, conversation, "m3", &me(&alice), &[bob_second])
            .unwrap()
            .as_slice(),
        b"after carol"
    );
    assert_eq!(
        carol.open_shared_secret(&after, conversation, "m3", &me(&alice), &carol_secrets),
        Err(SharedSecretError::UnknownEpoch(2))
    );
}
