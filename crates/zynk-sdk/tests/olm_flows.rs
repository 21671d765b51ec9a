//! Pairwise (Olm) flows through the public API: sessions from one-time and
//! fallback keys, replays, corrupted and unauthenticated messages, and
//! concurrent session starts.

mod common;

use common::{TestUser, assert_custom, connect, custom, decode, me, pair};
use serde_json::json;
use zynk_sdk::crypto::{
    CryptoError, DeviceRef, EncryptedToDevice, OlmError, OutgoingToDevice, ToDeviceEvent,
    encode_base64,
};

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
