//! The caller's sessions (token families).

use crate::ids::{DeviceId, SessionId};
use serde::{Deserialize, Serialize};

/// One session of the caller: `GET /api/v1/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionView {
    /// Session id.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub session_id: SessionId,
    /// The device the session belongs to.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub device_id: DeviceId,
    /// When the session was created (login).
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last use, updated at most once a minute.
    pub last_used_at: chrono::DateTime<chrono::Utc>,
    /// When the current access token expires.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// When the current refresh token expires.
    pub refresh_expires_at: chrono::DateTime<chrono::Utc>,
    /// True for the calling session.
    pub current: bool,
}
