//! The to-device channel: small encrypted payloads (Olm-encrypted room keys and other
//! device-to-device events) kept in a durable per-device inbox until the device acknowledges
//! them.

use crate::ids::{DeviceId, UserId};
use serde::{Deserialize, Serialize};

use crate::keys::DeviceRef;

/// Most recipients of one to-device send.
pub const MAX_TO_DEVICE_RECIPIENTS: usize = 1024;
/// Largest serialized `content` of one to-device message, in bytes.
pub const MAX_TO_DEVICE_CONTENT_BYTES: usize = 16 * 1024;

/// One payload for one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ToDeviceOutgoing {
    /// Recipient device.
    #[serde(flatten)]
    pub recipient: DeviceRef,
    /// The (encrypted) payload, opaque to the server; a JSON object.
    pub content: serde_json::Value,
}

/// `POST /api/v1/to-device`: sends payloads to devices. `txn_id` makes a retry idempotent:
/// a repeated `(txn_id, recipient)` from the same device is stored once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ToDeviceSendRequest {
    /// Client-chosen transaction id, 1-64 characters.
    pub txn_id: String,
    /// Event type, e.g. `m.olm`, 1-64 characters.
    pub event_type: String,
    /// Payloads, at most 1024.
    pub messages: Vec<ToDeviceOutgoing>,
}

/// Reply to a to-device send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToDeviceSendResponse {
    /// Recipients whose inbox now holds the payload.
    pub delivered: u64,
    /// Recipients that do not exist (the payload was dropped for them).
    pub unknown_devices: Vec<DeviceRef>,
    /// Recipients whose inbox is full (`limits.max_inbox_messages` payloads wait there): the
    /// payload was not stored for them; retry after they caught up.
    #[serde(default)]
    pub full_devices: Vec<DeviceRef>,
}

/// A payload waiting in the calling device's inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToDeviceMessage {
    /// Position in the inbox (increasing); acknowledge up to it.
    pub id: i64,
    /// Sending user (absent if that account was deleted).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<uuid::Uuid>))]
    pub sender_user_id: Option<UserId>,
    /// Sending device (absent if that device was revoked).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<uuid::Uuid>))]
    pub sender_device_id: Option<DeviceId>,
    /// Event type.
    pub event_type: String,
    /// The payload.
    pub content: serde_json::Value,
    /// When it was sent.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// `GET /api/v1/to-device?since=ID&limit=N`: the inbox after `since`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToDeviceInbox {
    /// Payloads in inbox order.
    pub messages: Vec<ToDeviceMessage>,
    /// Whether more follow.
    pub has_more: bool,
}

/// `POST /api/v1/to-device/ack`: deletes the calling device's payloads up to `up_to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ToDeviceAck {
    /// Highest inbox id processed.
    pub up_to: i64,
}
