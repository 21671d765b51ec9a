//! Ledger blocks (data model 11.6) and their transactions (data model 11.2), hash-linked and
//! signed with Ed25519 by the ledger's single signer ("validator" keeps the data model's name;
//! it is one signing key, not a consensus set).
//!
//! # Encodings
//!
//! All integers are `u64` big-endian unless noted, strings and nested byte strings are prefixed
//! by their `u64` BE length, and each encoding opens with a domain tag and `0x00`.
//!
//! * Transaction: `"zynk/ledger-tx/v1" 0x00 ‖ type (u8: 1 identity_registration,
//!   2 trust_score_update, 3 message_anchor, 4 credential_issuance) ‖ payload`, where the
//!   payloads are `did ‖ public_key(32) ‖ user_id(16)`;
//!   `did ‖ old(u8) ‖ new(u8) ‖ reason(u8) ‖ changed_at (Unix ms)`;
//!   `batch_id ‖ merkle_root(32) ‖ tree_size ‖ first_seq ‖ last_seq`;
//!   `credential_id_hash(32) ‖ subject_did ‖ issuer_did`. The **transaction hash** is SHA-256
//!   of these bytes. It renders as `0x` + 64 hex to fit the data model's `VARCHAR(66)`, but it
//!   is not an Ethereum (Keccak) transaction hash and never claims to be one.
//! * Block header (hashed and signed): `"zynk/ledger-block/v1" 0x00 ‖ index ‖ timestamp
//!   (Unix seconds) ‖ prev_hash(32) ‖ tx_root(32) ‖ tx_count ‖ validator`. The block **hash**
//!   is SHA-256 of these bytes and the signature is Ed25519 over the same bytes.
//! * `tx_root` is the RFC 9162 Merkle root over leaves whose data are the transaction hashes,
//!   in block order ([`crate::merkle::empty_root`] for a block without transactions).
//! * Stored block ([`Block::encode`]): header bytes ‖ hash(32) ‖ signature(64) ‖ each
//!   transaction encoding as a length-prefixed byte string.

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::codec::{DecodeError, MAX_STRING_LEN, Reader, Writer};
use crate::did::{Ed25519PublicKey, ZynkDid, did_key, is_valid_did};
use crate::merkle::MerkleTree;
use crate::types::{Hash32, Signature64};

/// Domain tag of the block header encoding.
pub const BLOCK_DOMAIN: &[u8] = b"zynk/ledger-block/v1";
/// Domain tag of the transaction encoding.
pub const TX_DOMAIN: &[u8] = b"zynk/ledger-tx/v1";
/// Longest transaction encoding accepted inside a stored block.
pub const MAX_TX_LEN: usize = 4 * MAX_STRING_LEN;
/// Highest trust score.
pub const MAX_TRUST_SCORE: u8 = 100;

/// Why a block, transaction or chain was rejected. Messages carry the numbers compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The binary form could not be decoded.
    #[error("block decoding: {0}")]
    Decode(#[from] DecodeError),
    /// Block index is not the expected successor.
    #[error("block index: expected {expected}, got {got}")]
    Index {
        /// Index required.
        expected: u64,
        /// Index found.
        got: u64,
    },
    /// `prev_hash` does not link to the previous block.
    #[error("block {index} prev_hash: expected {expected}, got {got}")]
    PrevHash {
        /// Block index.
        index: u64,
        /// Hash of the previous block.
        expected: Hash32,
        /// `prev_hash` found.
        got: Hash32,
    },
    /// The stored hash differs from the recomputed one.
    #[error("block {index} hash: expected {expected}, got {got}")]
    Hash {
        /// Block index.
        index: u64,
        /// Recomputed hash.
        expected: Hash32,
        /// Stored hash.
        got: Hash32,
    },
    /// `tx_root` differs from the root over the transactions.
    #[error("block {index} tx_root: expected {expected}, got {got}")]
    TxRoot {
        /// Block index.
        index: u64,
        /// Recomputed root.
        expected: Hash32,
        /// Stored root.
        got: Hash32,
    },
    /// The block names another validator than the pinned key.
    #[error("block {index} validator: expected {expected}, got {got}")]
    Validator {
        /// Block index.
        index: u64,
        /// `did:key` of the pinned key.
        expected: String,
        /// Validator found.
        got: String,
    },
    /// The signature does not verify strictly under the pinned key.
    #[error("block {index} signature does not verify")]
    Signature {
        /// Block index.
        index: u64,
    },
    /// Block time went backwards.
    #[error("block {index} timestamp: expected at least {previous}, got {got}")]
    Timestamp {
        /// Block index.
        index: u64,
        /// Previous block's timestamp.
        previous: u64,
        /// Timestamp found.
        got: u64,
    },
    /// The chain cannot grow past `u64::MAX` blocks.
    #[error("block index overflow after {0}")]
    IndexOverflow(u64),
    /// A transaction's payload is invalid.
    #[error("block {block} transaction {tx}: {reason}")]
    Transaction {
        /// Block index.
        block: u64,
        /// Position of the transaction in the block.
        tx: usize,
        /// What is wrong.
        reason: String,
    },
}

