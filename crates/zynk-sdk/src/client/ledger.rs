//! Verifiable history on the client side: the server's ledger description
//! ([`LedgerInfo`]), its validator key pinned trust-on-first-use
//! ([`PinnedLedger`]), and the offline check of a message's inclusion proof
//! against the device's own copy of the message ([`ProofCheck`]).
//!
//! Everything here is pure; the network part is
//! [`crate::client::Messenger::verify_message_proof`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zynk_ledger::proof::MAX_PROOF_JSON_LEN;
use zynk_ledger::{Ed25519PublicKey, Hash32, MessageLeaf, MessageProof};
use zynk_proto::ids::{ConversationId, MessageId};

use super::error::ClientError;
use super::timeline::Entry;
use super::util::base64_decode;

pub use zynk_proto::ledger::LedgerInfo;

/// The ledger key this device accepted the first time it checked a proof
/// (trust on first use). A different key offered later is refused with
/// [`ClientError::LedgerKeyChanged`], never adopted silently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedLedger {
    /// The chain the server named when the key was pinned.
    pub chain: String,
    /// The key, unpadded standard base64 of its 32 bytes.
    pub validator_key: String,
    /// The key as `did:key:z6Mk…`.
    pub validator_did: String,
    /// When it was pinned (this device's clock, Unix milliseconds).
    pub pinned_at_ms: u64,
}

impl PinnedLedger {
    /// The pinned key, checked again (the state could have been edited).
    pub fn verifying_key(&self) -> Result<VerifyingKey, ClientError> {
        decode_key(&self.validator_key).map_err(|reason| {
            ClientError::Invalid(format!("the pinned ledger key is unusable: {reason}"))
        })
    }
}

/// Where the ciphertext a proof was checked against came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiphertextSource {
    /// This device's own copy, kept when it sent or received the message.
    Local,
    /// The server's copy (`GET /api/v1/messages/{id}`): the device received
    /// the message before it started keeping ciphertexts. Only the
    /// ciphertext came from the server; id, `seq` and time are the device's.
    Server,
}

/// The outcome of checking a proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProofVerdict {
    /// The message, as this device holds it, is a leaf of a batch whose header
    /// is signed by the pinned ledger key.
    Valid {
        /// The batch.
        batch_id: String,
        /// Zero-based position of the message's leaf in the batch tree.
        leaf_index: u64,
        /// Number of leaves in the batch tree.
        tree_size: u64,
        /// Root of the batch tree.
        root: Hash32,
        /// The signer the batch header names (a DID URL label; the signature
        /// was checked with the pinned key).
        signer: String,
    },
    /// The proof does not hold for this device's copy of the message.
    Invalid {
        /// The first check that failed.
        reason: String,
    },
}

impl ProofVerdict {
    /// Whether the proof holds.
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid { .. })
    }
}

/// What [`crate::client::Messenger::verify_message_proof`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct ProofCheck {
    /// The message checked.
    pub message_id: MessageId,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// Valid or invalid, with the reason.
    pub verdict: ProofVerdict,
    /// The proof object as the server sent it.
    pub proof: Map<String, Value>,
    /// Where the ciphertext came from.
    pub ciphertext_source: CiphertextSource,
    /// The ledger key the proof was checked against.
    pub ledger: PinnedLedger,
    /// Whether that key was pinned by this check (first use).
    pub newly_pinned: bool,
}

impl ProofCheck {
    /// The proof object's fields plus `"verdict": "valid" | "invalid"` and
    /// `"reason"` (`null` when valid).
    pub fn to_json(&self) -> Value {
        let mut object = self.proof.clone();
        let (verdict, reason) = match &self.verdict {
            ProofVerdict::Valid { .. } => ("valid", Value::Null),
            ProofVerdict::Invalid { reason } => ("invalid", Value::String(reason.clone())),
        };
        object.insert("verdict".into(), Value::String(verdict.into()));
        object.insert("reason".into(), reason);
        Value::Object(object)
    }

    /// One line: `proof valid: message ID is leaf I of N in batch B, root R,
    /// signed by SIGNER` or `proof INVALID: REASON`. `SIGNER` is the pinned
    /// key's DID URL as the header names it (`did:key:z6Mk…#ledger`), or the
    /// pinned key's `did:key` followed by `(the header names LABEL)` when the
    /// header's label is not a DID URL of that key.
    pub fn to_display_line(&self) -> String {
        match &self.verdict {
            ProofVerdict::Valid {
                batch_id,
                leaf_index,
                tree_size,
                root,
                signer,
            } => {
                let did = &self.ledger.validator_did;
                let signed_by = if signer.split('#').next() == Some(did.as_str()) {
                    signer.clone()
                } else {
                    format!("{did} (the header names {signer})")
                };
                format!(
                    "proof valid: message {} is leaf {leaf_index} of {tree_size} in batch {batch_id}, root {root}, signed by {signed_by}",
                    self.message_id
                )
            }
            ProofVerdict::Invalid { reason } => format!("proof INVALID: {reason}"),
        }
    }
}

