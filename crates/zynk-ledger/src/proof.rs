//! Message inclusion proofs as handed to clients, their JSON form, and the offline verifier.
//!
//! The JSON follows the data model (11.4: `siblings` entries of `{hash, position}`) extended as
//! in RELIABILITY-AND-LEDGER.md §5.2: `leaf_hash`, `leaf_index`, `tree_size`, `root`, the signed
//! batch header and an optional `anchor`. 32-byte values are `0x` + 64 lowercase hex. The
//! serialised field is `path`; `siblings` is accepted as an alias when parsing.
//!
//! Verification follows §5.3: positions written in the proof are redundant, so the verifier
//! derives each sibling's side from `leaf_index`/`tree_size` with the RFC 9162 §2.1.3.2 walk and
//! rejects the proof if any stated position disagrees, before trusting anything else.

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::codec::{DecodeError, Reader, Writer};
use crate::leaf::MessageLeaf;
use crate::merkle::{self, InclusionWalk, MAX_PATH_LEN, MerkleError, MerkleTree, Side};
use crate::time::UnixMillis;
use crate::types::{Address20, Hash32, Signature64};

/// Value of the `version` field this crate writes and accepts.
pub const PROOF_VERSION: &str = "zynk-proof/1";
/// Value of the `hash_alg` field this crate writes and accepts.
pub const HASH_ALG: &str = "sha256-rfc9162";
/// Domain tag of the signed batch header encoding.
pub const HEADER_DOMAIN: &[u8] = b"zynk/ledger-header/v1";
/// `anchor.chain` value of the embedded, single-signer log (no external chain).
pub const EMBEDDED_CHAIN: &str = "zynk-embedded";
/// Largest proof JSON [`MessageProof::from_json`] will parse.
pub const MAX_PROOF_JSON_LEN: usize = 64 * 1024;

/// Why a proof was rejected. Messages carry the values compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Unknown `version`.
    #[error("proof version: expected {PROOF_VERSION:?}, got {0:?}")]
    Version(String),
    /// Unknown `hash_alg`.
    #[error("hash algorithm: expected {HASH_ALG:?}, got {0:?}")]
    HashAlg(String),
    /// The Merkle path itself is invalid (index, size, length or root).
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    /// A stated `position` disagrees with the side derived from index and size.
    #[error("path entry {step} position: expected {expected}, got {got}")]
    Position {
        /// Zero-based entry, counted from the leaf.
        step: usize,
        /// Side derived from the RFC 9162 walk.
        expected: Side,
        /// Side written in the proof.
        got: Side,
    },
    /// The proof's `leaf_hash` differs from the one recomputed from the client's message.
    #[error("leaf hash: expected {expected}, got {got}")]
    LeafHash {
        /// Recomputed from the message.
        expected: Hash32,
        /// Stated in the proof.
        got: Hash32,
    },
    /// The proof is for another message.
    #[error("message id: expected {expected}, got {got}")]
    MessageId {
        /// The message being checked.
        expected: Uuid,
        /// Stated in the proof.
        got: Uuid,
    },
    /// The message's sequence number is outside the batch's range.
    #[error("message seq {seq} outside batch range {first}..={last}")]
    SeqOutsideBatch {
        /// The message's seq.
        seq: u64,
        /// Header `first_seq`.
        first: u64,
        /// Header `last_seq`.
        last: u64,
    },
    /// Header `root` differs from the proof's `root`.
    #[error("header root: expected {expected}, got {got}")]
    HeaderRoot {
        /// Proof `root`.
        expected: Hash32,
        /// Header `root`.
        got: Hash32,
    },
    /// Header `tree_size` differs from the proof's `tree_size`.
    #[error("header tree size: expected {expected}, got {got}")]
    HeaderSize {
        /// Proof `tree_size`.
        expected: u64,
        /// Header `tree_size`.
        got: u64,
    },
    /// Header `batch_id` differs from the proof's `batch_id`.
    #[error("header batch id: expected {expected:?}, got {got:?}")]
    HeaderBatchId {
        /// Proof `batch_id`.
        expected: String,
        /// Header `batch_id`.
        got: String,
    },
    /// Header `first_seq > last_seq`.
    #[error("header seq range: first {first} > last {last}")]
    HeaderSeqRange {
        /// Header `first_seq`.
        first: u64,
        /// Header `last_seq`.
        last: u64,
    },
    /// The header signature does not verify (strictly) under the pinned ledger key.
    #[error("batch header signature does not verify under ledger key {key}")]
    Signature {
        /// Hex of the pinned key.
        key: String,
    },
    /// The anchor names a chain this verifier does not know.
    #[error("anchor chain: expected {EMBEDDED_CHAIN:?} or \"eip155:<chain id>\", got {0:?}")]
    AnchorChain(String),
    /// An embedded anchor does not describe this header.
    #[error("embedded anchor {field}: expected {expected}, got {got}")]
    AnchorField {
        /// Which field.
        field: &'static str,
        /// Value derived from the header.
        expected: String,
        /// Value in the anchor.
        got: String,
    },
    /// Proof construction was given inconsistent inputs.
    #[error("cannot build proof: {0}")]
    Build(String),
    /// JSON input larger than [`MAX_PROOF_JSON_LEN`].
    #[error("proof JSON too large: expected at most {MAX_PROOF_JSON_LEN} bytes, got {0}")]
    TooLarge(usize),
    /// JSON could not be parsed or produced.
    #[error("proof JSON: {0}")]
    Json(String),
}

