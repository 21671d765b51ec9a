//! Property tests (A18): for random tree sizes up to 5,000, sampled inclusion proofs and
//! consistency proofs verify, and any one-bit change to leaf, path, index, size, position or
//! root is rejected.
//!
//! 256 cases × 8 sampled leaves × 6 mutation kinds = 12,288 tampered proofs per run, each of
//! which must be rejected, plus per case two edits of the signed header that only the
//! signature can catch. Mutations of proof fields are rejected before the signature check, so
//! none of them relies on it.

mod common;

use proptest::prelude::*;
use zynk_ledger::merkle::{self, Side, verify_consistency, verify_inclusion};
use zynk_ledger::proof::verify_positioned_path;
use zynk_ledger::{MessageProof, ProofError};

/// Sizes up to this bound get every old size `m` in `0..=n` checked; larger trees get a sample.
const EXHAUSTIVE_CONSISTENCY_UP_TO: u64 = 600;

fn flip(bytes: &mut [u8], bit: usize) {
    let bit = bit % (bytes.len() * 8);
    bytes[bit / 8] ^= 1 << (bit % 8);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn inclusion_and_consistency_hold_and_tampering_is_rejected(
        n in 1u64..=5000,
        seed in any::<u64>(),
        samples in prop::collection::vec((any::<prop::sample::Index>(), any::<usize>(), 0u32..64), 8),
        old_sizes in prop::collection::vec(any::<prop::sample::Index>(), 48),
    ) {
        let key = common::ledger_key(7);
        let pinned = key.verifying_key();
        let b = common::batch(seed, n, 1_000, &key);
        let root = b.tree.root();

        // Signature-level checks once per case (Ed25519 is slow in unoptimised test builds):
        // the full verification, and header edits that only the signature can catch.
        let (first_pick, first_bit, first_int_bit) = &samples[0];
        let fi = first_pick.index(n as usize) as u64;
        let signed = MessageProof::build(&b.tree, &b.leaves[fi as usize], fi, &b.header, None).expect("build");
        prop_assert_eq!(signed.verify_for_message(&b.leaves[fi as usize], &pinned), Ok(()));
        let mut p = signed.clone();
        p.batch_header.tree_size ^= 1u64 << first_int_bit;
        p.tree_size = p.batch_header.tree_size;
        prop_assert!(p.verify(&pinned).is_err(), "header size bit {}", first_int_bit);
        let mut p = signed.clone();
        flip(&mut p.batch_header.root.0, *first_bit);
        p.root = p.batch_header.root;
        prop_assert!(p.verify(&pinned).is_err(), "header root bit {}", first_bit);

        for (pick, bit, int_bit) in &samples {
            let i = pick.index(n as usize) as u64;
            let leaf = b.leaves[i as usize];
            let path = b.tree.inclusion_proof(i).expect("path");
            prop_assert!(verify_inclusion(&leaf.leaf_hash(), i, n, &path, &root).is_ok());

            let proof = MessageProof::build(&b.tree, &leaf, i, &b.header, None).expect("build");
            prop_assert_eq!(
                verify_positioned_path(&proof.leaf_hash, i, n, &proof.path, &proof.root),
                Ok(())
            );
            let reparsed = MessageProof::from_json(&proof.to_json().expect("json")).expect("parse");
            prop_assert_eq!(&reparsed, &proof);

            // 1. Leaf: one bit of the leaf hash.
            let mut p = proof.clone();
            flip(&mut p.leaf_hash.0, *bit);
            prop_assert!(p.verify(&pinned).is_err(), "leaf bit {}", bit);
            prop_assert!(p.verify_for_message(&leaf, &pinned).is_err());
            let mut raw_leaf = leaf.leaf_hash();
            flip(&mut raw_leaf.0, *bit);
            prop_assert!(verify_inclusion(&raw_leaf, i, n, &path, &root).is_err());

            // 2. Path: one bit of one sibling (or an extra sibling for a one-leaf tree).
            let mut p = proof.clone();
            if p.path.is_empty() {
                p.path.push(zynk_ledger::PathEntry { hash: root, position: Side::Left });
            } else {
                let k = bit % p.path.len();
                flip(&mut p.path[k].hash.0, bit / 7);
                let mut raw = path.clone();
                flip(&mut raw[k].0, bit / 7);
                prop_assert!(verify_inclusion(&leaf.leaf_hash(), i, n, &raw, &root).is_err());
            }
            prop_assert!(p.verify(&pinned).is_err(), "path");

            // 3. Index: one bit of leaf_index.
            let mut p = proof.clone();
            p.leaf_index ^= 1u64 << int_bit;
            prop_assert!(p.verify(&pinned).is_err(), "index bit {}", int_bit);
            prop_assert!(verify_inclusion(&leaf.leaf_hash(), p.leaf_index, n, &path, &root).is_err());

            // 4. Size: one bit of tree_size. The signed header binds the size.
            let mut p = proof.clone();
            p.tree_size ^= 1u64 << int_bit;
            prop_assert!(p.verify(&pinned).is_err(), "size bit {}", int_bit);

            // 5. Position: one stated side flipped (or an extra entry for a one-leaf tree).
            let mut p = proof.clone();
            if p.path.is_empty() {
                p.path.push(zynk_ledger::PathEntry { hash: root, position: Side::Right });
                prop_assert!(p.verify(&pinned).is_err());
            } else {
                let k = bit % p.path.len();
                p.path[k].position = match p.path[k].position {
                    Side::Left => Side::Right,
                    Side::Right => Side::Left,
                };
                let is_position_error = matches!(p.verify(&pinned), Err(ProofError::Position { step, .. }) if step == k);
                prop_assert!(is_position_error, "position {}", k);
            }

            // 6. Root: one bit of the proof root.
            let mut p = proof.clone();
            flip(&mut p.root.0, *bit);
            prop_assert!(p.verify(&pinned).is_err(), "root bit {}", bit);
            let mut raw_root = root;
            flip(&mut raw_root.0, *bit);
            prop_assert!(verify_inclusion(&leaf.leaf_hash(), i, n, &path, &raw_root).is_err());
        }

        let olds: Vec<u64> = if n <= EXHAUSTIVE_CONSISTENCY_UP_TO {
            (0..=n).collect()
        } else {
            let mut v: Vec<u64> = old_sizes.iter().map(|ix| ix.index(n as usize + 1) as u64).collect();
            v.extend([0, 1, n - 1, n]);
            v.extend((0..13).map(|k| 1u64 << k).filter(|&p| p <= n));
            v
        };
        for m in olds {
            let old_root = b.tree.root_at(m).expect("old root");
            let proof = b.tree.consistency_proof(m, n).expect("consistency");
            prop_assert_eq!(verify_consistency(m, n, &old_root, &root, &proof), Ok(()), "{}->{}", m, n);
            if m > 0 && m < n && !proof.is_empty() {
                let (pick, bit, _) = &samples[m as usize % samples.len()];
                let mut bad = proof.clone();
                let k = pick.index(bad.len());
                flip(&mut bad[k].0, *bit);
                prop_assert!(verify_consistency(m, n, &old_root, &root, &bad).is_err());
                let mut bad_old = old_root;
                flip(&mut bad_old.0, *bit);
                prop_assert!(verify_consistency(m, n, &bad_old, &root, &proof).is_err());
                let mut bad_new = root;
                flip(&mut bad_new.0, *bit);
                prop_assert!(verify_consistency(m, n, &old_root, &bad_new, &proof).is_err());
            }
        }
        prop_assert_eq!(merkle::root_of(b.tree.leaf_hashes()), root);
    }
}
