//! The check of the whole stored ledger (`zynkd ledger verify`): the validator it names, the
//! signed block chain, every transaction entry against its block, the identity states against
//! what the blocks record, the signed batch chain with each batch's tree and anchoring
//! transaction, and the head.

use std::collections::HashMap;

use ed25519_dalek::VerifyingKey;
use zynk_backends::ledger::IdentityState;
use zynk_backends::sql::AnyStore;
use zynk_ledger::block::MessageAnchor;
use zynk_ledger::{Ed25519PublicKey, Hash32, MerkleTree, Transaction, ZynkDid};

use super::LedgerService;

impl LedgerService {
    /// Walks the whole ledger and checks every block, batch header, transaction entry and
    /// batch tree against `validator`; returns the number of blocks and batches checked.
    pub async fn verify(&self, validator: &VerifyingKey) -> Result<(u64, u64), String> {
        verify_ledger(self.context.store.as_ref(), validator).await
    }
}

/// Checks the embedded ledger stored in `store` against `validator` (see
/// [`LedgerService::verify`]); the error says what does not hold.
pub async fn verify_ledger(
    store: &dyn AnyStore,
    validator: &VerifyingKey,
) -> Result<(u64, u64), String> {
    let err = |e: zynk_backends::StoreError| e.to_string();
    if let Some(stored) = store.validator().await.map_err(err)?
        && stored != Ed25519PublicKey::from(validator)
    {
        return Err(format!(
            "the ledger names validator {}, not this node's key",
            stored.to_did_key()
        ));
    }
    let blocks = store.blocks().await.map_err(err)?;
    let tip = zynk_ledger::verify_chain(&blocks, validator, None).map_err(|e| e.to_string())?;
    let mut anchors: HashMap<String, MessageAnchor> = HashMap::new();
    let mut states: HashMap<ZynkDid, IdentityState> = HashMap::new();
    for block in &blocks {
        for (tx_index, tx) in block.transactions.iter().enumerate() {
            let hash = tx.hash();
            let entry = store
                .tx_entry(&hash)
                .await
                .map_err(err)?
                .ok_or_else(|| format!("transaction {hash} has no entry"))?;
            if entry.data != *tx
                || entry.block_number != block.index
                || entry.hash != hash
                || entry.tx_type != tx.type_name()
            {
                return Err(format!(
                    "the entry of transaction {hash} differs from block {}",
                    block.index
                ));
            }
            if let Transaction::MessageAnchor(anchor) = tx {
                anchors.insert(anchor.batch_id.clone(), anchor.clone());
            }
            if let Some(did) = IdentityState::subject(tx) {
                states
                    .entry(did)
                    .or_insert_with(|| IdentityState::new(did))
                    .apply(tx, block.index, tx_index as u64);
            }
        }
    }
    let stored_states = store.identity_states().await.map_err(err)?;
    if stored_states.len() != states.len() {
        return Err(format!(
            "{} identity states are stored, the blocks give {}",
            stored_states.len(),
            states.len()
        ));
    }
    for stored in stored_states {
        if states.get(&stored.did) != Some(&stored) {
            return Err(format!(
                "the identity state of {} differs from what the blocks record",
                stored.did
            ));
        }
    }
    let mut prev_header: Option<Hash32> = None;
    let mut batches = 0u64;
    for header in store.batch_headers().await.map_err(err)? {
        let name = format!("batch {}", header.height);
        if header.height != batches {
            return Err(format!("{name}: expected batch {batches}"));
        }
        header
            .verify_signature(validator)
            .map_err(|e| format!("{name}: {e}"))?;
        if header.prev_header_hash != prev_header.unwrap_or(Hash32::ZERO) {
            return Err(format!("{name}: does not follow the previous batch"));
        }
        let anchor = anchors
            .get(&header.batch_id)
            .ok_or_else(|| format!("{name}: no block anchors it"))?;
        if anchor.merkle_root != header.root || anchor.tree_size != header.tree_size {
            return Err(format!("{name}: differs from its anchoring transaction"));
        }
        let tree = store
            .merkle_entry(&header.root)
            .await
            .map_err(err)?
            .ok_or_else(|| format!("{name}: the tree {} is missing", header.root))?;
        if MerkleTree::from_leaf_hashes(tree.leaves).root() != header.root {
            return Err(format!(
                "{name}: the leaves of tree {} do not give the root",
                header.root
            ));
        }
        prev_header = Some(header.header_hash());
        batches += 1;
    }
    if let Some(head) = store.head().await.map_err(err)?
        && (head.batches != batches || head.last_header_hash != prev_header || head.block != tip)
    {
        return Err("head does not match the last block and batch".into());
    }
    Ok((blocks.len() as u64, batches))
}
