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
