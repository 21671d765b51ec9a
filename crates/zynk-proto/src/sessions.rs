//! The caller's sessions (token families).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One session of the caller: `GET /api/v1/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionView {
    /// Session id.
    pub session_id: Uuid,
    /// The device the session belongs to.
    pub device_id: Uuid,
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
