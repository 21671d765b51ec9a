//! Room-key forwarding between one user's own devices, through the public
//! API: a device added later reads the history once a sibling forwards its
//! sessions (exported at their first known index), a better copy is never
//! replaced by a worse one, forwards are chunked to fit a to-device message,
//! and another user's new device gets nothing.

mod common;

use common::{Directory, FAST_KDF, TestUser, connect, me};
use zynk_proto::to_device::MAX_TO_DEVICE_CONTENT_BYTES;
use zynk_sdk::crypto::{
    CryptoError, CryptoMachine, DeviceRef, EncryptedRoomMessage, GroupError, OlmError,
    RoomEventContent, SessionRef, ToDeviceEvent, ToDeviceMessage,
};

/// Deliver to-device messages to `to`; returns the decrypted events.
fn deliver(to: &mut CryptoMachine, messages: Vec<ToDeviceMessage>) -> Vec<ToDeviceEvent> {
    messages
        .into_iter()
        .map(|m| {
            assert_eq!(m.recipient, me(to));
            to.decrypt_to_device(&m.envelope).unwrap().event
        })
        .collect()
}

/// Bob sends `texts` in `conversation` to the devices he knows of Alice's
/// (and his own); returns the envelopes with their message ids.
fn bob_sends(
    directory: &mut Directory,
    bob: &mut CryptoMachine,
    alices: &mut [&mut CryptoMachine],
    conversation: &str,
    texts: &[&str],
) -> Vec<(String, EncryptedRoomMessage)> {
    let participants: Vec<DeviceRef> = alices.iter().map(|m| me(m)).collect();
    for message in directory.share(bob, conversation, &participants, 0) {
        let target = alices
            .iter_mut()
            .find(|m| me(m) == message.recipient)
            .unwrap();
        target.decrypt_to_device(&message.envelope).unwrap();
    }
    texts
        .iter()
        .map(|text| {
            let id = format!("{conversation}-{text}");
            let envelope = bob
                .encrypt_room_event(conversation, &id, RoomEventContent::text(*text), 1)
                .unwrap();
            (id, envelope)
        })
        .collect()
}

fn text_of(
    machine: &mut CryptoMachine,
    conversation: &str,
    id: &str,
    e: &EncryptedRoomMessage,
) -> String {
    machine
        .decrypt_room_event(conversation, id, e)
        .unwrap()
        .event
        .content
        .body
        .unwrap()
}

