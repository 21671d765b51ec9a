//! Sealing: message batches and blocks of pending transactions.
//!
//! Message anchoring: unanchored messages are sealed in batches (hourly by default, at most
//! `anchor_max_batch` per batch). A batch is an RFC 9162 Merkle tree over message leaves that
//! commit to the ciphertext (never plaintext) with the message id, sequence number and time;
//! its root goes into a signed batch header and a `message_anchor` transaction in a new block;
//! every message gets its inclusion proof. All of it is written in one transaction.
//!
//! Pending transactions (registrations, rotations, trust changes, credentials) are sealed into
//! blocks the same way. Each write is a compare-and-set on the ledger's head, so concurrent
//! sealers (another node, or a batch and a block) never fork the chain. The ledger cache (data
//! model 11.7) follows each sealed block.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use uuid::Uuid;
use zynk_backends::ledger::{AnchorWrite, AnchoredMessage, BlockWrite, Head, IdentityState};
use zynk_backends::model::OutboxItem;
use zynk_ledger::block::MessageAnchor;
use zynk_ledger::did::did_key;
use zynk_ledger::{
    BatchHeader, Block, ChainTip, Hash32, MerkleTree, MessageLeaf, MessageProof, Signature64,
    Transaction, UnixMillis, ZynkDid,
};
use zynk_proto::UserId;

use super::{LedgerService, content_hash, internal};
use crate::error::ApiError;

/// What one sealed batch holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBatch {
    /// Batch height.
    pub height: u64,
    /// Messages in it.
    pub size: u64,
    /// Merkle root.
    pub root: Hash32,
}

/// How one attempt to seal a batch ended.
enum Sealing {
    /// A batch was sealed.
    Sealed(SealedBatch),
    /// No message waits.
    Empty,
    /// The head changed between reading and writing; nothing was written.
    HeadMoved,
}

/// The `message_anchor` transaction of a batch.
pub(super) fn anchor_transaction(header: &BatchHeader) -> Transaction {
    Transaction::MessageAnchor(MessageAnchor {
        batch_id: header.batch_id.clone(),
        merkle_root: header.root,
        tree_size: header.tree_size,
        first_seq: header.first_seq,
        last_seq: header.last_seq,
    })
}

impl LedgerService {
    /// Signs the block that follows `head` (no earlier than its timestamp) holding `transactions`.
    fn next_block(
        &self,
        head: &Head,
        now: chrono::DateTime<chrono::Utc>,
        transactions: Vec<Transaction>,
    ) -> Result<Block, ApiError> {
        let timestamp = u64::try_from(now.timestamp())
            .unwrap_or(0)
            .max(head.block.map_or(0, |t| t.timestamp));
        Block::seal(head.block.as_ref(), timestamp, transactions, &self.key).map_err(internal)
    }

