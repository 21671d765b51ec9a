//! The errors of the registry client, and the mapping of alloy's errors onto them.

use alloy::transports::{RpcError, TransportErrorKind};

use crate::{Address, B256};

/// Errors of [`EvmRegistry`](crate::EvmRegistry).
#[derive(Debug, thiserror::Error)]
pub enum EvmError {
    /// The RPC URL does not parse or is not `http://`.
    #[error("invalid RPC URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL (path and credentials removed).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The signer key is not a valid secp256k1 private key.
    #[error(
        "the signer key is not a valid secp256k1 private key (zero, or not below the curve order)"
    )]
    InvalidSignerKey,
    /// [`EvmConfig::contract`](crate::EvmConfig::contract) is not set.
    #[error("no registry contract address configured: deploy one first (EvmRegistry::deploy)")]
    NoContract,
    /// The endpoint could not be reached, or did not answer in time or in JSON-RPC.
    #[error("Ethereum RPC endpoint {url} unreachable during {during}: {message}")]
    Unreachable {
        /// The endpoint (path and credentials removed).
        url: String,
        /// The request that failed.
        during: &'static str,
        /// The transport's message.
        message: String,
    },
    /// The node answered a request with an error.
    #[error("Ethereum node refused {during} (code {code}): {message}")]
    Node {
        /// The request that failed.
        during: &'static str,
        /// The JSON-RPC error code.
        code: i64,
        /// The node's message.
        message: String,
    },
    /// The node answered something this crate cannot use.
    #[error("unexpected answer from the Ethereum node during {during}: {message}")]
    BadResponse {
        /// The request.
        during: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The endpoint is on another chain than [`EvmConfig::chain_id`](crate::EvmConfig::chain_id).
    #[error(
        "wrong chain: the endpoint is on chain {actual}, the registry is configured for chain {expected}"
    )]
    WrongChain {
        /// The configured chain id.
        expected: u64,
        /// The endpoint's chain id.
        actual: u64,
    },
    /// No contract code at the address (wrong address, wrong chain, or not deployed yet).
    #[error(
        "no contract code at {address} on chain {chain_id}: wrong address or chain, or the registry is not deployed"
    )]
    NoCode {
        /// The address.
        address: Address,
        /// The endpoint's chain id.
        chain_id: u64,
    },
    /// Code at the address, but not the `ZynkRegistry` this crate was built with.
    #[error(
        "the contract at {address} on chain {chain_id} is not the ZynkRegistry this build expects (other contract, or another build of it)"
    )]
    NotRegistry {
        /// The address.
        address: Address,
        /// The endpoint's chain id.
        chain_id: u64,
    },
    /// The call is one the contract would revert; it was not sent.
    #[error("invalid registry call: {reason}")]
    InvalidCall {
        /// Why.
        reason: &'static str,
    },
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The bytes given to [`EvmRegistry::broadcast`](crate::EvmRegistry::broadcast) are not a
    /// signed transaction.
    #[error("not a signed EIP-2718 transaction: {0}")]
    MalformedTx(String),
    /// The node rejected the transaction and does not know it.
    #[error("transaction {hash} rejected: {message}")]
    Rejected {
        /// The transaction hash.
        hash: B256,
        /// The node's message.
        message: String,
    },
    /// Another transaction of the signer took this nonce: this one can never be mined.
    #[error(
        "transaction {hash} can never be mined: nonce {nonce} of {from} is already used by another transaction; prepare the write again with a fresh nonce"
    )]
    NonceUsed {
        /// The transaction hash.
        hash: B256,
        /// The nonce.
        nonce: u64,
        /// The signer.
        from: Address,
    },
    /// A deployment transaction failed.
    #[error("deploying ZynkRegistry failed: {0}")]
    Deploy(String),
}
pub(crate) fn rpc_error(
    url: &str,
    during: &'static str,
    e: RpcError<TransportErrorKind>,
) -> EvmError {
    match e {
        RpcError::ErrorResp(payload) => EvmError::Node {
            during,
            code: payload.code,
            message: payload.message.to_string(),
        },
        RpcError::NullResp => EvmError::BadResponse {
            during,
            message: "null response".to_string(),
        },
        RpcError::DeserError { err, .. } => EvmError::BadResponse {
            during,
            message: err.to_string(),
        },
        other => EvmError::Unreachable {
            url: url.to_string(),
            during,
            message: other.to_string(),
        },
    }
}

pub(crate) fn contract_error(
    url: &str,
    during: &'static str,
    e: alloy::contract::Error,
) -> EvmError {
    match e {
        alloy::contract::Error::TransportError(e) => rpc_error(url, during, e),
        other => EvmError::BadResponse {
            during,
            message: other.to_string(),
        },
    }
}