/// A trust score in `0..=100`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TrustScore(u8);

impl TrustScore {
    /// The score, if it is at most [`MAX_TRUST_SCORE`].
    pub fn new(score: u8) -> Option<Self> {
        (score <= MAX_TRUST_SCORE).then_some(Self(score))
    }

    /// The numeric score.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl<'de> Deserialize<'de> for TrustScore {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = u8::deserialize(deserializer)?;
        TrustScore::new(v)
            .ok_or_else(|| de::Error::custom(format!("trust score: expected at most 100, got {v}")))
    }
}

/// Why a trust score changed (data model 11.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustReason {
    /// Vouched for by other members.
    VerifiedByCommunity,
    /// Reported for spam.
    SpamReport,
    /// Account age reached a milestone.
    AccountAgeMilestone,
    /// Message volume crossed a threshold.
    MessageVolumeThreshold,
    /// Changed by an administrator.
    ManualAdjustment,
}

impl TrustReason {
    /// The data model's name (`spam_report`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            TrustReason::VerifiedByCommunity => "verified_by_community",
            TrustReason::SpamReport => "spam_report",
            TrustReason::AccountAgeMilestone => "account_age_milestone",
            TrustReason::MessageVolumeThreshold => "message_volume_threshold",
            TrustReason::ManualAdjustment => "manual_adjustment",
        }
    }

    /// The reason's code in the binary encoding (1–5, in the order of data model 11.5), also
    /// what the EVM registry records.
    pub fn tag(self) -> u8 {
        match self {
            TrustReason::VerifiedByCommunity => 1,
            TrustReason::SpamReport => 2,
            TrustReason::AccountAgeMilestone => 3,
            TrustReason::MessageVolumeThreshold => 4,
            TrustReason::ManualAdjustment => 5,
        }
    }

    fn from_tag(tag: u8) -> Result<Self, DecodeError> {
        Ok(match tag {
            1 => TrustReason::VerifiedByCommunity,
            2 => TrustReason::SpamReport,
            3 => TrustReason::AccountAgeMilestone,
            4 => TrustReason::MessageVolumeThreshold,
            5 => TrustReason::ManualAdjustment,
            _ => {
                return Err(DecodeError::UnknownTag {
                    what: "trust reason",
                    tag,
                });
            }
        })
    }
}

/// A new identity and its Ed25519 identity key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityRegistration {
    /// The identity's DID.
    pub did: ZynkDid,
    /// Its identity key (`z6Mk…` in JSON).
    pub public_key: Ed25519PublicKey,
    /// The Zynk user it belongs to.
    pub user_id: Uuid,
}

/// A trust score change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustScoreUpdate {
    /// Whose score changed.
    pub did: ZynkDid,
    /// Score before.
    pub old_score: TrustScore,
    /// Score after.
    pub new_score: TrustScore,
    /// Why.
    pub reason: TrustReason,
    /// When the change was made, Unix milliseconds: two changes with the same scores and reason
    /// still get distinct transactions.
    pub changed_at: u64,
}

/// A sealed message batch's root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageAnchor {
    /// Batch identifier.
    pub batch_id: String,
    /// RFC 9162 root over the batch's message leaves.
    pub merkle_root: Hash32,
    /// Leaves in the batch.
    pub tree_size: u64,
    /// Lowest message `seq` in the batch.
    pub first_seq: u64,
    /// Highest message `seq` in the batch.
    pub last_seq: u64,
}

/// A verifiable credential was issued. Only the SHA-256 of its id (`jti`) is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialIssuance {
    /// SHA-256 of the credential id / `jti`.
    pub credential_id_hash: Hash32,
    /// DID of the subject.
    pub subject_did: String,
    /// DID of the issuer.
    pub issuer_did: String,
}

