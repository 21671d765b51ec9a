//! The proof object: JSON shape, strict parsing, and the verifier's rejections.

mod common;

use serde_json::{Value, json};
use zynk_ledger::merkle::{MerkleError, Side};
use zynk_ledger::proof::{EMBEDDED_CHAIN, HASH_ALG, PROOF_VERSION};
use zynk_ledger::{Address20, Anchor, BatchHeader, Hash32, MessageProof, ProofError};

fn sample() -> (common::Batch, MessageProof) {
    let key = common::ledger_key(1);
    let b = common::batch(42, 8, 99_120, &key);
    let proof = MessageProof::build(&b.tree, &b.leaves[5], 5, &b.header, None).expect("build");
    (b, proof)
}

#[test]
fn json_has_the_documented_shape() {
    let (_, proof) = sample();
    let v: Value = serde_json::from_str(&proof.to_json().expect("json")).expect("value");
    assert_eq!(v["version"], PROOF_VERSION);
    assert_eq!(v["hash_alg"], HASH_ALG);
    assert_eq!(v["leaf_index"], 5);
    assert_eq!(v["tree_size"], 8);
    let root = v["root"].as_str().expect("root");
    assert!(root.starts_with("0x") && root.len() == 66, "{root}");
    assert_eq!(v["leaf_hash"].as_str().map(str::len), Some(66));
    let path = v["path"].as_array().expect("path");
    assert_eq!(path.len(), 3);
    // Index 5 of 8: siblings are leaf 4 (left), node 6..8 (right), node 0..4 (left).
    let positions: Vec<&str> = path.iter().filter_map(|e| e["position"].as_str()).collect();
    assert_eq!(positions, ["left", "right", "left"]);
    for e in path {
        let keys: Vec<&String> = e.as_object().expect("entry").keys().collect();
        assert_eq!(keys, ["hash", "position"]);
    }
    let header = &v["batch_header"];
    assert_eq!(header["first_seq"], 99_120);
    assert_eq!(header["last_seq"], 99_127);
    assert_eq!(header["closed_at"], "2026-11-27T10:00:00Z");
    assert_eq!(header["signature"].as_str().map(str::len), Some(86));
    assert_eq!(v["anchor"]["chain"], EMBEDDED_CHAIN);
    assert!(
        v["anchor"].get("gas_used").is_none(),
        "embedded anchors carry no gas"
    );
    assert!(v.get("checkpoint").is_none());

    let siblings = serde_json::to_value(proof.siblings_doc()).expect("siblings");
    assert_eq!(siblings["siblings"], v["path"]);
}

#[test]
fn siblings_alias_and_round_trip() {
    let (b, proof) = sample();
    let pinned = common::ledger_key(1).verifying_key();
    let mut v: Value = serde_json::to_value(&proof).expect("value");
    let obj = v.as_object_mut().expect("object");
    let path = obj.remove("path").expect("path");
    obj.insert("siblings".into(), path);
    let parsed = MessageProof::from_json(&v.to_string()).expect("parse with siblings");
    assert_eq!(parsed, proof);
    assert_eq!(parsed.verify_for_message(&b.leaves[5], &pinned), Ok(()));
}

#[test]
fn parsing_is_strict() {
    let (_, proof) = sample();
    let json = proof.to_json().expect("json");
    let upper = json.replacen(
        &proof.root.to_string()[2..],
        &proof.root.to_string()[2..].to_uppercase(),
        1,
    );
    assert!(MessageProof::from_json(&upper).is_err(), "uppercase hex");
    let unprefixed = json.replacen(&proof.root.to_string(), &proof.root.to_string()[2..], 1);
    assert!(MessageProof::from_json(&unprefixed).is_err(), "missing 0x");
    let extra = json.replacen("{", "{\"extra\":1,", 1);
    assert!(MessageProof::from_json(&extra).is_err(), "unknown field");
    let bad_side = json.replacen("\"left\"", "\"up\"", 1);
    assert!(MessageProof::from_json(&bad_side).is_err(), "bad position");
    let huge = " ".repeat(70_000);
    assert_eq!(
        MessageProof::from_json(&huge),
        Err(ProofError::TooLarge(70_000))
    );
}