#[test]
fn a_later_device_reads_history_forwarded_by_its_sibling() {
    let mut directory = Directory::default();
    let alice = TestUser::new("alice");
    let mut a1 = alice.device("A1");
    let mut bob = TestUser::new("bob").device("B1");
    directory.register(&mut a1);
    directory.register(&mut bob);
    directory.sync_all(&mut a1);
    directory.sync_all(&mut bob);

    // History: Bob's messages 0..3 and one of A1's own.
    let history = bob_sends(
        &mut directory,
        &mut bob,
        &mut [&mut a1],
        "c",
        &["m0", "m1", "m2"],
    );
    let a1_devices = [me(&bob)];
    for message in directory.share(&mut a1, "c", &a1_devices, 0) {
        bob.decrypt_to_device(&message.envelope).unwrap();
    }
    let own = a1
        .encrypt_room_event("c", "own", RoomEventContent::text("from a1"), 1)
        .unwrap();

    // A2 joins; Bob shares his session with it at its current index (3).
    let mut a2 = alice.device("A2");
    directory.register(&mut a2);
    for machine in [&mut a1, &mut a2, &mut bob] {
        directory.sync_all(machine);
    }
    let later = bob_sends(
        &mut directory,
        &mut bob,
        &mut [&mut a1, &mut a2],
        "c",
        &["m3"],
    );
    for (id, envelope) in &history {
        assert!(matches!(
            a2.decrypt_room_event("c", id, envelope),
            Err(GroupError::UnknownMessageIndex { first_known: 3, .. })
        ));
    }
    assert!(a2.decrypt_room_event("c", "own", &own).is_err());

    // A1 forwards: first it needs an Olm channel to A2.
    assert_eq!(a1.own_devices().len(), 1);
    assert!(matches!(
        a1.forward_room_keys(&me(&a2), None),
        Err(CryptoError::Olm(OlmError::NoSession { .. }))
    ));
    connect(&mut directory, &mut a1, &me(&a2));
    let forward = a1.forward_room_keys(&me(&a2), None).unwrap();
    assert_eq!(forward.sessions, 2, "Bob's session and A1's own");
    assert_eq!(forward.oversized, 0);
    let events = deliver(&mut a2, forward.messages);
    let ToDeviceEvent::ForwardedRoomKeys(report) = &events[0] else {
        panic!("{events:?}");
    };
    assert_eq!(report.imported.len(), 2, "{report:?}");
    assert!(report.rejected.is_empty());
    assert!(report.imported.iter().all(|i| i.first_known_index == 0));

    for (id, envelope) in history.iter().chain(&later) {
        assert_eq!(
            text_of(&mut a2, "c", id, envelope),
            id.trim_start_matches("c-")
        );
    }
    assert_eq!(text_of(&mut a2, "c", "own", &own), "from a1");
    let sessions = a2.inbound_sessions();
    assert!(
        sessions
            .iter()
            .all(|s| s.forwarded_by.as_deref() == Some("A1"))
    );
    assert!(sessions.iter().all(|s| s.first_known_index == 0));

    // Forwarding again changes nothing; A2 forwards nothing back to A1
    // (everything it holds came from A1).
    let again = a1.forward_room_keys(&me(&a2), None).unwrap();
    let events = deliver(&mut a2, again.messages);
    let ToDeviceEvent::ForwardedRoomKeys(report) = &events[0] else {
        panic!("{events:?}");
    };
    assert!(report.imported.is_empty());
    assert_eq!(report.unchanged, 2);
    assert_eq!(a2.forward_room_keys(&me(&a1), None).unwrap().sessions, 0);

    // Bob's key arriving again directly (at index 3) does not replace the
    // forwarded copy from index 0.
    let bob_session = SessionRef {
        conversation_id: "c".into(),
        sender_key: bob.curve25519_key(),
        session_id: bob.outbound_session("c").unwrap().session_id,
    };
    bob.discard_outbound_group_session("c");
    let saved = a2.save_with_params("k", FAST_KDF).unwrap();
    let mut a2 = CryptoMachine::load(&saved, "k").unwrap();
    let kept = a2
        .inbound_sessions()
        .into_iter()
        .find(|s| s.session == bob_session)
        .unwrap();
    assert_eq!(kept.first_known_index, 0);
    assert_eq!(
        kept.forwarded_by.as_deref(),
        Some("A1"),
        "survives save/load"
    );
    assert_eq!(kept.sender, me(&bob));

    // Only named sessions are forwarded on request.
    let only = a1
        .forward_room_keys(&me(&a2), Some(std::slice::from_ref(&bob_session)))
        .unwrap();
    assert_eq!(only.sessions, 1);
    deliver(&mut a2, only.messages);
    // A2 asks A1 over the session A1 opened.
    let request = a2
        .request_room_keys(&me(&a1), std::slice::from_ref(&bob_session))
        .unwrap();
    assert_eq!(
        deliver(&mut a1, request),
        vec![ToDeviceEvent::RoomKeyRequest(vec![bob_session])]
    );
}

#[test]
fn a_direct_key_at_a_later_index_is_improved_by_a_forwarded_one() {
    let mut directory = Directory::default();
    let alice = TestUser::new("alice");
    let (mut a1, mut a2, mut a3) = (alice.device("A1"), alice.device("A2"), alice.device("A3"));
    let mut bob = TestUser::new("bob").device("B1");
    for machine in [&mut a1, &mut a2, &mut a3, &mut bob] {
        directory.register(machine);
    }
    for machine in [&mut a1, &mut a2, &mut a3, &mut bob] {
        directory.sync_all(machine);
    }
    let early = bob_sends(&mut directory, &mut bob, &mut [&mut a1], "c", &["e0", "e1"]);
    let late = bob_sends(
        &mut directory,
        &mut bob,
        &mut [&mut a1, &mut a2, &mut a3],
        "c",
        &["l2"],
    );
    assert_eq!(a2.inbound_sessions()[0].first_known_index, 2);
    assert_eq!(a2.inbound_sessions()[0].forwarded_by, None);

    connect(&mut directory, &mut a1, &me(&a2));
    let forward = a1.forward_room_keys(&me(&a2), None).unwrap();
    let events = deliver(&mut a2, forward.messages);
    let ToDeviceEvent::ForwardedRoomKeys(report) = &events[0] else {
        panic!("{events:?}");
    };
    assert_eq!(report.imported.len(), 1);
    assert_eq!(report.imported[0].first_known_index, 0);
    let info = &a2.inbound_sessions()[0];
    assert_eq!(info.first_known_index, 0);
    assert_eq!(info.forwarded_by.as_deref(), Some("A1"));
    for (id, envelope) in early.iter().chain(&late) {
        assert_eq!(
            text_of(&mut a2, "c", id, envelope),
            id.trim_start_matches("c-")
        );
    }

    // A3 holds the session only from index 2; its forward does not replace
    // A2's better copy.
    connect(&mut directory, &mut a3, &me(&a2));
    let forward = a3.forward_room_keys(&me(&a2), None).unwrap();
    assert_eq!(forward.sessions, 1);
    let events = deliver(&mut a2, forward.messages);
    let ToDeviceEvent::ForwardedRoomKeys(report) = &events[0] else {
        panic!("{events:?}");
    };
    assert!(report.imported.is_empty(), "{report:?}");
    assert_eq!(report.unchanged, 1);
    let info = &a2.inbound_sessions()[0];
    assert_eq!(info.first_known_index, 0);
    assert_eq!(info.forwarded_by.as_deref(), Some("A1"));
    let (id, envelope) = &early[0];
    assert_eq!(text_of(&mut a2, "c", id, envelope), "e0");
}

