//! DIDs and keys as the ledger and credential code read them (`zynk_ledger::did`):
//! `did:zynk`, `did:key`, multibase keys and DID documents. A key that parses must format back
//! to the same text (one text per key).
#![no_main]
use libfuzzer_sys::fuzz_target;
use zynk_ledger::did::{DidDocument, is_valid_did, parse_did_key};
use zynk_ledger::{Ed25519PublicKey, ZynkDid};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = is_valid_did(text);
        if let Ok(did) = text.parse::<ZynkDid>() {
            let _ = did.url("key-1");
            assert_eq!(did.to_string().parse::<ZynkDid>().ok(), Some(did));
        }
        let _ = parse_did_key(text);
        if let Ok(key) = Ed25519PublicKey::from_multibase(text) {
            assert_eq!(key.to_multibase(), text, "one multibase text per key");
            let _ = key.to_verifying_key();
        }
        if let Ok(key) = Ed25519PublicKey::from_did_key(text) {
            assert_eq!(key.to_did_key(), text, "one did:key per key");
        }
    }
    if let Ok(document) = serde_json::from_slice::<DidDocument>(data) {
        let _ = document.identity_key();
    }
});