#[test]
fn every_leaf_of_a_batch_verifies() {
    let key = common::ledger_key(3);
    let pinned = key.verifying_key();
    for n in [1u64, 2, 3, 7, 8, 9, 100] {
        let b = common::batch(n, n, 10, &key);
        for (i, leaf) in b.leaves.iter().enumerate() {
            let p = MessageProof::build(&b.tree, leaf, i as u64, &b.header, None).expect("build");
            assert_eq!(p.verify_for_message(leaf, &pinned), Ok(()), "{i}/{n}");
        }
    }
}

#[test]
fn verifier_rejections_name_the_numbers() {
    let (b, proof) = sample();
    let pinned = common::ledger_key(1).verifying_key();
    let leaf = b.leaves[5];

    let mut p = proof.clone();
    p.leaf_index = 8;
    let e = p.verify(&pinned).expect_err("index");
    assert_eq!(
        e,
        ProofError::Merkle(MerkleError::IndexOutOfRange { index: 8, size: 8 })
    );
    assert_eq!(
        e.to_string(),
        "leaf index out of range: expected below 8, got 8"
    );

    let mut p = proof.clone();
    p.path[1].position = Side::Left;
    assert_eq!(
        p.verify(&pinned).expect_err("position").to_string(),
        "path entry 1 position: expected right, got left"
    );

    let mut p = proof.clone();
    p.path = vec![p.path[0]; 65];
    assert_eq!(
        p.verify(&pinned),
        Err(ProofError::Merkle(MerkleError::PathTooLong { got: 65 }))
    );

    let mut p = proof.clone();
    p.path.pop();
    assert_eq!(
        p.verify(&pinned),
        Err(ProofError::Merkle(MerkleError::PathLength {
            expected: 3,
            got: 2
        }))
    );

    let mut p = proof.clone();
    p.root = Hash32([1; 32]);
    assert!(matches!(
        p.verify(&pinned),
        Err(ProofError::Merkle(MerkleError::RootMismatch { .. }))
    ));

    // The header must describe the same tree as the proof.
    let other = common::batch(43, 8, 99_120, &common::ledger_key(1));
    let mut p = proof.clone();
    p.batch_header = other.header.clone();
    assert_eq!(
        p.verify(&pinned),
        Err(ProofError::HeaderRoot {
            expected: proof.root,
            got: other.header.root
        })
    );
    let mut p = proof.clone();
    p.batch_header.tree_size = 9;
    p.batch_header.sign(&common::ledger_key(1));
    assert_eq!(
        p.verify(&pinned),
        Err(ProofError::HeaderSize {
            expected: 8,
            got: 9
        })
    );
    let mut p = proof.clone();
    p.batch_id = "2026-11-27T09Z".into();
    assert!(matches!(
        p.verify(&pinned),
        Err(ProofError::HeaderBatchId { .. })
    ));

    // Signatures: wrong pinned key, altered header, zeroed signature.
    let other_key = common::ledger_key(2).verifying_key();
    assert!(matches!(
        proof.verify(&other_key),
        Err(ProofError::Signature { .. })
    ));
    let mut p = proof.clone();
    p.batch_header.closed_at.0 += 1;
    assert!(matches!(
        p.verify(&pinned),
        Err(ProofError::Signature { .. })
    ));
    let mut p = proof.clone();
    p.batch_header.signature = Default::default();
    assert!(matches!(
        p.verify(&pinned),
        Err(ProofError::Signature { .. })
    ));

    // Binding to the client's own message.
    let mut other_leaf = leaf;
    other_leaf.content_hash = Hash32::sha256(b"a different ciphertext");
    assert!(matches!(
        proof.verify_for_message(&other_leaf, &pinned),
        Err(ProofError::LeafHash { .. })
    ));
    assert!(matches!(
        proof.verify_for_message(&b.leaves[4], &pinned),
        Err(ProofError::MessageId { .. })
    ));

    let mut p = proof.clone();
    p.version = "zynk-proof/2".into();
    assert_eq!(
        p.verify(&pinned),
        Err(ProofError::Version("zynk-proof/2".into()))
    );
}