#[test]
fn forwards_are_chunked_to_fit_one_to_device_message() {
    let mut directory = Directory::default();
    let alice = TestUser::new("alice");
    let (mut a1, mut a2) = (alice.device("A1"), alice.device("A2"));
    let mut bob = TestUser::new("bob").device("B1");
    for machine in [&mut a1, &mut a2, &mut bob] {
        directory.register(machine);
    }
    for machine in [&mut a1, &mut a2, &mut bob] {
        directory.sync_all(machine);
    }
    let mut sent = Vec::new();
    for n in 0..60 {
        let conversation = format!("conversation-{n:03}");
        sent.extend(
            bob_sends(
                &mut directory,
                &mut bob,
                &mut [&mut a1],
                &conversation,
                &["x"],
            )
            .into_iter()
            .map(|(id, e)| (conversation.clone(), id, e)),
        );
    }
    connect(&mut directory, &mut a1, &me(&a2));
    let forward = a1.forward_room_keys(&me(&a2), None).unwrap();
    assert_eq!(forward.sessions, 60);
    assert!(forward.messages.len() >= 4, "{}", forward.messages.len());
    for message in &forward.messages {
        let size = serde_json::to_vec(&message.envelope).unwrap().len();
        assert!(size <= MAX_TO_DEVICE_CONTENT_BYTES, "{size}");
    }
    let imported: usize = deliver(&mut a2, forward.messages)
        .iter()
        .map(|event| match event {
            ToDeviceEvent::ForwardedRoomKeys(report) => report.imported.len(),
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(imported, 60);
    for (conversation, id, envelope) in &sent {
        assert_eq!(text_of(&mut a2, conversation, id, envelope), "x");
    }
}

#[test]
fn another_users_later_device_cannot_get_or_take_history() {
    let mut directory = Directory::default();
    let alice = TestUser::new("alice");
    let bob = TestUser::new("bob");
    let mut a1 = alice.device("A1");
    let mut b1 = bob.device("B1");
    directory.register(&mut a1);
    directory.register(&mut b1);
    directory.sync_all(&mut a1);
    directory.sync_all(&mut b1);
    let history = bob_sends(&mut directory, &mut b1, &mut [&mut a1], "c", &["old"]);

    // Bob adds B2 later; Alice's A1 knows it and even has a channel to it.
    let mut b2 = bob.device("B2");
    directory.register(&mut b2);
    for machine in [&mut a1, &mut b1, &mut b2] {
        directory.sync_all(machine);
    }
    connect(&mut directory, &mut a1, &me(&b2));
    assert!(a1.own_devices().is_empty(), "B2 is not Alice's");
    assert!(matches!(
        a1.forward_room_keys(&me(&b2), None),
        Err(CryptoError::Group(GroupError::NotOwnDevice { .. }))
    ));
    // B2 cannot ask Alice's device either.
    connect(&mut directory, &mut b2, &me(&a1));
    let wanted = SessionRef {
        conversation_id: "c".into(),
        sender_key: b1.curve25519_key(),
        session_id: b1.outbound_session("c").unwrap().session_id,
    };
    assert!(matches!(
        b2.request_room_keys(&me(&a1), &[wanted]),
        Err(CryptoError::Group(GroupError::NotOwnDevice { .. }))
    ));
    let (id, envelope) = &history[0];
    assert!(matches!(
        b2.decrypt_room_event("c", id, envelope),
        Err(GroupError::UnknownSession { .. })
    ));
    // Bob's own B1 can give it to B2: history stays within an account.
    connect(&mut directory, &mut b1, &me(&b2));
    let forward = b1.forward_room_keys(&me(&b2), None).unwrap();
    deliver(&mut b2, forward.messages);
    assert_eq!(text_of(&mut b2, "c", id, envelope), "old");
}
