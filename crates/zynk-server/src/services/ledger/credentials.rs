//! W3C Verifiable Credentials as JWTs (VC Data Model 1.1, section 6.3.1: the `vc` claim) signed
//! with EdDSA (Ed25519) by the node's `did:key`. The JWS is the compact serialisation of RFC 7515
//! with the RFC 8037 `EdDSA` algorithm; the signature itself is ed25519-dalek's.
//!
//! Verifiers resolve the issuer key from the `did:key` in `iss`/`kid` (never from `jwk` or `jku`
//! headers); `docs/credentials.md` shows how, with the npm package `did-jwt-vc`.
//!
//! Each issued credential is recorded by a `credential_issuance` ledger transaction naming the
//! SHA-256 of its id.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer as _, SigningKey};
use uuid::Uuid;
use zynk_backends::ledger::PendingTx;
use zynk_backends::model::CredentialRecord;
use zynk_ledger::block::CredentialIssuance;
use zynk_ledger::did::did_key;
use zynk_ledger::{Ed25519PublicKey, Hash32, Transaction, ZynkDid};

use super::{LedgerService, cache_pending, internal};
use crate::error::ApiError;
use crate::services::auth::AuthContext;

/// The credential type besides `VerifiableCredential`.
pub const CREDENTIAL_TYPE: &str = "ZynkVerifiedIdentity";

/// What a verified-identity credential states about its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// `did:zynk:<user id>`.
    pub subject_did: String,
    /// Username.
    pub username: String,
    /// Identity key, multibase (`z6Mk…`).
    pub identity_key: String,
    /// Trust score at issuance.
    pub trust_score: u8,
    /// The ledger transaction that recorded the identity key, when sealed.
    pub registration_tx: Option<String>,
}

/// The `kid` of a `did:key`: the DID, `#`, and the multibase key (its only verification method).
pub fn key_id(did: &str) -> String {
    format!("{did}#{}", did.strip_prefix("did:key:").unwrap_or(did))
}

/// Builds and signs the VC-JWT.
///
/// # Errors
/// Only if JSON serialisation fails.
pub fn sign_vc_jwt(
    key: &SigningKey,
    jti: &str,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    subject: &VerifiedIdentity,
) -> Result<String, serde_json::Error> {
    let issuer = did_key(&key.verifying_key());
    let header = serde_json::json!({ "alg": "EdDSA", "typ": "JWT", "kid": key_id(&issuer) });
    let mut credential_subject = serde_json::json!({
        "id": subject.subject_did,
        "username": subject.username,
        "identityKey": subject.identity_key,
        "trustScore": subject.trust_score,
    });
    if let Some(tx) = &subject.registration_tx {
        credential_subject["registrationTransaction"] = serde_json::json!(tx);
    }
    let payload = serde_json::json!({
        "iss": issuer,
        "sub": subject.subject_did,
        "nbf": issued_at.timestamp(),
        "iat": issued_at.timestamp(),
        "exp": expires_at.timestamp(),
        "jti": jti,
        "vc": {
            "@context": ["https://www.w3.org/2018/credentials/v1"],
            "type": ["VerifiableCredential", CREDENTIAL_TYPE],
            "credentialSubject": credential_subject,
        },
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload)?)
    );
    let signature = key.sign(signing_input.as_bytes());
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    ))
}