    /// Mirrors a sealed block into the ledger cache (data model 11.7): latest block, the
    /// validator's status, and the pending transactions it consumed.
    async fn cache_sealed(&self, block: u64, consumed: &[String]) {
        let ephemeral = &self.context.ephemeral;
        let address = did_key(&self.verifying_key());
        let status = zynk_backends::ephemeral::ValidatorStatus {
            active: true,
            last_block: block,
            stake: 0,
        };
        let result = async {
            ephemeral.chain_latest_block_set(block).await?;
            ephemeral.chain_validator_put(&address, &status).await?;
            ephemeral.chain_pending_remove(consumed).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "ledger cache update failed (the database copy is current)");
        }
    }

    /// Seals batches until no unanchored message is left; returns them.
    pub async fn anchor_now(&self) -> Result<Vec<SealedBatch>, ApiError> {
        let _one_at_a_time = self.sealing.lock().await;
        let max = self.context.config.anchor_max_batch;
        let mut sealed = Vec::new();
        // Bounded: each round seals a batch or stops.
        let mut conflicts = 0;
        for _ in 0..10_000 {
            match self.seal_one(max).await? {
                Sealing::Sealed(batch) => {
                    let full = batch.size >= u64::from(max);
                    sealed.push(batch);
                    if !full {
                        break;
                    }
                }
                Sealing::Empty => break,
                // Another writer (a block of pending transactions, or another node) moved the
                // head between our read and our write: read again and retry, a bounded number
                // of times.
                Sealing::HeadMoved if conflicts < 100 => conflicts += 1,
                Sealing::HeadMoved => {
                    return Err(ApiError::internal(
                        &"the ledger head kept moving while sealing a batch",
                    ));
                }
            }
        }
        Ok(sealed)
    }

    async fn seal_one(&self, max: u32) -> Result<Sealing, ApiError> {
        let store = &self.context.store;
        let messages = store.unanchored_messages(max).await?;
        if messages.is_empty() {
            return Ok(Sealing::Empty);
        }
        let expected_head = store.head().await?;
        let head = expected_head.clone().unwrap_or_default();
        let leaves = messages
            .iter()
            .map(|m| {
                Ok(MessageLeaf::new(
                    m.id.as_uuid(),
                    content_hash(&m.content_hash)?,
                    u64::try_from(m.seq).unwrap_or(0),
                    u64::try_from(m.created_at.timestamp_millis()).unwrap_or(0),
                ))
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let leaf_hashes: Vec<Hash32> = leaves.iter().map(MessageLeaf::leaf_hash).collect();
        let tree = MerkleTree::from_leaf_hashes(leaf_hashes.clone());
        let root = tree.root();
        let now = zynk_backends::now();
        let did = did_key(&self.verifying_key());
        let header = BatchHeader {
            height: head.batches,
            batch_id: format!("batch-{}", head.batches),
            prev_header_hash: head.last_header_hash.unwrap_or(Hash32::ZERO),
            root,
            tree_size: tree.len(),
            first_seq: leaves.iter().map(|l| l.seq).min().unwrap_or(0),
            last_seq: leaves.iter().map(|l| l.seq).max().unwrap_or(0),
            closed_at: UnixMillis(u64::try_from(now.timestamp_millis()).unwrap_or(0)),
            signer: format!("{did}#ledger"),
            signature: Signature64::UNSIGNED,
        }
        .signed(&self.key);
        let transaction = anchor_transaction(&header);
        let block = self.next_block(&head, now, vec![transaction.clone()])?;
        let mut anchored = Vec::with_capacity(leaves.len());
        for (index, (leaf, message)) in leaves.iter().zip(&messages).enumerate() {
            let proof =
                MessageProof::build(&tree, leaf, index as u64, &header, None).map_err(internal)?;
            anchored.push(AnchoredMessage {
                message_id: message.id,
                content_hash: message.content_hash.clone(),
                path: proof.path,
                leaf_index: index as u64,
            });
        }
        let anchor_id = Uuid::now_v7();
        let mut outbox = Vec::new();
        if self.publishes_to_evm() {
            outbox.push(OutboxItem {
                ledger_tx_hash: transaction.hash().to_string(),
                tx_type: "message_anchor",
                tx_json: serde_json::to_vec(&transaction).map_err(internal)?,
                height: Some(i64::try_from(header.height).map_err(internal)?),
                user_id: None,
                related_entity_id: Some(anchor_id),
            });
        }
        let write = AnchorWrite {
            expected_head,
            new_head: Head {
                batches: head.batches + 1,
                last_header_hash: Some(header.header_hash()),
                block: Some(ChainTip::of(&block)),
            },
            block,
            header,
            leaves: leaf_hashes,
            anchor_id,
            messages: anchored,
            outbox,
        };
        if !store.commit_anchor(&write, now).await? {
            return Ok(Sealing::HeadMoved);
        }
        self.cache_sealed(write.block.index, &[]).await;
        if let Err(e) = self
            .context
            .ephemeral
            .chain_unanchored_trim(tree.len())
            .await
        {
            tracing::warn!(error = %e, "ledger cache update failed (the database copy is current)");
        }
        let height = write.header.height;
        tracing::info!(height, size = tree.len(), root = %root, "batch anchored");
        metrics::counter!("zynk_ledger_batches_total").increment(1);
        Ok(Sealing::Sealed(SealedBatch {
            height,
            size: tree.len(),
            root,
        }))
    }

    /// Seals the pending transactions (registrations, rotations, trust changes, credentials)
    /// into a block; returns how many. Retries when another writer moved the head meanwhile.
    pub async fn seal_pending(&self) -> Result<usize, ApiError> {
        let _one_at_a_time = self.sealing.lock().await;
        for _ in 0..100 {
            if let Some(sealed) = self.seal_pending_once().await? {
                return Ok(sealed);
            }
        }
        Err(ApiError::internal(
            &"the ledger head kept moving while sealing a block",
        ))
    }

    /// One attempt of [`Self::seal_pending`]; `None` when the head moved (nothing written).
    async fn seal_pending_once(&self) -> Result<Option<usize>, ApiError> {
        let store = &self.context.store;
        let transactions = store.pending_transactions(1000).await?;
        if transactions.is_empty() {
            return Ok(Some(0));
        }
        let expected_head = store.head().await?;
        let head = expected_head.clone().unwrap_or_default();
        let now = zynk_backends::now();
        let block = self.next_block(&head, now, transactions)?;
        let mut states: BTreeMap<ZynkDid, IdentityState> = BTreeMap::new();
        for (tx_index, tx) in block.transactions.iter().enumerate() {
            let Some(did) = IdentityState::subject(tx) else {
                continue;
            };
            let state = match states.entry(did) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => {
                    let stored = store.identity_state(&did).await?;
                    entry.insert(stored.unwrap_or_else(|| IdentityState::new(did)))
                }
            };
            state.apply(tx, block.index, tx_index as u64);
        }
        let mut outbox = Vec::new();
        if self.publishes_to_evm() {
            for tx in &block.transactions {
                let user_id = match tx {
                    Transaction::IdentityRegistration(r) => Some(r.user_id),
                    Transaction::TrustScoreUpdate(u) => Some(u.did.uuid()),
                    Transaction::CredentialIssuance(c) => {
                        c.subject_did.parse::<ZynkDid>().ok().map(|d| d.uuid())
                    }
                    Transaction::MessageAnchor(_) => None,
                }
                .map(UserId::from_uuid);
                outbox.push(OutboxItem {
                    ledger_tx_hash: tx.hash().to_string(),
                    tx_type: tx.type_name(),
                    tx_json: serde_json::to_vec(tx).map_err(internal)?,
                    height: None,
                    user_id,
                    related_entity_id: None,
                });
            }
        }
        let consumed: Vec<String> = block
            .transactions
            .iter()
            .map(|tx| tx.hash().to_string())
            .collect();
        let write = BlockWrite {
            expected_head,
            new_head: Head {
                block: Some(ChainTip::of(&block)),
                ..head
            },
            block,
            identity_states: states.into_values().collect(),
            outbox,
        };
        if !store.commit_block(&write, now).await? {
            return Ok(None);
        }
        self.cache_sealed(write.block.index, &consumed).await;
        tracing::info!(
            block = write.block.index,
            transactions = consumed.len(),
            "block sealed"
        );
        Ok(Some(consumed.len()))
    }
}
