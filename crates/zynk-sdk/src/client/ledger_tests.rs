//! Tests of the proof verdict and ledger key pinning, with batches and proofs
//! built by `zynk-ledger` as the server builds them.

use chrono::DateTime;
use ed25519_dalek::SigningKey;
use zynk_ledger::proof::PathEntry;
use zynk_ledger::{BatchHeader, MerkleTree, Signature64, UnixMillis};

use super::*;
use crate::client::timeline::EntryBody;
use crate::client::util::base64_encode;
use zynk_proto::ids::{ConversationId, MessageId, UserId};

/// A sealed batch of stored messages, signed by a ledger key.
pub(crate) struct Batch {
    /// The ledger signing key.
    pub(crate) key: SigningKey,
    /// The messages as a device stores them (with their ciphertexts).
    pub(crate) entries: Vec<Entry>,
    tree: MerkleTree,
    header: BatchHeader,
}

impl Batch {
    /// `count` messages with `seq` 10, 11, … in one batch signed by the key
    /// derived from `seed`.
    pub(crate) fn new(seed: u8, count: u64) -> Self {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let entries: Vec<Entry> = (0..count)
            .map(|i| Entry {
                seq: 10 + i as i64,
                message_id: MessageId::from_u128(0x100 + u128::from(i)),
                sender_id: UserId::from_u128(1),
                created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456 + i as i64 * 7)
                    .expect("a valid time"),
                body: EntryBody::Failed {
                    reason: "not decrypted in this test".into(),
                },
                ciphertext: Some(base64_encode(format!("ciphertext {i}").as_bytes())),
                expires_at: None,
            })
            .collect();
        let hashes = entries
            .iter()
            .map(|e| message_leaf(e, &ciphertext_of(e)).map(|leaf| leaf.leaf_hash()))
            .collect::<Result<Vec<_>, _>>()
            .expect("leaves");
        let tree = MerkleTree::from_leaf_hashes(hashes);
        let header = BatchHeader {
            height: 3,
            batch_id: "2026-01-01T12Z".into(),
            prev_header_hash: Hash32::sha256(b"previous header"),
            root: tree.root(),
            tree_size: tree.len(),
            first_seq: 10,
            last_seq: 10 + count - 1,
            closed_at: UnixMillis(1_700_000_100_000),
            signer: "did:zynk:00000000-0000-0000-0000-000000000001#ledger-key-1".into(),
            signature: Signature64::UNSIGNED,
        }
        .signed(&key);
        Self {
            key,
            entries,
            tree,
            header,
        }
    }

    /// The proof of message `index`.
    pub(crate) fn proof(&self, index: usize) -> MessageProof {
        let entry = &self.entries[index];
        let leaf = message_leaf(entry, &ciphertext_of(entry)).expect("leaf");
        MessageProof::build(&self.tree, &leaf, index as u64, &self.header, None).expect("proof")
    }

    /// What `GET /api/v1/ledger` answers.
    pub(crate) fn info(&self) -> LedgerInfo {
        let key = self.key.verifying_key();
        LedgerInfo {
            chain: "zynk-embedded".into(),
            validator_key: STANDARD_NO_PAD.encode(key.as_bytes()),
            validator_did: zynk_ledger::did::did_key(&key),
            batches: 4,
            latest_block: Some(7),
            unanchored_messages: 0,
            published_to: None,
            registry: None,
        }
    }
}

/// The decoded stored ciphertext of an entry.
pub(crate) fn ciphertext_of(entry: &Entry) -> Vec<u8> {
    entry
        .ciphertext
        .as_deref()
        .and_then(base64_decode)
        .expect("a stored ciphertext")
}

fn flip(hash: &mut Hash32) {
    hash.0[7] ^= 0x01;
}

/// The verdict of `proof` for message `index` of `batch` as stored, under
/// the batch's key.
fn verdict(batch: &Batch, index: usize, proof: &MessageProof, ciphertext: &[u8]) -> ProofVerdict {
    let leaf = message_leaf(&batch.entries[index], ciphertext).expect("leaf");
    let json = proof.to_json().expect("proof JSON");
    check_proof(&json, &leaf, &batch.key.verifying_key())
        .expect("a proof object")
        .1
}

fn reason(verdict: ProofVerdict) -> String {
    match verdict {
        ProofVerdict::Invalid { reason } => reason,
        ProofVerdict::Valid { .. } => panic!("expected an invalid proof"),
    }
}