impl LedgerService {
    /// `POST /api/v1/credentials`: a verified-identity credential for the caller, as a VC-JWT
    /// (VC Data Model 1.1, `vc` claim) signed with EdDSA by this node's `did:key`, recorded by a
    /// `credential_issuance` transaction.
    pub async fn issue_credential(
        &self,
        caller: &AuthContext,
    ) -> Result<zynk_proto::trust::CredentialResponse, ApiError> {
        // Credentials are signed with the ledger's key: a node holding another key (a
        // misconfiguration) issues none.
        if self.ledger_key().await? != self.verifying_key() {
            return Err(ApiError::new(
                zynk_proto::ErrorCode::Unavailable,
                "this node does not hold the ledger key; credentials cannot be issued here",
            ));
        }
        // The credential names the transaction that recorded the current key: wait for it.
        self.await_registration(&ZynkDid::new(caller.user_id.as_uuid()))
            .await?;
        let (user, key) = self.user_and_key(caller.user_id).await?;
        let identity = self
            .context
            .store
            .identity_by_user(caller.user_id)
            .await?
            .ok_or_else(|| ApiError::not_found("identity"))?;
        let issuer = did_key(&self.verifying_key());
        let now = zynk_backends::now();
        let ttl = chrono::Duration::days(i64::from(self.context.config.trust.credential_ttl_days));
        let expires_at = now + ttl;
        let id = Uuid::now_v7();
        let jti = format!("urn:uuid:{id}");
        let claims = VerifiedIdentity {
            subject_did: identity.did.clone(),
            username: user.username.clone(),
            identity_key: Ed25519PublicKey(key).to_multibase(),
            trust_score: u8::try_from(identity.trust_score.clamp(0, 100)).unwrap_or(0),
            registration_tx: identity.transaction_hash.clone(),
        };
        let jwt = sign_vc_jwt(&self.key, &jti, now, expires_at, &claims).map_err(internal)?;
        let transaction = Transaction::CredentialIssuance(CredentialIssuance {
            credential_id_hash: Hash32::sha256(jti.as_bytes()),
            subject_did: identity.did.clone(),
            issuer_did: issuer.clone(),
        });
        let tx_hash = transaction.hash().to_string();
        let record = CredentialRecord {
            id,
            user_id: caller.user_id,
            subject_did: identity.did.clone(),
            issuer_did: issuer.clone(),
            credential_type: CREDENTIAL_TYPE.to_owned(),
            transaction_hash: tx_hash.clone(),
            issued_at: now,
            expires_at,
        };
        let pending = PendingTx {
            transaction,
            user_id: Some(caller.user_id),
            related_entity_id: Some(id),
        };
        self.context
            .store
            .record_credential(&record, &pending, now)
            .await?;
        cache_pending(&self.context, &pending.transaction).await;
        metrics::counter!("zynk_credentials_issued_total").increment(1);
        Ok(zynk_proto::trust::CredentialResponse {
            jwt,
            id: jti,
            issuer,
            expires_at,
            transaction_hash: tx_hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier as _;

    #[test]
    fn the_jwt_is_a_verifiable_eddsa_jws_with_the_vc_claim() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let subject = VerifiedIdentity {
            subject_did: "did:zynk:0190a4f2-0000-7000-8000-000000000001".into(),
            username: "alice".into(),
            identity_key: "z6MkexampleKey".into(),
            trust_score: 55,
            registration_tx: None,
        };
        let jwt = sign_vc_jwt(
            &key,
            "urn:uuid:1",
            now,
            now + chrono::Duration::days(1),
            &subject,
        )
        .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let issuer = did_key(&key.verifying_key());
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["kid"], key_id(&issuer));
        assert_eq!(payload["iss"], issuer);
        assert_eq!(payload["sub"], subject.subject_did);
        assert_eq!(payload["exp"], 1_800_086_400);
        assert_eq!(payload["vc"]["credentialSubject"]["trustScore"], 55);
        assert_eq!(payload["vc"]["type"][1], CREDENTIAL_TYPE);
        let signature: [u8; 64] = URL_SAFE_NO_PAD
            .decode(parts[2])
            .unwrap()
            .try_into()
            .unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        key.verifying_key()
            .verify(
                input.as_bytes(),
                &ed25519_dalek::Signature::from_bytes(&signature),
            )
            .unwrap();
        // One changed payload byte breaks it.
        let tampered = format!("{}.{}x", parts[0], &parts[1][..parts[1].len() - 1]);
        assert!(
            key.verifying_key()
                .verify(
                    tampered.as_bytes(),
                    &ed25519_dalek::Signature::from_bytes(&signature)
                )
                .is_err()
        );
    }
}
