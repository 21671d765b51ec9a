//! The ledger's binary encodings (`zynk_ledger`): transactions, blocks, batch headers and
//! message leaves, decoded strictly. Whatever decodes must encode back to the same bytes (the
//! encodings are canonical: they are hashed and signed), and the checks that follow decoding
//! (validation, chain and signature verification) must not panic. The first byte picks the
//! encoding.
#![no_main]
use std::sync::LazyLock;

use ed25519_dalek::{SigningKey, VerifyingKey};
use libfuzzer_sys::fuzz_target;
use zynk_ledger::{BatchHeader, Block, MessageLeaf, Transaction, verify_chain};

/// The validator key of the seed corpus (seed 7, 7, …).
static KEY: LazyLock<VerifyingKey> =
    LazyLock::new(|| SigningKey::from_bytes(&[7; 32]).verifying_key());

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => {
            if let Ok(tx) = Transaction::decode(bytes) {
                assert_eq!(tx.encode(), bytes, "transaction encoding is canonical");
                let _ = tx.validate();
                let _ = tx.hash();
            }
        }
        1 => {
            if let Ok(block) = Block::decode(bytes) {
                assert_eq!(block.encode(), bytes, "block encoding is canonical");
                let _ = block.verify_standalone(&KEY);
                let _ = verify_chain(std::slice::from_ref(&block), &KEY, None);
            }
        }
        2 => {
            if let Ok(header) = BatchHeader::decode(bytes) {
                assert_eq!(header.encode(), bytes, "batch header encoding is canonical");
                let _ = header.verify_signature(&KEY);
                let _ = header.header_hash();
            }
        }
        3 => {
            if let Ok(leaf) = MessageLeaf::from_bytes(bytes) {
                assert_eq!(
                    leaf.to_bytes().as_slice(),
                    bytes,
                    "leaf encoding is canonical"
                );
                let _ = leaf.leaf_hash();
            }
        }
        _ => {
            // Blocks as JSON (the API's `GET /api/v1/ledger/blocks` form).
            if let Ok(blocks) = serde_json::from_slice::<Vec<Block>>(bytes) {
                let _ = verify_chain(&blocks, &KEY, None);
                for block in &blocks {
                    let _ = Block::decode(&block.encode());
                }
            }
        }
    }
});
