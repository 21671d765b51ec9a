//! Key-transparency proofs: a registration's inclusion in a signed block.

use ed25519_dalek::SigningKey;
use uuid::Uuid;
use zynk_ledger::block::{IdentityRegistration, MessageAnchor, Transaction};
use zynk_ledger::{
    Block, BlockHeader, Ed25519PublicKey, Hash32, IdentityProof, IdentityProofError, ZynkDid,
};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn registration(user: u128, key_seed: u8) -> Transaction {
    Transaction::IdentityRegistration(IdentityRegistration {
        did: ZynkDid::new(Uuid::from_u128(user)),
        public_key: Ed25519PublicKey::from(&key(key_seed).verifying_key()),
        user_id: Uuid::from_u128(user),
    })
}

fn block(validator: &SigningKey) -> Block {
    let mut transactions: Vec<Transaction> =
        (1..=6).map(|u| registration(u, u as u8 + 10)).collect();
    transactions.insert(
        3,
        Transaction::MessageAnchor(MessageAnchor {
            batch_id: "batch-0".into(),
            merkle_root: Hash32::new([7; 32]),
            tree_size: 3,
            first_seq: 1,
            last_seq: 3,
        }),
    );
    Block::seal(None, 1_800_000_000, transactions, validator).unwrap()
}

#[test]
fn header_encoding_matches_the_block() {
    let b = block(&key(1));
    assert_eq!(BlockHeader::of(&b).header_bytes(), b.header_bytes());
}

#[test]
fn every_registration_in_a_block_proves_its_key() {
    let validator = key(1);
    let b = block(&validator);
    for (i, tx) in b.transactions.iter().enumerate() {
        let proof = IdentityProof::build(&b, i);
        let Transaction::IdentityRegistration(reg) = tx else {
            assert!(proof.is_none(), "a message anchor is no identity proof");
            continue;
        };
        let proof = proof.unwrap();
        // Through JSON, as a client receives it.
        let proof: IdentityProof =
            serde_json::from_str(&serde_json::to_string(&proof).unwrap()).unwrap();
        assert_eq!(
            proof.verify(&reg.did, &validator.verifying_key()).unwrap(),
            reg.public_key
        );
        proof
            .verify_key(&reg.did, &reg.public_key, &validator.verifying_key())
            .unwrap();
    }
}

#[test]
fn a_swapped_key_is_reported() {
    let validator = key(1);
    let b = block(&validator);
    let proof = IdentityProof::build(&b, 0).unwrap();
    let swapped = Ed25519PublicKey::from(&key(99).verifying_key());
    let err = proof
        .verify_key(&proof.did.clone(), &swapped, &validator.verifying_key())
        .unwrap_err();
    assert!(
        matches!(err, IdentityProofError::KeyMismatch { .. }),
        "{err}"
    );
}

#[test]
fn tampering_fails() {
    let validator = key(1);
    let b = block(&validator);
    let good = IdentityProof::build(&b, 5).unwrap();
    let did = good.did;
    let vk = validator.verifying_key();

    // Another signer.
    let other = IdentityProof::build(&block(&key(2)), 5).unwrap();
    assert!(matches!(
        other.verify(&did, &vk),
        Err(IdentityProofError::Validator { .. })
    ));

    // The key inside the registration (the hash no longer matches; with the hash recomputed the
    // path no longer leads to the root).
    let mut p = good.clone();
    p.registration.public_key = Ed25519PublicKey::from(&key(99).verifying_key());
    assert!(matches!(
        p.verify(&did, &vk),
        Err(IdentityProofError::Inclusion { .. })
    ));
    p.tx_hash = Transaction::IdentityRegistration(p.registration.clone()).hash();
    assert!(matches!(
        p.verify(&did, &vk),
        Err(IdentityProofError::Inclusion { .. })
    ));

    // Every header field.
    let mut p = good.clone();
    p.block.timestamp += 1;
    assert!(matches!(
        p.verify(&did, &vk),
        Err(IdentityProofError::Hash { .. })
    ));
    let mut p = good.clone();
    p.block.tx_count += 1;
    assert!(p.verify(&did, &vk).is_err());
    let mut p = good.clone();
    let mut sig = *p.block.signature.as_bytes();
    sig[10] ^= 1;
    p.block.signature = zynk_ledger::Signature64(sig);
    assert!(matches!(
        p.verify(&did, &vk),
        Err(IdentityProofError::Signature { .. })
    ));

    // Path and index.
    let mut p = good.clone();
    p.path[0].hash = Hash32::new([0; 32]);
    assert!(matches!(
        p.verify(&did, &vk),
        Err(IdentityProofError::Inclusion { .. })
    ));
    let mut p = good.clone();
    p.tx_index = 4;
    assert!(p.verify(&did, &vk).is_err());

    // Asked about another identity.
    let someone = ZynkDid::new(Uuid::from_u128(77));
    assert!(matches!(
        good.verify(&someone, &vk),
        Err(IdentityProofError::Did { .. })
    ));
}