/// A ledger transaction: the four types of data model 11.2. JSON is
/// `{"type": "<snake_case type>", "data": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    content = "data",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum Transaction {
    /// `identity_registration`.
    IdentityRegistration(IdentityRegistration),
    /// `trust_score_update`.
    TrustScoreUpdate(TrustScoreUpdate),
    /// `message_anchor`.
    MessageAnchor(MessageAnchor),
    /// `credential_issuance`.
    CredentialIssuance(CredentialIssuance),
}

impl Transaction {
    /// The data model's `transaction_type` string.
    pub fn type_name(&self) -> &'static str {
        match self {
            Transaction::IdentityRegistration(_) => "identity_registration",
            Transaction::TrustScoreUpdate(_) => "trust_score_update",
            Transaction::MessageAnchor(_) => "message_anchor",
            Transaction::CredentialIssuance(_) => "credential_issuance",
        }
    }

    /// Canonical binary encoding (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_domain(TX_DOMAIN);
        match self {
            Transaction::IdentityRegistration(t) => {
                w.u8(1)
                    .str(&t.did.to_string())
                    .raw(&t.public_key.0)
                    .raw(t.user_id.as_bytes());
            }
            Transaction::TrustScoreUpdate(t) => {
                w.u8(2)
                    .str(&t.did.to_string())
                    .u8(t.old_score.get())
                    .u8(t.new_score.get())
                    .u8(t.reason.tag())
                    .u64(t.changed_at);
            }
            Transaction::MessageAnchor(t) => {
                w.u8(3)
                    .str(&t.batch_id)
                    .hash(&t.merkle_root)
                    .u64(t.tree_size)
                    .u64(t.first_seq)
                    .u64(t.last_seq);
            }
            Transaction::CredentialIssuance(t) => {
                w.u8(4)
                    .hash(&t.credential_id_hash)
                    .str(&t.subject_did)
                    .str(&t.issuer_did);
            }
        }
        w.into_bytes()
    }

    /// Decodes [`Self::encode`] output strictly (exact tags, ranges, no trailing bytes).
    ///
    /// # Errors
    /// Any [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::with_domain(bytes, TX_DOMAIN)?;
        let tx = match r.u8()? {
            1 => Transaction::IdentityRegistration(IdentityRegistration {
                did: read_zynk_did(&mut r)?,
                public_key: Ed25519PublicKey(r.array()?),
                user_id: Uuid::from_bytes(r.array()?),
            }),
            2 => Transaction::TrustScoreUpdate(TrustScoreUpdate {
                did: read_zynk_did(&mut r)?,
                old_score: read_score(&mut r)?,
                new_score: read_score(&mut r)?,
                reason: TrustReason::from_tag(r.u8()?)?,
                changed_at: r.u64()?,
            }),
            3 => Transaction::MessageAnchor(MessageAnchor {
                batch_id: r.string()?,
                merkle_root: r.hash()?,
                tree_size: r.u64()?,
                first_seq: r.u64()?,
                last_seq: r.u64()?,
            }),
            4 => Transaction::CredentialIssuance(CredentialIssuance {
                credential_id_hash: r.hash()?,
                subject_did: r.string()?,
                issuer_did: r.string()?,
            }),
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "transaction type",
                    tag,
                });
            }
        };
        r.finish()?;
        Ok(tx)
    }

    /// SHA-256 of [`Self::encode`]; display it with `to_string()` for `0x` + 64 hex.
    pub fn hash(&self) -> Hash32 {
        Hash32::sha256(&self.encode())
    }

    /// Checks payload rules that the types alone do not: a valid non-weak identity key,
    /// well-formed DIDs, a non-empty batch id, `first_seq <= last_seq` and string lengths.
    ///
    /// # Errors
    /// A description of the first violated rule.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Transaction::IdentityRegistration(t) => t
                .public_key
                .to_verifying_key()
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Transaction::TrustScoreUpdate(_) => Ok(()),
            Transaction::MessageAnchor(t) => {
                if t.batch_id.is_empty() || t.batch_id.len() > MAX_STRING_LEN {
                    return Err(format!(
                        "batch_id length: expected 1..={MAX_STRING_LEN}, got {}",
                        t.batch_id.len()
                    ));
                }
                if t.first_seq > t.last_seq {
                    return Err(format!(
                        "seq range: first {} > last {}",
                        t.first_seq, t.last_seq
                    ));
                }
                Ok(())
            }
            Transaction::CredentialIssuance(t) => {
                for (name, did) in [
                    ("subject_did", &t.subject_did),
                    ("issuer_did", &t.issuer_did),
                ] {
                    if !is_valid_did(did) {
                        return Err(format!("{name} is not a valid DID"));
                    }
                }
                Ok(())
            }
        }
    }
}

