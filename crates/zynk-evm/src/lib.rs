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

use std::fmt;
use std::time::Duration;

use alloy::consensus::TxEnvelope;
use alloy::consensus::transaction::SignerRecoverable;
use alloy::eips::eip2718::{Decodable2718, Encodable2718};
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Bytes, FixedBytes, TxKind};
use alloy::providers::{Provider, ProviderBuilder, RootProvider};
use alloy::rpc::types::{BlockNumberOrTag, TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEventInterface};
use alloy::transports::http::reqwest;
use alloy::transports::{RpcError, TransportErrorKind};

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

use bindings::ZynkRegistry;

/// How long one JSON-RPC request may take before it fails as unreachable.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(30);

/// Connection settings of an [`EvmRegistry`].
#[derive(Clone)]
pub struct EvmConfig {
    /// JSON-RPC endpoint, `http://host:port[/path]`.
    pub rpc_url: String,
    /// The secp256k1 private key that signs the writes (32 bytes, big-endian).
    pub signer_key: [u8; 32],
    /// The deployed registry. [`EvmRegistry::connect`] needs it.
    pub contract: Option<Address>,
    /// The chain the registry lives on. When set, [`EvmRegistry::connect`] refuses an endpoint
    /// on another chain (so an outbox is never replayed to the wrong network).
    pub chain_id: Option<u64>,
    /// Blocks a transaction needs (its own included) before [`EvmRegistry::receipt`] returns
    /// it. `0` counts as `1`.
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

/// A write to the registry, one per Zynk ledger transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryCall {
    /// A DID's Ed25519 public key. A later call for the same DID with another key is a key
    /// rotation ([`RegistryEvent::IdentityKeyRotated`]).
    RegisterIdentity {
        /// The ledger transaction's SHA-256 hash.
        ledger_tx: [u8; 32],
        /// The DID, for example `did:key:z6Mk…`.
        did: String,
        /// The Ed25519 public key (must not be all zero).
        public_key: [u8; 32],
    },
    /// A DID's trust score changed.
    UpdateTrustScore {
        /// The ledger transaction's SHA-256 hash.
        ledger_tx: [u8; 32],
        /// The DID.
        did: String,
        /// The score before, as the ledger has it (recorded as given).
        old: u8,
        /// The score after, 0..=100.
        new: u8,
        /// The ledger's reason code.
        reason: u8,
    },
    /// A ledger block's Merkle root. A height is anchored once; another root for it reverts.
    AnchorRoot {
        /// The ledger transaction's SHA-256 hash.
        ledger_tx: [u8; 32],
        /// The ledger height.
        height: u64,
        /// The RFC 9162 tree head (must not be all zero).
        root: [u8; 32],
        /// The tree size the root covers.
        tree_size: u64,
    },
    /// A credential was issued.
    IssueCredential {
        /// The ledger transaction's SHA-256 hash.
        ledger_tx: [u8; 32],
        /// The credential's hash.
        credential_hash: [u8; 32],
        /// The subject's DID.
        subject_did: String,
    },
}

impl RegistryCall {
    /// The ledger transaction hash the call carries.
    pub fn ledger_tx(&self) -> [u8; 32] {
        match self {
            Self::RegisterIdentity { ledger_tx, .. }
            | Self::UpdateTrustScore { ledger_tx, .. }
            | Self::AnchorRoot { ledger_tx, .. }
            | Self::IssueCredential { ledger_tx, .. } => *ledger_tx,
        }
    }

    /// The gas limit [`EvmRegistry::prepare`] gives the call: a fixed 200,000 plus 64 per DID
    /// byte. Measured on anvil 1.7.1 (see `docs/evm.md`), a write with a 56-byte DID uses
    /// 49,000–92,000 gas and each further DID byte adds 25–40 (40 under EIP-7623's calldata
    /// floor); the limit leaves twice that or more, for repricing hardforks. Only the gas used
    /// is paid.
    pub fn gas_limit(&self) -> u64 {
        let did_len = match self {
            Self::RegisterIdentity { did, .. } | Self::UpdateTrustScore { did, .. } => did.len(),
            Self::IssueCredential { subject_did, .. } => subject_did.len(),
            Self::AnchorRoot { .. } => 0,
        };
        200_000 + 64 * did_len as u64
    }

