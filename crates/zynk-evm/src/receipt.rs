//! What a mined transaction did: its receipt and the registry events it emitted.

use crate::bindings::ZynkRegistry;

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
    pub(crate) fn from_binding(event: ZynkRegistry::ZynkRegistryEvents) -> Self {
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
