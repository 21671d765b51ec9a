//! Key transparency: the proof that a DID's identity key was recorded in a signed ledger block.
//!
//! An [`IdentityProof`] carries the `identity_registration` transaction (a first registration
//! or a key rotation), the header of the block that holds it (everything that block's hash and
//! signature cover, without the other transactions) and the RFC 9162 inclusion path of the
//! transaction's hash under the block's `tx_root`. A client that pins the ledger's validator key
//! checks it offline with [`IdentityProof::verify`] and compares the key with the one the server
//! hands out for the contact: a server that swaps a key has to forge the validator's signature.
//!
//! What it does not show: that no *later* rotation exists. Clients keep the highest block they
//! have seen per DID and refuse older proofs (see `zynk-sdk`), so a rotation, once seen, cannot
//! be rolled back.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::block::{Block, IdentityRegistration, Transaction};
use crate::did::{Ed25519PublicKey, ZynkDid, did_key};
use crate::merkle::{self, MerkleTree};
use crate::proof::{PathEntry, attach_positions, verify_positioned_path};
use crate::types::{Hash32, Signature64};

/// Why an identity proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityProofError {
    /// The proof is about another DID.
    #[error("the proof is for {got}, not {expected}")]
    Did {
        /// The DID asked about.
        expected: String,
        /// The DID in the proof.
        got: String,
    },
    /// The block names another validator than the pinned one.
    #[error("block {index} is signed by {got}, not the pinned validator {expected}")]
    Validator {
        /// Block index.
        index: u64,
        /// Pinned validator.
        expected: String,
        /// Validator in the header.
        got: String,
    },
    /// The header hash does not match its fields.
    #[error("block {index}: header hash does not match")]
    Hash {
        /// Block index.
        index: u64,
    },
    /// The validator's signature does not verify.
    #[error("block {index}: the validator signature does not verify")]
    Signature {
        /// Block index.
        index: u64,
    },
    /// The transaction is not under the block's `tx_root`.
    #[error("block {index}: the transaction is not in the block ({reason})")]
    Inclusion {
        /// Block index.
        index: u64,
        /// What failed.
        reason: String,
    },
    /// The recorded key differs from the key the caller was given.
    #[error("the ledger records identity key {recorded} for {did}, but the server gave {given}")]
    KeyMismatch {
        /// The identity.
        did: String,
        /// Key in the ledger.
        recorded: String,
        /// Key handed out.
        given: String,
    },
}

/// The part of a block its hash and signature cover, without the transactions themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockHeader {
    /// Height.
    pub index: u64,
    /// Sealing time, Unix seconds.
    pub timestamp: u64,
    /// Hash of the previous block.
    pub prev_hash: Hash32,
    /// RFC 9162 root over the block's transaction hashes.
    pub tx_root: Hash32,
    /// Transactions in the block.
    pub tx_count: u64,
    /// `did:key` of the signer.
    pub validator: String,
    /// SHA-256 of the header encoding.
    pub hash: Hash32,
    /// Ed25519 signature over the header encoding.
    pub signature: Signature64,
}

impl BlockHeader {
    /// The header of `block`.
    pub fn of(block: &Block) -> Self {
        Self {
            index: block.index,
            timestamp: block.timestamp,
            prev_hash: block.prev_hash,
            tx_root: block.tx_root,
            tx_count: block.transactions.len() as u64,
            validator: block.validator.clone(),
            hash: block.hash,
            signature: block.signature,
        }
    }

    /// The hashed and signed encoding, identical to [`Block::header_bytes`].
    pub fn header_bytes(&self) -> Vec<u8> {
        crate::block::header_encoding(
            self.index,
            self.timestamp,
            &self.prev_hash,
            &self.tx_root,
            self.tx_count,
            &self.validator,
        )
    }

