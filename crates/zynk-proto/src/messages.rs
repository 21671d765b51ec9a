//! Messages: ciphertext plus the routing metadata the server needs.
//!
//! Replies, mentions, reactions, edits and deletions all travel as encrypted messages; the
//! server sees only `metadata`: the message replied to, mentioned users (for notifications) and
//! a `relation` for edits (sets the target's `edited_at`), reactions, and deletions (soft-deletes
//! the target and wipes its stored ciphertext).

use crate::MessageType;
use crate::ids::{ConversationId, DeviceId, MessageId, UserId};
use serde::{Deserialize, Serialize};

/// Largest `encrypted_content` of one message, in bytes (decoded). Files travel separately.
pub const MAX_CIPHERTEXT_BYTES: usize = 64 * 1024;
/// Most mentioned users in one message.
pub const MAX_MENTIONS: usize = 256;
/// Most messages in one history page.
pub const MAX_PAGE: u32 = 500;

/// What kind of relation an event has to an earlier message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RelationType {
    /// Replaces the target's content (sender must be the target's sender).
    Edit,
    /// A reaction to the target (the emoji is inside the ciphertext).
    Reaction,
    /// Deletes the target (sender must be the target's sender).
    Delete,
}

/// A relation to an earlier message of the same conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Relation {
    /// Kind.
    #[serde(rename = "type")]
    pub kind: RelationType,
    /// The target message.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub message_id: MessageId,
}

/// Plaintext routing metadata (`messages.metadata`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MessageMetadata {
    /// The message this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<uuid::Uuid>))]
    pub reply_to_id: Option<MessageId>,
    /// Mentioned users (participants of the conversation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<uuid::Uuid>))]
    pub mentions: Vec<UserId>,
    /// Edit, reaction or deletion of an earlier message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<Relation>,
    /// The membership change a `membership` message records (set by the server only; a client
    /// send that carries it is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<Box<crate::groups::MembershipEvent>>,
}

/// `POST /api/v1/conversations/{id}/messages` (also the `send` WebSocket frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SendMessageRequest {
    /// Client-chosen id: a retried send with the same id and content is stored once.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub message_id: MessageId,
    /// The ciphertext, standard base64 (padded or not), at most 64 KiB decoded.
    pub encrypted_content: String,
    /// Lowercase hex SHA-256 of the decoded ciphertext.
    pub content_hash: String,
    /// `text`, `image`, `file`, `audio`, `video` or `location`.
    pub message_type: String,
    /// Routing metadata.
    #[serde(default)]
    pub metadata: MessageMetadata,
    /// Self-destruct time (in the future); the message is removed everywhere then.
    #[serde(default)]
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    /// Id.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub message_id: MessageId,
    /// Conversation.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub conversation_id: ConversationId,
    /// Position in the conversation (monotonic).
    pub seq: i64,
    /// Sender.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub sender_id: UserId,
    /// Sending device (absent once that device is revoked).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<uuid::Uuid>))]
    pub sender_device_id: Option<DeviceId>,
    /// Ciphertext, standard base64; empty once deleted.
    pub encrypted_content: String,
    /// SHA-256 of the ciphertext as sent.
    pub content_hash: String,
    /// Type.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub message_type: MessageType,
    /// Routing metadata.
    pub metadata: MessageMetadata,
    /// Send time (server clock).
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last edit.
    pub edited_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Deletion time.
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Self-destruct time.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// `GET /api/v1/conversations/{id}/messages?after=SEQ|before=SEQ&limit=N`: ascending by `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessagePage {
    /// Messages in ascending sequence order.
    pub messages: Vec<Message>,
    /// Whether more exist in the direction asked.
    pub has_more: bool,
}

/// Reply to a send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendMessageResponse {
    /// The stored message (the original one on an idempotent retry).
    pub message: Message,
    /// False when this was a retry of an already stored message.
    pub created: bool,
}