/// One sibling on the path from a leaf to the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathEntry {
    /// The sibling node's hash.
    pub hash: Hash32,
    /// Side of the sibling relative to the running hash.
    pub position: Side,
}

/// The `proof` JSONB document of data model 11.4: `{"siblings": [{hash, position}, …]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiblingsDoc {
    /// Siblings, leaf to root.
    pub siblings: Vec<PathEntry>,
}

/// Adds the derived position to each hash of an inclusion path.
///
/// # Errors
/// [`MerkleError::IndexOutOfRange`], [`MerkleError::PathTooLong`] or
/// [`MerkleError::PathLength`].
pub fn attach_positions(
    index: u64,
    size: u64,
    path: &[Hash32],
) -> Result<Vec<PathEntry>, MerkleError> {
    if path.len() > MAX_PATH_LEN {
        return Err(MerkleError::PathTooLong { got: path.len() });
    }
    let sides = merkle::inclusion_sides(index, size)?;
    if sides.len() != path.len() {
        return Err(MerkleError::PathLength {
            expected: sides.len(),
            got: path.len(),
        });
    }
    Ok(path
        .iter()
        .zip(sides)
        .map(|(hash, position)| PathEntry {
            hash: *hash,
            position,
        })
        .collect())
}

/// Verifies a positioned path: the stated positions must equal the RFC 9162 walk for
/// `index`/`size`, and the path must lead from `leaf` to `root`.
///
/// # Errors
/// [`ProofError::Merkle`] for index, size, length or root failures; [`ProofError::Position`]
/// for the first disagreeing position.
pub fn verify_positioned_path(
    leaf: &Hash32,
    index: u64,
    size: u64,
    path: &[PathEntry],
    root: &Hash32,
) -> Result<(), ProofError> {
    if path.len() > MAX_PATH_LEN {
        return Err(MerkleError::PathTooLong { got: path.len() }.into());
    }
    let expected = merkle::inclusion_path_len(index, size)?;
    if expected != path.len() {
        return Err(MerkleError::PathLength {
            expected,
            got: path.len(),
        }
        .into());
    }
    let mut r = *leaf;
    for (step, (side, entry)) in InclusionWalk::new(index, size)?.zip(path).enumerate() {
        if side != entry.position {
            return Err(ProofError::Position {
                step,
                expected: side,
                got: entry.position,
            });
        }
        r = match side {
            Side::Left => merkle::node_hash(&entry.hash, &r),
            Side::Right => merkle::node_hash(&r, &entry.hash),
        };
    }
    if r != *root {
        return Err(MerkleError::RootMismatch {
            expected: *root,
            got: r,
        }
        .into());
    }
    Ok(())
}