fn read_zynk_did(r: &mut Reader<'_>) -> Result<ZynkDid, DecodeError> {
    r.string()?
        .parse()
        .map_err(|e: crate::did::DidError| DecodeError::InvalidField {
            field: "did",
            reason: e.to_string(),
        })
}

fn read_score(r: &mut Reader<'_>) -> Result<TrustScore, DecodeError> {
    let v = r.u8()?;
    TrustScore::new(v).ok_or_else(|| DecodeError::InvalidField {
        field: "trust score",
        reason: format!("expected at most 100, got {v}"),
    })
}

/// RFC 9162 root over the transaction hashes (each hash is one leaf's data).
pub fn tx_root(transactions: &[Transaction]) -> Hash32 {
    MerkleTree::from_leaves(transactions.iter().map(Transaction::hash)).root()
}

/// The block header encoding (see the module docs), shared by [`Block`] and
/// [`crate::identity::BlockHeader`].
pub(crate) fn header_encoding(
    index: u64,
    timestamp: u64,
    prev_hash: &Hash32,
    tx_root: &Hash32,
    tx_count: u64,
    validator: &str,
) -> Vec<u8> {
    let mut w = Writer::with_domain(BLOCK_DOMAIN);
    w.u64(index)
        .u64(timestamp)
        .hash(prev_hash)
        .hash(tx_root)
        .u64(tx_count)
        .str(validator);
    w.into_bytes()
}

/// The last verified block, from which a chain continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTip {
    /// Its index.
    pub index: u64,
    /// Its hash.
    pub hash: Hash32,
    /// Its timestamp (Unix seconds).
    pub timestamp: u64,
}

impl ChainTip {
    /// The tip a verified `block` leaves behind.
    pub fn of(block: &Block) -> Self {
        Self {
            index: block.index,
            hash: block.hash,
            timestamp: block.timestamp,
        }
    }
}

/// A signed, hash-linked block (data model 11.6 plus `tx_root` and `signature`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// Height, 0 for genesis.
    pub index: u64,
    /// Sealing time, Unix seconds.
    pub timestamp: u64,
    /// Transactions in order.
    pub transactions: Vec<Transaction>,
    /// RFC 9162 root over the transaction hashes.
    pub tx_root: Hash32,
    /// Hash of the previous block ([`Hash32::ZERO`] for genesis).
    pub prev_hash: Hash32,
    /// SHA-256 of [`Block::header_bytes`].
    pub hash: Hash32,
    /// `did:key` of the signing key.
    pub validator: String,
    /// Ed25519 signature over [`Block::header_bytes`].
    pub signature: Signature64,
}

impl Block {
    /// Builds and signs the block that follows `prev` (genesis when `None`).
    ///
    /// # Errors
    /// [`BlockError::IndexOverflow`] when `prev` is block `u64::MAX`, or
    /// [`BlockError::Transaction`] when a transaction fails [`Transaction::validate`].
    pub fn seal(
        prev: Option<&ChainTip>,
        timestamp: u64,
        transactions: Vec<Transaction>,
        key: &SigningKey,
    ) -> Result<Block, BlockError> {
        let (index, prev_hash) = match prev {
            None => (0, Hash32::ZERO),
            Some(tip) => (
                tip.index
                    .checked_add(1)
                    .ok_or(BlockError::IndexOverflow(tip.index))?,
                tip.hash,
            ),
        };
        for (i, tx) in transactions.iter().enumerate() {
            tx.validate().map_err(|reason| BlockError::Transaction {
                block: index,
                tx: i,
                reason,
            })?;
        }
        let mut block = Block {
            index,
            timestamp,
            tx_root: tx_root(&transactions),
            transactions,
            prev_hash,
            hash: Hash32::ZERO,
            validator: did_key(&key.verifying_key()),
            signature: Signature64::UNSIGNED,
        };
        let header = block.header_bytes();
        block.hash = Hash32::sha256(&header);
        block.signature = key.sign(&header).into();
        Ok(block)
    }

