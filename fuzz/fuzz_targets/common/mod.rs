//! Shared set-up of the SDK fuzz targets: two devices (Alice's and Bob's) that verified each
//! other, with an Olm session both ways and Bob holding the Megolm key of Alice's session in
//! conversation [`CONVERSATION`], and one genuine message and to-device payload from Alice.
#![allow(dead_code)]

use std::sync::{LazyLock, Mutex};

use zynk_sdk::crypto::{
    CryptoMachine, DeviceRef, EncryptedRoomMessage, EncryptedToDevice, OutgoingToDevice,
    RoomEventContent, UserIdentity,
};

pub const CONVERSATION: &str = "0190a8a4-0000-7000-8000-000000000001";
pub const MESSAGE: &str = "0190a8a4-0000-7000-8000-000000000002";

pub struct Pair {
    pub alice: CryptoMachine,
    pub bob: CryptoMachine,
    /// A genuine message of Alice's in [`CONVERSATION`] under id [`MESSAGE`].
    pub message: EncryptedRoomMessage,
    /// A genuine to-device payload from Alice to Bob (not yet decrypted by Bob).
    pub to_device: EncryptedToDevice,
}

fn me(machine: &CryptoMachine) -> DeviceRef {
    DeviceRef::new(machine.user_id(), machine.device_id())
}

fn pair() -> Pair {
    let identity = || UserIdentity::generate().expect("randomness");
    let mut alice = CryptoMachine::new("alice", "ALICE1", identity());
    let mut bob = CryptoMachine::new("bob", "BOB1", identity());
    let (a_id, a_keys) = (alice.identity_key(), alice.device_keys());
    let (b_id, b_keys) = (bob.identity_key(), bob.device_keys());
    alice
        .update_devices("bob", &b_id, std::slice::from_ref(&b_keys))
        .expect("bob's devices");
    bob.update_devices("alice", &a_id, std::slice::from_ref(&a_keys))
        .expect("alice's devices");
    let key = bob.keys_to_upload(0, 1, false).one_time_keys.remove(0);
    bob.mark_keys_as_published();
    alice
        .create_outbound_session(&me(&bob), &key)
        .expect("outbound session");
    let share = alice
        .share_room_key(CONVERSATION, &[me(&bob)], 0)
        .expect("room key share");
    for message in &share.messages {
        bob.decrypt_to_device(&message.envelope)
            .expect("bob opens the room key");
    }
    let message = alice
        .encrypt_room_event(CONVERSATION, MESSAGE, RoomEventContent::text("hello"), 1)
        .expect("a message");
    bob.decrypt_room_event(CONVERSATION, MESSAGE, &message)
        .expect("bob reads it");
    let to_device = alice
        .encrypt_to_device(&me(&bob), OutgoingToDevice::Dummy)
        .expect("a to-device payload");
    Pair {
        alice,
        bob,
        message,
        to_device,
    }
}

pub static PAIR: LazyLock<Mutex<Pair>> = LazyLock::new(|| Mutex::new(pair()));

/// Unpadded standard base64, as the SDK writes ciphertexts.
pub fn base64(bytes: &[u8]) -> String {
    zynk_sdk::crypto::encode_base64(bytes)
}