    /// Checks what the contract would refuse anyway, so that no gas is spent on it.
    fn validate(&self) -> Result<(), EvmError> {
        let invalid = |reason: &'static str| Err(EvmError::InvalidCall { reason });
        if self.ledger_tx() == [0; 32] {
            return invalid("ledger_tx is all zero");
        }
        match self {
            Self::RegisterIdentity {
                did, public_key, ..
            } => {
                if did.is_empty() {
                    return invalid("the DID is empty");
                }
                if *public_key == [0; 32] {
                    return invalid("the public key is all zero");
                }
            }
            Self::UpdateTrustScore { did, new, .. } => {
                if did.is_empty() {
                    return invalid("the DID is empty");
                }
                if *new > 100 {
                    return invalid("the new trust score is above 100");
                }
            }
            Self::AnchorRoot { root, .. } => {
                if *root == [0; 32] {
                    return invalid("the root is all zero");
                }
            }
            Self::IssueCredential { subject_did, .. } => {
                if subject_did.is_empty() {
                    return invalid("the subject DID is empty");
                }
            }
        }
        Ok(())
    }

    fn calldata(&self) -> Vec<u8> {
        match self {
            Self::RegisterIdentity {
                ledger_tx,
                did,
                public_key,
            } => ZynkRegistry::registerIdentityCall {
                ledgerTx: B256::from(*ledger_tx),
                did: did.clone(),
                publicKey: B256::from(*public_key),
            }
            .abi_encode(),
            Self::UpdateTrustScore {
                ledger_tx,
                did,
                old,
                new,
                reason,
            } => ZynkRegistry::updateTrustScoreCall {
                ledgerTx: B256::from(*ledger_tx),
                did: did.clone(),
                oldScore: *old,
                newScore: *new,
                reason: *reason,
            }
            .abi_encode(),
            Self::AnchorRoot {
                ledger_tx,
                height,
                root,
                tree_size,
            } => ZynkRegistry::anchorRootCall {
                ledgerTx: B256::from(*ledger_tx),
                height: *height,
                root: B256::from(*root),
                treeSize: *tree_size,
            }
            .abi_encode(),
            Self::IssueCredential {
                ledger_tx,
                credential_hash,
                subject_did,
            } => ZynkRegistry::issueCredentialCall {
                ledgerTx: B256::from(*ledger_tx),
                credentialHash: B256::from(*credential_hash),
                subjectDid: subject_did.clone(),
            }
            .abi_encode(),
        }
    }
}

/// A signed transaction that has not necessarily been sent.
#[derive(Clone, PartialEq, Eq)]
pub struct PreparedTx {
    /// The Ethereum transaction hash: keccak-256 of `raw`.
    pub hash: [u8; 32],
    /// The signed transaction, EIP-2718 encoded (what `eth_sendRawTransaction` takes).
    pub raw: Vec<u8>,
    /// The signer's nonce the transaction uses.
    pub nonce: u64,
    /// The registry contract.
    pub to: Address,
    /// The signer.
    pub from: Address,
    /// The gas limit.
    pub gas_limit: u64,
}

impl fmt::Debug for PreparedTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedTx")
            .field("hash", &B256::from(self.hash))
            .field("raw_len", &self.raw.len())
            .field("nonce", &self.nonce)
            .field("to", &self.to)
            .field("from", &self.from)
            .field("gas_limit", &self.gas_limit)
            .finish()
    }
}

