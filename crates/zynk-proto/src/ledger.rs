//! The ledger as clients see it.

use serde::{Deserialize, Serialize};

/// `GET /api/v1/ledger`: which ledger the server keeps, the key that signs its blocks and
/// batch headers (clients pin it), and its progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LedgerInfo {
    /// `zynk-embedded`: the signed, hash-linked log the server keeps.
    pub chain: String,
    /// The validator's Ed25519 public key, unpadded standard base64 (pin it).
    pub validator_key: String,
    /// The validator key as a `did:key`.
    pub validator_did: String,
    /// Sealed message batches.
    pub batches: u64,
    /// The newest sealed block, when known (from the ledger cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_block: Option<u64>,
    /// Stored messages waiting for their batch, as the ledger cache counts them.
    #[serde(default)]
    pub unanchored_messages: u64,
    /// Where the ledger is also published: `eip155:<chain id>` on `chain = "evm"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_to: Option<String>,
    /// The registry contract on that chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
}
