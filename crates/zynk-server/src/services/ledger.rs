//! The embedded ledger: a signed, hash-linked log kept in the database (`ledger_kv`, data model
//! 11.6 key layout). It claims no consensus: one validator key, held by the node(s) that seal
//! batches, signs every batch header and block.
//!
//! Message anchoring: unanchored messages are sealed in batches (hourly by default, at most
//! `anchor_max_batch` per batch). A batch is an RFC 9162 Merkle tree over message leaves that
//! commit to the ciphertext (never plaintext) with the message id, sequence number and time;
//! its root goes into a signed batch header and a `message_anchor` transaction in a new block;
//! every message gets its inclusion proof. All of it is written in one transaction.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use uuid::Uuid;
use zynk_backends::model::{AnchorWrite, BlockWrite};
use zynk_ledger::block::MessageAnchor;
use zynk_ledger::did::{did_key, parse_did_key};
use zynk_ledger::proof::{EMBEDDED_CHAIN, HASH_ALG, PROOF_VERSION, PathEntry};
use zynk_ledger::{
    Anchor, BatchHeader, Block, ChainTip, Hash32, MerkleTree, MessageLeaf, MessageProof,
    Signature64, Transaction, UnixMillis,
};

use super::Context;
use super::auth::AuthContext;
use super::messages::MessageService;
use crate::error::ApiError;

pub use zynk_proto::ledger::LedgerInfo;

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

/// The tip of the ledger, stored under `head`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Head {
    /// Batches sealed so far (the next batch's height).
    batches: u64,
    /// Header hash of the last batch.
    last_header_hash: Option<Hash32>,
    /// The last block: index, hash, timestamp.
    block: Option<(u64, Hash32, u64)>,
}

/// `state:identity:{did}`: an identity's current key and score as the blocks record them (data
/// model 11.6, plus where the current key's registration sits, for key-transparency proofs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IdentityState {
    did: String,
    /// Current identity key (`z6Mk…`); absent until the registration is sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key: Option<zynk_ledger::Ed25519PublicKey>,
    trust_score: u8,
    is_active: bool,
    /// The `identity_registration` (or rotation) that recorded the current key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tx_hash: Option<Hash32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    block_number: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tx_index: Option<u64>,
}

impl IdentityState {
    fn new(did: &str) -> Self {
        Self {
            did: did.to_owned(),
            public_key: None,
            trust_score: 50,
            is_active: true,
            tx_hash: None,
            block_number: None,
            tx_index: None,
        }
    }

    /// Applies a sealed transaction about this identity.
    fn apply(&mut self, tx: &Transaction, block: u64, tx_index: u64) {
        match tx {
            Transaction::IdentityRegistration(r) => {
                self.public_key = Some(r.public_key);
                self.tx_hash = Some(tx.hash());
                self.block_number = Some(block);
                self.tx_index = Some(tx_index);
            }
            Transaction::TrustScoreUpdate(u) => self.trust_score = u.new_score.get(),
            _ => {}
        }
    }
}

/// The ledger of this deployment.
#[derive(Clone)]
pub struct LedgerService {
    context: Arc<Context>,
    messages: MessageService,
    key: Arc<SigningKey>,
    sealing: Arc<Mutex<()>>,
}

/// Why the ledger could not start.
#[derive(Debug, thiserror::Error)]
#[error("ledger key {path}: {reason}")]
pub struct LedgerKeyError {
    path: String,
    reason: String,
}

/// Reads the validator key file (32-byte Ed25519 seed), creating it (mode 0600) if missing.
pub fn load_or_create_key(path: &PathBuf) -> Result<SigningKey, LedgerKeyError> {
    let fail = |reason: String| LedgerKeyError {
        path: path.display().to_string(),
        reason,
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            let seed: [u8; 32] = bytes
                .try_into()
                .map_err(|_| fail("must hold exactly 32 bytes".into()))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| fail(e.to_string()))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
            }
            write_private(path, &seed).map_err(|e| fail(e.to_string()))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) => Err(fail(e.to_string())),
    }
}

/// Reads an existing validator key file (for verification: never creates one).
pub fn load_existing_key(path: &PathBuf) -> Result<SigningKey, LedgerKeyError> {
    if !path.is_file() {
        return Err(LedgerKeyError {
            path: path.display().to_string(),
            reason: "not found".into(),
        });
    }
    load_or_create_key(path)
}

