//! Zynk ledger core, with no I/O: RFC 9162 Merkle trees and proofs over SHA-256, message leaf
//! encoding, signed batch headers and message proofs, signed hash-linked blocks with typed
//! transactions, and DID helpers.
//!
//! The crate reads no clock, files, network or randomness, spawns no threads and needs no async
//! runtime, so the server and the clients (including `wasm32-unknown-unknown`) share it. Callers
//! supply times, keys and data. Every hashed or signed structure has a fixed binary encoding
//! opened by a domain tag; JSON forms exist for transport and storage only.
//!
//! Modules:
//! - [`merkle`]: trees, inclusion and consistency proofs (generation and verification).
//! - [`leaf`]: the fixed binary message leaf.
//! - [`proof`]: the proof JSON object, signed batch headers, anchors and the offline verifier.
//! - [`block`]: transactions, blocks and chain verification.
//! - [`did`]: `did:zynk`, `did:key`, multikey and DID documents.
//! - [`types`], [`codec`], [`time`]: shared value types and encodings.

pub mod block;
pub mod codec;
pub mod did;
pub mod identity;
pub mod leaf;
pub mod merkle;
pub mod proof;
pub mod time;
pub mod types;

pub use block::{Block, BlockError, ChainTip, Transaction, verify_chain};
pub use did::{DidDocument, DidError, Ed25519PublicKey, ZynkDid};
pub use identity::{BlockHeader, IdentityProof, IdentityProofError};
pub use leaf::MessageLeaf;
pub use merkle::{MerkleError, MerkleTree, Side};
pub use proof::{Anchor, BatchHeader, MessageProof, PathEntry, ProofError};
pub use time::UnixMillis;
pub use types::{Address20, Hash32, Signature64};
