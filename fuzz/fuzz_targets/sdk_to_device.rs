//! The SDK's decryption of to-device payloads (`CryptoMachine::decrypt_to_device`), with a
//! device that has a real Olm session with the sender: the envelope as JSON from the server
//! (first byte even), or the genuine sender key with an arbitrary message type and ciphertext
//! (odd), which reaches vodozemac's Olm message parser and MAC check.
#![no_main]
#[path = "common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use zynk_sdk::crypto::EncryptedToDevice;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut pair = common::PAIR.lock().unwrap_or_else(|e| e.into_inner());
    let envelope = if mode % 2 == 0 {
        match serde_json::from_slice::<EncryptedToDevice>(rest) {
            Ok(envelope) => envelope,
            Err(_) => return,
        }
    } else {
        let Some((&message_type, ciphertext)) = rest.split_first() else {
            return;
        };
        let mut envelope = pair.to_device.clone();
        envelope.message_type = message_type % 3;
        envelope.ciphertext = common::base64(ciphertext);
        envelope
    };
    if envelope == pair.to_device {
        // The genuine payload opens once; the fuzzer must not consume it.
        return;
    }
    if let Ok(decrypted) = pair.bob.decrypt_to_device(&envelope) {
        assert_eq!(decrypted.sender.user_id, "alice");
    }
});