/// An event the registry emitted, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryEvent {
    /// First key of a DID.
    IdentityRegistered {
        /// The ledger transaction hash.
        ledger_tx: [u8; 32],
        /// The DID.
        did: String,
        /// Its key.
        public_key: [u8; 32],
    },
    /// A DID's key replaced by another.
    IdentityKeyRotated {
        /// The ledger transaction hash.
        ledger_tx: [u8; 32],
        /// The DID.
        did: String,
        /// The key before.
        old_key: [u8; 32],
        /// The key now.
        new_key: [u8; 32],
    },
    /// A trust score recorded.
    TrustScoreUpdated {
        /// The ledger transaction hash.
        ledger_tx: [u8; 32],
        /// The DID.
        did: String,
        /// The score before (as the ledger gave it).
        old: u8,
        /// The score now.
        new: u8,
        /// The ledger's reason code.
        reason: u8,
    },
    /// A root anchored.
    RootAnchored {
        /// The ledger transaction hash.
        ledger_tx: [u8; 32],
        /// The ledger height.
        height: u64,
        /// The root.
        root: [u8; 32],
        /// The tree size.
        tree_size: u64,
    },
    /// A credential issuance recorded.
    CredentialIssued {
        /// The ledger transaction hash.
        ledger_tx: [u8; 32],
        /// The credential hash.
        credential_hash: [u8; 32],
        /// The subject's DID.
        subject_did: String,
    },
}

impl RegistryEvent {
    fn from_binding(event: ZynkRegistry::ZynkRegistryEvents) -> Self {
        use ZynkRegistry::ZynkRegistryEvents as E;
        match event {
            E::IdentityRegistered(e) => Self::IdentityRegistered {
                ledger_tx: e.ledgerTx.0,
                did: e.did,
                public_key: e.publicKey.0,
            },
            E::IdentityKeyRotated(e) => Self::IdentityKeyRotated {
                ledger_tx: e.ledgerTx.0,
                did: e.did,
                old_key: e.oldKey.0,
                new_key: e.newKey.0,
            },
            E::TrustScoreUpdated(e) => Self::TrustScoreUpdated {
                ledger_tx: e.ledgerTx.0,
                did: e.did,
                old: e.oldScore,
                new: e.newScore,
                reason: e.reason,
            },
            E::RootAnchored(e) => Self::RootAnchored {
                ledger_tx: e.ledgerTx.0,
                height: e.height,
                root: e.root.0,
                tree_size: e.treeSize,
            },
            E::CredentialIssued(e) => Self::CredentialIssued {
                ledger_tx: e.ledgerTx.0,
                credential_hash: e.credentialHash.0,
                subject_did: e.subjectDid,
            },
        }
    }
}

/// A mined, sufficiently confirmed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvmReceipt {
    /// The transaction hash.
    pub tx_hash: [u8; 32],
    /// False when the transaction reverted (the contract refused the write).
    pub success: bool,
    /// The block that includes it.
    pub block_number: u64,
    /// That block's hash (checked to be on the canonical chain when the receipt was read).
    pub block_hash: [u8; 32],
    /// Gas used by this transaction.
    pub gas_used: u64,
    /// The price per gas paid, in wei.
    pub effective_gas_price: u128,
    /// Blocks on top of and including `block_number` when the receipt was read.
    pub confirmations: u64,
    /// Block-wide index of the first registry event, `None` when the write emitted none.
    pub log_index: Option<u64>,
    /// The registry events the transaction emitted, in order.
    pub events: Vec<RegistryEvent>,
}

/// Errors of [`EvmRegistry`].
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
    /// [`EvmConfig::contract`] is not set.
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
    /// The endpoint is on another chain than [`EvmConfig::chain_id`].
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
    /// The bytes given to [`EvmRegistry::broadcast`] are not a signed transaction.
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

/// A connection to a deployed `ZynkRegistry`, with the signer that writes to it.
pub struct EvmRegistry {
    provider: RootProvider,
    wallet: EthereumWallet,
    from: Address,
    contract: Address,
    chain_id: u64,
    confirmations: u64,
    url: String,
}

impl fmt::Debug for EvmRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvmRegistry")
            .field("url", &self.url)
            .field("chain_id", &self.chain_id)
            .field("contract", &self.contract)
            .field("from", &self.from)
            .field("confirmations", &self.confirmations)
            .finish()
    }
}

