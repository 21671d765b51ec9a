//! Identities on the ledger: DID documents, identity proofs (key transparency: the sealed
//! `identity_registration` of a user's current key, with its inclusion in a signed block) and
//! identity key rotation.

use base64::Engine;
use ed25519_dalek::VerifyingKey;
use zynk_backends::ledger::PendingTx;
use zynk_backends::model::{KeyRotation, UserRecord};
use zynk_ledger::block::IdentityRegistration;
use zynk_ledger::{DidDocument, Ed25519PublicKey, IdentityProof, Transaction, ZynkDid};
use zynk_proto::{ErrorCode, UserId};

use super::{LedgerService, cache_pending, internal};
use crate::error::ApiError;
use crate::services::auth::AuthContext;
use crate::services::validation;

impl LedgerService {
    /// Seals (on the node holding the ledger key) or waits up to 5 s for a block holding any
    /// pending registration or rotation of `did`.
    pub(super) async fn await_registration(&self, did: &ZynkDid) -> Result<(), ApiError> {
        for _ in 0..50 {
            if !self.registration_pending(did).await? {
                break;
            }
            if self.ledger_key().await? == self.verifying_key() {
                self.seal_pending().await?;
            } else {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// A user and their current identity key.
    pub(super) async fn user_and_key(
        &self,
        user_id: UserId,
    ) -> Result<(UserRecord, [u8; 32]), ApiError> {
        let user = self
            .context
            .store
            .get_user(user_id)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        let key = validation::ed25519_key("identity_key", &user.public_key)
            .map_err(|_| internal("stored identity key is invalid"))?;
        Ok((user, key))
    }

    /// Whether an identity registration or rotation of `did` waits for a block: its identity
    /// row is marked verified only when a block holds its current key.
    async fn registration_pending(&self, did: &ZynkDid) -> Result<bool, ApiError> {
        Ok(self
            .context
            .store
            .identity_by_did(&did.to_string())
            .await?
            .is_some_and(|identity| !identity.is_verified))
    }

    /// The W3C DID document of a user (`did:zynk:<user id>`), listing their identity key.
    pub async fn did_document(&self, did: &str) -> Result<DidDocument, ApiError> {
        let parsed: ZynkDid = did.parse().map_err(|_| ApiError::not_found("identity"))?;
        let user = self
            .context
            .store
            .get_user(UserId::from_uuid(parsed.uuid()))
            .await?
            .ok_or_else(|| ApiError::not_found("identity"))?;
        let key = validation::ed25519_key("identity_key", &user.public_key)
            .map_err(|_| internal("stored identity key is invalid"))?;
        Ok(DidDocument::for_identity(&parsed, &Ed25519PublicKey(key)))
    }

    /// Key transparency: the latest sealed identity key of `did` with its inclusion proof in a
    /// signed block. Anyone may ask (identity keys are public); 404 until a block holds it.
    pub async fn identity_proof(&self, did: &str) -> Result<IdentityProof, ApiError> {
        let parsed: ZynkDid = did.parse().map_err(|_| ApiError::not_found("identity"))?;
        // A registration or rotation still waiting for its block is sealed now on the validator
        // node, or awaited (up to 5 s) on the others, so that a client never sees a key that is
        // newer than the ledger's.
        self.await_registration(&parsed).await?;
        let state = self
            .context
            .store
            .identity_state(&parsed)
            .await?
            .ok_or_else(|| ApiError::not_found("identity (not in a block yet)"))?;
        let (Some(block_number), Some(tx_index)) = (state.block_number, state.tx_index) else {
            return Err(ApiError::not_found("identity (not in a block yet)"));
        };
        let block = self
            .context
            .store
            .block(block_number)
            .await?
            .ok_or_else(|| internal("block missing"))?;
        let proof = IdentityProof::build(&block, tx_index as usize)
            .ok_or_else(|| internal("identity state points at no registration"))?;
        proof
            .verify(&parsed, &self.ledger_key().await?)
            .map_err(internal)?;
        Ok(proof)
    }

    /// `PUT /api/v1/users/me/identity-key`: replaces the caller's identity key, authorised by a
    /// signature of the current key, and records the rotation as a new `identity_registration`
    /// transaction for the same DID.
    pub async fn rotate_identity_key(
        &self,
        caller: &AuthContext,
        request: &zynk_proto::trust::RotateIdentityKeyRequest,
    ) -> Result<(), ApiError> {
        use ed25519_dalek::Verifier as _;
        let new_key = validation::ed25519_key("identity_key", &request.identity_key)?;
        let signature = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(&request.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .ok_or_else(|| {
                ApiError::invalid_field("signature", "must be 64 bytes, unpadded base64")
            })?;
        let user_id = caller.user_id;
        let (user, current) = self.user_and_key(user_id).await?;
        let did = ZynkDid::new(caller.user_id.as_uuid());
        let message = zynk_proto::trust::rotation_signing_bytes(&did.to_string(), &new_key);
        let current_key = VerifyingKey::from_bytes(&current)
            .map_err(|_| internal("stored identity key is invalid"))?;
        current_key
            .verify(&message, &ed25519_dalek::Signature::from_bytes(&signature))
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidSignature,
                    "the signature does not verify under the current identity key",
                )
            })?;
        crate::services::possession::verify(
            "new_key_signature",
            request.new_key_signature.as_deref(),
            &new_key,
            &zynk_proto::possession::rotate_bytes(&did.to_string(), &new_key, &current),
            "new identity key's signature over the rotation statement",
        )?;
        let transaction = Transaction::IdentityRegistration(IdentityRegistration {
            did,
            public_key: Ed25519PublicKey(new_key),
            user_id: caller.user_id.as_uuid(),
        });
        let hash = transaction.hash();
        // A key used before would repeat an earlier transaction: refuse it.
        let store = &self.context.store;
        if new_key == current
            || store.tx_entry(&hash).await?.is_some()
            || store.pending_transaction(&hash).await?.is_some()
        {
            return Err(ApiError::new(
                ErrorCode::KeyReused,
                "the new identity key was used before",
            ));
        }
        let rotation = KeyRotation {
            user_id: caller.user_id,
            did: did.to_string(),
            old_public_key: user.public_key.clone(),
            new_public_key: request.identity_key.clone(),
            tx: PendingTx {
                transaction,
                user_id: Some(caller.user_id),
                related_entity_id: Some(caller.user_id.as_uuid()),
            },
        };
        if !store
            .rotate_identity_key(&rotation, zynk_backends::now())
            .await?
        {
            return Err(ApiError::new(
                ErrorCode::InvalidSignature,
                "the identity key changed meanwhile; sign with the current key",
            ));
        }
        cache_pending(&self.context, &rotation.tx.transaction).await;
        tracing::info!(user_id = %caller.user_id, "identity key rotated");
        Ok(())
    }
}