    /// Checks hash, validator and signature against the pinned `validator` key.
    ///
    /// # Errors
    /// [`IdentityProofError::Validator`], [`IdentityProofError::Hash`] or
    /// [`IdentityProofError::Signature`].
    pub fn verify(&self, validator: &VerifyingKey) -> Result<(), IdentityProofError> {
        let expected = did_key(validator);
        if self.validator != expected {
            return Err(IdentityProofError::Validator {
                index: self.index,
                expected,
                got: self.validator.clone(),
            });
        }
        let bytes = self.header_bytes();
        if Hash32::sha256(&bytes) != self.hash {
            return Err(IdentityProofError::Hash { index: self.index });
        }
        validator
            .verify_strict(&bytes, &self.signature.into())
            .map_err(|_| IdentityProofError::Signature { index: self.index })
    }
}

/// `GET /api/v1/identities/{did}/proof`: the latest recorded key of an identity with its proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProof {
    /// The identity.
    pub did: ZynkDid,
    /// The `identity_registration` transaction (registration or rotation).
    pub registration: IdentityRegistration,
    /// Its hash (SHA-256 of the transaction encoding).
    pub tx_hash: Hash32,
    /// Its position in the block.
    pub tx_index: u64,
    /// Siblings from the transaction's leaf to `block.tx_root`.
    pub path: Vec<PathEntry>,
    /// The signed header of the block holding it.
    pub block: BlockHeader,
}

impl IdentityProof {
    /// The proof that transaction `tx_index` of `block` (an `identity_registration`) is in it.
    /// `None` when that transaction is no registration.
    pub fn build(block: &Block, tx_index: usize) -> Option<Self> {
        let Transaction::IdentityRegistration(registration) = block.transactions.get(tx_index)?
        else {
            return None;
        };
        let tree = MerkleTree::from_leaves(block.transactions.iter().map(Transaction::hash));
        let path = tree.inclusion_proof(tx_index as u64).ok()?;
        let path = attach_positions(tx_index as u64, tree.len(), &path).ok()?;
        Some(Self {
            did: registration.did,
            registration: registration.clone(),
            tx_hash: block.transactions[tx_index].hash(),
            tx_index: tx_index as u64,
            path,
            block: BlockHeader::of(block),
        })
    }

    /// Checks the proof offline under the pinned `validator` key for identity `did`; returns the
    /// recorded identity key.
    ///
    /// # Errors
    /// Any [`IdentityProofError`].
    pub fn verify(
        &self,
        did: &ZynkDid,
        validator: &VerifyingKey,
    ) -> Result<Ed25519PublicKey, IdentityProofError> {
        if &self.did != did || &self.registration.did != did {
            return Err(IdentityProofError::Did {
                expected: did.to_string(),
                got: self.registration.did.to_string(),
            });
        }
        self.block.verify(validator)?;
        let index = self.block.index;
        let tx = Transaction::IdentityRegistration(self.registration.clone());
        let hash = tx.hash();
        if hash != self.tx_hash {
            return Err(IdentityProofError::Inclusion {
                index,
                reason: "the transaction hash does not match its content".into(),
            });
        }
        let leaf = merkle::leaf_hash(hash.as_bytes());
        verify_positioned_path(
            &leaf,
            self.tx_index,
            self.block.tx_count,
            &self.path,
            &self.block.tx_root,
        )
        .map_err(|e| IdentityProofError::Inclusion {
            index,
            reason: e.to_string(),
        })?;
        Ok(self.registration.public_key)
    }

    /// [`Self::verify`], then checks that the recorded key is `given` (the key the server hands
    /// out for the contact).
    ///
    /// # Errors
    /// Any [`IdentityProofError`]; [`IdentityProofError::KeyMismatch`] for a swapped key.
    pub fn verify_key(
        &self,
        did: &ZynkDid,
        given: &Ed25519PublicKey,
        validator: &VerifyingKey,
    ) -> Result<(), IdentityProofError> {
        let recorded = self.verify(did, validator)?;
        if &recorded != given {
            return Err(IdentityProofError::KeyMismatch {
                did: did.to_string(),
                recorded: recorded.to_multibase(),
                given: given.to_multibase(),
            });
        }
        Ok(())
    }
}