fn write_private(path: &PathBuf, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(&e)
}

fn content_hash(hex_hash: &str) -> Result<Hash32, ApiError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_hash, &mut bytes).map_err(internal)?;
    Ok(Hash32::new(bytes))
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

    /// Signs the block that follows `head` (no earlier than its timestamp) holding `transactions`.
    fn next_block(
        &self,
        head: &Head,
        now: chrono::DateTime<chrono::Utc>,
        transactions: Vec<Transaction>,
    ) -> Result<Block, ApiError> {
        let tip = head.block.map(|(index, hash, timestamp)| ChainTip {
            index,
            hash,
            timestamp,
        });
        let timestamp = u64::try_from(now.timestamp())
            .unwrap_or(0)
            .max(tip.map_or(0, |t| t.timestamp));
        Block::seal(tip.as_ref(), timestamp, transactions, &self.key).map_err(internal)
    }

    /// Whether sealed transactions are also published to the EVM registry.
    fn publishes_to_evm(&self) -> bool {
        self.context.config.chain == crate::config::ChainKind::Evm
    }

    /// The validator's public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The ledger's validator key (recorded at the first start); this node's key before that.
    async fn ledger_key(&self) -> Result<VerifyingKey, ApiError> {
        match self.context.store.ledger_get("validator").await? {
            Some(did) => parse_did_key(&String::from_utf8_lossy(&did)).map_err(internal),
            None => Ok(self.verifying_key()),
        }
    }

    /// Records this node's validator key at the first start; false if the ledger was started
    /// with another key (this node then must not seal batches).
    pub async fn claim_validator(&self) -> Result<bool, ApiError> {
        let did = did_key(&self.verifying_key());
        if self
            .context
            .store
            .ledger_put_new("validator", did.as_bytes())
            .await?
        {
            return Ok(true);
        }
        let stored = self
            .context
            .store
            .ledger_get("validator")
            .await?
            .unwrap_or_default();
        Ok(stored == did.as_bytes())
    }

    async fn head(&self) -> Result<(Option<Vec<u8>>, Head), ApiError> {
        let raw = self.context.store.ledger_get("head").await?;
        let head = match &raw {
            Some(bytes) => serde_json::from_slice(bytes).map_err(internal)?,
            None => Head::default(),
        };
        Ok((raw, head))
    }

    /// `GET /api/v1/ledger`.
    pub async fn info(&self) -> Result<LedgerInfo, ApiError> {
        let (_, head) = self.head().await?;
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
                .or(head.block.map(|b| b.0)),
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
        let messages = self.context.store.unanchored_messages(max).await?;
        if messages.is_empty() {
            return Ok(Sealing::Empty);
        }
        let (raw_head, head) = self.head().await?;
        let leaves = messages
            .iter()
            .map(|m| {
                Ok(MessageLeaf::new(
                    m.id,
                    content_hash(&m.content_hash)?,
                    u64::try_from(m.seq).unwrap_or(0),
                    u64::try_from(m.created_at.timestamp_millis()).unwrap_or(0),
                ))
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let tree =
            MerkleTree::from_leaf_hashes(leaves.iter().map(MessageLeaf::leaf_hash).collect());
        let root = tree.root();
        let now = zynk_backends::now();
        let first_seq = leaves.iter().map(|l| l.seq).min().unwrap_or(0);
        let last_seq = leaves.iter().map(|l| l.seq).max().unwrap_or(0);
        let did = did_key(&self.verifying_key());
        let header = BatchHeader {
            height: head.batches,
            batch_id: format!("batch-{}", head.batches),
            prev_header_hash: head.last_header_hash.unwrap_or(Hash32::ZERO),
            root,
            tree_size: tree.len(),
            first_seq,
            last_seq,
            closed_at: UnixMillis(u64::try_from(now.timestamp_millis()).unwrap_or(0)),
            signer: format!("{did}#ledger"),
            signature: Signature64::UNSIGNED,
        }
        .signed(&self.key);
        let transaction = Transaction::MessageAnchor(MessageAnchor {
            batch_id: header.batch_id.clone(),
            merkle_root: root,
            tree_size: tree.len(),
            first_seq,
            last_seq,
        });
        let block = self.next_block(&head, now, vec![transaction.clone()])?;
        let tx_hash = transaction.hash();
        let mut proofs = Vec::with_capacity(leaves.len());
        for (index, (leaf, message)) in leaves.iter().zip(&messages).enumerate() {
            let proof =
                MessageProof::build(&tree, leaf, index as u64, &header, None).map_err(internal)?;
            let siblings = serde_json::to_value(proof.siblings_doc()).map_err(internal)?;
            proofs.push((
                message.id,
                message.content_hash.clone(),
                siblings,
                index as i64,
            ));
        }
        let new_head = Head {
            batches: head.batches + 1,
            last_header_hash: Some(header.header_hash()),
            block: Some((block.index, block.hash, block.timestamp)),
        };
        let json = |v: &dyn erased::Json| v.bytes();
        let tx_entry = tx_entry(&transaction, block.index);
        let merkle_entry = serde_json::json!({
            "root": root, "leaves": leaves.iter().map(MessageLeaf::leaf_hash).collect::<Vec<_>>(),
            "tree_depth": 64 - (tree.len().max(1) - 1).leading_zeros(), "message_count": tree.len(),
        });
        let write = AnchorWrite {
            expected_head: raw_head,
            new_head: serde_json::to_vec(&new_head).map_err(internal)?,
            entries: vec![
                (
                    format!("block:{}", block.index),
                    json(&block)?,
                    Some(block.index as i64),
                ),
                (format!("tx:{tx_hash}"), json(&tx_entry)?, None),
                (
                    format!("batch:{}", header.height),
                    json(&header)?,
                    Some(header.height as i64),
                ),
                (format!("merkle:{root}"), json(&merkle_entry)?, None),
            ],
            anchor_id: Uuid::now_v7(),
            merkle_root: hex::encode(root.as_bytes()),
            transaction_hash: tx_hash.to_string(),
            block_hash: block.hash.to_string(),
            height: header.height as i64,
            proofs,
            outbox: Vec::new(),
        };
        let mut write = write;
        if self.publishes_to_evm() {
            write.outbox.push(zynk_backends::model::OutboxItem {
                ledger_tx_hash: write.transaction_hash.clone(),
                tx_type: "message_anchor",
                tx_json: serde_json::to_vec(&transaction).map_err(internal)?,
                height: Some(write.height),
                user_id: None,
                related_entity_id: Some(write.anchor_id),
            });
        }
        if !self.context.store.commit_anchor(&write, now).await? {
            return Ok(Sealing::HeadMoved);
        }
        self.cache_sealed(block.index, &[]).await;
        if let Err(e) = self
            .context
            .ephemeral
            .chain_unanchored_trim(tree.len())
            .await
        {
            tracing::warn!(error = %e, "ledger cache update failed (the database copy is current)");
        }
        tracing::info!(height = header.height, size = tree.len(), root = %root, "batch anchored");
        metrics::counter!("zynk_ledger_batches_total").increment(1);
        Ok(Sealing::Sealed(SealedBatch {
            height: header.height,
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
        let pending = self.context.store.ledger_scan("pending:").await?;
        if pending.is_empty() {
            return Ok(Some(0));
        }
        let mut transactions = Vec::with_capacity(pending.len());
        let mut consumed = Vec::with_capacity(pending.len());
        for (key, value, _) in pending.iter().take(1000) {
            let tx: Transaction = serde_json::from_slice(value).map_err(internal)?;
            consumed.push(key.clone());
            transactions.push(tx);
        }
        let (raw_head, head) = self.head().await?;
        let now = zynk_backends::now();
        let block = self.next_block(&head, now, transactions.clone())?;
        let json = |v: &dyn erased::Json| v.bytes();
        let mut entries = vec![(
            format!("block:{}", block.index),
            json(&block)?,
            Some(block.index as i64),
        )];
        let mut states: std::collections::BTreeMap<String, IdentityState> = Default::default();
        let mut identities = Vec::new();
        let mut confirmed = Vec::new();
        for (tx_index, tx) in transactions.iter().enumerate() {
            let hash = tx.hash();
            entries.push((
                format!("tx:{hash}"),
                json(&tx_entry(tx, block.index))?,
                None,
            ));
            confirmed.push(hash.to_string());
            let did = match tx {
                Transaction::IdentityRegistration(r) => r.did.to_string(),
                Transaction::TrustScoreUpdate(u) => u.did.to_string(),
                _ => continue,
            };
            if !states.contains_key(&did) {
                let stored = self.identity_state(&did).await?;
                states.insert(
                    did.clone(),
                    stored.unwrap_or_else(|| IdentityState::new(&did)),
                );
            }
            let Some(state) = states.get_mut(&did) else {
                continue;
            };
            state.apply(tx, block.index, tx_index as u64);
            if matches!(tx, Transaction::IdentityRegistration(_)) {
                identities.push((did, hash.to_string()));
            }
        }
        let upserts = states
            .iter()
            .map(|(did, state)| Ok((format!("state:identity:{did}"), json(state)?)))
            .collect::<Result<Vec<_>, ApiError>>()?;
        let new_head = Head {
            block: Some((block.index, block.hash, block.timestamp)),
            ..head
        };
        let write = BlockWrite {
            expected_head: raw_head,
            new_head: serde_json::to_vec(&new_head).map_err(internal)?,
            entries,
            upserts,
            consumed,
            block_number: block.index as i64,
            block_hash: block.hash.to_string(),
            confirmed,
            identities,
            outbox: Vec::new(),
        };
        let mut write = write;
        if self.publishes_to_evm() {
            for tx in &transactions {
                let user_id = match tx {
                    Transaction::IdentityRegistration(r) => Some(r.user_id),
                    Transaction::TrustScoreUpdate(u) => Some(u.did.uuid()),
                    Transaction::CredentialIssuance(c) => c
                        .subject_did
                        .parse::<zynk_ledger::ZynkDid>()
                        .ok()
                        .map(|d| d.uuid()),
                    Transaction::MessageAnchor(_) => None,
                };
                write.outbox.push(zynk_backends::model::OutboxItem {
                    ledger_tx_hash: tx.hash().to_string(),
                    tx_type: tx.type_name(),
                    tx_json: serde_json::to_vec(tx).map_err(internal)?,
                    height: None,
                    user_id,
                    related_entity_id: None,
                });
            }
        }
        if !self.context.store.commit_block(&write, now).await? {
            return Ok(None);
        }
        self.cache_sealed(block.index, &write.confirmed).await;
        tracing::info!(
            block = block.index,
            transactions = transactions.len(),
            "block sealed"
        );
        Ok(Some(transactions.len()))
    }

    /// Seals (on the node holding the ledger key) or waits up to 5 s for a block holding any
    /// pending registration or rotation of `did`.
    async fn await_registration(&self, did: &zynk_ledger::ZynkDid) -> Result<(), ApiError> {
        for _ in 0..50 {
            if !self.registration_pending(did).await? {
                break;
            }
            if self.ledger_key().await? == self.verifying_key() {
                self.seal_pending().await?;
            } else {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// A user and their current identity key.
    async fn user_and_key(
        &self,
        user_id: Uuid,
    ) -> Result<(zynk_backends::model::UserRecord, [u8; 32]), ApiError> {
        let user = self
            .context
            .store
            .get_user(user_id)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        let key = super::validation::ed25519_key("identity_key", &user.public_key)
            .map_err(|_| internal("stored identity key is invalid"))?;
        Ok((user, key))
    }

    /// Whether an identity registration or rotation of `did` waits for a block: its identity
    /// row is marked verified only when a block holds its current key.
    async fn registration_pending(&self, did: &zynk_ledger::ZynkDid) -> Result<bool, ApiError> {
        Ok(self
            .context
            .store
            .identity_by_did(&did.to_string())
            .await?
            .is_some_and(|identity| !identity.is_verified))
    }

    async fn identity_state(&self, did: &str) -> Result<Option<IdentityState>, ApiError> {
        match self
            .context
            .store
            .ledger_get(&format!("state:identity:{did}"))
            .await?
        {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(internal)?)),
            None => Ok(None),
        }
    }

    /// The W3C DID document of a user (`did:zynk:<user id>`), listing their identity key.
    pub async fn did_document(&self, did: &str) -> Result<zynk_ledger::DidDocument, ApiError> {
        let parsed: zynk_ledger::ZynkDid =
            did.parse().map_err(|_| ApiError::not_found("identity"))?;
        let user = self
            .context
            .store
            .get_user(parsed.uuid())
            .await?
            .ok_or_else(|| ApiError::not_found("identity"))?;
        let key = super::validation::ed25519_key("identity_key", &user.public_key)
            .map_err(|_| internal("stored identity key is invalid"))?;
        Ok(zynk_ledger::DidDocument::for_identity(
            &parsed,
            &zynk_ledger::Ed25519PublicKey(key),
        ))
    }

    /// Key transparency: the latest sealed identity key of `did` with its inclusion proof in a
    /// signed block. Anyone may ask (identity keys are public); 404 until a block holds it.
    pub async fn identity_proof(&self, did: &str) -> Result<zynk_ledger::IdentityProof, ApiError> {
        let parsed: zynk_ledger::ZynkDid =
            did.parse().map_err(|_| ApiError::not_found("identity"))?;
        // A registration or rotation still waiting for its block is sealed now on the validator
        // node, or awaited (up to 5 s) on the others, so that a client never sees a key that is
        // newer than the ledger's.
        self.await_registration(&parsed).await?;
        let state = self
            .identity_state(&parsed.to_string())
            .await?
            .ok_or_else(|| ApiError::not_found("identity (not in a block yet)"))?;
        let (Some(block_number), Some(tx_index)) = (state.block_number, state.tx_index) else {
            return Err(ApiError::not_found("identity (not in a block yet)"));
        };
        let bytes = self
            .context
            .store
            .ledger_get(&format!("block:{block_number}"))
            .await?
            .ok_or_else(|| internal("block missing"))?;
        let block: Block = serde_json::from_slice(&bytes).map_err(internal)?;
        let proof = zynk_ledger::IdentityProof::build(&block, tx_index as usize)
            .ok_or_else(|| internal("identity state points at no registration"))?;
        proof
            .verify(&parsed, &self.ledger_key().await?)
            .map_err(internal)?;
        Ok(proof)
    }

    /// `PUT /api/v1/users/me/identity-key`: replaces the caller's identity key, authorised by a
    /// signature of the current key, and records the rotation as a new `identity_registration`
    /// transaction for the same DID.
    pub async fn rotate_identity_key(
        &self,
        caller: &AuthContext,
        request: &zynk_proto::trust::RotateIdentityKeyRequest,
    ) -> Result<(), ApiError> {
        use ed25519_dalek::Verifier as _;
        let new_key = super::validation::ed25519_key("identity_key", &request.identity_key)?;
        let signature = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(&request.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .ok_or_else(|| {
                ApiError::invalid_field("signature", "must be 64 bytes, unpadded base64")
            })?;
        let (user, current) = self.user_and_key(caller.user_id).await?;
        let did = zynk_ledger::ZynkDid::new(caller.user_id);
        let message = zynk_proto::trust::rotation_signing_bytes(&did.to_string(), &new_key);
        let current_key = VerifyingKey::from_bytes(&current)
            .map_err(|_| internal("stored identity key is invalid"))?;
        current_key
            .verify(&message, &ed25519_dalek::Signature::from_bytes(&signature))
            .map_err(|_| {
                ApiError::new(
                    zynk_proto::ErrorCode::InvalidSignature,
                    "the signature does not verify under the current identity key",
                )
            })?;
        let tx = Transaction::IdentityRegistration(zynk_ledger::block::IdentityRegistration {
            did,
            public_key: zynk_ledger::Ed25519PublicKey(new_key),
            user_id: caller.user_id,
        });
        let tx_hash = tx.hash().to_string();
        // A key used before would repeat an earlier transaction: refuse it.
        let store = &self.context.store;
        if new_key == current
            || store.ledger_get(&format!("tx:{tx_hash}")).await?.is_some()
            || store
                .ledger_get(&format!("pending:{tx_hash}"))
                .await?
                .is_some()
        {
            return Err(ApiError::new(
                zynk_proto::ErrorCode::KeyReused,
                "the new identity key was used before",
            ));
        }
        let rotation = zynk_backends::model::KeyRotation {
            user_id: caller.user_id,
            did: did.to_string(),
            old_public_key: user.public_key.clone(),
            new_public_key: request.identity_key.clone(),
            tx: zynk_backends::model::PendingTx {
                hash: tx_hash,
                tx_type: "identity_registration",
                json: serde_json::to_vec(&tx).map_err(internal)?,
                user_id: Some(caller.user_id),
                related_entity_id: Some(caller.user_id),
            },
        };
        if !self
            .context
            .store
            .rotate_identity_key(&rotation, zynk_backends::now())
            .await?
        {
            return Err(ApiError::new(
                zynk_proto::ErrorCode::InvalidSignature,
                "the identity key changed meanwhile; sign with the current key",
            ));
        }
        cache_pending(&self.context, &rotation.tx.hash, &rotation.tx.json).await;
        tracing::info!(user_id = %caller.user_id, "identity key rotated");
        Ok(())
    }

    /// `POST /api/v1/credentials`: a verified-identity credential for the caller, as a VC-JWT
    /// (VC Data Model 1.1, `vc` claim) signed with EdDSA by this node's `did:key`, recorded by a
    /// `credential_issuance` transaction.
    pub async fn issue_credential(
        &self,
        caller: &AuthContext,
    ) -> Result<zynk_proto::trust::CredentialResponse, ApiError> {
        // Credentials are signed with the ledger's key: a node holding another key (a
        // misconfiguration) issues none.
        if self.ledger_key().await? != self.verifying_key() {
            return Err(ApiError::new(
                zynk_proto::ErrorCode::Unavailable,
                "this node does not hold the ledger key; credentials cannot be issued here",
            ));
        }
        // The credential names the transaction that recorded the current key: wait for it.
        self.await_registration(&zynk_ledger::ZynkDid::new(caller.user_id))
            .await?;
        let (user, key) = self.user_and_key(caller.user_id).await?;
        let identity = self
            .context
            .store
            .identity_by_user(caller.user_id)
            .await?
            .ok_or_else(|| ApiError::not_found("identity"))?;
        let issuer = did_key(&self.verifying_key());
        let now = zynk_backends::now();
        let ttl = chrono::Duration::days(i64::from(self.context.config.trust.credential_ttl_days));
        let expires_at = now + ttl;
        let id = Uuid::now_v7();
        let jti = format!("urn:uuid:{id}");
        let claims = super::credentials::VerifiedIdentity {
            subject_did: identity.did.clone(),
            username: user.username.clone(),
            identity_key: zynk_ledger::Ed25519PublicKey(key).to_multibase(),
            trust_score: u8::try_from(identity.trust_score.clamp(0, 100)).unwrap_or(0),
            registration_tx: identity.transaction_hash.clone(),
        };
        let jwt = super::credentials::sign_vc_jwt(&self.key, &jti, now, expires_at, &claims)
            .map_err(internal)?;
        let tx = Transaction::CredentialIssuance(zynk_ledger::block::CredentialIssuance {
            credential_id_hash: Hash32::sha256(jti.as_bytes()),
            subject_did: identity.did.clone(),
            issuer_did: issuer.clone(),
        });
        let tx_hash = tx.hash().to_string();
        let record = zynk_backends::model::CredentialRecord {
            id,
            user_id: caller.user_id,
            subject_did: identity.did.clone(),
            issuer_did: issuer.clone(),
            credential_type: super::credentials::CREDENTIAL_TYPE.to_owned(),
            transaction_hash: tx_hash.clone(),
            issued_at: now,
            expires_at,
        };
        let pending = zynk_backends::model::PendingTx {
            hash: tx_hash.clone(),
            tx_type: "credential_issuance",
            json: serde_json::to_vec(&tx).map_err(internal)?,
            user_id: Some(caller.user_id),
            related_entity_id: Some(id),
        };
        self.context
            .store
            .record_credential(&record, &pending, now)
            .await?;
        cache_pending(&self.context, &pending.hash, &pending.json).await;
        metrics::counter!("zynk_credentials_issued_total").increment(1);
        Ok(zynk_proto::trust::CredentialResponse {
            jwt,
            id: jti,
            issuer,
            expires_at,
            transaction_hash: tx_hash,
        })
    }

    /// The inclusion proof of a message of one of the caller's conversations.
    pub async fn proof(
        &self,
        caller: &AuthContext,
        message_id: Uuid,
    ) -> Result<MessageProof, ApiError> {
        let message = self.messages.get(caller, message_id).await?;
        let record = self
            .context
            .store
            .message_proof(message_id)
            .await?
            .ok_or_else(|| ApiError::not_found("proof (the message is not anchored yet)"))?;
        let header_bytes = self
            .context
            .store
            .ledger_get(&format!("batch:{}", record.height))
            .await?
            .ok_or_else(|| internal("batch header missing"))?;
        let header: BatchHeader = serde_json::from_slice(&header_bytes).map_err(internal)?;
        let path: Vec<PathEntry> =
            serde_json::from_value(record.siblings["siblings"].clone()).map_err(internal)?;
        let leaf = MessageLeaf::new(
            message_id,
            content_hash(&message.content_hash)?,
            u64::try_from(message.seq).unwrap_or(0),
            u64::try_from(message.created_at.timestamp_millis()).unwrap_or(0),
        );
        let proof = MessageProof {
            version: PROOF_VERSION.to_owned(),
            hash_alg: HASH_ALG.to_owned(),
            message_id,
            batch_id: header.batch_id.clone(),
            leaf_hash: leaf.leaf_hash(),
            leaf_index: u64::try_from(record.leaf_index).unwrap_or(0),
            tree_size: header.tree_size,
            path,
            root: header.root,
            anchor: Some(Anchor::embedded(&header)),
            batch_header: header,
            checkpoint: None,
        };
        let mut proof = proof;
        if let Some(anchor) = self.evm_anchor(&proof.batch_header).await? {
            proof.anchor = Some(anchor);
        }
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
        let hash = Transaction::MessageAnchor(MessageAnchor {
            batch_id: header.batch_id.clone(),
            merkle_root: header.root,
            tree_size: header.tree_size,
            first_seq: header.first_seq,
            last_seq: header.last_seq,
        })
        .hash();
        let Some(publication) = self
            .context
            .store
            .evm_publication(&hash.to_string())
            .await?
        else {
            return Ok(None);
        };
        if publication.status != "confirmed" {
            return Ok(None);
        }
        let parse_hash = |text: &str| text.parse::<Hash32>().map_err(internal);
        Ok(Some(Anchor {
            chain: publication.chain,
            contract: publication
                .to_address
                .as_deref()
                .map(|a| a.parse::<zynk_ledger::Address20>().map_err(internal))
                .transpose()?,
            tx_hash: parse_hash(&publication.evm_tx_hash)?,
            block_number: publication
                .block_number
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            log_index: publication.log_index.and_then(|n| u64::try_from(n).ok()),
            gas_used: publication.gas_used.and_then(|n| u64::try_from(n).ok()),
        }))
    }

    /// Walks the whole ledger and checks every block, batch header, transaction entry and
    /// batch tree against `validator`; returns the number of blocks and batches checked.
    pub async fn verify(&self, validator: &VerifyingKey) -> Result<(u64, u64), String> {
        verify_ledger(self.context.store.as_ref(), validator).await
    }
}

/// `tx:{hash}` (data model 11.6): a sealed transaction and the block holding it.
fn tx_entry(tx: &Transaction, block: u64) -> serde_json::Value {
    serde_json::json!({
        "hash": tx.hash(), "type": tx.type_name(), "block_number": block, "data": tx,
    })
}

/// Mirrors a new pending ledger transaction into the ledger cache (`blockchain:pending_tx:{hash}`,
/// data model 11.7). Best effort: the durable copy is already in the database.
pub(crate) async fn cache_pending(context: &super::Context, hash: &str, json: &[u8]) {
    if let Err(e) = context.ephemeral.chain_pending_put(hash, json).await {
        tracing::warn!(error = %e, "ledger cache update failed (the database copy is current)");
    }
}

/// Serialising to JSON bytes for ledger entries.
mod erased {
    /// Anything that serialises.
    pub trait Json {
        /// JSON bytes.
        fn bytes(&self) -> Result<Vec<u8>, crate::error::ApiError>;
    }

    impl<T: serde::Serialize> Json for T {
        fn bytes(&self) -> Result<Vec<u8>, crate::error::ApiError> {
            serde_json::to_vec(self).map_err(|e| crate::error::ApiError::internal(&e))
        }
    }
}

/// Checks the embedded ledger stored in `store` (see [`LedgerService::verify`]).
pub async fn verify_ledger(
    store: &dyn zynk_backends::sql::AnyStore,
    validator: &VerifyingKey,
) -> Result<(u64, u64), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let stored_validator = store.ledger_get("validator").await.map_err(|e| err(&e))?;
    if let Some(did) = stored_validator {
        let did = String::from_utf8(did).map_err(|e| err(&e))?;
        let key = parse_did_key(&did).map_err(|e| err(&e))?;
        if key != *validator {
            return Err(format!(
                "the ledger names validator {did}, not this node's key"
            ));
        }
    }
    let mut blocks = Vec::new();
    for (key, value, height) in store.ledger_scan("block:").await.map_err(|e| err(&e))? {
        let block: Block = serde_json::from_slice(&value).map_err(|e| format!("{key}: {e}"))?;
        if height != Some(block.index as i64) || key != format!("block:{}", block.index) {
            return Err(format!("{key}: stored under the wrong key or height"));
        }
        blocks.push(block);
    }
    blocks.sort_by_key(|b| b.index);
    let tip = zynk_ledger::verify_chain(&blocks, validator, None).map_err(|e| err(&e))?;
    let mut anchors = std::collections::HashMap::new();
    let mut states: std::collections::HashMap<String, IdentityState> = Default::default();
    for block in &blocks {
        for (tx_index, tx) in block.transactions.iter().enumerate() {
            let entry = store
                .ledger_get(&format!("tx:{}", tx.hash()))
                .await
                .map_err(|e| err(&e))?
                .ok_or_else(|| format!("tx:{} is missing", tx.hash()))?;
            let entry: serde_json::Value = serde_json::from_slice(&entry).map_err(|e| err(&e))?;
            let stored: Transaction = serde_json::from_value(entry["data"].clone())
                .map_err(|e| format!("tx:{}: {e}", tx.hash()))?;
            if &stored != tx
                || entry["block_number"] != block.index
                || entry["hash"] != tx.hash().to_string()
            {
                return Err(format!(
                    "tx:{} differs from block {}",
                    tx.hash(),
                    block.index
                ));
            }
            if let Transaction::MessageAnchor(anchor) = tx {
                anchors.insert(anchor.batch_id.clone(), anchor.clone());
            }
            let did = match tx {
                Transaction::IdentityRegistration(r) => r.did.to_string(),
                Transaction::TrustScoreUpdate(u) => u.did.to_string(),
                _ => continue,
            };
            states
                .entry(did.clone())
                .or_insert_with(|| IdentityState::new(&did))
                .apply(tx, block.index, tx_index as u64);
        }
    }
    let stored_states = store
        .ledger_scan("state:identity:")
        .await
        .map_err(|e| err(&e))?;
    if stored_states.len() != states.len() {
        return Err(format!(
            "{} identity states are stored, the blocks give {}",
            stored_states.len(),
            states.len()
        ));
    }
    for (key, value, _) in stored_states {
        let stored: IdentityState =
            serde_json::from_slice(&value).map_err(|e| format!("{key}: {e}"))?;
        let did = key.strip_prefix("state:identity:").unwrap_or_default();
        if states.get(did) != Some(&stored) {
            return Err(format!("{key} differs from what the blocks record"));
        }
    }
    let mut prev_header: Option<Hash32> = None;
    let mut batches = 0u64;
    for (key, value, _) in store.ledger_scan("batch:").await.map_err(|e| err(&e))? {
        let header: BatchHeader =
            serde_json::from_slice(&value).map_err(|e| format!("{key}: {e}"))?;
        if key != format!("batch:{batches}") || header.height != batches {
            return Err(format!("{key}: expected batch {batches}"));
        }
        header
            .verify_signature(validator)
            .map_err(|e| format!("{key}: {e}"))?;
        if header.prev_header_hash != prev_header.unwrap_or(Hash32::ZERO) {
            return Err(format!("{key}: does not follow the previous batch"));
        }
        let anchor = anchors
            .get(&header.batch_id)
            .ok_or_else(|| format!("{key}: no block anchors it"))?;
        if anchor.merkle_root != header.root || anchor.tree_size != header.tree_size {
            return Err(format!("{key}: differs from its anchoring transaction"));
        }
        let merkle = store
            .ledger_get(&format!("merkle:{}", header.root))
            .await
            .map_err(|e| err(&e))?
            .ok_or_else(|| format!("merkle:{} is missing", header.root))?;
        let merkle: serde_json::Value = serde_json::from_slice(&merkle).map_err(|e| err(&e))?;
        let leaves: Vec<Hash32> = serde_json::from_value(merkle["leaves"].clone())
            .map_err(|e| format!("merkle:{}: {e}", header.root))?;
        if MerkleTree::from_leaf_hashes(leaves).root() != header.root {
            return Err(format!(
                "merkle:{}: leaves do not give the root",
                header.root
            ));
        }
        prev_header = Some(header.header_hash());
        batches += 1;
    }
    if let Some(raw) = store.ledger_get("head").await.map_err(|e| err(&e))? {
        let head: Head = serde_json::from_slice(&raw).map_err(|e| err(&e))?;
        let block = tip.map(|t| (t.index, t.hash, t.timestamp));
        if head.batches != batches || head.last_header_hash != prev_header || head.block != block {
            return Err("head does not match the last block and batch".into());
        }
    }
    Ok((blocks.len() as u64, batches))
}
