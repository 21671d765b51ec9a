//! Blocks and transactions: sealing, chain verification, and tamper detection down to every
//! single byte of the stored encoding.

mod common;

use uuid::Uuid;
use zynk_ledger::block::{
    CredentialIssuance, IdentityRegistration, MessageAnchor, TrustReason, TrustScore,
    TrustScoreUpdate, tx_root,
};
use zynk_ledger::did::did_key;
use zynk_ledger::{
    Block, BlockError, ChainTip, Ed25519PublicKey, Hash32, Transaction, ZynkDid, verify_chain,
};

fn did(n: u128) -> ZynkDid {
    ZynkDid::new(Uuid::from_u128(n))
}

fn score(v: u8) -> TrustScore {
    TrustScore::new(v).expect("score")
}

fn all_kinds() -> Vec<Transaction> {
    let identity_key = common::ledger_key(9).verifying_key();
    vec![
        Transaction::IdentityRegistration(IdentityRegistration {
            did: did(1),
            public_key: Ed25519PublicKey::from(&identity_key),
            user_id: Uuid::from_u128(1),
        }),
        Transaction::TrustScoreUpdate(TrustScoreUpdate {
            did: did(1),
            old_score: score(50),
            new_score: score(55),
            reason: TrustReason::AccountAgeMilestone,
            changed_at: 1_800_000_000_000,
        }),
        Transaction::MessageAnchor(MessageAnchor {
            batch_id: "2026-11-27T08Z".into(),
            merkle_root: Hash32([0x5d; 32]),
            tree_size: 8,
            first_seq: 99_120,
            last_seq: 99_127,
        }),
        Transaction::CredentialIssuance(CredentialIssuance {
            credential_id_hash: Hash32::sha256(b"urn:uuid:jti-1"),
            subject_did: did(1).to_string(),
            issuer_did: did_key(&identity_key),
        }),
    ]
}

fn chain(len: u64) -> Vec<Block> {
    let key = common::ledger_key(4);
    let mut blocks: Vec<Block> = Vec::new();
    for i in 0..len {
        let prev = blocks.last().map(ChainTip::of);
        let txs = if i % 2 == 0 { all_kinds() } else { Vec::new() };
        blocks.push(Block::seal(prev.as_ref(), 1_706_000_000 + i * 10, txs, &key).expect("seal"));
    }
    blocks
}

#[test]
fn sealed_chain_verifies() {
    let blocks = chain(5);
    let pinned = common::ledger_key(4).verifying_key();
    let tip = verify_chain(&blocks, &pinned, None).expect("chain");
    assert_eq!(tip, Some(ChainTip::of(&blocks[4])));
    // Continuing from a trusted tip.
    assert_eq!(
        verify_chain(&blocks[3..], &pinned, Some(ChainTip::of(&blocks[2]))),
        Ok(tip)
    );
    assert_eq!(verify_chain(&[], &pinned, None), Ok(None));
    assert_eq!(blocks[0].prev_hash, Hash32::ZERO);
    assert_eq!(blocks[1].prev_hash, blocks[0].hash);
    assert_eq!(blocks[1].tx_root, zynk_ledger::merkle::empty_root());
    assert!(blocks[0].validator.starts_with("did:key:z6Mk"));
}

#[test]
fn every_byte_of_an_encoded_block_is_protected() {
    let blocks = chain(2);
    let pinned = common::ledger_key(4).verifying_key();
    let prev = Some(ChainTip::of(&blocks[0]));
    let target = &blocks[1];
    let with_txs = Block::seal(
        prev.as_ref(),
        target.timestamp,
        all_kinds(),
        &common::ledger_key(4),
    )
    .expect("seal");
    for block in [&blocks[0], &with_txs] {
        let start = if block.index == 0 { None } else { prev };
        let bytes = block.encode();
        assert_eq!(Block::decode(&bytes).as_ref(), Ok(block));
        assert_eq!(
            verify_chain(std::slice::from_ref(block), &pinned, start),
            Ok(Some(ChainTip::of(block)))
        );
        for pos in 0..bytes.len() {
            for mask in [0x01u8, 0x80] {
                let mut tampered = bytes.clone();
                tampered[pos] ^= mask;
                let rejected = match Block::decode(&tampered) {
                    Err(_) => true,
                    Ok(b) => verify_chain(&[b], &pinned, start).is_err(),
                };
                assert!(
                    rejected,
                    "block {} byte {pos} mask {mask:#x} accepted",
                    block.index
                );
            }
        }
        // Truncation and extension too.
        assert!(Block::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Block::decode(&longer).is_err());
    }
}