/// A sealed batch's header, signed with Ed25519 by the ledger key.
///
/// The signature covers [`BatchHeader::signing_bytes`], a fixed binary encoding opened by the
/// domain tag `"zynk/ledger-header/v1" 0x00`; the JSON form is never signed. `batch_id` and
/// `signer` must stay within [`crate::codec::MAX_STRING_LEN`] bytes for
/// [`BatchHeader::decode`] to accept the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchHeader {
    /// Position of this batch in the ledger log (0 for the first batch).
    pub height: u64,
    /// Batch identifier, e.g. `2026-11-27T08Z`.
    pub batch_id: String,
    /// [`BatchHeader::header_hash`] of the previous batch ([`Hash32::ZERO`] for the first).
    pub prev_header_hash: Hash32,
    /// RFC 9162 root over the batch's message leaves in `seq` order.
    pub root: Hash32,
    /// Number of leaves in the batch tree.
    pub tree_size: u64,
    /// Lowest message `seq` in the batch.
    pub first_seq: u64,
    /// Highest message `seq` in the batch.
    pub last_seq: u64,
    /// When the batch was sealed.
    pub closed_at: UnixMillis,
    /// DID URL of the signing key, e.g. `did:zynk:…#ledger-key-1` (a label; the verifier uses
    /// the key pinned in the app).
    pub signer: String,
    /// Ed25519 signature over [`BatchHeader::signing_bytes`].
    pub signature: Signature64,
}

impl BatchHeader {
    /// The signed encoding:
    /// `"zynk/ledger-header/v1" 0x00 ‖ height ‖ batch_id ‖ prev_header_hash ‖ root ‖ tree_size
    /// ‖ first_seq ‖ last_seq ‖ closed_at_ms ‖ signer`, integers `u64` BE, strings prefixed by
    /// their `u64` BE length.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_domain(HEADER_DOMAIN);
        w.u64(self.height)
            .str(&self.batch_id)
            .hash(&self.prev_header_hash)
            .hash(&self.root)
            .u64(self.tree_size)
            .u64(self.first_seq)
            .u64(self.last_seq)
            .u64(self.closed_at.0)
            .str(&self.signer);
        w.into_bytes()
    }

    /// Signs the header in place with `key`.
    pub fn sign(&mut self, key: &SigningKey) {
        self.signature = key.sign(&self.signing_bytes()).into();
    }

    /// Returns the header signed with `key`.
    pub fn signed(mut self, key: &SigningKey) -> Self {
        self.sign(key);
        self
    }

    /// Strict Ed25519 verification (`verify_strict`: rejects small-order keys and
    /// non-canonical signatures) under the pinned ledger key.
    ///
    /// # Errors
    /// [`ProofError::Signature`].
    pub fn verify_signature(&self, key: &VerifyingKey) -> Result<(), ProofError> {
        key.verify_strict(&self.signing_bytes(), &self.signature.into())
            .map_err(|_| ProofError::Signature {
                key: hex::encode(key.as_bytes()),
            })
    }

    /// Full binary encoding: [`Self::signing_bytes`] followed by the 64 signature bytes. This
    /// is the leaf data of the header in the ledger log.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = self.signing_bytes();
        bytes.extend_from_slice(self.signature.as_bytes());
        bytes
    }

    /// Decodes [`Self::encode`] output, rejecting trailing bytes.
    ///
    /// # Errors
    /// Any [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::with_domain(bytes, HEADER_DOMAIN)?;
        let header = Self {
            height: r.u64()?,
            batch_id: r.string()?,
            prev_header_hash: r.hash()?,
            root: r.hash()?,
            tree_size: r.u64()?,
            first_seq: r.u64()?,
            last_seq: r.u64()?,
            closed_at: UnixMillis(r.u64()?),
            signer: r.string()?,
            signature: r.signature()?,
        };
        r.finish()?;
        Ok(header)
    }

    /// `SHA-256(encode())`: what the next header's `prev_header_hash` and an embedded anchor's
    /// `tx_hash` carry.
    pub fn header_hash(&self) -> Hash32 {
        Hash32::sha256(&self.encode())
    }
}

/// Where a batch root was anchored. For an `eip155:<id>` chain the fields are those of a real
/// EVM receipt; for [`EMBEDDED_CHAIN`] `tx_hash` is the header hash, `block_number` the header
/// height, and `contract`, `log_index`, `gas_used` are absent, so it never poses as Ethereum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// `zynk-embedded` or a CAIP-2 `eip155:<chain id>`.
    pub chain: String,
    /// Registry contract, when the anchor is a contract event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<Address20>,
    /// Transaction hash (EVM) or header hash (embedded).
    pub tx_hash: Hash32,
    /// Block number (EVM) or header height (embedded).
    pub block_number: u64,
    /// Log index of the anchoring event, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    /// Gas used by the anchoring transaction (EVM only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gas_used: Option<u64>,
}

