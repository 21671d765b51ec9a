//! Verifiable history for [`Messenger`]: checks a message's ledger inclusion
//! proof offline against this device's own copy of the message, under the
//! server's ledger key pinned the first time (see [`crate::client::ledger`]).

use zynk_proto::ids::{ConversationId, MessageId};

use super::Messenger;
use crate::client::error::{ClientError, VaultError};
use crate::client::ledger::{
    CiphertextSource, ProofCheck, check_proof, message_leaf, pin_ledger_key,
};
use crate::client::timeline::Entry;
use crate::client::util::{base64_decode, now_ms};

impl Messenger {
    /// Check that `message_id` is in the server's signed ledger, offline:
    ///
    /// 1. recompute the message's leaf from this device's stored copy: the
    ///    ciphertext kept when it was sent or received, its `seq` and the
    ///    server's `created_at` (a message received before devices kept
    ///    ciphertexts uses the server's copy of the ciphertext only, and the
    ///    result says so: [`CiphertextSource::Server`]);
    /// 2. fetch the ledger key (`GET /api/v1/ledger`): a key other than the
    ///    pinned one is [`ClientError::LedgerKeyChanged`];
    /// 3. fetch the proof (`GET /api/v1/messages/{id}/proof`), and pin the
    ///    key if none was (trust on first use: the first proof checked);
    /// 4. verify the proof with the pinned key: the recomputed leaf, the
    ///    Merkle path, the signed batch header and the embedded anchor.
    ///
    /// A proof that does not hold is a [`ProofCheck`] with an
    /// [`crate::client::ProofVerdict::Invalid`] verdict, not an error.
    ///
    /// # Errors
    /// [`ClientError::UnknownMessage`] when the message is not in this
    /// device's history (sync first), [`ClientError::NotAnchored`] when its
    /// batch is not sealed yet, [`ClientError::LedgerKeyChanged`], and
    /// network or protocol errors.
    pub async fn verify_message_proof(
        &mut self,
        message_id: MessageId,
    ) -> Result<ProofCheck, ClientError> {
        let (conversation_id, entry) = self
            .data
            .conversations
            .values()
            .find_map(|c| c.entry(message_id).map(|e| (c.id, e.clone())))
            .ok_or_else(|| {
                ClientError::UnknownMessage(format!("{message_id} in this device's history"))
            })?;
        let (ciphertext, ciphertext_source) = match &entry.ciphertext {
            Some(text) => {
                let bytes = base64_decode(text).ok_or_else(|| {
                    VaultError::Corrupt(format!(
                        "the stored ciphertext of message {message_id} is not base64"
                    ))
                })?;
                (bytes, CiphertextSource::Local)
            }
            None => (
                self.server_ciphertext(&entry, conversation_id).await?,
                CiphertextSource::Server,
            ),
        };
        let leaf = message_leaf(&entry, &ciphertext)?;
        let info = self.api.ledger_info().await?;
        let (ledger, key, newly_pinned) =
            pin_ledger_key(self.data.ledger.as_ref(), &info, now_ms())?;
        let json = self.api.message_proof_json(message_id).await?;
        // Pinned only once a proof is there to check with it.
        if newly_pinned {
            self.data.ledger = Some(ledger.clone());
        }
        let (proof, verdict) = check_proof(&json, &leaf, &key)?;
        Ok(ProofCheck {
            message_id,
            conversation_id,
            verdict,
            proof,
            ciphertext_source,
            ledger,
            newly_pinned,
        })
    }

    /// The server's copy of the ciphertext of a stored message that has no
    /// local copy (`GET /api/v1/messages/{id}`).
    async fn server_ciphertext(
        &mut self,
        entry: &Entry,
        conversation_id: ConversationId,
    ) -> Result<Vec<u8>, ClientError> {
        let id = entry.message_id;
        let message = self.api.message(id).await?;
        if message.message_id != id || message.conversation_id != conversation_id {
            return Err(ClientError::Protocol(format!(
                "asked for message {id} of conversation {conversation_id}, got message {} of conversation {}",
                message.message_id, message.conversation_id
            )));
        }
        if message.encrypted_content.is_empty() {
            return Err(ClientError::Invalid(format!(
                "message {id} cannot be checked: this device kept no copy of its ciphertext and the server no longer holds it (deleted)"
            )));
        }
        base64_decode(&message.encrypted_content).ok_or_else(|| {
            ClientError::Protocol(format!("the ciphertext of message {id} is not base64"))
        })
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "proof_tests.rs"]
mod tests;
