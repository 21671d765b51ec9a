//! The records of the embedded ledger that [`crate::store::LedgerStore`] reads and writes: the
//! head, the `tx:` and `merkle:` entries, identity states, pending transactions, message proofs,
//! and the atomic writes of a sealed batch or block.
//!
//! The ledger's own structures (blocks, batch headers, transactions, hashes, proof paths) are
//! those of `zynk-ledger`. How each record is laid out in `ledger_kv` (keys and JSON) is private
//! to this crate (`entries`).

pub(crate) mod entries;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zynk_ledger::{
    BatchHeader, Block, ChainTip, Ed25519PublicKey, Hash32, PathEntry, Transaction, ZynkDid,
};
use zynk_proto::{MessageId, UserId};

use crate::error::StoreError;
use crate::model::OutboxItem;

/// The tip of the ledger (stored under `head`): how many batches are sealed and where the block
/// chain and the batch chain end. Every sealed batch or block moves it, so it is the
/// compare-and-set point of concurrent sealers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Batches sealed so far (the next batch's height).
    pub batches: u64,
    /// Header hash of the last batch.
    pub last_header_hash: Option<Hash32>,
    /// The last block.
    #[serde(default, with = "entries::tip_as_array")]
    pub block: Option<ChainTip>,
}

/// An identity's current key and trust score as the sealed blocks record them (data model 11.6,
/// plus where the current key's registration sits, for key-transparency proofs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityState {
    /// The identity.
    pub did: ZynkDid,
    /// Current identity key; absent until the registration is sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<Ed25519PublicKey>,
    /// Trust score, 0–100.
    pub trust_score: u8,
    /// Whether the identity is active.
    pub is_active: bool,
    /// The `identity_registration` (or rotation) that recorded the current key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<Hash32>,
    /// The block holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_number: Option<u64>,
    /// Its position in that block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_index: Option<u64>,
}

impl IdentityState {
    /// The state of an identity no block has mentioned yet: no key, score 50, active.
    pub fn new(did: ZynkDid) -> Self {
        Self {
            did,
            public_key: None,
            trust_score: 50,
            is_active: true,
            tx_hash: None,
            block_number: None,
            tx_index: None,
        }
    }

    /// The identity a transaction changes the state of, if any.
    pub fn subject(tx: &Transaction) -> Option<ZynkDid> {
        match tx {
            Transaction::IdentityRegistration(r) => Some(r.did),
            Transaction::TrustScoreUpdate(u) => Some(u.did),
            Transaction::MessageAnchor(_) | Transaction::CredentialIssuance(_) => None,
        }
    }

    /// Applies a transaction about this identity, sealed at `tx_index` of block `block`.
    pub fn apply(&mut self, tx: &Transaction, block: u64, tx_index: u64) {
        match tx {
            Transaction::IdentityRegistration(r) => {
                self.public_key = Some(r.public_key);
                self.tx_hash = Some(tx.hash());
                self.block_number = Some(block);
                self.tx_index = Some(tx_index);
            }
            Transaction::TrustScoreUpdate(u) => self.trust_score = u.new_score.get(),
            Transaction::MessageAnchor(_) | Transaction::CredentialIssuance(_) => {}
        }
    }
}

/// A sealed transaction with the block holding it (data model 11.6, `tx:{hash}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxEntry {
    /// The transaction's hash.
    pub hash: Hash32,
    /// Its data model type (`identity_registration`, …).
    #[serde(rename = "type")]
    pub tx_type: String,
    /// The block holding it.
    pub block_number: u64,
    /// The transaction.
    pub data: Transaction,
}

impl TxEntry {
    /// The entry of `tx` sealed in block `block_number`.
    pub fn new(tx: &Transaction, block_number: u64) -> Self {
        Self {
            hash: tx.hash(),
            tx_type: tx.type_name().to_owned(),
            block_number,
            data: tx.clone(),
        }
    }
}

