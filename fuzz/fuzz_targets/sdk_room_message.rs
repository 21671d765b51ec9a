//! The SDK's decryption of conversation messages (`CryptoMachine::decrypt_room_event`), with
//! a device that holds a real Megolm session: the envelope as JSON from the server (first
//! byte even), or the genuine envelope with arbitrary ciphertext bytes (odd), which reaches
//! vodozemac's message parser and MAC check under the real session key.
#![no_main]
#[path = "common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use zynk_sdk::crypto::EncryptedRoomMessage;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut pair = common::PAIR.lock().unwrap_or_else(|e| e.into_inner());
    let envelope = if mode % 2 == 0 {
        match serde_json::from_slice::<EncryptedRoomMessage>(rest) {
            Ok(envelope) => envelope,
            Err(_) => return,
        }
    } else {
        let mut envelope = pair.message.clone();
        envelope.ciphertext = common::base64(rest);
        envelope
    };
    if let Ok(event) = pair
        .bob
        .decrypt_room_event(common::CONVERSATION, common::MESSAGE, &envelope)
    {
        // Only Alice's genuine message opens under that id.
        assert_eq!(event.event.message_id, common::MESSAGE);
        assert_eq!(event.sender.user_id, "alice");
    }
});