/// Makes ring rustls' process-wide default provider (a provider installed before stays).
/// reqwest is built on rustls without a provider of its own in this workspace (the client SDK
/// brings ring; aws-lc, reqwest's default, needs cmake), so every process that builds a reqwest
/// client, here or through alloy, calls this first: `zynkd`, the push sender, the EVM client and
/// the test harness do.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Keeps scheme, host and port: paths and user info of hosted endpoints often carry API keys.
fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}", u.scheme()),
            (Some(host), None) => format!("{}://{host}", u.scheme()),
            _ => u.scheme().to_string(),
        },
        Err(_) => "<unparsable>".to_string(),
    }
}

fn connect_provider(rpc_url: &str, timeout: Duration) -> Result<(RootProvider, String), EvmError> {
    let shown = redact_url(rpc_url);
    let invalid = |reason: String| EvmError::InvalidUrl {
        url: shown.clone(),
        reason,
    };
    let url = reqwest::Url::parse(rpc_url).map_err(|e| invalid(e.to_string()))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(invalid(
                "https is not supported by this build (no TLS stack): use a local node or a \
                 local TLS-terminating proxy"
                    .to_string(),
            ));
        }
        other => {
            return Err(invalid(format!(
                "unsupported scheme {other:?}, expected http"
            )));
        }
    }
    install_tls_provider();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| invalid(format!("HTTP client: {e}")))?;
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_reqwest(client, url);
    Ok((provider, shown))
}

fn signer_from(key: &[u8; 32]) -> Result<PrivateKeySigner, EvmError> {
    PrivateKeySigner::from_bytes(&B256::from(*key)).map_err(|_| EvmError::InvalidSignerKey)
}

