//! Merkle benchmark (plain `std::time`, no harness): builds a 1,000,000-leaf tree from message
//! leaves, produces every inclusion proof, and measures inclusion verifications per second.
//!
//! `cargo bench -p zynk-ledger` runs the full size and checks the targets (build + all proofs
//! under 2 s, more than 100,000 verifications/s). Run without `--bench` (as `cargo test
//! --all-targets` does) it only smoke-tests 1,000 leaves.

use std::hint::black_box;
use std::time::Instant;

use uuid::Uuid;
use zynk_ledger::merkle::verify_inclusion;
use zynk_ledger::{Hash32, MerkleTree, MessageLeaf};

const BUILD_TARGET_SECS: f64 = 2.0;
const VERIFY_TARGET_PER_SEC: f64 = 100_000.0;

/// SplitMix64, enough to pick indices without a dependency.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n: u64 = if full { 1_000_000 } else { 1_000 };
    let verifications: u64 = if full { 300_000 } else { 1_000 };

    // Inputs: ciphertext hashes as the server would hold them (not timed).
    let leaves: Vec<MessageLeaf> = (0..n)
        .map(|i| {
            let content = Hash32::sha256(&i.to_le_bytes());
            MessageLeaf::new(
                Uuid::from_u128(u128::from(i)),
                content,
                i,
                1_795_770_000_000 + i,
            )
        })
        .collect();

    let start = Instant::now();
    let leaf_hashes: Vec<Hash32> = leaves.iter().map(MessageLeaf::leaf_hash).collect();
    let t_leaves = start.elapsed();
    let tree = MerkleTree::from_leaf_hashes(leaf_hashes);
    let t_tree = start.elapsed();
    let proofs = tree.all_inclusion_proofs();
    let total = start.elapsed();
    let root = tree.root();
    assert_eq!(proofs.len(), n);

    println!("merkle bench: {n} leaves, root {root}");
    println!(
        "  leaf hashing {:.3} s | tree levels {:.3} s | all {n} proofs (flat) {:.3} s",
        t_leaves.as_secs_f64(),
        (t_tree - t_leaves).as_secs_f64(),
        (total - t_tree).as_secs_f64()
    );
    println!(
        "  build + all proofs: {:.3} s ({} path entries, {:.1} MiB of proofs)",
        total.as_secs_f64(),
        proofs.total_entries(),
        (proofs.total_entries() * 32) as f64 / (1024.0 * 1024.0)
    );

    // The same proofs through the per-proof API, one Vec each (reported, not a target).
    let start = Instant::now();
    let mut separate: Vec<Vec<Hash32>> = Vec::with_capacity(n as usize);
    for i in 0..n {
        match tree.inclusion_proof(i) {
            Ok(p) => separate.push(p),
            Err(e) => panic!("proof {i}: {e}"),
        }
    }
    println!(
        "  all {n} proofs as separate Vecs (inclusion_proof): {:.3} s",
        start.elapsed().as_secs_f64()
    );
    assert!((0..n).all(|i| proofs.get(i) == Some(separate[i as usize].as_slice())));
    drop(black_box(separate));

    let mut rng = 0x5eed_u64;
    let picks: Vec<u64> = (0..verifications).map(|_| next(&mut rng) % n).collect();
    let start = Instant::now();
    let mut ok = 0u64;
    for &i in &picks {
        let leaf = &tree.leaf_hashes()[i as usize];
        let path = proofs.get(i).unwrap_or_default();
        if verify_inclusion(black_box(leaf), i, n, path, &root).is_ok() {
            ok += 1;
        }
    }
    let verify_secs = start.elapsed().as_secs_f64();
    let per_sec = verifications as f64 / verify_secs;
    assert_eq!(ok, verifications, "every proof must verify");
    println!(
        "  inclusion verification: {verifications} in {verify_secs:.3} s = {per_sec:.0} verifications/s"
    );
    drop(black_box(proofs));

    if full {
        let build_ok = total.as_secs_f64() < BUILD_TARGET_SECS;
        let verify_ok = per_sec > VERIFY_TARGET_PER_SEC;
        println!(
            "  targets: build+proofs < {BUILD_TARGET_SECS} s: {} | > {VERIFY_TARGET_PER_SEC:.0} verifications/s: {}",
            if build_ok { "PASS" } else { "FAIL" },
            if verify_ok { "PASS" } else { "FAIL" }
        );
        if !(build_ok && verify_ok) {
            std::process::exit(1);
        }
    }
}
