//! The EVM publication outbox.

use super::*;

/// A sealed ledger transaction to publish to the EVM registry, queued with its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// The ledger transaction hash (`0x` + 64 hex).
    pub ledger_tx_hash: String,
    /// Data model 11.2 type.
    pub tx_type: &'static str,
    /// The ledger transaction's JSON.
    pub tx_json: Vec<u8>,
    /// Batch height, for `message_anchor`.
    pub height: Option<i64>,
    /// The user it concerns.
    pub user_id: Option<UserId>,
    /// The entity it records.
    pub related_entity_id: Option<Uuid>,
}

/// A row of `evm_outbox` not confirmed or failed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Queue order.
    pub seq: i64,
    /// What was queued.
    pub item: OutboxItemRecord,
    /// Queued or sent.
    pub status: PublicationStatus,
    /// The signer nonce, once signed.
    pub nonce: Option<i64>,
    /// The Ethereum transaction hash, once signed.
    pub evm_tx_hash: Option<String>,
    /// The signed transaction, once signed.
    pub raw_tx: Option<Vec<u8>>,
}

/// [`OutboxItem`] as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItemRecord {
    /// The ledger transaction hash.
    pub ledger_tx_hash: String,
    /// Data model 11.2 type.
    pub tx_type: String,
    /// The ledger transaction's JSON.
    pub tx_json: Vec<u8>,
    /// Batch height, for `message_anchor`.
    pub height: Option<i64>,
    /// The user it concerns.
    pub user_id: Option<UserId>,
    /// The entity it records.
    pub related_entity_id: Option<Uuid>,
}

/// An outbox row was signed: recorded before it is broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmSent {
    /// Outbox row.
    pub seq: i64,
    /// Signer nonce.
    pub nonce: i64,
    /// Ethereum transaction hash (`0x` + 64 hex).
    pub evm_tx_hash: String,
    /// Signed transaction bytes.
    pub raw_tx: Vec<u8>,
    /// CAIP-2 chain (`eip155:<id>`).
    pub chain: String,
    /// Signer address.
    pub from_address: String,
    /// Registry address.
    pub to_address: String,
}

/// A published transaction's receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmDone {
    /// Outbox row.
    pub seq: i64,
    /// Ethereum transaction hash.
    pub evm_tx_hash: String,
    /// False when it reverted.
    pub success: bool,
    /// Block number.
    pub block_number: i64,
    /// Block hash (`0x` + 64 hex).
    pub block_hash: String,
    /// Gas used.
    pub gas_used: i64,
    /// Log index of the registry event.
    pub log_index: Option<i64>,
}

/// The EVM publication of a ledger transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmPublication {
    /// CAIP-2 chain.
    pub chain: String,
    /// Ethereum transaction hash.
    pub evm_tx_hash: String,
    /// Registry address.
    pub to_address: Option<String>,
    /// Block number.
    pub block_number: Option<i64>,
    /// Block hash.
    pub block_hash: Option<String>,
    /// Gas used.
    pub gas_used: Option<i64>,
    /// Log index of the registry event.
    pub log_index: Option<i64>,
    /// Pending, confirmed or failed.
    pub status: PublicationStatus,
}