/// Decodes and checks a 32-byte Ed25519 key in standard base64 (padded or
/// not), rejecting invalid and small-order points.
fn decode_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes = base64_decode(text).ok_or("not base64")?;
    let bytes: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("expected 32 bytes, got {}", bytes.len()))?;
    Ed25519PublicKey(bytes)
        .to_verifying_key()
        .map_err(|e| e.to_string())
}

/// Checks the key the server announces against the pinned one. With nothing
/// pinned yet, returns the announced key to pin (`newly_pinned`). The
/// announced `did:key` must be the announced key.
///
/// # Errors
/// [`ClientError::Protocol`] for a malformed key or a DID naming another key;
/// [`ClientError::LedgerKeyChanged`] when a different key is pinned.
pub(crate) fn pin_ledger_key(
    pinned: Option<&PinnedLedger>,
    info: &LedgerInfo,
    now_ms: u64,
) -> Result<(PinnedLedger, VerifyingKey, bool), ClientError> {
    let key = decode_key(&info.validator_key)
        .map_err(|reason| ClientError::Protocol(format!("ledger validator key: {reason}")))?;
    let did = zynk_ledger::did::did_key(&key);
    if did != info.validator_did {
        return Err(ClientError::Protocol(format!(
            "the ledger validator DID {} does not name the validator key {did}",
            info.validator_did
        )));
    }
    match pinned {
        Some(pinned) => {
            let pinned_key = pinned.verifying_key()?;
            if pinned_key != key {
                return Err(ClientError::LedgerKeyChanged {
                    pinned: pinned.validator_did.clone(),
                    offered: did,
                });
            }
            Ok((pinned.clone(), pinned_key, false))
        }
        None => {
            let pinned = PinnedLedger {
                chain: info.chain.clone(),
                validator_key: STANDARD_NO_PAD.encode(key.as_bytes()),
                validator_did: did,
                pinned_at_ms: now_ms,
            };
            Ok((pinned, key, true))
        }
    }
}

/// The leaf of a stored message: its id, the hash of `ciphertext`, and the
/// `seq` and server time the device recorded.
///
/// # Errors
/// [`ClientError::Invalid`] when the stored `seq` or time is negative.
pub(crate) fn message_leaf(entry: &Entry, ciphertext: &[u8]) -> Result<MessageLeaf, ClientError> {
    let seq = u64::try_from(entry.seq).map_err(|_| {
        ClientError::Invalid(format!(
            "message {} has a negative sequence number",
            entry.message_id
        ))
    })?;
    let created_ms = u64::try_from(entry.created_at.timestamp_millis()).map_err(|_| {
        ClientError::Invalid(format!(
            "message {} has a time before 1970",
            entry.message_id
        ))
    })?;
    Ok(MessageLeaf::from_ciphertext(
        entry.message_id.as_uuid(),
        ciphertext,
        seq,
        created_ms,
    ))
}

/// Checks proof JSON offline against `leaf` and the pinned `key`
/// ([`MessageProof::verify_for_message`]). A proof that does not parse is
/// [`ProofVerdict::Invalid`] too; only an answer that is not a JSON object
/// at all (or too large to be a proof) is an error.
///
/// # Errors
/// [`ClientError::Protocol`].
pub(crate) fn check_proof(
    json: &str,
    leaf: &MessageLeaf,
    key: &VerifyingKey,
) -> Result<(Map<String, Value>, ProofVerdict), ClientError> {
    if json.len() > MAX_PROOF_JSON_LEN {
        return Err(ClientError::Protocol(format!(
            "the proof is {} bytes, more than the {MAX_PROOF_JSON_LEN} a proof can be",
            json.len()
        )));
    }
    let object = match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(object)) => object,
        Ok(_) => {
            return Err(ClientError::Protocol(
                "the proof is not a JSON object".into(),
            ));
        }
        Err(e) => return Err(ClientError::Protocol(format!("the proof is not JSON: {e}"))),
    };
    let proof = match MessageProof::from_json(json) {
        Ok(proof) => proof,
        Err(error) => {
            let reason = format!("malformed proof: {error}");
            return Ok((object, ProofVerdict::Invalid { reason }));
        }
    };
    let verdict = match proof.verify_for_message(leaf, key) {
        Ok(()) => ProofVerdict::Valid {
            batch_id: proof.batch_id,
            leaf_index: proof.leaf_index,
            tree_size: proof.tree_size,
            root: proof.root,
            signer: proof.batch_header.signer,
        },
        Err(error) => ProofVerdict::Invalid {
            reason: error.to_string(),
        },
    };
    Ok((object, verdict))
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
pub(crate) mod tests;