    /// The hashed and signed header encoding (see the module docs).
    pub fn header_bytes(&self) -> Vec<u8> {
        header_encoding(
            self.index,
            self.timestamp,
            &self.prev_hash,
            &self.tx_root,
            self.transactions.len() as u64,
            &self.validator,
        )
    }

    /// The stored binary form: header ‖ hash ‖ signature ‖ length-prefixed transactions.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(&self.header_bytes())
            .hash(&self.hash)
            .raw(self.signature.as_bytes());
        for tx in &self.transactions {
            w.bytes(&tx.encode());
        }
        w.into_bytes()
    }

    /// Decodes [`Self::encode`] output strictly. Decoding checks structure only; use
    /// [`verify_chain`] to check hashes and signatures.
    ///
    /// # Errors
    /// Any [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<Block, DecodeError> {
        let mut r = Reader::with_domain(bytes, BLOCK_DOMAIN)?;
        let index = r.u64()?;
        let timestamp = r.u64()?;
        let prev_hash = r.hash()?;
        let tx_root = r.hash()?;
        let tx_count = r.u64()?;
        let validator = r.string()?;
        let hash = r.hash()?;
        let signature = r.signature()?;
        // No allocation from the untrusted count: each transaction must actually be present.
        let mut transactions = Vec::new();
        for _ in 0..tx_count {
            transactions.push(Transaction::decode(r.bytes(MAX_TX_LEN)?)?);
        }
        r.finish()?;
        Ok(Block {
            index,
            timestamp,
            transactions,
            tx_root,
            prev_hash,
            hash,
            validator,
            signature,
        })
    }

    /// Checks this block on its own: transactions valid, `tx_root`, `hash`, validator naming
    /// `key`, and the strict Ed25519 signature.
    ///
    /// # Errors
    /// The first failing check.
    pub fn verify_standalone(&self, key: &VerifyingKey) -> Result<(), BlockError> {
        let index = self.index;
        let expected_validator = did_key(key);
        if self.validator != expected_validator {
            return Err(BlockError::Validator {
                index,
                expected: expected_validator,
                got: self.validator.clone(),
            });
        }
        for (i, tx) in self.transactions.iter().enumerate() {
            tx.validate().map_err(|reason| BlockError::Transaction {
                block: index,
                tx: i,
                reason,
            })?;
        }
        let root = tx_root(&self.transactions);
        if root != self.tx_root {
            return Err(BlockError::TxRoot {
                index,
                expected: root,
                got: self.tx_root,
            });
        }
        let header = self.header_bytes();
        let hash = Hash32::sha256(&header);
        if hash != self.hash {
            return Err(BlockError::Hash {
                index,
                expected: hash,
                got: self.hash,
            });
        }
        key.verify_strict(&header, &self.signature.into())
            .map_err(|_| BlockError::Signature { index })
    }
}

/// Verifies a run of blocks signed by `validator`, continuing from `prev` (or from genesis when
/// `None`): index continuity, `prev_hash` links, non-decreasing timestamps, and for every block
/// [`Block::verify_standalone`]. An empty run is valid. Returns the new tip.
///
/// # Errors
/// The first failing check, naming the block index.
pub fn verify_chain(
    blocks: &[Block],
    validator: &VerifyingKey,
    prev: Option<ChainTip>,
) -> Result<Option<ChainTip>, BlockError> {
    let mut tip = prev;
    for block in blocks {
        let (expected_index, expected_prev, min_time) = match tip {
            None => (0, Hash32::ZERO, 0),
            Some(t) => (
                t.index
                    .checked_add(1)
                    .ok_or(BlockError::IndexOverflow(t.index))?,
                t.hash,
                t.timestamp,
            ),
        };
        if block.index != expected_index {
            return Err(BlockError::Index {
                expected: expected_index,
                got: block.index,
            });
        }
        if block.prev_hash != expected_prev {
            return Err(BlockError::PrevHash {
                index: block.index,
                expected: expected_prev,
                got: block.prev_hash,
            });
        }
        if block.timestamp < min_time {
            return Err(BlockError::Timestamp {
                index: block.index,
                previous: min_time,
                got: block.timestamp,
            });
        }
        block.verify_standalone(validator)?;
        tip = Some(ChainTip::of(block));
    }
    Ok(tip)
}
