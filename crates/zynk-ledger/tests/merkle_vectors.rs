//! RFC 6962 / RFC 9162 published test vectors, exhaustive checks over small trees, and a
//! cross-check against the independent `ct-merkle` implementation.

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use proptest::prelude::*;
use sha2::Sha256;
use zynk_ledger::Hash32;
use zynk_ledger::merkle::{
    self, MerkleError, MerkleTree, consistency_proof_len, empty_root, inclusion_path_len,
    leaf_hash, verify_consistency, verify_inclusion,
};

/// The eight leaves of the RFC 6962 / transparency-dev test suite.
const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Published roots for tree sizes 0..=8.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// Published inclusion paths: (leaf index, tree size, path).
const INCLUSION: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// Published consistency proofs: (old size, new size, proof).
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        2,
        8,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
];

fn h(hex_str: &str) -> Hash32 {
    Hash32::from_slice(&hex::decode(hex_str).expect("hex")).expect("32 bytes")
}

fn hs(list: &[&str]) -> Vec<Hash32> {
    list.iter().map(|s| h(s)).collect()
}

fn vector_tree() -> MerkleTree {
    MerkleTree::from_leaves(LEAVES.iter().map(|l| hex::decode(l).expect("hex")))
}

#[test]
fn rfc6962_roots_for_every_size() {
    assert_eq!(empty_root(), h(ROOTS[0]));
    assert_eq!(MerkleTree::new().root(), h(ROOTS[0]));
    let full = vector_tree();
    for (size, root) in ROOTS.iter().enumerate() {
        let prefix =
            MerkleTree::from_leaves(LEAVES[..size].iter().map(|l| hex::decode(l).expect("hex")));
        assert_eq!(prefix.root(), h(root), "size {size}");
        assert_eq!(full.root_at(size as u64), Ok(h(root)), "root_at {size}");
        let leaves: Vec<Hash32> = prefix.leaf_hashes().to_vec();
        assert_eq!(merkle::root_of(&leaves), h(root), "root_of {size}");
    }
    assert_eq!(
        full.root().to_string(),
        "0x5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    );
}

#[test]
fn rfc6962_inclusion_vectors() {
    let tree = vector_tree();
    for (index, size, path) in INCLUSION {
        let want = hs(path);
        assert_eq!(
            tree.inclusion_proof_at(index, size),
            Ok(want.clone()),
            "{index}/{size}"
        );
        let leaf = tree.leaf(index).expect("leaf");
        let root = h(ROOTS[size as usize]);
        assert_eq!(verify_inclusion(&leaf, index, size, &want, &root), Ok(()));
    }
}

#[test]
fn rfc6962_consistency_vectors() {
    let tree = vector_tree();
    for (old, new, proof) in CONSISTENCY {
        let want = hs(proof);
        assert_eq!(
            tree.consistency_proof(old, new),
            Ok(want.clone()),
            "{old}->{new}"
        );
        let (r1, r2) = (h(ROOTS[old as usize]), h(ROOTS[new as usize]));
        assert_eq!(verify_consistency(old, new, &r1, &r2, &want), Ok(()));
    }
}

#[test]
fn leaf_and_node_prefixes() {
    assert_eq!(leaf_hash(b""), h(ROOTS[1]));
    let (a, b) = (leaf_hash(b""), leaf_hash(&[0]));
    assert_eq!(merkle::node_hash(&a, &b), h(ROOTS[2]));
    assert_ne!(
        merkle::node_hash(&b, &a),
        h(ROOTS[2]),
        "pairs are never sorted"
    );
}

fn numbered_tree(n: u64) -> MerkleTree {
    MerkleTree::from_leaves((0..n).map(|i| format!("leaf-{i}")))
}

#[test]
fn exhaustive_small_trees_verify_and_reject_tampering() {
    let big = numbered_tree(64);
    let roots: Vec<Hash32> = (0..=64).map(|n| big.root_at(n).expect("root")).collect();
    for n in 1..=64u64 {
        let root = roots[n as usize];
        for i in 0..n {
            let leaf = big.leaf(i).expect("leaf");
            let path = big.inclusion_proof_at(i, n).expect("path");
            assert_eq!(path.len(), inclusion_path_len(i, n).expect("len"));
            assert_eq!(
                verify_inclusion(&leaf, i, n, &path, &root),
                Ok(()),
                "{i}/{n}"
            );
            // RFC 9162 inclusion proofs do not bind the tree size by themselves: a path verifies
            // for another size exactly when that size walks the same sides. The signed batch
            // header binds the size in a full proof (see tests/proof.rs).
            let same_walk = merkle::inclusion_sides(i, n) == merkle::inclusion_sides(i, n + 1);
            assert_eq!(
                verify_inclusion(&leaf, i, n + 1, &path, &root).is_ok(),
                same_walk,
                "{i}/{n} vs size {}",
                n + 1
            );
            if i + 1 < n {
                assert!(verify_inclusion(&leaf, i + 1, n, &path, &root).is_err());
            }
            let mut extended = path.clone();
            extended.push(Hash32([0xab; 32]));
            assert!(verify_inclusion(&leaf, i, n, &extended, &root).is_err());
            if !path.is_empty() {
                assert!(verify_inclusion(&leaf, i, n, &path[1..], &root).is_err());
            }
        }
        for m in 0..=n {
            let proof = big.consistency_proof(m, n).expect("proof");
            assert_eq!(proof.len(), consistency_proof_len(m, n).expect("len"));
            let (r1, r2) = (roots[m as usize], roots[n as usize]);
            assert_eq!(
                verify_consistency(m, n, &r1, &r2, &proof),
                Ok(()),
                "{m}->{n}"
            );
            if m > 0 && m < n {
                assert!(verify_consistency(m, n, &r1, &roots[n as usize - 1], &proof).is_err());
                assert!(verify_consistency(m, n, &roots[m as usize - 1], &r2, &proof).is_err());
                let mut bad = proof.clone();
                bad[0].0[3] ^= 0x80;
                assert!(
                    verify_consistency(m, n, &r1, &r2, &bad).is_err(),
                    "{m}->{n}"
                );
                assert!(verify_consistency(m, n, &r1, &r2, &proof[1..]).is_err());
            }
        }
    }
}

#[test]
fn degenerate_consistency_cases() {
    let t = numbered_tree(8);
    let r8 = t.root();
    let r4 = t.root_at(4).expect("root");
    assert_eq!(verify_consistency(0, 8, &empty_root(), &r8, &[]), Ok(()));
    assert!(verify_consistency(0, 8, &r4, &r8, &[]).is_err());
    assert!(verify_consistency(0, 8, &empty_root(), &r8, &[r4]).is_err());
    assert_eq!(verify_consistency(4, 4, &r4, &r4, &[]), Ok(()));
    assert!(verify_consistency(4, 4, &r4, &r8, &[]).is_err());
    assert!(verify_consistency(4, 4, &r4, &r4, &[r4]).is_err());
    assert_eq!(
        verify_consistency(8, 4, &r8, &r4, &[]),
        Err(MerkleError::OldSizeLarger { old: 8, new: 4 })
    );
    assert_eq!(
        t.consistency_proof(3, 9),
        Err(MerkleError::SizeOutOfRange {
            requested: 9,
            available: 8
        })
    );
}

#[test]
fn error_messages_carry_the_numbers() {
    let leaf = leaf_hash(b"x");
    let e = verify_inclusion(&leaf, 8, 8, &[], &leaf).expect_err("out of range");
    assert_eq!(
        e.to_string(),
        "leaf index out of range: expected below 8, got 8"
    );
    let e = verify_inclusion(&leaf, 0, 8, &[leaf], &leaf).expect_err("short");
    assert_eq!(e.to_string(), "inclusion path length: expected 3, got 1");
    let e = verify_inclusion(&leaf, 0, 8, &vec![leaf; 65], &leaf).expect_err("long");
    assert_eq!(
        e.to_string(),
        "path too long: expected at most 64 entries, got 65"
    );
}

fn ct_tree(data: &[Vec<u8>]) -> MemoryBackedTree<Sha256, Vec<u8>> {
    let mut t = MemoryBackedTree::new();
    for d in data {
        t.push(d.clone());
    }
    t
}

fn concat(path: &[Hash32]) -> Vec<u8> {
    path.iter().flat_map(|h| h.0).collect()
}

fn ct_root(bytes: &Hash32, n: u64) -> RootHash<Sha256> {
    RootHash::new(bytes.0.into(), n)
}

#[test]
fn ct_merkle_agrees_on_every_prefix_root() {
    let data: Vec<Vec<u8>> = (0..300u32)
        .map(|i| i.to_le_bytes().repeat(i as usize % 5))
        .collect();
    let ours = MerkleTree::from_leaves(&data);
    let mut theirs: MemoryBackedTree<Sha256, Vec<u8>> = MemoryBackedTree::new();
    for (n, d) in data.iter().enumerate() {
        theirs.push(d.clone());
        let want = ours.root_at(n as u64 + 1).expect("root");
        assert_eq!(
            theirs.root().as_bytes().as_slice(),
            want.as_ref(),
            "n={}",
            n + 1
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// For random sizes, ct-merkle produces byte-identical proofs, and each implementation
    /// accepts the other's proofs.
    #[test]
    fn ct_merkle_cross_check(
        data in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..3000),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 8),
    ) {
        let n = data.len() as u64;
        let ours = MerkleTree::from_leaves(&data);
        let theirs = ct_tree(&data);
        let their_root = theirs.root();
        let our_root = ours.root();
        prop_assert_eq!(their_root.as_bytes().as_slice(), our_root.as_ref());
        let root = ct_root(&ours.root(), n);
        for pick in &picks {
            let i = pick.index(data.len());
            let path = ours.inclusion_proof(i as u64).expect("path");
            let ct_proof = theirs.prove_inclusion(i);
            let our_bytes = concat(&path);
            prop_assert_eq!(ct_proof.as_bytes(), our_bytes.as_slice());
            let ours_for_ct = InclusionProof::<Sha256>::try_from_bytes(concat(&path)).expect("proof");
            prop_assert!(root.verify_inclusion(&data[i], i as u64, &ours_for_ct).is_ok());

            let m = 1 + (i as u64 * 7919 + 13) % n;
            let cons = ours.consistency_proof(m, n).expect("consistency");
            if m < n {
                let ct_cons = theirs.prove_consistency((n - m) as usize);
                let our_cons = concat(&cons);
                prop_assert_eq!(ct_cons.as_bytes(), our_cons.as_slice(), "{}->{}", m, n);
                let old_root = ct_root(&ours.root_at(m).expect("root"), m);
                let ours_for_ct = ConsistencyProof::<Sha256>::try_from_bytes(concat(&cons)).expect("proof");
                prop_assert!(root.verify_consistency(&old_root, &ours_for_ct).is_ok());
            }
        }
    }
}