#[test]
fn proofs_of_every_message_hold() {
    for count in [1u64, 2, 5, 8] {
        let batch = Batch::new(1, count);
        for (index, entry) in batch.entries.iter().enumerate() {
            let proof = batch.proof(index);
            let verdict = verdict(&batch, index, &proof, &ciphertext_of(entry));
            assert_eq!(
                verdict,
                ProofVerdict::Valid {
                    batch_id: "2026-01-01T12Z".into(),
                    leaf_index: index as u64,
                    tree_size: count,
                    root: batch.tree.root(),
                    signer: batch.header.signer.clone(),
                },
                "message {index} of {count}"
            );
        }
    }
}

#[test]
fn one_flipped_byte_anywhere_makes_the_proof_invalid() {
    let batch = Batch::new(2, 5);
    let index = 3;
    let good = batch.proof(index);
    let ciphertext = ciphertext_of(&batch.entries[index]);

    let mut altered = ciphertext.clone();
    altered[4] ^= 0x01;
    let why = reason(verdict(&batch, index, &good, &altered));
    assert!(why.starts_with("leaf hash"), "{why}");

    let mut path = good.clone();
    flip(&mut path.path[1].hash);
    let why = reason(verdict(&batch, index, &path, &ciphertext));
    assert!(why.contains("root"), "{why}");

    let mut header = good.clone();
    header.batch_header.closed_at = UnixMillis(header.batch_header.closed_at.0 ^ 1);
    let why = reason(verdict(&batch, index, &header, &ciphertext));
    assert!(why.contains("signature"), "{why}");

    let mut signature = good.clone();
    signature.batch_header.signature.0[0] ^= 0x01;
    let why = reason(verdict(&batch, index, &signature, &ciphertext));
    assert!(why.contains("signature"), "{why}");

    // The root alone, and the root in both places (the header's signature
    // still covers the real one).
    let mut root = good.clone();
    flip(&mut root.root);
    let why = reason(verdict(&batch, index, &root, &ciphertext));
    assert!(why.contains("root"), "{why}");
    flip(&mut root.batch_header.root);
    let why = reason(verdict(&batch, index, &root, &ciphertext));
    assert!(why.contains("root"), "{why}");

    // A proof of another message, and a position that disagrees.
    let other = batch.proof(1);
    let why = reason(verdict(&batch, index, &other, &ciphertext));
    assert!(why.starts_with("message id"), "{why}");
    let mut position = good.clone();
    let first: &mut PathEntry = &mut position.path[0];
    first.position = match first.position {
        zynk_ledger::Side::Left => zynk_ledger::Side::Right,
        zynk_ledger::Side::Right => zynk_ledger::Side::Left,
    };
    let why = reason(verdict(&batch, index, &position, &ciphertext));
    assert!(why.contains("position"), "{why}");

    // The stored seq and time are committed too.
    let mut moved = batch.entries[index].clone();
    moved.created_at += chrono::Duration::milliseconds(1);
    let leaf = message_leaf(&moved, &ciphertext).expect("leaf");
    let json = good.to_json().expect("JSON");
    let (_, verdict) = check_proof(&json, &leaf, &batch.key.verifying_key()).expect("object");
    assert!(reason(verdict).starts_with("leaf hash"));
}

#[test]
fn another_key_or_a_malformed_proof_is_invalid_and_non_objects_are_errors() {
    let batch = Batch::new(3, 4);
    let entry = &batch.entries[0];
    let leaf = message_leaf(entry, &ciphertext_of(entry)).expect("leaf");
    let json = batch.proof(0).to_json().expect("JSON");
    let stranger = SigningKey::from_bytes(&[99; 32]).verifying_key();
    let (object, verdict) = check_proof(&json, &leaf, &stranger).expect("object");
    assert!(reason(verdict).contains("signature"));
    assert_eq!(object["batch_id"], "2026-01-01T12Z");

    let mut value: Value = serde_json::from_str(&json).expect("JSON");
    value["root"] = Value::String("0xABC".into());
    let (object, verdict) = check_proof(&value.to_string(), &leaf, &batch.key.verifying_key())
        .expect("still an object");
    assert!(reason(verdict).starts_with("malformed proof"));
    assert_eq!(object["root"], "0xABC");

    for not_a_proof in ["[1, 2]", "\"proof\"", "{", ""] {
        assert!(matches!(
            check_proof(not_a_proof, &leaf, &batch.key.verifying_key()),
            Err(ClientError::Protocol(_))
        ));
    }
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(MAX_PROOF_JSON_LEN));
    assert!(matches!(
        check_proof(&huge, &leaf, &batch.key.verifying_key()),
        Err(ClientError::Protocol(_))
    ));
}

