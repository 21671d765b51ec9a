//! Proofs a client checks offline (`zynk_ledger`): message proofs (JSON), identity proofs,
//! block headers, and the Merkle inclusion and consistency verifiers on arbitrary paths. The
//! first byte picks the kind.
#![no_main]
use std::sync::LazyLock;

use ed25519_dalek::{SigningKey, VerifyingKey};
use libfuzzer_sys::fuzz_target;
use zynk_ledger::identity::BlockHeader;
use zynk_ledger::merkle::{root_from_inclusion, verify_consistency, verify_inclusion};
use zynk_ledger::proof::verify_positioned_path;
use zynk_ledger::{Hash32, IdentityProof, MessageLeaf, MessageProof, PathEntry, ZynkDid};

/// The ledger key of the seed corpus (seed 7, 7, …).
static KEY: LazyLock<VerifyingKey> =
    LazyLock::new(|| SigningKey::from_bytes(&[7; 32]).verifying_key());

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    for (i, v) in bytes.iter().skip(at).take(8).enumerate() {
        b[i] = *v;
    }
    u64::from_le_bytes(b)
}

fn hashes(bytes: &[u8]) -> Vec<Hash32> {
    bytes
        .chunks_exact(32)
        .map(|c| Hash32::from_slice(c).expect("32 bytes"))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => {
            let Ok(json) = std::str::from_utf8(bytes) else {
                return;
            };
            if let Ok(proof) = MessageProof::from_json(json) {
                let _ = proof.verify(&KEY);
                let leaf = MessageLeaf::new(proof.message_id, Hash32::ZERO, 1, 0);
                let _ = proof.verify_for_message(&leaf, &KEY);
                let again = proof.to_json().expect("a parsed proof serialises");
                assert_eq!(MessageProof::from_json(&again).ok(), Some(proof));
            }
        }
        1 => {
            if let Ok(proof) = serde_json::from_slice::<IdentityProof>(bytes) {
                let did: ZynkDid = proof.did;
                let _ = proof.verify(&did, &KEY);
            }
        }
        2 => {
            if let Ok(header) = serde_json::from_slice::<BlockHeader>(bytes) {
                let _ = header.verify(&KEY);
                let _ = header.header_bytes();
            }
        }
        3 => {
            // index, size, leaf, root, path.
            if bytes.len() < 80 {
                return;
            }
            let (index, size) = (u64_at(bytes, 0), u64_at(bytes, 8));
            let leaf = Hash32::from_slice(&bytes[16..48]).expect("32 bytes");
            let root = Hash32::from_slice(&bytes[48..80]).expect("32 bytes");
            let path = hashes(&bytes[80..]);
            let _ = root_from_inclusion(&leaf, index, size, &path);
            let _ = verify_inclusion(&leaf, index, size, &path, &root);
            let _ = verify_consistency(index, size, &leaf, &root, &path);
            if let Ok(entries) = serde_json::from_slice::<Vec<PathEntry>>(&bytes[80..]) {
                let _ = verify_positioned_path(&leaf, index, size, &entries, &root);
            }
        }
        _ => {
            // A positioned path as JSON after index, size, leaf and root.
            if bytes.len() < 80 {
                return;
            }
            let (index, size) = (u64_at(bytes, 0), u64_at(bytes, 8));
            let leaf = Hash32::from_slice(&bytes[16..48]).expect("32 bytes");
            let root = Hash32::from_slice(&bytes[48..80]).expect("32 bytes");
            if let Ok(entries) = serde_json::from_slice::<Vec<PathEntry>>(&bytes[80..]) {
                let _ = verify_positioned_path(&leaf, index, size, &entries, &root);
            }
        }
    }
});