impl Anchor {
    /// The embedded-log description of `header`.
    pub fn embedded(header: &BatchHeader) -> Self {
        Self {
            chain: EMBEDDED_CHAIN.to_owned(),
            contract: None,
            tx_hash: header.header_hash(),
            block_number: header.height,
            log_index: None,
            gas_used: None,
        }
    }

    /// Checks what can be checked offline: an embedded anchor must describe `header` exactly;
    /// an `eip155:<digits>` anchor is only checked for shape (its receipt needs a chain RPC).
    ///
    /// # Errors
    /// [`ProofError::AnchorChain`] or [`ProofError::AnchorField`].
    pub fn check_offline(&self, header: &BatchHeader) -> Result<(), ProofError> {
        if self.chain == EMBEDDED_CHAIN {
            let want = Self::embedded(header);
            let fields = [
                (
                    "tx_hash",
                    want.tx_hash.to_string(),
                    self.tx_hash.to_string(),
                ),
                (
                    "block_number",
                    want.block_number.to_string(),
                    self.block_number.to_string(),
                ),
                ("contract", "none".into(), opt(&self.contract)),
                ("log_index", "none".into(), opt(&self.log_index)),
                ("gas_used", "none".into(), opt(&self.gas_used)),
            ];
            if let Some((field, expected, got)) = fields.into_iter().find(|f| f.1 != f.2) {
                return Err(ProofError::AnchorField {
                    field,
                    expected,
                    got,
                });
            }
            return Ok(());
        }
        match self.chain.strip_prefix("eip155:") {
            Some(id)
                if !id.is_empty() && id.len() <= 32 && id.bytes().all(|c| c.is_ascii_digit()) =>
            {
                Ok(())
            }
            _ => Err(ProofError::AnchorChain(self.chain.clone())),
        }
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "none".to_owned(), ToString::to_string)
}

/// A message's inclusion proof with everything needed to check it offline (§5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageProof {
    /// [`PROOF_VERSION`].
    pub version: String,
    /// [`HASH_ALG`].
    pub hash_alg: String,
    /// The message proven.
    pub message_id: Uuid,
    /// The batch it was sealed in.
    pub batch_id: String,
    /// Its RFC 9162 leaf hash ([`MessageLeaf::leaf_hash`]).
    pub leaf_hash: Hash32,
    /// Zero-based leaf index in the batch tree.
    pub leaf_index: u64,
    /// Number of leaves in the batch tree.
    pub tree_size: u64,
    /// Siblings from leaf to root. Parsed also from `siblings`.
    #[serde(alias = "siblings")]
    pub path: Vec<PathEntry>,
    /// Root of the batch tree.
    pub root: Hash32,
    /// The signed header of the batch.
    pub batch_header: BatchHeader,
    /// Signed checkpoint note of the ledger log, carried verbatim (not checked here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    /// Where the batch was anchored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<Anchor>,
}

impl MessageProof {
    /// Builds the proof of `leaf` at `leaf_index` in the sealed batch `tree` described by the
    /// signed `header`; `anchor` defaults to [`Anchor::embedded`] of the header.
    ///
    /// # Errors
    /// [`ProofError::Build`] when the tree, leaf and header disagree (wrong leaf at the index,
    /// wrong size or root), [`ProofError::Merkle`] for an index out of range.
    pub fn build(
        tree: &MerkleTree,
        leaf: &MessageLeaf,
        leaf_index: u64,
        header: &BatchHeader,
        anchor: Option<Anchor>,
    ) -> Result<Self, ProofError> {
        let leaf_hash = leaf.leaf_hash();
        if tree.leaf(leaf_index) != Some(leaf_hash) {
            return Err(ProofError::Build(format!(
                "leaf {leaf_index} of the tree is not {leaf_hash}"
            )));
        }
        if header.tree_size != tree.len() || header.root != tree.root() {
            return Err(ProofError::Build(format!(
                "header describes size {} root {}, tree has size {} root {}",
                header.tree_size,
                header.root,
                tree.len(),
                tree.root()
            )));
        }
        let path = tree.inclusion_proof(leaf_index)?;
        Ok(Self {
            version: PROOF_VERSION.to_owned(),
            hash_alg: HASH_ALG.to_owned(),
            message_id: leaf.message_id,
            batch_id: header.batch_id.clone(),
            leaf_hash,
            leaf_index,
            tree_size: tree.len(),
            path: attach_positions(leaf_index, tree.len(), &path)?,
            root: tree.root(),
            batch_header: header.clone(),
            checkpoint: None,
            anchor: Some(anchor.unwrap_or_else(|| Anchor::embedded(header))),
        })
    }

