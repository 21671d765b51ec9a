//! The embedded ledger: a signed, hash-linked log kept in the database (data model 11.6, stored
//! through [`zynk_backends::store::LedgerStore`]). It claims no consensus: one validator key, held
//! by the node(s) that seal batches, signs every batch header and block.
//!
//! - `key_file`: the validator key file.
//! - `sealing`: message batches and blocks of pending transactions, and the ledger cache.
//! - `identities`: DID documents, identity proofs (key transparency) and key rotation.
//! - [`credentials`]: verified-identity credentials (VC-JWT) and their issuance.
//! - `proofs`: message inclusion proofs, with the EVM anchor once published.
//! - `verify`: the check of the whole stored ledger behind `zynkd ledger verify`.

pub mod credentials;
mod identities;
mod key_file;
mod proofs;
mod sealing;
mod verify;

use std::sync::Arc;

use base64::Engine;
use ed25519_dalek::{SigningKey, VerifyingKey};
use tokio::sync::Mutex;
use zynk_ledger::did::did_key;
use zynk_ledger::proof::EMBEDDED_CHAIN;
use zynk_ledger::{Hash32, Transaction};

use super::messages::MessageService;
use crate::context::Context;
use crate::error::ApiError;

pub use key_file::{LedgerKeyError, load_existing_key, load_or_create_key};
pub use sealing::SealedBatch;
pub use verify::verify_ledger;
pub use zynk_proto::ledger::LedgerInfo;

/// The ledger of this deployment.
#[derive(Clone)]
pub struct LedgerService {
    context: Arc<Context>,
    messages: MessageService,
    key: Arc<SigningKey>,
    /// Held while sealing: one batch or block at a time on this node.
    sealing: Arc<Mutex<()>>,
}

impl LedgerService {
    /// A ledger signing with `key`.
    pub fn new(context: Arc<Context>, messages: MessageService, key: SigningKey) -> Self {
        Self {
            context,
            messages,
            key: Arc::new(key),
            sealing: Arc::default(),
        }
    }

    /// The validator's public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The ledger's validator key (recorded at the first start); this node's key before that.
    async fn ledger_key(&self) -> Result<VerifyingKey, ApiError> {
        match self.context.store.validator().await? {
            Some(key) => key.to_verifying_key().map_err(internal),
            None => Ok(self.verifying_key()),
        }
    }

    /// Records this node's validator key at the first start; false if the ledger was started
    /// with another key (this node then must not seal batches).
    pub async fn claim_validator(&self) -> Result<bool, ApiError> {
        let key = zynk_ledger::Ed25519PublicKey::from(&self.verifying_key());
        Ok(self.context.store.claim_validator(&key).await?)
    }

    /// Whether sealed transactions are also published to the EVM registry.
    fn publishes_to_evm(&self) -> bool {
        self.context.config.chain == crate::config::ChainKind::Evm
    }

    /// `GET /api/v1/ledger`.
    pub async fn info(&self) -> Result<LedgerInfo, ApiError> {
        let head = self.context.store.head().await?.unwrap_or_default();
        let key = self.ledger_key().await?;
        Ok(LedgerInfo {
            chain: EMBEDDED_CHAIN.to_owned(),
            validator_key: base64::engine::general_purpose::STANDARD_NO_PAD.encode(key.as_bytes()),
            validator_did: did_key(&key),
            batches: head.batches,
            latest_block: self
                .context
                .ephemeral
                .chain_latest_block()
                .await?
                .or(head.block.map(|tip| tip.index)),
            unanchored_messages: self.context.ephemeral.chain_unanchored_len().await?,
            published_to: (self.publishes_to_evm())
                .then(|| {
                    self.context
                        .config
                        .evm
                        .chain_id
                        .map(|id| format!("eip155:{id}"))
                })
                .flatten(),
            registry: self
                .publishes_to_evm()
                .then(|| self.context.config.evm.contract.as_deref())
                .flatten()
                .map(str::to_ascii_lowercase),
        })
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(&e)
}

/// A stored hex SHA-256 of a ciphertext.
fn content_hash(hex_hash: &str) -> Result<Hash32, ApiError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_hash, &mut bytes).map_err(internal)?;
    Ok(Hash32::new(bytes))
}

/// Mirrors a new pending ledger transaction into the ledger cache (`blockchain:pending_tx:{hash}`,
/// data model 11.7). Best effort: the durable copy is already in the database.
pub(crate) async fn cache_pending(context: &Context, transaction: &Transaction) {
    let result = match zynk_backends::ledger::pending_json(transaction) {
        Ok(json) => context
            .ephemeral
            .chain_pending_put(&transaction.hash().to_string(), &json)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "ledger cache update failed (the database copy is current)");
    }
}
