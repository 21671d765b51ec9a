//! Publishing the ledger to the EVM registry contract (`chain = "evm"`, `docs/evm.md`).
//!
//! Every block and batch the embedded ledger seals queues its transactions in `evm_outbox`, in
//! the same database transaction. The publisher (on the node that seals, one at a time) takes
//! the queue in order: it signs each row at the next nonce and stores the signed bytes and the
//! Ethereum hash *before* broadcasting them (with a `pending` row in `blockchain_transactions`),
//! then reads receipts and marks the rows `confirmed` (or `failed`) with block number, block
//! hash, gas used and log index. A crash at any point resends the same signed bytes; the
//! contract applies each ledger transaction once, so nothing is recorded twice.

use std::sync::Arc;

use tokio::sync::Mutex;
use zynk_backends::model::{EvmDone, EvmSent, OutboxRow};
use zynk_evm::{EvmConfig, EvmError, EvmRegistry, RegistryCall};
use zynk_ledger::Transaction;
use zynk_proto::PublicationStatus;

use crate::context::Context;

/// Why the publisher cannot run.
#[derive(Debug, thiserror::Error)]
pub enum PublisherError {
    /// The signer key file is missing or malformed.
    #[error("EVM signer key {path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The chain or the contract refused.
    #[error("EVM registry: {0}")]
    Registry(#[from] EvmError),
    /// The database failed.
    #[error("{0}")]
    Store(#[from] zynk_backends::StoreError),
    /// An outbox row cannot be turned into a registry call.
    #[error("outbox row {seq}: {reason}")]
    Row {
        /// The row.
        seq: i64,
        /// What is wrong.
        reason: String,
    },
}

/// Reads a secp256k1 private key stored as hex (64 digits, `0x` optional, whitespace ignored).
pub fn read_signer_key(path: &std::path::Path) -> Result<[u8; 32], PublisherError> {
    let fail = |reason: String| PublisherError::Key {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let text = text.trim();
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut key = [0u8; 32];
    hex::decode_to_slice(digits, &mut key)
        .map_err(|_| fail("must hold 64 hex digits (a secp256k1 private key)".into()))?;
    Ok(key)
}

/// The settings of `[evm]` as an [`EvmConfig`].
pub fn evm_config(config: &crate::config::Config) -> Result<EvmConfig, PublisherError> {
    let key = read_signer_key(&config.effective_evm_key_file())?;
    let contract = match &config.evm.contract {
        Some(address) => Some(address.parse().map_err(|_| PublisherError::Row {
            seq: 0,
            reason: format!("evm.contract {address} is not an address"),
        })?),
        None => None,
    };
    let mut evm = EvmConfig::new(
        config.evm.rpc_url.clone().unwrap_or_default(),
        key,
        contract,
    );
    evm.chain_id = config.evm.chain_id;
    evm.confirmations = config.evm.confirmations;
    Ok(evm)
}

fn hex32(bytes: &[u8; 32]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn parse32(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.strip_prefix("0x")?, &mut out).ok()?;
    Some(out)
}

/// The registry call that publishes an outbox row.
fn call_for(row: &OutboxRow) -> Result<RegistryCall, PublisherError> {
    let bad = |reason: String| PublisherError::Row {
        seq: row.seq,
        reason,
    };
    let tx: Transaction =
        serde_json::from_slice(&row.item.tx_json).map_err(|e| bad(e.to_string()))?;
    let ledger_tx = *tx.hash().as_bytes();
    if hex32(&ledger_tx) != row.item.ledger_tx_hash {
        return Err(bad("the stored transaction does not match its hash".into()));
    }
    Ok(match tx {
        Transaction::IdentityRegistration(r) => RegistryCall::RegisterIdentity {
            ledger_tx,
            did: r.did.to_string(),
            public_key: r.public_key.0,
        },
        Transaction::TrustScoreUpdate(u) => RegistryCall::UpdateTrustScore {
            ledger_tx,
            did: u.did.to_string(),
            old: u.old_score.get(),
            new: u.new_score.get(),
            reason: u.reason.tag(),
        },
        Transaction::MessageAnchor(a) => RegistryCall::AnchorRoot {
            ledger_tx,
            height: row
                .item
                .height
                .and_then(|h| u64::try_from(h).ok())
                .ok_or_else(|| bad("a message anchor without its batch height".into()))?,
            root: *a.merkle_root.as_bytes(),
            tree_size: a.tree_size,
        },
        Transaction::CredentialIssuance(c) => RegistryCall::IssueCredential {
            ledger_tx,
            credential_hash: *c.credential_id_hash.as_bytes(),
            subject_did: c.subject_did,
        },
    })
}

/// Sends the outbox to the registry and records receipts.
#[derive(Clone)]
pub struct EvmPublisher {
    context: Arc<Context>,
    config: EvmConfig,
    registry: Arc<Mutex<Option<Arc<EvmRegistry>>>>,
    /// One pass at a time in this process (the job and `zynkd evm publish` share it); across
    /// processes, rows are claimed by compare-and-set and a reused nonce is requeued.
    running: Arc<Mutex<()>>,
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishRun {
    /// Rows signed and broadcast.
    pub sent: usize,
    /// Receipts recorded.
    pub confirmed: usize,
    /// Reverted transactions recorded.
    pub failed: usize,
}

impl EvmPublisher {
    /// A publisher with the `[evm]` settings; reads the signer key now (a missing key fails the
    /// start), connects on first use.
    pub fn new(context: Arc<Context>) -> Result<Self, PublisherError> {
        let config = evm_config(&context.config)?;
        Ok(Self {
            context,
            config,
            registry: Arc::default(),
            running: Arc::default(),
        })
    }

    async fn registry(&self) -> Result<Arc<EvmRegistry>, PublisherError> {
        let mut guard = self.registry.lock().await;
        if let Some(registry) = guard.as_ref() {
            return Ok(registry.clone());
        }
        let registry = Arc::new(EvmRegistry::connect(&self.config).await?);
        tracing::info!(
            chain_id = registry.chain_id(),
            contract = %registry.contract(),
            signer = %registry.from(),
            "connected to the EVM registry"
        );
        *guard = Some(registry.clone());
        Ok(registry)
    }

    /// One pass over the outbox: receipts for sent rows (resending what the node does not
    /// know), then the queued rows signed and broadcast in order.
    pub async fn run_once(&self) -> Result<PublishRun, PublisherError> {
        let _one_at_a_time = self.running.lock().await;
        let registry = self.registry().await?;
        let store = &self.context.store;
        let chain = format!("eip155:{}", registry.chain_id());
        let rows = store.evm_outbox_open(500).await?;
        let mut run = PublishRun::default();
        let mut next_free: Option<u64> = None;
        for row in rows.iter().filter(|r| r.status == PublicationStatus::Sent) {
            let (Some(hash_text), Some(raw)) = (&row.evm_tx_hash, &row.raw_tx) else {
                continue;
            };
            let hash = parse32(hash_text).ok_or_else(|| PublisherError::Row {
                seq: row.seq,
                reason: "stored Ethereum hash is malformed".into(),
            })?;
            if let Some(receipt) = registry.receipt(hash).await? {
                let done = EvmDone {
                    seq: row.seq,
                    evm_tx_hash: hash_text.clone(),
                    success: receipt.success,
                    block_number: i64::try_from(receipt.block_number).unwrap_or(i64::MAX),
                    block_hash: hex32(&receipt.block_hash),
                    gas_used: i64::try_from(receipt.gas_used).unwrap_or(i64::MAX),
                    log_index: receipt.log_index.and_then(|i| i64::try_from(i).ok()),
                };
                store.evm_mark_done(&done, zynk_backends::now()).await?;
                if receipt.success {
                    run.confirmed += 1;
                } else {
                    run.failed += 1;
                    tracing::error!(ledger_tx = %row.item.ledger_tx_hash, evm_tx = %hash_text, "the registry reverted a publication");
                }
                continue;
            }
            let nonce = row.nonce.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
            next_free = Some(next_free.map_or(nonce + 1, |n| n.max(nonce + 1)));
            if !registry.is_known(hash).await? {
                match registry.broadcast(raw).await {
                    Ok(_) => {}
                    Err(EvmError::NonceUsed { .. }) => {
                        // Another transaction took the nonce (the signer key is used elsewhere):
                        // sign the row again at a fresh nonce.
                        tracing::warn!(
                            seq = row.seq,
                            nonce,
                            "nonce taken by another transaction; requeued"
                        );
                        store
                            .evm_requeue(row.seq, hash_text, zynk_backends::now())
                            .await?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let queued: Vec<&OutboxRow> = rows
            .iter()
            .filter(|r| r.status == PublicationStatus::Queued)
            .collect();
        if queued.is_empty() {
            return Ok(run);
        }
        let mut nonce = registry.next_nonce().await?.max(next_free.unwrap_or(0));
        for row in queued {
            let call = match call_for(row) {
                Ok(call) => call,
                Err(e) => {
                    // Nothing will ever make this row publishable: record it, keep going.
                    tracing::error!(error = %e, "an outbox row cannot be published; marked failed");
                    store
                        .evm_mark_unpublishable(row.seq, zynk_backends::now())
                        .await?;
                    run.failed += 1;
                    continue;
                }
            };
            let prepared = registry.prepare(&call, nonce).await?;
            let sent = EvmSent {
                seq: row.seq,
                nonce: i64::try_from(nonce).unwrap_or(i64::MAX),
                evm_tx_hash: hex32(&prepared.hash),
                raw_tx: prepared.raw.clone(),
                chain: chain.clone(),
                from_address: format!("0x{}", hex::encode(prepared.from.as_slice())),
                to_address: format!("0x{}", hex::encode(prepared.to.as_slice())),
            };
            // Recorded before it leaves: a crash from here on resends these exact bytes.
            if !store
                .evm_mark_sent(&sent, &row.item, zynk_backends::now())
                .await?
            {
                // Another publisher signed this row first; its nonce stays unused here.
                continue;
            }
            registry.broadcast(&prepared.raw).await?;
            metrics::counter!("zynk_evm_transactions_sent_total").increment(1);
            run.sent += 1;
            nonce += 1;
        }
        Ok(run)
    }

    /// Runs until nothing is left to send or confirm, at most `rounds` passes (for
    /// `zynkd evm publish` and tests).
    pub async fn drain(&self, rounds: usize) -> Result<PublishRun, PublisherError> {
        let mut total = PublishRun::default();
        for _ in 0..rounds {
            let run = self.run_once().await?;
            total.sent += run.sent;
            total.confirmed += run.confirmed;
            total.failed += run.failed;
            if self.context.store.evm_outbox_open(1).await?.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        Ok(total)
    }
}
