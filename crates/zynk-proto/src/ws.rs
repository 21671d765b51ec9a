//! WebSocket frames at `/api/v1/ws` (text frames, one JSON object each, tagged by `type`).
//!
//! Connect with `Authorization: Bearer <access token>` or `?access_token=…`. The server first
//! sends `hello`, then pushes events as they happen. To resume without gaps after a reconnect a
//! client opens the socket first, then fetches what it missed over HTTP (conversation list,
//! history `after` its per-conversation cursor, the to-device inbox), and drops duplicates by
//! `(conversation_id, seq)` and to-device `id`.

use crate::ids::{ConversationId, DeviceId, MessageId, UserId};
use serde::{Deserialize, Serialize};

use crate::messages::{Message, SendMessageRequest};
use crate::presence::PresenceStatus;
use crate::to_device::ToDeviceMessage;

/// Why the server removed a message (`message_expired`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryReason {
    /// Its self-destruct time (`expires_at`) came.
    #[default]
    SelfDestruct,
    /// No recipient's device received it within `retention.undelivered_message_days`.
    Undelivered,
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame after connecting.
    Hello {
        /// The caller.
        user_id: UserId,
        /// The calling device.
        device_id: DeviceId,
        /// Unclaimed one-time keys held for this device.
        one_time_key_count: u64,
        /// Seconds between heartbeats the server expects (a `ping` or any frame).
        heartbeat_secs: u64,
    },
    /// A new message (including edits, reactions and deletions) in one of the caller's
    /// conversations.
    Message {
        /// The message.
        message: Message,
    },
    /// A new payload in this device's to-device inbox.
    ToDevice {
        /// The payload.
        message: ToDeviceMessage,
    },
    /// A participant's cursors moved.
    Receipt {
        /// Conversation.
        conversation_id: ConversationId,
        /// Participant.
        user_id: UserId,
        /// Delivered cursor.
        last_delivered_seq: i64,
        /// Read cursor (absent when that user's read receipts are off).
        last_read_seq: Option<i64>,
    },
    /// A message was removed by the server: a self-destructing message reached its time (to
    /// every participant), or no recipient received it within the retention time (to the
    /// sender's devices).
    MessageExpired {
        /// Conversation.
        conversation_id: ConversationId,
        /// The removed message.
        message_id: MessageId,
        /// Why it was removed (`self_destruct` when absent, as older servers sent it).
        #[serde(default)]
        reason: ExpiryReason,
    },
    /// This device should upload more one-time keys.
    KeysLow {
        /// How many are left.
        one_time_key_count: u64,
    },
    /// The result of a `send` frame.
    Sent {
        /// The client's request id.
        request_id: String,
        /// The stored message.
        message: Message,
        /// False for an idempotent retry.
        created: bool,
    },
    /// A client frame failed.
    Error {
        /// The request id of the failing frame, if it had one.
        request_id: Option<String>,
        /// Error code (as in HTTP error bodies).
        code: String,
        /// Explanation.
        message: String,
    },
    /// The caller's own trust score changed (data model 11.9).
    TrustScoreUpdated {
        /// The caller's DID.
        did: String,
        /// Score before.
        old_score: u8,
        /// Score after.
        new_score: u8,
        /// Change reason (data model 11.5).
        reason: String,
        /// The `trust_score_update` ledger transaction.
        transaction_hash: String,
    },
    /// A call the device's user takes part in changed state (created, ringing, answered,
    /// joined, left, declined, ended, missed). Carries the whole call record.
    Call {
        /// What happened: `created`, `ringing`, `answered`, `joined`, `left`, `declined`,
        /// `ended` or `missed`.
        event: String,
        /// The call as it is now.
        call: crate::calls::Call,
    },
    /// Reply to `ping`.
    Pong,
    /// A user who shares a conversation with the caller changed presence (only sent while that
    /// user shows their online status; `last_seen_at` is `null` when they hide it).
    Presence {
        /// The user.
        user_id: UserId,
        /// `online`, `away` or `offline`.
        status: PresenceStatus,
        /// Last activity, if shown.
        last_seen_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// A participant started or stopped typing in a conversation (`typing: false` also when
    /// 5 s passed without renewal).
    Typing {
        /// Conversation.
        conversation_id: ConversationId,
        /// The participant.
        user_id: UserId,
        /// Whether they are typing.
        typing: bool,
    },
}

/// Frames the client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Heartbeat.
    Ping,
    /// Sends a message (answered by `sent` or `error` with the same `request_id`).
    Send {
        /// Client-chosen id to match the answer, 1-64 characters.
        request_id: String,
        /// Conversation.
        conversation_id: ConversationId,
        /// The message.
        message: SendMessageRequest,
    },
    /// Messages up to `seq` reached this device (moves the user's delivered cursor).
    Ack {
        /// Conversation.
        conversation_id: ConversationId,
        /// Highest sequence number received.
        seq: i64,
    },
    /// To-device payloads up to `up_to` were processed (they are deleted).
    AckToDevice {
        /// Highest inbox id processed.
        up_to: i64,
    },
    /// The caller is (or stopped) typing in a conversation; renew at least every 5 s.
    Typing {
        /// Conversation.
        conversation_id: ConversationId,
        /// Whether the caller is typing.
        typing: bool,
    },
    /// The client sets this device's presence: `away` (e.g. the app went to the background) or
    /// `online` (active again). `offline` is not accepted: closing the socket is how to go
    /// offline.
    Presence {
        /// `online` or `away`.
        status: PresenceStatus,
    },
}