#[test]
fn chain_level_tampering() {
    let blocks = chain(4);
    let key = common::ledger_key(4);
    let pinned = key.verifying_key();

    let mut skipped = blocks.clone();
    skipped.remove(2);
    assert_eq!(
        verify_chain(&skipped, &pinned, None),
        Err(BlockError::Index {
            expected: 2,
            got: 3
        })
    );

    let mut swapped = blocks.clone();
    swapped.swap(1, 2);
    assert!(verify_chain(&swapped, &pinned, None).is_err());

    // A re-signed block that does not link to its predecessor.
    let forked = Block::seal(
        Some(&ChainTip {
            index: 1,
            hash: Hash32([9; 32]),
            timestamp: 0,
        }),
        blocks[2].timestamp,
        Vec::new(),
        &key,
    )
    .expect("seal");
    let mut forked_chain = blocks.clone();
    forked_chain[2] = forked;
    assert!(matches!(
        verify_chain(&forked_chain, &pinned, None),
        Err(BlockError::PrevHash { index: 2, .. })
    ));

    // Time going backwards, even correctly signed.
    let early = Block::seal(Some(&ChainTip::of(&blocks[0])), 1, Vec::new(), &key).expect("seal");
    assert!(matches!(
        verify_chain(&[blocks[0].clone(), early], &pinned, None),
        Err(BlockError::Timestamp {
            index: 1,
            previous: 1_706_000_000,
            got: 1
        })
    ));

    // A different signer.
    let other = common::ledger_key(5);
    let foreign = Block::seal(None, 1_706_000_000, all_kinds(), &other).expect("seal");
    assert!(matches!(
        verify_chain(std::slice::from_ref(&foreign), &pinned, None),
        Err(BlockError::Validator { index: 0, .. })
    ));
    let mut relabelled = foreign;
    relabelled.validator = did_key(&pinned);
    assert!(verify_chain(&[relabelled], &pinned, None).is_err());

    // A transaction edited in memory.
    let mut edited = blocks.clone();
    if let Transaction::TrustScoreUpdate(t) = &mut edited[0].transactions[1] {
        t.new_score = score(100);
    }
    assert!(matches!(
        verify_chain(&edited, &pinned, None),
        Err(BlockError::TxRoot { index: 0, .. })
    ));
}

#[test]
fn json_round_trip_and_data_model_shape() {
    let block = &chain(1)[0];
    let v = serde_json::to_value(block).expect("json");
    for field in [
        "index",
        "timestamp",
        "transactions",
        "prev_hash",
        "hash",
        "validator",
    ] {
        assert!(v.get(field).is_some(), "{field}");
    }
    assert_eq!(v["transactions"][0]["type"], "identity_registration");
    assert_eq!(v["transactions"][1]["type"], "trust_score_update");
    assert_eq!(
        v["transactions"][1]["data"]["reason"],
        "account_age_milestone"
    );
    assert_eq!(v["transactions"][2]["type"], "message_anchor");
    assert_eq!(v["transactions"][3]["type"], "credential_issuance");
    let pk = v["transactions"][0]["data"]["public_key"]
        .as_str()
        .expect("pk");
    assert!(pk.starts_with("z6Mk"), "{pk}");
    let back: Block = serde_json::from_value(v.clone()).expect("parse");
    assert_eq!(&back, block);

    let mut bad = v.clone();
    bad["transactions"][1]["data"]["new_score"] = 101.into();
    assert!(
        serde_json::from_value::<Block>(bad).is_err(),
        "score above 100"
    );
    let mut bad = v.clone();
    bad["transactions"][1]["data"]["reason"] = "bribe".into();
    assert!(
        serde_json::from_value::<Block>(bad).is_err(),
        "unknown reason"
    );
    let mut bad = v;
    bad["transactions"][0]["type"] = "mint".into();
    assert!(
        serde_json::from_value::<Block>(bad).is_err(),
        "unknown type"
    );
}

#[test]
fn transaction_hashes_are_domain_separated_sha256() {
    let txs = all_kinds();
    let mut seen = std::collections::HashSet::new();
    for tx in &txs {
        let bytes = tx.encode();
        assert!(bytes.starts_with(b"zynk/ledger-tx/v1\0"));
        assert_eq!(Transaction::decode(&bytes).as_ref(), Ok(tx));
        let h = tx.hash();
        assert_eq!(h, Hash32::sha256(&bytes));
        let text = h.to_string();
        assert!(text.starts_with("0x") && text.len() == 66);
        assert!(seen.insert(h));
    }
    assert_eq!(
        txs.iter().map(Transaction::type_name).collect::<Vec<_>>(),
        [
            "identity_registration",
            "trust_score_update",
            "message_anchor",
            "credential_issuance"
        ]
    );
    assert_ne!(tx_root(&txs), tx_root(&txs[..3]));
}

#[test]
fn invalid_transactions_are_refused_when_sealing() {
    let key = common::ledger_key(4);
    let weak = Transaction::IdentityRegistration(IdentityRegistration {
        did: did(2),
        public_key: Ed25519PublicKey([0; 32]),
        user_id: Uuid::from_u128(2),
    });
    let backwards = Transaction::MessageAnchor(MessageAnchor {
        batch_id: "b".into(),
        merkle_root: Hash32::ZERO,
        tree_size: 0,
        first_seq: 5,
        last_seq: 4,
    });
    let bad_did = Transaction::CredentialIssuance(CredentialIssuance {
        credential_id_hash: Hash32::ZERO,
        subject_did: "not a did".into(),
        issuer_did: did(1).to_string(),
    });
    for tx in [weak, backwards, bad_did] {
        assert!(matches!(
            Block::seal(None, 0, vec![tx], &key),
            Err(BlockError::Transaction {
                block: 0,
                tx: 0,
                ..
            })
        ));
    }
    assert!(TrustScore::new(101).is_none());
}
