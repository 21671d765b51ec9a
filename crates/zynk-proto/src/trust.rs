//! Trust scores (data model 11.5), key rotation and verifiable credentials.

use crate::ids::UserId;
use serde::{Deserialize, Serialize};

/// One change of a trust score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrustChangeEntry {
    /// Score before.
    pub old_score: u8,
    /// Score after.
    pub new_score: u8,
    /// `verified_by_community`, `spam_report`, `account_age_milestone`,
    /// `message_volume_threshold` or `manual_adjustment`.
    pub reason: String,
    /// The `trust_score_update` ledger transaction.
    pub transaction_hash: Option<String>,
    /// When.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// `GET /api/v1/users/me/trust`: the caller's score and its history, newest first. Who
/// reported or vouched is not disclosed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrustReport {
    /// The caller's DID.
    pub did: String,
    /// Current score, 0–100.
    pub trust_score: u8,
    /// Rate-limit share in force for this score, percent.
    pub rate_limit_percent: u8,
    /// Changes, newest first.
    pub history: Vec<TrustChangeEntry>,
}

/// `POST /api/v1/users/{id}/report`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// Only `spam` for now.
    pub reason: String,
}

/// The answer to a report or vouch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrustActionResult {
    /// The user reported or vouched for.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub user_id: UserId,
    /// The score change it caused (0 when the caller's own score gives it no weight).
    pub change: i32,
}

/// `PUT /api/v1/users/me/identity-key`: a new identity key, signed by the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateIdentityKeyRequest {
    /// The new Ed25519 identity key, unpadded standard base64.
    pub identity_key: String,
    /// Ed25519 signature by the *current* identity key over
    /// [`rotation_signing_bytes`], unpadded standard base64.
    pub signature: String,
    /// Ed25519 signature by the *new* identity key over
    /// [`crate::possession::rotate_bytes`], unpadded standard base64: proves the new key is
    /// the caller's. Required; optional here only so its absence gets a clear error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_key_signature: Option<String>,
}

/// Domain tag of the rotation statement.
pub const ROTATION_DOMAIN: &[u8] = b"zynk/identity-rotation/v1";

/// What the current identity key signs to rotate to `new_key`:
/// `"zynk/identity-rotation/v1" 0x00 ‖ did ‖ 0x00 ‖ new_key(32)`.
pub fn rotation_signing_bytes(did: &str, new_key: &[u8; 32]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(ROTATION_DOMAIN.len() + did.len() + 34);
    bytes.extend_from_slice(ROTATION_DOMAIN);
    bytes.push(0);
    bytes.extend_from_slice(did.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(new_key);
    bytes
}

/// `POST /api/v1/credentials`: a W3C Verifiable Credential as a JWT (VC Data Model 1.1, `vc`
/// claim, EdDSA by the server's `did:key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CredentialResponse {
    /// The compact JWS.
    pub jwt: String,
    /// Credential id (`jti`).
    pub id: String,
    /// The issuer's DID.
    pub issuer: String,
    /// Expiry.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The `credential_issuance` ledger transaction.
    pub transaction_hash: String,
}