    /// The data model 11.4 `proof` column document.
    pub fn siblings_doc(&self) -> SiblingsDoc {
        SiblingsDoc {
            siblings: self.path.clone(),
        }
    }

    /// Parses proof JSON of at most [`MAX_PROOF_JSON_LEN`] bytes. Unknown fields are rejected.
    ///
    /// # Errors
    /// [`ProofError::TooLarge`] or [`ProofError::Json`].
    pub fn from_json(json: &str) -> Result<Self, ProofError> {
        if json.len() > MAX_PROOF_JSON_LEN {
            return Err(ProofError::TooLarge(json.len()));
        }
        serde_json::from_str(json).map_err(|e| ProofError::Json(e.to_string()))
    }

    /// Serialises to compact JSON.
    ///
    /// # Errors
    /// [`ProofError::Json`] when a value has no JSON form (a timestamp after year 9999).
    pub fn to_json(&self) -> Result<String, ProofError> {
        serde_json::to_string(self).map_err(|e| ProofError::Json(e.to_string()))
    }

    /// Verifies the proof against the pinned ledger key (§5.3 steps 2–3, plus the embedded
    /// anchor): version and algorithm, `leaf_index < tree_size`, path length at most 64 and
    /// right for the size, stated positions equal to derived ones, the recomputed root, header
    /// root/size/batch id equal to the proof's, and the header's strict Ed25519 signature.
    ///
    /// This trusts `leaf_hash` as given; use [`Self::verify_for_message`] to bind it to the
    /// client's own copy of the message.
    ///
    /// # Errors
    /// The first failing check, as a [`ProofError`].
    pub fn verify(&self, ledger_key: &VerifyingKey) -> Result<(), ProofError> {
        if self.version != PROOF_VERSION {
            return Err(ProofError::Version(self.version.clone()));
        }
        if self.hash_alg != HASH_ALG {
            return Err(ProofError::HashAlg(self.hash_alg.clone()));
        }
        verify_positioned_path(
            &self.leaf_hash,
            self.leaf_index,
            self.tree_size,
            &self.path,
            &self.root,
        )?;
        let h = &self.batch_header;
        if h.root != self.root {
            return Err(ProofError::HeaderRoot {
                expected: self.root,
                got: h.root,
            });
        }
        if h.tree_size != self.tree_size {
            return Err(ProofError::HeaderSize {
                expected: self.tree_size,
                got: h.tree_size,
            });
        }
        if h.batch_id != self.batch_id {
            return Err(ProofError::HeaderBatchId {
                expected: self.batch_id.clone(),
                got: h.batch_id.clone(),
            });
        }
        if h.first_seq > h.last_seq {
            return Err(ProofError::HeaderSeqRange {
                first: h.first_seq,
                last: h.last_seq,
            });
        }
        h.verify_signature(ledger_key)?;
        if let Some(anchor) = &self.anchor {
            anchor.check_offline(h)?;
        }
        Ok(())
    }

    /// [`Self::verify`], after recomputing the leaf from the client's own copy of the message
    /// (§5.3 step 1): the message id and leaf hash must match, and the message's `seq` must lie
    /// in the header's `first_seq..=last_seq`.
    ///
    /// # Errors
    /// [`ProofError::MessageId`], [`ProofError::LeafHash`], [`ProofError::SeqOutsideBatch`], or
    /// any error of [`Self::verify`].
    pub fn verify_for_message(
        &self,
        message: &MessageLeaf,
        ledger_key: &VerifyingKey,
    ) -> Result<(), ProofError> {
        if message.message_id != self.message_id {
            return Err(ProofError::MessageId {
                expected: message.message_id,
                got: self.message_id,
            });
        }
        let expected = message.leaf_hash();
        if expected != self.leaf_hash {
            return Err(ProofError::LeafHash {
                expected,
                got: self.leaf_hash,
            });
        }
        let h = &self.batch_header;
        if message.seq < h.first_seq || message.seq > h.last_seq {
            return Err(ProofError::SeqOutsideBatch {
                seq: message.seq,
                first: h.first_seq,
                last: h.last_seq,
            });
        }
        self.verify(ledger_key)
    }
}
