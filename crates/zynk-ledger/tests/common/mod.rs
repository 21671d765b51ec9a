//! Shared fixtures for the integration tests: deterministic keys and sealed message batches.

#![allow(dead_code)]

use ed25519_dalek::SigningKey;
use uuid::Uuid;
use zynk_ledger::{BatchHeader, Hash32, MerkleTree, MessageLeaf, UnixMillis};

/// A deterministic ledger signing key.
pub fn ledger_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// A sealed batch: its leaves in seq order, the tree and the signed header.
pub struct Batch {
    pub leaves: Vec<MessageLeaf>,
    pub tree: MerkleTree,
    pub header: BatchHeader,
}

/// Builds `n >= 1` message leaves derived from `seed`, with seqs starting at `first_seq`, and
/// seals them under `key`.
pub fn batch(seed: u64, n: u64, first_seq: u64, key: &SigningKey) -> Batch {
    let leaves: Vec<MessageLeaf> = (0..n)
        .map(|i| {
            let id = Uuid::from_u128((u128::from(seed) << 64) | u128::from(i));
            let ciphertext = [seed.to_be_bytes(), i.to_be_bytes()].concat();
            MessageLeaf::from_ciphertext(id, &ciphertext, first_seq + i, 1_795_770_000_000 + i)
        })
        .collect();
    let tree = MerkleTree::from_leaf_hashes(leaves.iter().map(MessageLeaf::leaf_hash).collect());
    let header = BatchHeader {
        height: seed % 1000,
        batch_id: format!("2026-11-27T{:02}Z", seed % 24),
        prev_header_hash: Hash32::sha256(&seed.to_be_bytes()),
        root: tree.root(),
        tree_size: n,
        first_seq,
        last_seq: first_seq + n - 1,
        closed_at: UnixMillis(1_795_773_600_000),
        signer: "did:zynk:0f6c1d2e-8a4b-4c1d-9e2f-3a4b5c6d7e8f#ledger-key-1".to_owned(),
        signature: Default::default(),
    }
    .signed(key);
    Batch {
        leaves,
        tree,
        header,
    }
}