#[test]
fn anchors() {
    let (b, proof) = sample();
    let pinned = common::ledger_key(1).verifying_key();
    let anchor = proof.anchor.clone().expect("anchor");
    assert_eq!(anchor.tx_hash, b.header.header_hash());
    assert_eq!(anchor.block_number, b.header.height);

    let mut p = proof.clone();
    p.anchor.as_mut().expect("anchor").block_number += 1;
    assert!(matches!(
        p.verify(&pinned),
        Err(ProofError::AnchorField {
            field: "block_number",
            ..
        })
    ));
    let mut p = proof.clone();
    p.anchor.as_mut().expect("anchor").gas_used = Some(21_000);
    assert!(matches!(
        p.verify(&pinned),
        Err(ProofError::AnchorField {
            field: "gas_used",
            ..
        })
    ));

    let evm = Anchor {
        chain: "eip155:1".into(),
        contract: Some(Address20([0x11; 20])),
        tx_hash: Hash32([0x22; 32]),
        block_number: 19_000_000,
        log_index: Some(3),
        gas_used: Some(45_000),
    };
    let p =
        MessageProof::build(&b.tree, &b.leaves[0], 0, &b.header, Some(evm.clone())).expect("build");
    assert_eq!(p.verify(&pinned), Ok(()));
    let v = serde_json::to_value(&evm).expect("json");
    assert_eq!(v["contract"].as_str().map(str::len), Some(42));
    let mut p2 = p.clone();
    p2.anchor.as_mut().expect("anchor").chain = "bitcoin".into();
    assert_eq!(
        p2.verify(&pinned),
        Err(ProofError::AnchorChain("bitcoin".into()))
    );
}

#[test]
fn build_rejects_inconsistent_inputs() {
    let (b, _) = sample();
    assert!(matches!(
        MessageProof::build(&b.tree, &b.leaves[1], 2, &b.header, None),
        Err(ProofError::Build(_))
    ));
    let mut header = b.header.clone();
    header.tree_size = 7;
    assert!(matches!(
        MessageProof::build(&b.tree, &b.leaves[1], 1, &header, None),
        Err(ProofError::Build(_))
    ));
}

#[test]
fn header_binary_encoding_round_trips_and_chains() {
    let (b, _) = sample();
    let bytes = b.header.encode();
    assert!(bytes.starts_with(b"zynk/ledger-header/v1\0"));
    assert_eq!(BatchHeader::decode(&bytes), Ok(b.header.clone()));
    assert!(BatchHeader::decode(&bytes[..bytes.len() - 1]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(BatchHeader::decode(&longer).is_err());

    let key = common::ledger_key(1);
    let next = BatchHeader {
        height: b.header.height + 1,
        prev_header_hash: b.header.header_hash(),
        ..b.header.clone()
    }
    .signed(&key);
    assert_eq!(next.prev_header_hash, Hash32::sha256(&bytes));
    assert_eq!(next.verify_signature(&key.verifying_key()), Ok(()));
}

#[test]
fn five_two_example_shape_parses() {
    let (_, proof) = sample();
    let mut v = serde_json::to_value(&proof).expect("value");
    v["checkpoint"] = json!("zynk.example/ledger\n1234\nAAAA\n\n— zynk.example/ledger sig");
    let parsed = MessageProof::from_json(&v.to_string()).expect("parse");
    assert!(parsed.checkpoint.is_some());
}
