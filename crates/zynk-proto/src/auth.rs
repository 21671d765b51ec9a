//! Registration, login, token refresh and logout.

use crate::ids::{DeviceId, SessionId, UserId};
use serde::{Deserialize, Serialize};

/// The device a registration or login happens on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceInfo {
    /// User-chosen device name, at most 255 characters.
    pub name: String,
    /// `android`, `ios` or `web`.
    pub platform: String,
    /// Stable device identifier chosen by the client, 1-64 characters, unique per device.
    pub fingerprint: String,
    /// The device's Ed25519 public key: unpadded standard base64 of 32 bytes.
    pub public_key: String,
}

/// `POST /api/v1/auth/register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// `^[a-zA-Z0-9_]{3,64}$`, unique case-insensitively.
    pub username: String,
    /// 8 to 1024 characters.
    pub password: String,
    /// The user's identity public key (Ed25519): unpadded standard base64 of 32 bytes.
    pub identity_key: String,
    /// The device registering.
    pub device: DeviceInfo,
    /// Signature by the identity key over [`crate::possession::register_bytes`] (username,
    /// identity key, device key), unpadded standard base64: proves the key is the caller's.
    /// Required; it is optional here only so its absence gets a clear error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_signature: Option<String>,
    /// Signature by the device key over the same statement. Required, like
    /// `identity_signature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_signature: Option<String>,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The username, matched case-insensitively.
    pub username: String,
    /// The password.
    pub password: String,
    /// The device logging in; a fingerprint not seen before registers a new device.
    pub device: DeviceInfo,
    /// Signature by the device key over [`crate::possession::login_bytes`] (username, device
    /// key), unpadded standard base64. Required; optional here only so its absence gets a
    /// clear error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_signature: Option<String>,
}

/// `POST /api/v1/auth/refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The current refresh token of the session; it is rotated by this call.
    pub refresh_token: String,
}

/// The reply to register, login and refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthResponse {
    /// The account.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub user_id: UserId,
    /// The device this session belongs to.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub device_id: DeviceId,
    /// The session (token family) id.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub session_id: SessionId,
    /// Bearer token for `Authorization: Bearer …`; valid 30 days.
    pub access_token: String,
    /// When the access token expires (RFC 3339).
    pub access_token_expires_at: chrono::DateTime<chrono::Utc>,
    /// Single-use token for `POST /api/v1/auth/refresh`; valid 90 days.
    pub refresh_token: String,
    /// When the refresh token expires (RFC 3339).
    pub refresh_token_expires_at: chrono::DateTime<chrono::Utc>,
    /// Always `Bearer`.
    pub token_type: String,
}
