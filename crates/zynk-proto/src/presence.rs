//! Presence: `GET /api/v1/users/{user_id}/presence` and the `presence` and `typing` frames.

use serde::{Deserialize, Serialize};

/// Whether a user is reachable right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    /// Some device holds a WebSocket and was active within the idle time.
    Online,
    /// Connected, but idle longer than the idle time, or the client said so.
    Away,
    /// No device connected.
    Offline,
}

impl PresenceStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }

    /// Parses the wire name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "online" => Some(Self::Online),
            "away" => Some(Self::Away),
            "offline" => Some(Self::Offline),
            _ => None,
        }
    }
}

/// `GET /api/v1/users/{user_id}/presence`: what the caller may see of a user's presence.
/// `status` is `null` when the user hides their online status (`show_online_status = false`),
/// `last_seen_at` when they hide their last-seen time (`show_last_seen = false`) or were never
/// seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserPresence {
    /// `online`, `away`, `offline`, or `null` when hidden.
    pub status: Option<PresenceStatus>,
    /// Last activity, or `null` when hidden or unknown.
    pub last_seen_at: Option<chrono::DateTime<chrono::Utc>>,
}