/// The leaves of a batch's Merkle tree (`merkle:{root}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerkleEntry {
    /// The tree's root.
    pub root: Hash32,
    /// Leaf hashes in tree order.
    pub leaves: Vec<Hash32>,
    /// Height of the tree: ⌈log2(leaves)⌉.
    pub tree_depth: u32,
    /// Number of leaves.
    pub message_count: u64,
}

impl MerkleEntry {
    /// The entry of the tree with this `root` over `leaves`.
    pub fn new(root: Hash32, leaves: Vec<Hash32>) -> Self {
        let count = leaves.len() as u64;
        Self {
            root,
            leaves,
            tree_depth: 64 - (count.max(1) - 1).leading_zeros(),
            message_count: count,
        }
    }
}

/// A message waiting to be anchored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnanchoredMessage {
    /// Message.
    pub id: MessageId,
    /// Sequence number in its conversation.
    pub seq: i64,
    /// Server time of the message.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Hex SHA-256 of its ciphertext.
    pub content_hash: String,
}

/// A message of a sealed batch and its inclusion path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchoredMessage {
    /// The message.
    pub message_id: MessageId,
    /// Hex SHA-256 of its ciphertext.
    pub content_hash: String,
    /// Siblings from its leaf to the root.
    pub path: Vec<PathEntry>,
    /// Its leaf's position in the batch tree.
    pub leaf_index: u64,
}

/// Everything a sealed batch writes, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct AnchorWrite {
    /// The head this write expects (`None` for a ledger never written); another writer that
    /// moved the head meanwhile makes the write a no-op.
    pub expected_head: Option<Head>,
    /// The head after the write.
    pub new_head: Head,
    /// The block holding the batch's `message_anchor` transaction.
    pub block: Block,
    /// The signed batch header.
    pub header: BatchHeader,
    /// The batch tree's leaf hashes, in tree order.
    pub leaves: Vec<Hash32>,
    /// Id of the `message_anchors` row.
    pub anchor_id: Uuid,
    /// Every message of the batch with its inclusion path.
    pub messages: Vec<AnchoredMessage>,
    /// The anchor transaction to publish to the EVM registry (empty on the embedded chain).
    pub outbox: Vec<OutboxItem>,
}

/// A block of pending transactions, written atomically: the block and its transactions, the
/// identity states it changed; the pending entries of its transactions are consumed, their
/// `blockchain_transactions` rows confirmed and the identities they register marked verified.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockWrite {
    /// The head this write expects; another writer that moved it meanwhile makes the write a
    /// no-op.
    pub expected_head: Option<Head>,
    /// The head after the write.
    pub new_head: Head,
    /// The block.
    pub block: Block,
    /// The identity states after the block (those it changed).
    pub identity_states: Vec<IdentityState>,
    /// Transactions to publish to the EVM registry (empty on the embedded chain).
    pub outbox: Vec<OutboxItem>,
}

/// A message's stored inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofRecord {
    /// Siblings from the leaf to the root.
    pub path: Vec<PathEntry>,
    /// The leaf's position in the batch tree.
    pub leaf_index: u64,
    /// The batch height.
    pub height: u64,
}

/// A ledger transaction waiting for a block, written with the change that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTx {
    /// The transaction.
    pub transaction: Transaction,
    /// The user it concerns.
    pub user_id: Option<UserId>,
    /// The entity it records (credential id, history row, user).
    pub related_entity_id: Option<Uuid>,
}

impl PendingTx {
    /// The transaction's hash.
    pub fn hash(&self) -> Hash32 {
        self.transaction.hash()
    }
}

/// The JSON of a transaction waiting for a block, as stored under `pending:{hash}` and as the
/// ledger cache (data model 11.7) holds it.
///
/// # Errors
/// [`StoreError::InvalidWrite`] if the transaction has no JSON form.
pub fn pending_json(transaction: &Transaction) -> Result<Vec<u8>, StoreError> {
    entries::encode("pending transaction", transaction)
}
