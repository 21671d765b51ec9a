//! Conversations, participants, cursors and messages.

use super::*;

/// A move of one participant's cursors (see [`crate::store::ConversationStore::advance_cursors`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorMove {
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Participant.
    pub user_id: UserId,
    /// New delivered cursor, if it moves.
    pub delivered_up_to: Option<i64>,
    /// New read cursor, if it moves.
    pub read_up_to: Option<i64>,
}

/// A participant row with its owner's read-receipt setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantRecord {
    /// User.
    pub user_id: UserId,
    /// Role.
    pub role: String,
    /// Delivered cursor.
    pub last_delivered_seq: i64,
    /// Read cursor.
    pub last_read_seq: i64,
    /// Whether the user sends read receipts.
    pub read_receipts: bool,
    /// Join time.
    pub joined_at: DateTime<Utc>,
}

/// A conversation as one participant sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRecord {
    /// Id.
    pub id: ConversationId,
    /// One-to-one or group.
    pub kind: ConversationKind,
    /// Highest sequence number.
    pub last_seq: i64,
    /// Whether self-destructing messages are anchored.
    pub anchor_expiring: bool,
    /// Messages from others after the viewer's read cursor.
    pub unread_count: i64,
    /// The viewer's side of a message request (`accepted` in groups).
    pub request_state: RequestState,
    /// Participants.
    pub participants: Vec<ParticipantRecord>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last activity.
    pub updated_at: DateTime<Utc>,
}

/// A message to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Client-chosen id.
    pub id: MessageId,
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Sender.
    pub sender_id: UserId,
    /// Sending device.
    pub sender_device_id: DeviceId,
    /// Ciphertext.
    pub encrypted_content: Vec<u8>,
    /// Hex SHA-256 of the ciphertext.
    pub content_hash: String,
    /// Type.
    pub message_type: MessageType,
    /// Routing metadata (JSON object).
    pub metadata: serde_json::Value,
    /// The relation to an earlier message, as the message service decided it.
    pub relation: Option<RelationWrite>,
    /// Self-destruct time.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What a new message does to an earlier message of its conversation (an edit, a reaction, a
/// deletion): the preconditions the store checks and the effect it applies, both inside the
/// transaction that stores the new message. Which relation requires what is the message
/// service's rule; the store only carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelationWrite {
    /// The earlier message. It must be in the new message's conversation, not deleted and not
    /// expired.
    pub target: MessageId,
    /// The target must also have been sent by the new message's sender.
    pub require_same_sender: bool,
    /// What storing the new message does to the target.
    pub effect: RelationEffect,
}

/// What storing a related message does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationEffect {
    /// Nothing: the target is left as it is.
    None,
    /// Sets the target's `edited_at` to the time of storing.
    MarkEdited,
    /// Soft-deletes the target: sets its `deleted_at` and wipes its stored ciphertext.
    Delete,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// Id.
    pub id: MessageId,
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Sequence number.
    pub seq: i64,
    /// Sender.
    pub sender_id: UserId,
    /// Sending device.
    pub sender_device_id: Option<DeviceId>,
    /// Ciphertext (empty once deleted).
    pub encrypted_content: Vec<u8>,
    /// Hash of the ciphertext as sent.
    pub content_hash: String,
    /// Type.
    pub message_type: MessageType,
    /// Metadata JSON.
    pub metadata: Option<serde_json::Value>,
    /// Send time.
    pub created_at: DateTime<Utc>,
    /// Last edit.
    pub edited_at: Option<DateTime<Utc>>,
    /// Deletion.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Self-destruct time.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The outcome of storing one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored now.
    Created(MessageRecord),
    /// Already stored with the same content (an idempotent retry).
    Existing(MessageRecord),
    /// The id is taken by different content, another conversation or another sender.
    IdConflict,
    /// The relation's target is missing, deleted, expired, in another conversation, or not the
    /// sender's where [`RelationWrite::require_same_sender`] asks for it.
    InvalidRelation,
}

/// Which page of history to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryRange {
    /// Messages with `seq > after`, ascending.
    After(i64),
    /// Messages with `seq < before`, the newest first (returned ascending).
    Before(i64),
}

/// A message removed because it expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiredMessage {
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Message.
    pub message_id: MessageId,
}

/// The result of one cursor move (`ConversationStore::move_cursors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorOutcome {
    /// The participant after the move.
    pub participant: ParticipantRecord,
    /// Whether the delivered cursor moved.
    pub delivered_moved: bool,
    /// Whether the read cursor moved.
    pub read_moved: bool,
}

impl CursorOutcome {
    /// Whether either cursor moved (a receipt that moves nothing announces nothing).
    pub fn moved(&self) -> bool {
        self.delivered_moved || self.read_moved
    }
}
