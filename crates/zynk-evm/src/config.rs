//! The connection settings of an [`EvmRegistry`](crate::EvmRegistry).

use std::fmt;
use std::time::Duration;

use crate::Address;
use crate::transport::redact_url;

/// How long one JSON-RPC request may take before it fails as unreachable.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(30);

/// Connection settings of an [`EvmRegistry`](crate::EvmRegistry).
#[derive(Clone)]
pub struct EvmConfig {
    /// JSON-RPC endpoint, `http://host:port[/path]`.
    pub rpc_url: String,
    /// The secp256k1 private key that signs the writes (32 bytes, big-endian).
    pub signer_key: [u8; 32],
    /// The deployed registry. [`EvmRegistry::connect`](crate::EvmRegistry::connect) needs it.
    pub contract: Option<Address>,
    /// The chain the registry lives on. When set,
    /// [`EvmRegistry::connect`](crate::EvmRegistry::connect) refuses an endpoint on another chain
    /// (so an outbox is never replayed to the wrong network).
    pub chain_id: Option<u64>,
    /// Blocks a transaction needs (its own included) before
    /// [`EvmRegistry::receipt`](crate::EvmRegistry::receipt) returns it. `0` counts as `1`.
    pub confirmations: u64,
    /// Timeout of one JSON-RPC request.
    pub rpc_timeout: Duration,
}

impl EvmConfig {
    /// Settings with one confirmation, no expected chain id and [`DEFAULT_RPC_TIMEOUT`].
    pub fn new(
        rpc_url: impl Into<String>,
        signer_key: [u8; 32],
        contract: Option<Address>,
    ) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            signer_key,
            contract,
            chain_id: None,
            confirmations: 1,
            rpc_timeout: DEFAULT_RPC_TIMEOUT,
        }
    }
}

impl fmt::Debug for EvmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvmConfig")
            .field("rpc_url", &redact_url(&self.rpc_url))
            .field("signer_key", &"<redacted>")
            .field("contract", &self.contract)
            .field("chain_id", &self.chain_id)
            .field("confirmations", &self.confirmations)
            .field("rpc_timeout", &self.rpc_timeout)
            .finish()
    }
}
