//! Plaintext event shapes that travel inside the encryption: conversation
//! events (inside Megolm) and to-device events (inside Olm).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroize;

/// Kind of a conversation event (the `type` field of the plaintext).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum RoomEventKind {
    /// A text message.
    Text,
    /// A reaction to `relates_to`.
    Reaction,
    /// An edit of `relates_to`.
    Edit,
    /// A reply to `relates_to`.
    Reply,
    /// Deletion of `relates_to`.
    Delete,
    /// A file; its encryption key and location travel in `extra`.
    File,
    /// Any other type, kept verbatim.
    Other(String),
}

impl From<String> for RoomEventKind {
    fn from(value: String) -> Self {
        match value.as_str() {
            "text" => Self::Text,
            "reaction" => Self::Reaction,
            "edit" => Self::Edit,
            "reply" => Self::Reply,
            "delete" => Self::Delete,
            "file" => Self::File,
            _ => Self::Other(value),
        }
    }
}

impl From<RoomEventKind> for String {
    fn from(value: RoomEventKind) -> Self {
        match value {
            RoomEventKind::Text => "text".into(),
            RoomEventKind::Reaction => "reaction".into(),
            RoomEventKind::Edit => "edit".into(),
            RoomEventKind::Reply => "reply".into(),
            RoomEventKind::Delete => "delete".into(),
            RoomEventKind::File => "file".into(),
            RoomEventKind::Other(other) => other,
        }
    }
}

/// What the sender supplies for a conversation event; the crypto layer adds
/// the ids, sender and time that bind it to its place (see [`RoomEvent`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomEventContent {
    /// The event kind.
    #[serde(rename = "type")]
    pub kind: RoomEventKind,
    /// Text body, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Message id this event refers to (reaction, edit, reply, delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relates_to: Option<String>,
    /// Mentioned user ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// Type-specific fields (e.g. a file's key and location).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

impl RoomEventContent {
    /// A plain text message.
    pub fn text(body: impl Into<String>) -> Self {
        Self {
            kind: RoomEventKind::Text,
            body: Some(body.into()),
            relates_to: None,
            mentions: Vec::new(),
            extra: None,
        }
    }
}

impl fmt::Debug for RoomEventContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomEventContent")
            .field("kind", &self.kind)
            .field("body", &self.body.as_ref().map(|_| "<redacted>"))
            .field("relates_to", &self.relates_to)
            .field("mentions", &self.mentions.len())
            .finish_non_exhaustive()
    }
}

/// The full plaintext of a conversation message, as encrypted with Megolm.
///
/// `conversation_id`, `message_id`, `sender` and `sender_device` are inside
/// the ciphertext so the server cannot move it to another conversation, give
/// it another id, or attribute it to someone else: decryption checks them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomEvent {
    /// The content chosen by the sender.
    #[serde(flatten)]
    pub content: RoomEventContent,
    /// The client-chosen message id.
    pub message_id: String,
    /// The conversation the message belongs to.
    pub conversation_id: String,
    /// Sender user id.
    pub sender: String,
    /// Sender device id.
    pub sender_device: String,
    /// Sender's clock at sending, milliseconds since the Unix epoch.
    pub sent_at: u64,
}

impl fmt::Debug for RoomEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomEvent")
            .field("content", &self.content)
            .field("message_id", &self.message_id)
            .field("conversation_id", &self.conversation_id)
            .field("sender", &self.sender)
            .field("sender_device", &self.sender_device)
            .field("sent_at", &self.sent_at)
            .finish()
    }
}

/// Type of the to-device event that shares a Megolm session key.
pub(crate) const ROOM_KEY_EVENT: &str = "room_key";
/// Type of an empty to-device event (establishes or refreshes a session).
pub(crate) const DUMMY_EVENT: &str = "dummy";
/// Type of the to-device event that forwards Megolm sessions to another
/// device of the same user.
pub(crate) const FORWARDED_ROOM_KEY_EVENT: &str = "forwarded_room_key";
/// Type of the to-device event that asks the user's other devices for
/// Megolm sessions this device lacks.
pub(crate) const ROOM_KEY_REQUEST_EVENT: &str = "room_key_request";

/// Whether `event_type` is one the crypto core produces itself (and so may
/// not be sent as an application event).
pub(crate) fn is_reserved_event_type(event_type: &str) -> bool {
    [
        ROOM_KEY_EVENT,
        DUMMY_EVENT,
        FORWARDED_ROOM_KEY_EVENT,
        ROOM_KEY_REQUEST_EVENT,
    ]
    .contains(&event_type)
}

/// A to-device event to encrypt for another device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutgoingToDevice {
    /// An empty event, e.g. to establish a fresh Olm session.
    Dummy,
    /// An application event (e.g. call signalling). The type must not be
    /// `room_key`, `dummy`, `forwarded_room_key` or `room_key_request`;
    /// Megolm keys are shared by `share_room_key`, forwarded by
    /// `forward_room_keys` and asked for by `request_room_keys`.
    Custom {
        /// The event type.
        event_type: String,
        /// The event content.
        content: Value,
    },
}

/// The plaintext JSON inside every Olm message. The sender and recipient
/// fields are checked on decryption against the keys that authenticated the
/// message, so a re-attributed or mis-routed message is rejected.
#[derive(Serialize, Deserialize)]
pub(crate) struct OlmPayload {
    #[serde(rename = "type")]
    pub(crate) event_type: String,
    pub(crate) content: Value,
    pub(crate) sender: String,
    pub(crate) sender_device: String,
    pub(crate) sender_ed25519: String,
    pub(crate) recipient: String,
    pub(crate) recipient_device: String,
    pub(crate) recipient_ed25519: String,
}

impl Drop for OlmPayload {
    fn drop(&mut self) {
        scrub(&mut self.content);
    }
}

/// Overwrite every string inside a JSON value (best effort for values that
/// carried key material).
pub(crate) fn scrub(value: &mut Value) {
    match value {
        Value::String(text) => text.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::Object(map) => map.values_mut().for_each(scrub),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_including_unknown_ones() {
        for kind in [
            "text", "reaction", "edit", "reply", "delete", "file", "poll",
        ] {
            let parsed: RoomEventKind = serde_json::from_value(Value::from(kind)).unwrap();
            assert_eq!(serde_json::to_value(&parsed).unwrap(), Value::from(kind));
        }
        assert_eq!(
            RoomEventKind::from("poll".to_owned()),
            RoomEventKind::Other("poll".into())
        );
    }

    #[test]
    fn room_event_json_shape() {
        let event = RoomEvent {
            content: RoomEventContent {
                kind: RoomEventKind::Reply,
                body: Some("zq-secret-body".into()),
                relates_to: Some("m0".into()),
                mentions: vec!["bob".into()],
                extra: None,
            },
            message_id: "m1".into(),
            conversation_id: "c1".into(),
            sender: "alice".into(),
            sender_device: "D".into(),
            sent_at: 5,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "reply");
        assert_eq!(json["relates_to"], "m0");
        assert_eq!(json["conversation_id"], "c1");
        let back: RoomEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        assert!(!format!("{event:?}").contains("zq-secret-body"));
    }

    #[test]
    fn scrub_clears_nested_strings() {
        let mut value = serde_json::json!({"a": ["secret", {"b": "key"}], "n": 1});
        scrub(&mut value);
        assert_eq!(value, serde_json::json!({"a": ["", {"b": ""}], "n": 1}));
    }
}
