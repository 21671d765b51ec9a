//! The writes to the registry and their signed transactions.

use std::fmt;

use alloy::sol_types::SolCall;

use crate::bindings::ZynkRegistry;
use crate::error::EvmError;
use crate::{Address, B256};

/// A write to the registry, one per Zynk ledger transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryCall {
    /// A DID's Ed25519 public key. A later call for the same DID with another key is a key
    /// rotation ([`RegistryEvent::IdentityKeyRotated`](crate::RegistryEvent::IdentityKeyRotated)).
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

    /// The gas limit [`EvmRegistry::prepare`](crate::EvmRegistry::prepare) gives the call: a
    /// fixed 200,000 plus 64 per DID byte. Measured on anvil 1.7.1 (see `docs/evm.md`), a write
    /// with a 56-byte DID uses 49,000–92,000 gas and each further DID byte adds 25–40 (40 under
    /// EIP-7623's calldata floor); the limit leaves twice that or more, for repricing hardforks.
    /// Only the gas used is paid.
    pub fn gas_limit(&self) -> u64 {
        let did_len = match self {
            Self::RegisterIdentity { did, .. } | Self::UpdateTrustScore { did, .. } => did.len(),
            Self::IssueCredential { subject_did, .. } => subject_did.len(),
            Self::AnchorRoot { .. } => 0,
        };
        200_000 + 64 * did_len as u64
    }

    /// Checks what the contract would refuse anyway, so that no gas is spent on it.
    pub(crate) fn validate(&self) -> Result<(), EvmError> {
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

    pub(crate) fn calldata(&self) -> Vec<u8> {
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
