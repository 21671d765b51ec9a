//! Publishes Zynk ledger transactions to the `ZynkRegistry` Solidity contract
//! (`contracts/ZynkRegistry.sol`) on any Ethereum JSON-RPC endpoint.
//!
//! The contract is a public mirror of the ledger: identity keys, trust scores, Merkle roots and
//! credential issuances. Every write carries `ledger_tx`, the Zynk ledger's own SHA-256
//! transaction hash, and the contract applies each `ledger_tx` at most once, so resending a write
//! (after a crash, or from a retried outbox row) never has a double effect. Only the deployer
//! (the "owner") can write.
//!
//! # Publishing, step by step (outbox-friendly)
//!
//! A crash can happen between any two steps; every step can be retried.
//!
//! 1. [`EvmRegistry::next_nonce`]: the signer's pending nonce. The caller hands out nonces
//!    itself (one per outbox row, increasing) so that many rows can be prepared in a batch.
//! 2. [`EvmRegistry::prepare`]: builds and **signs locally, without sending**, an EIP-1559
//!    transaction for a [`RegistryCall`] at that nonce. Returns a [`PreparedTx`] with the real
//!    Ethereum transaction hash and the raw signed bytes. Store both in the outbox *before*
//!    broadcasting: re-preparing later gives a different transaction (fees move), while the
//!    stored bytes can be resent forever.
//! 3. [`EvmRegistry::broadcast`]: sends the raw bytes. Idempotent: if the node already knows
//!    the transaction (pending or mined), that is success.
//! 4. [`EvmRegistry::receipt`]: `None` until the transaction is mined *and* has
//!    [`EvmConfig::confirmations`] confirmations on the canonical chain; then an [`EvmReceipt`]
//!    with the block, the gas used, the status and the decoded registry events.
//!
//! A receipt with `success == false` means the contract refused the write (for example a height
//! anchored before with another root, or a signer that is not the owner); resending it will not
//! help. A receipt with `success == true` and no events means the write changed nothing: its
//! `ledger_tx` was recorded before (or it repeated the current state).
//!
//! # Gas and fees
//!
//! [`EvmRegistry::prepare`] does not call `eth_estimateGas`: an estimate runs against the
//! *current* state, which for a batch of prepared-but-unmined transactions is not the state the
//! transaction will run on, and it fails outright for a write that will revert (which the caller
//! should see as a failed receipt, not as a missing transaction). Instead each call gets a fixed
//! gas limit (see [`RegistryCall::gas_limit`]) several times what it needs; with EIP-1559 only the
//! gas used is paid. Fees come from the node (`eth_feeHistory`, alloy's default estimator); a
//! chain without EIP-1559 gets a legacy (EIP-155) transaction at `eth_gasPrice`.
//!
//! # Transport
//!
//! Plain `http://` only. TLS is left out of this build on purpose: reqwest's default TLS stack
//! (rustls on aws-lc-rs) needs cmake and a long C build. Reach a remote `https://` endpoint
//! through a local node or a local TLS-terminating proxy.
//!
//! # Deploying
//!
//! [`EvmRegistry::deploy`] deploys the contract compiled into this crate (the committed artifact
//! `contracts/ZynkRegistry.json`, rebuilt by `scripts/build-contract.sh`); the deployer's key is
//! the owner for good. [`EvmRegistry::connect`] then checks that the code at the address is that
//! same contract.

mod call;
mod config;
mod error;
mod receipt;
mod registry;
mod transport;

pub use call::{PreparedTx, RegistryCall};
pub use config::{DEFAULT_RPC_TIMEOUT, EvmConfig};
pub use error::EvmError;
pub use receipt::{EvmReceipt, RegistryEvent};
pub use registry::EvmRegistry;
pub use transport::install_tls_provider;

/// An Ethereum address (20 bytes). Parses from and prints as `0x…` hex (EIP-55 checksum).
pub use alloy::primitives::Address;
/// A 32-byte hash as the errors carry it; `.0` is the `[u8; 32]`, `Display` is `0x…` hex.
pub use alloy::primitives::B256;

mod bindings {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        ZynkRegistry,
        "../../contracts/ZynkRegistry.json"
    );
}