#[test]
fn the_ledger_key_is_pinned_once_and_a_changed_key_is_an_error() {
    let batch = Batch::new(4, 1);
    let info = batch.info();
    let (pinned, key, newly) = pin_ledger_key(None, &info, 42).expect("first use");
    assert!(newly);
    assert_eq!(key, batch.key.verifying_key());
    assert_eq!(pinned.validator_key, info.validator_key);
    assert_eq!(pinned.validator_did, info.validator_did);
    assert_eq!(pinned.pinned_at_ms, 42);
    assert_eq!(pinned.verifying_key().expect("usable"), key);

    // The same key again: nothing new is pinned. Padding does not matter.
    let mut padded = info.clone();
    padded.validator_key.push('=');
    let (again, key_again, newly) = pin_ledger_key(Some(&pinned), &padded, 99).expect("same");
    assert!(!newly);
    assert_eq!((again.pinned_at_ms, key_again), (42, key));

    // Another key is refused, naming both.
    let other = Batch::new(5, 1).info();
    match pin_ledger_key(Some(&pinned), &other, 99) {
        Err(ClientError::LedgerKeyChanged {
            pinned: old,
            offered,
        }) => {
            assert_eq!(old, info.validator_did);
            assert_eq!(offered, other.validator_did);
        }
        other => panic!("expected LedgerKeyChanged, got {other:?}"),
    }

    // Announcements that contradict themselves or are not keys.
    let mut wrong_did = info.clone();
    wrong_did.validator_did = other.validator_did.clone();
    assert!(matches!(
        pin_ledger_key(None, &wrong_did, 0),
        Err(ClientError::Protocol(_))
    ));
    for bad in ["", "!!", "AAAA", &STANDARD_NO_PAD.encode([0u8; 32])] {
        let mut broken = info.clone();
        broken.validator_key = bad.to_owned();
        assert!(
            matches!(
                pin_ledger_key(None, &broken, 0),
                Err(ClientError::Protocol(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn negative_seq_or_time_is_refused() {
    let mut entry = Batch::new(6, 1).entries.remove(0);
    entry.seq = -1;
    assert!(message_leaf(&entry, b"x").is_err());
    entry.seq = 1;
    entry.created_at = DateTime::from_timestamp_millis(-5).expect("time");
    assert!(message_leaf(&entry, b"x").is_err());
}

#[test]
fn reports_print_the_proof_fields_with_the_verdict() {
    let batch = Batch::new(7, 3);
    let entry = &batch.entries[2];
    let leaf = message_leaf(entry, &ciphertext_of(entry)).expect("leaf");
    let json = batch.proof(2).to_json().expect("JSON");
    let (pinned, key, _) = pin_ledger_key(None, &batch.info(), 0).expect("pin");
    let (proof, verdict) = check_proof(&json, &leaf, &key).expect("object");
    let mut check = ProofCheck {
        message_id: entry.message_id,
        conversation_id: ConversationId::from_u128(9),
        verdict,
        proof,
        ciphertext_source: CiphertextSource::Local,
        ledger: pinned.clone(),
        newly_pinned: true,
    };
    let value = check.to_json();
    assert_eq!(value["verdict"], "valid");
    assert_eq!(value["reason"], Value::Null);
    assert_eq!(value["leaf_index"], 2);
    assert_eq!(value["tree_size"], 3);
    assert_eq!(value["message_id"], entry.message_id.to_string());
    assert_eq!(
        check.to_display_line(),
        format!(
            "proof valid: message {} is leaf 2 of 3 in batch 2026-01-01T12Z, root {}, signed by {} (the header names {})",
            entry.message_id,
            batch.tree.root(),
            pinned.validator_did,
            batch.header.signer
        )
    );
    // A header naming the pinned key itself is shown as it names it.
    if let ProofVerdict::Valid { signer, .. } = &mut check.verdict {
        *signer = format!("{}#ledger", pinned.validator_did);
    }
    assert!(
        check
            .to_display_line()
            .ends_with(&format!(", signed by {}#ledger", pinned.validator_did)),
        "{}",
        check.to_display_line()
    );
    check.verdict = ProofVerdict::Invalid {
        reason: "leaf hash: expected 0x1, got 0x2".into(),
    };
    assert!(!check.verdict.is_valid());
    let value = check.to_json();
    assert_eq!(value["verdict"], "invalid");
    assert_eq!(value["reason"], "leaf hash: expected 0x1, got 0x2");
    assert_eq!(
        check.to_display_line(),
        "proof INVALID: leaf hash: expected 0x1, got 0x2"
    );
}
