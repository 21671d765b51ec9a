//! The caller's devices.

use crate::ids::DeviceId;
use serde::{Deserialize, Serialize};

/// One of the caller's devices: `GET /api/v1/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceView {
    /// Device id.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub device_id: DeviceId,
    /// Device name.
    pub name: Option<String>,
    /// `android`, `ios` or `web`.
    pub platform: String,
    /// Client-chosen device fingerprint.
    pub fingerprint: String,
    /// The device's Ed25519 public key.
    pub public_key: String,
    /// Whether a push token is set (the token itself is never returned).
    pub has_push_token: bool,
    /// Last activity.
    pub last_active_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the device was registered.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// True for the device of the calling session.
    pub current: bool,
}

/// `PUT /api/v1/devices/{device_id}/push-token`; `null` removes the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushTokenRequest {
    /// The FCM/APNs token or webhook identifier, at most 4096 characters.
    pub push_token: Option<String>,
}