fn rpc_error(url: &str, during: &'static str, e: RpcError<TransportErrorKind>) -> EvmError {
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

fn contract_error(url: &str, during: &'static str, e: alloy::contract::Error) -> EvmError {
    match e {
        alloy::contract::Error::TransportError(e) => rpc_error(url, during, e),
        other => EvmError::BadResponse {
            during,
            message: other.to_string(),
        },
    }
}

/// Fee fields for a transaction: EIP-1559 where the chain has a base fee, legacy otherwise.
enum Fees {
    Eip1559 {
        max_fee: u128,
        max_priority_fee: u128,
    },
    Legacy {
        gas_price: u128,
    },
}

async fn fees(provider: &RootProvider, url: &str) -> Result<Fees, EvmError> {
    match provider.estimate_eip1559_fees().await {
        Ok(est) => Ok(Fees::Eip1559 {
            max_fee: est.max_fee_per_gas,
            max_priority_fee: est.max_priority_fee_per_gas,
        }),
        Err(RpcError::UnsupportedFeature(_)) => {
            let gas_price = provider
                .get_gas_price()
                .await
                .map_err(|e| rpc_error(url, "eth_gasPrice", e))?;
            Ok(Fees::Legacy { gas_price })
        }
        Err(e) => Err(rpc_error(url, "eth_feeHistory", e)),
    }
}

fn apply_fees(tx: TransactionRequest, fees: &Fees) -> TransactionRequest {
    match *fees {
        Fees::Eip1559 {
            max_fee,
            max_priority_fee,
        } => tx
            .with_max_fee_per_gas(max_fee)
            .with_max_priority_fee_per_gas(max_priority_fee),
        Fees::Legacy { gas_price } => tx.with_gas_price(gas_price),
    }
}

/// The deployed code of the registry has the owner address where the compiler output has zero
/// bytes (the `immutable`); everything else, the metadata hash at the end included, must match.
fn is_registry_code(code: &[u8]) -> bool {
    let expected: &[u8] = &ZynkRegistry::DEPLOYED_BYTECODE;
    code.len() == expected.len() && code.iter().zip(expected).all(|(c, e)| c == e || *e == 0)
}

impl EvmRegistry {
    /// Connects to the registry at [`EvmConfig::contract`]: reads the chain id (checking it
    /// against [`EvmConfig::chain_id`] when set) and checks that the address holds the
    /// `ZynkRegistry` code this crate was built with.
    pub async fn connect(config: &EvmConfig) -> Result<Self, EvmError> {
        let contract = config.contract.ok_or(EvmError::NoContract)?;
        let signer = signer_from(&config.signer_key)?;
        let (provider, url) = connect_provider(&config.rpc_url, config.rpc_timeout)?;
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|e| rpc_error(&url, "eth_chainId", e))?;
        if let Some(expected) = config.chain_id
            && expected != chain_id
        {
            return Err(EvmError::WrongChain {
                expected,
                actual: chain_id,
            });
        }
        let code = provider
            .get_code_at(contract)
            .await
            .map_err(|e| rpc_error(&url, "eth_getCode", e))?;
        if code.is_empty() {
            return Err(EvmError::NoCode {
                address: contract,
                chain_id,
            });
        }
        if !is_registry_code(&code) {
            return Err(EvmError::NotRegistry {
                address: contract,
                chain_id,
            });
        }
        let from = signer.address();
        Ok(Self {
            provider,
            wallet: EthereumWallet::from(signer),
            from,
            contract,
            chain_id,
            confirmations: config.confirmations.max(1),
            url,
        })
    }

    /// Deploys a new registry owned by `signer_key` and waits until the deployment is mined.
    /// Returns its address, to be stored as [`EvmConfig::contract`]. The signer pays the gas
    /// (632,000 on anvil 1.7.1).
    pub async fn deploy(rpc_url: &str, signer_key: &[u8; 32]) -> Result<Address, EvmError> {
        const POLL: Duration = Duration::from_millis(250);
        const WAIT: Duration = Duration::from_secs(600);
        let signer = signer_from(signer_key)?;
        let from = signer.address();
        let wallet = EthereumWallet::from(signer);
        let (provider, url) = connect_provider(rpc_url, DEFAULT_RPC_TIMEOUT)?;
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|e| rpc_error(&url, "eth_chainId", e))?;
        let nonce = provider
            .get_transaction_count(from)
            .pending()
            .await
            .map_err(|e| rpc_error(&url, "eth_getTransactionCount", e))?;
        let fees = fees(&provider, &url).await?;
        let deploy_tx = TransactionRequest::default()
            .with_from(from)
            .with_kind(TxKind::Create)
            .with_input(ZynkRegistry::BYTECODE.clone())
            .with_nonce(nonce)
            .with_chain_id(chain_id);
        let gas = provider
            .estimate_gas(deploy_tx.clone())
            .await
            .map_err(|e| rpc_error(&url, "eth_estimateGas", e))?;
        let deploy_tx = apply_fees(deploy_tx.with_gas_limit(gas + gas / 5), &fees);
        let envelope: TxEnvelope = deploy_tx
            .build(&wallet)
            .await
            .map_err(|e| EvmError::Signing(e.to_string()))?;
        let hash = *envelope.tx_hash();
        let _pending = provider
            .send_raw_transaction(&envelope.encoded_2718())
            .await
            .map_err(|e| rpc_error(&url, "eth_sendRawTransaction", e))?;
        let started = std::time::Instant::now();
        let receipt = loop {
            let receipt = provider
                .get_transaction_receipt(hash)
                .await
                .map_err(|e| rpc_error(&url, "eth_getTransactionReceipt", e))?;
            if let Some(r) = receipt {
                break r;
            }
            if started.elapsed() > WAIT {
                return Err(EvmError::Deploy(format!(
                    "transaction {hash} not mined after {} s",
                    WAIT.as_secs()
                )));
            }
            tokio::time::sleep(POLL).await;
        };
        if !receipt.status() {
            return Err(EvmError::Deploy(format!("transaction {hash} reverted")));
        }
        receipt.contract_address.ok_or_else(|| {
            EvmError::Deploy(format!("the receipt of {hash} has no contract address"))
        })
    }

    /// The chain id of the endpoint.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The registry's address.
    pub fn contract(&self) -> Address {
        self.contract
    }

    /// The signer's address.
    pub fn from(&self) -> Address {
        self.from
    }

    /// Confirmations [`EvmRegistry::receipt`] waits for (at least 1).
    pub fn confirmations(&self) -> u64 {
        self.confirmations
    }

    /// The registry's owner, the only address whose writes succeed.
    pub async fn owner(&self) -> Result<Address, EvmError> {
        ZynkRegistry::new(self.contract, &self.provider)
            .owner()
            .call()
            .await
            .map_err(|e| contract_error(&self.url, "owner()", e))
    }

    /// The signer's next nonce, counting its pending transactions.
    pub async fn next_nonce(&self) -> Result<u64, EvmError> {
        self.provider
            .get_transaction_count(self.from)
            .pending()
            .await
            .map_err(|e| rpc_error(&self.url, "eth_getTransactionCount", e))
    }

    /// Builds and signs the transaction for `call` at `nonce`, without sending it. Fees come
    /// from the node; the gas limit is [`RegistryCall::gas_limit`]. Fails with
    /// [`EvmError::InvalidCall`] for a call the contract would certainly revert.
    pub async fn prepare(&self, call: &RegistryCall, nonce: u64) -> Result<PreparedTx, EvmError> {
        call.validate()?;
        let fees = fees(&self.provider, &self.url).await?;
        let gas_limit = call.gas_limit();
        let tx = TransactionRequest::default()
            .with_from(self.from)
            .with_to(self.contract)
            .with_input(Bytes::from(call.calldata()))
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(gas_limit);
        let envelope: TxEnvelope = apply_fees(tx, &fees)
            .build(&self.wallet)
            .await
            .map_err(|e| EvmError::Signing(e.to_string()))?;
        Ok(PreparedTx {
            hash: envelope.tx_hash().0,
            raw: envelope.encoded_2718(),
            nonce,
            to: self.contract,
            from: self.from,
            gas_limit,
        })
    }

    /// Sends a signed transaction (a [`PreparedTx::raw`]). Idempotent: when the node refuses
    /// it but already knows it (pending or mined), that is success. Returns the hash.
    pub async fn broadcast(&self, raw: &[u8]) -> Result<[u8; 32], EvmError> {
        let envelope = TxEnvelope::decode_2718(&mut &raw[..])
            .map_err(|e| EvmError::MalformedTx(e.to_string()))?;
        let hash = *envelope.tx_hash();
        let err = match self.provider.send_raw_transaction(raw).await {
            Ok(pending) => {
                if *pending.tx_hash() != hash {
                    return Err(EvmError::BadResponse {
                        during: "eth_sendRawTransaction",
                        message: format!(
                            "the node answered hash {}, the transaction's is {hash}",
                            pending.tx_hash()
                        ),
                    });
                }
                return Ok(hash.0);
            }
            Err(e) => e,
        };
        let message = match err {
            RpcError::ErrorResp(payload) => payload.message.to_string(),
            other => return Err(rpc_error(&self.url, "eth_sendRawTransaction", other)),
        };
        if self.is_known(hash.0).await? {
            return Ok(hash.0);
        }
        let from = envelope
            .recover_signer()
            .map_err(|e| EvmError::MalformedTx(e.to_string()))?;
        let nonce = alloy::consensus::Transaction::nonce(&envelope);
        let mined = self
            .provider
            .get_transaction_count(from)
            .await
            .map_err(|e| rpc_error(&self.url, "eth_getTransactionCount", e))?;
        if mined > nonce {
            // Mined between the refusal and the count, or another transaction took the nonce.
            if self.is_known(hash.0).await? {
                return Ok(hash.0);
            }
            return Err(EvmError::NonceUsed { hash, nonce, from });
        }
        Err(EvmError::Rejected { hash, message })
    }

    /// Whether the node knows the transaction, pending or mined.
    pub async fn is_known(&self, hash: [u8; 32]) -> Result<bool, EvmError> {
        let tx = self
            .provider
            .get_transaction_by_hash(B256::from(hash))
            .await
            .map_err(|e| rpc_error(&self.url, "eth_getTransactionByHash", e))?;
        Ok(tx.is_some())
    }

    /// The receipt of a transaction once it is mined with [`EvmRegistry::confirmations`]
    /// confirmations on the canonical chain; `None` before that (unknown, pending, or not yet
    /// confirmed enough).
    pub async fn receipt(&self, hash: [u8; 32]) -> Result<Option<EvmReceipt>, EvmError> {
        let receipt: Option<TransactionReceipt> = self
            .provider
            .get_transaction_receipt(B256::from(hash))
            .await
            .map_err(|e| rpc_error(&self.url, "eth_getTransactionReceipt", e))?;
        let Some(receipt) = receipt else {
            return Ok(None);
        };
        let (Some(block_number), Some(block_hash)) = (receipt.block_number, receipt.block_hash)
        else {
            return Ok(None); // some nodes answer pending receipts
        };
        let head = self
            .provider
            .get_block_number()
            .await
            .map_err(|e| rpc_error(&self.url, "eth_blockNumber", e))?;
        let confirmations = (head + 1).saturating_sub(block_number);
        if confirmations < self.confirmations {
            return Ok(None);
        }
        // A receipt from a block reorganised away: the transaction will be in another block.
        let canonical = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(block_number))
            .await
            .map_err(|e| rpc_error(&self.url, "eth_getBlockByNumber", e))?;
        if canonical.map(|b| b.header.hash) != Some(block_hash) {
            return Ok(None);
        }
        let mut events = Vec::new();
        let mut log_index = None;
        for log in receipt.inner.logs() {
            if log.address() != self.contract {
                continue;
            }
            let decoded =
                ZynkRegistry::ZynkRegistryEvents::decode_log(&log.inner).map_err(|e| {
                    EvmError::BadResponse {
                        during: "decoding a registry event",
                        message: e.to_string(),
                    }
                })?;
            log_index = log_index.or(log.log_index);
            events.push(RegistryEvent::from_binding(decoded.data));
        }
        Ok(Some(EvmReceipt {
            tx_hash: hash,
            success: receipt.status(),
            block_number,
            block_hash: block_hash.0,
            gas_used: receipt.gas_used,
            effective_gas_price: receipt.effective_gas_price,
            confirmations,
            log_index,
            events,
        }))
    }

    /// The root anchored at `height` and its tree size, `None` when none is.
    pub async fn anchored_root(&self, height: u64) -> Result<Option<([u8; 32], u64)>, EvmError> {
        let r = ZynkRegistry::new(self.contract, &self.provider)
            .roots(height)
            .call()
            .await
            .map_err(|e| contract_error(&self.url, "roots()", e))?;
        Ok((r.root != FixedBytes::ZERO).then_some((r.root.0, r.treeSize)))
    }

    /// The current key of `did`, `None` when none was registered.
    pub async fn identity_key(&self, did: &str) -> Result<Option<[u8; 32]>, EvmError> {
        let key = ZynkRegistry::new(self.contract, &self.provider)
            .identityKey(did.to_string())
            .call()
            .await
            .map_err(|e| contract_error(&self.url, "identityKey()", e))?;
        Ok((key != FixedBytes::ZERO).then_some(key.0))
    }

    /// The current trust score of `did`, `None` when none was recorded.
    pub async fn trust_score(&self, did: &str) -> Result<Option<u8>, EvmError> {
        let r = ZynkRegistry::new(self.contract, &self.provider)
            .trustScore(did.to_string())
            .call()
            .await
            .map_err(|e| contract_error(&self.url, "trustScore()", e))?;
        Ok(r.isSet.then_some(r.score))
    }

    /// Whether the registry applied the write of ledger transaction `ledger_tx`.
    pub async fn recorded(&self, ledger_tx: [u8; 32]) -> Result<bool, EvmError> {
        ZynkRegistry::new(self.contract, &self.provider)
            .recorded(B256::from(ledger_tx))
            .call()
            .await
            .map_err(|e| contract_error(&self.url, "recorded()", e))
    }
}
