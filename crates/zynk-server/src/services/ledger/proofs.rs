//! Message inclusion proofs: a message's leaf, its path to the root of its batch tree and the
//! signed batch header, anchored on the embedded chain or, once published and confirmed, on the
//! EVM registry.

use zynk_ledger::proof::{HASH_ALG, PROOF_VERSION};
use zynk_ledger::{Address20, Anchor, BatchHeader, Hash32, MessageLeaf, MessageProof};
use zynk_proto::{MessageId, PublicationStatus};

use super::sealing::anchor_transaction;
use super::{LedgerService, content_hash, internal};
use crate::error::ApiError;
use crate::services::auth::AuthContext;

impl LedgerService {
    /// The inclusion proof of a message of one of the caller's conversations.
    pub async fn proof(
        &self,
        caller: &AuthContext,
        message_id: MessageId,
    ) -> Result<MessageProof, ApiError> {
        let message = self.messages.get(caller, message_id).await?;
        let store = &self.context.store;
        let record = store
            .message_proof(message_id)
            .await?
            .ok_or_else(|| ApiError::not_found("proof (the message is not anchored yet)"))?;
        let header = store
            .batch_header(record.height)
            .await?
            .ok_or_else(|| internal("batch header missing"))?;
        let leaf = MessageLeaf::new(
            message_id.as_uuid(),
            content_hash(&message.content_hash)?,
            u64::try_from(message.seq).unwrap_or(0),
            u64::try_from(message.created_at.timestamp_millis()).unwrap_or(0),
        );
        let anchor = match self.evm_anchor(&header).await? {
            Some(anchor) => anchor,
            None => Anchor::embedded(&header),
        };
        let proof = MessageProof {
            version: PROOF_VERSION.to_owned(),
            hash_alg: HASH_ALG.to_owned(),
            message_id: message_id.as_uuid(),
            batch_id: header.batch_id.clone(),
            leaf_hash: leaf.leaf_hash(),
            leaf_index: record.leaf_index,
            tree_size: header.tree_size,
            path: record.path,
            root: header.root,
            anchor: Some(anchor),
            batch_header: header,
            checkpoint: None,
        };
        // Never hand out a proof that does not hold (under the ledger's validator key, which a
        // node that does not seal batches may not hold itself).
        proof
            .verify_for_message(&leaf, &self.ledger_key().await?)
            .map_err(internal)?;
        Ok(proof)
    }

    /// The confirmed EVM publication of a batch's `message_anchor` transaction, as a proof
    /// anchor (chain `eip155:<id>`, the registry, the Ethereum transaction, block, log index and
    /// gas); `None` on the embedded chain or until it is confirmed.
    async fn evm_anchor(&self, header: &BatchHeader) -> Result<Option<Anchor>, ApiError> {
        let hash = anchor_transaction(header).hash();
        let Some(publication) = self
            .context
            .store
            .evm_publication(&hash.to_string())
            .await?
        else {
            return Ok(None);
        };
        if publication.status != PublicationStatus::Confirmed {
            return Ok(None);
        }
        Ok(Some(Anchor {
            chain: publication.chain,
            contract: publication
                .to_address
                .as_deref()
                .map(|a| a.parse::<Address20>().map_err(internal))
                .transpose()?,
            tx_hash: publication
                .evm_tx_hash
                .parse::<Hash32>()
                .map_err(internal)?,
            block_number: publication
                .block_number
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            log_index: publication.log_index.and_then(|n| u64::try_from(n).ok()),
            gas_used: publication.gas_used.and_then(|n| u64::try_from(n).ok()),
        }))
    }
}
