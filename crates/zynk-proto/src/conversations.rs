//! Conversations (1:1 now; groups build on the same machinery), participants and their
//! delivery/read cursors.

use crate::ids::{ConversationId, UserId};
use crate::{ConversationKind, RequestState};
use serde::{Deserialize, Serialize};

/// `POST /api/v1/conversations`: opens the 1:1 conversation with `participant` (one per pair of
/// users: an existing one is returned with 200 instead of 201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateConversationRequest {
    /// `one_to_one` (groups are created through the groups API).
    #[serde(rename = "type")]
    pub kind: String,
    /// The other user.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub participant: UserId,
    /// Whether self-destructing messages are anchored in the ledger (default false).
    #[serde(default)]
    pub anchor_expiring: bool,
}

/// A participant and their cursors. `last_read_seq` is `null` for a participant whose privacy
/// settings turn read receipts off (except for the caller themself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Participant {
    /// The user.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub user_id: UserId,
    /// `admin` or `member`.
    pub role: String,
    /// Highest sequence number delivered to at least one of the user's devices.
    pub last_delivered_seq: i64,
    /// Highest sequence number the user has read.
    pub last_read_seq: Option<i64>,
    /// When the user joined.
    pub joined_at: chrono::DateTime<chrono::Utc>,
}

/// A conversation as its participants see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversation {
    /// Id.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub conversation_id: ConversationId,
    /// `one_to_one` or `group`.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: ConversationKind,
    /// Participants.
    pub participants: Vec<Participant>,
    /// Highest sequence number handed out (0 when empty).
    pub last_seq: i64,
    /// Messages from others after the caller's read cursor (not deleted, not expired).
    pub unread_count: i64,
    /// The caller's side: `accepted`, `pending` (a message request to the caller) or `declined`.
    #[serde(default = "accepted")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "accepted"))]
    pub request_state: RequestState,
    /// Whether self-destructing messages are anchored.
    pub anchor_expiring: bool,
    /// Creation time.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last activity.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// `POST /api/v1/conversations/{id}/receipts`: moves the caller's cursors forward (never back).
/// Reading implies delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReceiptRequest {
    /// Delivered up to this sequence number.
    #[serde(default)]
    pub delivered_up_to: Option<i64>,
    /// Read up to this sequence number.
    #[serde(default)]
    pub read_up_to: Option<i64>,
}

fn accepted() -> RequestState {
    RequestState::Accepted
}
