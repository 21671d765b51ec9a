//! Conversation timelines: the messages a device stored ([`Entry`]), folded
//! into what a user sees ([`TimelineItem`]): edits replace the text of their
//! target, deletions blank it, reactions attach to it, replies point at it.
//! [`MessageView`] is the display and JSON-line form.
//!
//! Folding rules (in sequence order; relations whose target is unknown are
//! ignored):
//! - `edit`: replaces the target's text if the editor sent the target and
//!   the target is not deleted; the last edit wins.
//! - `delete`: deletes the target if the deleter sent it (text and reactions
//!   are dropped); a deletion aimed at one of the deleter's reactions removes
//!   that reaction.
//! - `reaction`: adds the emoji (the event's body) of its sender to a target
//!   that is not deleted, once per sender and emoji.
//! - `reply`, `text`, `file` and unknown kinds are items of their own.
//! - Messages that could not be decrypted are items with `undecryptable` set.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use zynk_proto::ids::{ConversationId, DeviceId, MessageId, UserId};

use crate::crypto::{EncryptedRoomMessage, RoomEventContent, RoomEventKind};

/// One message of a conversation as this device stored it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the conversation.
    pub seq: i64,
    /// Message id.
    pub message_id: MessageId,
    /// Sender (as the server reports it; checked against the ciphertext).
    pub sender_id: UserId,
    /// Server time of sending.
    pub created_at: DateTime<Utc>,
    /// What this device could make of it.
    pub body: EntryBody,
    /// The ciphertext exactly as sent or received (standard base64 of the
    /// decoded `encrypted_content`), kept to check ledger proofs against this
    /// device's own copy. `None` for messages stored before devices kept it
    /// and for messages the server had already deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext: Option<String>,
    /// When the message self-destructs (the server's `expires_at`): from
    /// then on it is no longer shown, and it is deleted from the local state.
    /// `None` for messages that do not expire (and those stored before
    /// devices kept it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl Entry {
    /// Whether the message has self-destructed at `now` (`expires_at` is
    /// `now` or earlier).
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// The content of an [`Entry`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EntryBody {
    /// Decrypted and authenticated.
    Decrypted {
        /// The event content.
        content: RoomEventContent,
        /// The sending device.
        sender_device: String,
        /// The sender's clock at sending (milliseconds).
        sent_at_ms: u64,
    },
    /// Not decryptable yet: its group session key has not arrived. Retried
    /// when new keys come in.
    Pending {
        /// Why it could not be decrypted.
        reason: String,
        /// The ciphertext, to retry with.
        envelope: EncryptedRoomMessage,
        /// The sending device as the server reported it.
        #[serde(default)]
        sender_device_id: Option<DeviceId>,
    },
    /// A `shared_secret` group message whose epoch secret this device does not hold (yet):
    /// retried when secrets come in.
    PendingSecret {
        /// Why it could not be decrypted.
        reason: String,
        /// The sealed message, to retry with.
        message: crate::crypto::shared_secret::SharedSecretMessage,
        /// The sending device as the server reported it.
        #[serde(default)]
        sender_device_id: Option<DeviceId>,
    },
    /// Not decryptable, for good (altered, replayed, forged or malformed).
    Failed {
        /// Why.
        reason: String,
    },
    /// The server had already deleted it (no ciphertext left).
    Removed,
    /// A membership change of a group, written by the server (not encrypted).
    Membership {
        /// The change.
        event: zynk_proto::groups::MembershipEvent,
    },
}

/// A reaction on a timeline item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// The emoji (or any short text).
    pub emoji: String,
    /// Who reacted.
    pub sender_id: UserId,
    /// The reaction event's message id.
    pub event_id: MessageId,
}

/// A message as the user sees it, with its edits, deletion and reactions
/// folded in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineItem {
    /// Message id.
    pub id: MessageId,
    /// Sequence number.
    pub seq: i64,
    /// Sender.
    pub sender_id: UserId,
    /// Server time of sending.
    pub sent_at: DateTime<Utc>,
    /// Current text (after edits); `None` when deleted or undecryptable.
    pub text: Option<String>,
    /// Whether an edit was applied.
    pub edited: bool,
    /// Whether it was deleted.
    pub deleted: bool,
    /// Reactions, in arrival order.
    pub reactions: Vec<Reaction>,
    /// The message this one replies to.
    pub reply_to: Option<MessageId>,
    /// Why it could not be decrypted, if so.
    pub undecryptable: Option<String>,
    /// Users mentioned (from the encrypted event).
    pub mentions: Vec<UserId>,
    /// Self-destruct time, if any.
    pub expires_at: Option<DateTime<Utc>>,
    /// The membership change this item records (group conversations).
    pub membership: Option<zynk_proto::groups::MembershipEvent>,
    /// The file it announces, if it is a file message.
    pub file: Option<FileSummary>,
}

/// What a timeline shows of a file message (the rest of its descriptor, keys included, stays
/// in the stored event).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSummary {
    /// The file's name.
    pub name: String,
    /// Its size in bytes (plaintext).
    pub size: u64,
    /// Its media type.
    pub mime_type: String,
}

impl FileSummary {
    /// The summary of a file event's content, if it carries a valid descriptor.
    pub fn of(content: &RoomEventContent) -> Option<Self> {
        if content.kind != RoomEventKind::File {
            return None;
        }
        let descriptor: crate::crypto::file::FileDescriptor =
            serde_json::from_value(content.extra.clone()?).ok()?;
        Some(Self {
            name: descriptor.name,
            size: descriptor.blob.size,
            mime_type: descriptor.mime_type,
        })
    }
}

/// `size` bytes for people: `512 B`, `1.5 KiB`, `200.0 MiB`, `2.0 GiB`.
pub fn human_size(size: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if size < 1024 {
        return format!("{size} B");
    }
    let mut value = size as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

impl TimelineItem {
    fn new(entry: &Entry) -> Self {
        Self {
            id: entry.message_id,
            seq: entry.seq,
            sender_id: entry.sender_id,
            sent_at: entry.created_at,
            text: None,
            edited: false,
            deleted: false,
            reactions: Vec::new(),
            reply_to: None,
            undecryptable: None,
            mentions: Vec::new(),
            expires_at: entry.expires_at,
            membership: None,
            file: None,
        }
    }
}

fn target_of(content: &RoomEventContent) -> Option<MessageId> {
    content.relates_to.as_deref().and_then(|id| id.parse().ok())
}

/// Fold entries (sorted by `seq`) into timeline items. Expired entries are
/// not filtered here: the caller removes them first
/// ([`crate::client::ClientData::remove_expired`]).
pub fn fold(entries: &[Entry]) -> Vec<TimelineItem> {
    let mut items: Vec<TimelineItem> = Vec::new();
    let mut index: HashMap<MessageId, usize> = HashMap::new();
    // Reaction event id → index of the item it is attached to.
    let mut reactions: HashMap<MessageId, usize> = HashMap::new();
    for entry in entries {
        let content = match &entry.body {
            EntryBody::Decrypted { content, .. } => content,
            EntryBody::Pending { reason, .. }
            | EntryBody::PendingSecret { reason, .. }
            | EntryBody::Failed { reason } => {
                let mut item = TimelineItem::new(entry);
                item.undecryptable = Some(reason.clone());
                index.insert(entry.message_id, items.len());
                items.push(item);
                continue;
            }
            EntryBody::Membership { event } => {
                let mut item = TimelineItem::new(entry);
                item.membership = Some(event.clone());
                index.insert(entry.message_id, items.len());
                items.push(item);
                continue;
            }
            EntryBody::Removed => {
                let mut item = TimelineItem::new(entry);
                item.deleted = true;
                index.insert(entry.message_id, items.len());
                items.push(item);
                continue;
            }
        };
        let target = target_of(content);
        match content.kind {
            RoomEventKind::Edit => {
                if let Some(item) = target
                    .and_then(|t| index.get(&t))
                    .and_then(|&i| items.get_mut(i))
                    && item.sender_id == entry.sender_id
                    && !item.deleted
                    && item.undecryptable.is_none()
                {
                    item.text.clone_from(&content.body);
                    item.edited = true;
                }
            }
            RoomEventKind::Delete => {
                let Some(target) = target else { continue };
                if let Some(item) = index.get(&target).and_then(|&i| items.get_mut(i)) {
                    if item.sender_id == entry.sender_id {
                        item.deleted = true;
                        item.text = None;
                        item.reactions.clear();
                    }
                } else if let Some(item) = reactions.get(&target).and_then(|&i| items.get_mut(i)) {
                    item.reactions
                        .retain(|r| !(r.event_id == target && r.sender_id == entry.sender_id));
                }
            }
            RoomEventKind::Reaction => {
                let emoji = content.body.clone().unwrap_or_default();
                let Some(i) = target.and_then(|t| index.get(&t)).copied() else {
                    continue;
                };
                let Some(item) = items.get_mut(i) else {
                    continue;
                };
                let duplicate = item
                    .reactions
                    .iter()
                    .any(|r| r.emoji == emoji && r.sender_id == entry.sender_id);
                if !emoji.is_empty() && !item.deleted && !duplicate {
                    item.reactions.push(Reaction {
                        emoji,
                        sender_id: entry.sender_id,
                        event_id: entry.message_id,
                    });
                    reactions.insert(entry.message_id, i);
                }
            }
            RoomEventKind::Text
            | RoomEventKind::Reply
            | RoomEventKind::File
            | RoomEventKind::Other(_) => {
                let mut item = TimelineItem::new(entry);
                item.text.clone_from(&content.body);
                item.mentions = content
                    .mentions
                    .iter()
                    .filter_map(|m| m.parse().ok())
                    .collect();
                item.file = FileSummary::of(content);
                if content.kind == RoomEventKind::Reply {
                    item.reply_to = target;
                }
                index.insert(entry.message_id, items.len());
                items.push(item);
            }
        }
    }
    items
}

/// The message ids whose timeline items `new_entries` create or change:
/// their own ids and the targets of the relations among them.
pub fn affected_ids<'a>(new_entries: impl IntoIterator<Item = &'a Entry>) -> BTreeSet<MessageId> {
    let mut ids = BTreeSet::new();
    for entry in new_entries {
        ids.insert(entry.message_id);
        if let EntryBody::Decrypted { content, .. } = &entry.body
            && let Some(target) = target_of(content)
            && content.kind != RoomEventKind::Reply
        {
            ids.insert(target);
        }
    }
    ids
}

/// A timeline item for display and for `--json` output (one JSON object per
/// line), with user ids resolved to usernames.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    /// Message id.
    pub id: MessageId,
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Sequence number in the conversation.
    pub seq: i64,
    /// Sender's username.
    pub sender: String,
    /// Sender's user id.
    pub sender_id: UserId,
    /// Current text; `null` when deleted or undecryptable.
    pub text: Option<String>,
    /// Server time of sending, RFC 3339.
    #[serde(with = "rfc3339")]
    pub sent_at: DateTime<Utc>,
    /// Whether the text was edited.
    pub edited: bool,
    /// Whether the message was deleted.
    pub deleted: bool,
    /// Emoji → usernames who reacted with it.
    pub reactions: BTreeMap<String, Vec<String>>,
    /// Id of the message this one replies to.
    pub reply_to: Option<MessageId>,
    /// Why the message could not be decrypted, if so.
    pub undecryptable: Option<String>,
    /// Usernames of the users it mentions.
    #[serde(default)]
    pub mentions: Vec<String>,
    /// Self-destruct time, RFC 3339; `null` when it does not self-destruct.
    #[serde(default, with = "rfc3339_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    /// For a group's membership change: what happened (absent for messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<MembershipView>,
    /// The file a file message announces: name, size, media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileSummary>,
}

/// A membership change with usernames (`event` of a [`MessageView`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipView {
    /// `added`, `removed`, `left`, `promoted` or `demoted`.
    pub action: String,
    /// The member it happened to.
    pub user: String,
    /// Who did it.
    pub by: String,
    /// The member's role after it (`admin` or `member`).
    pub role: String,
}

impl MessageView {
    /// Build the view of `item` in `conversation_id`, naming users with
    /// `username` (user id → name).
    pub fn new(
        conversation_id: ConversationId,
        item: &TimelineItem,
        username: impl Fn(UserId) -> String,
    ) -> Self {
        let mut reactions: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for reaction in &item.reactions {
            reactions
                .entry(reaction.emoji.clone())
                .or_default()
                .push(username(reaction.sender_id));
        }
        Self {
            id: item.id,
            conversation_id,
            seq: item.seq,
            sender: username(item.sender_id),
            sender_id: item.sender_id,
            text: item.text.clone(),
            sent_at: item.sent_at,
            edited: item.edited,
            deleted: item.deleted,
            reactions,
            reply_to: item.reply_to,
            undecryptable: item.undecryptable.clone(),
            mentions: item.mentions.iter().map(|u| username(*u)).collect(),
            expires_at: item.expires_at,
            event: item.membership.as_ref().map(|e| MembershipView {
                action: e.action.as_str().to_owned(),
                user: username(e.user_id),
                by: username(e.by),
                role: e.role.as_str().to_owned(),
            }),
            file: if item.deleted {
                None
            } else {
                item.file.clone()
            },
        }
    }

    /// One line of JSON (no newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// One human-readable line:
    /// `TIME ID SENDER: TEXT (edited) [↩ REPLY_TO] [EMOJI names…]`.
    pub fn to_display_line(&self) -> String {
        let time = self.sent_at.format("%Y-%m-%d %H:%M:%S");
        let text = if let Some(event) = &self.event {
            match event.action.as_str() {
                "left" => format!("[{} left]", event.user),
                action => format!("[{action} {} ({})]", event.user, event.role),
            }
        } else if self.deleted {
            "[deleted]".to_owned()
        } else if let Some(reason) = &self.undecryptable {
            format!("[undecryptable: {reason}]")
        } else if let Some(file) = &self.file {
            format!("[file {} {}]", file.name, human_size(file.size))
        } else {
            self.text.clone().unwrap_or_default()
        };
        let mut line = format!("{time} {} {}: {text}", self.id, self.sender);
        if self.edited && !self.deleted {
            line.push_str(" (edited)");
        }
        if let Some(reply_to) = self.reply_to {
            line.push_str(&format!(" [reply to {reply_to}]"));
        }
        for (emoji, users) in &self.reactions {
            line.push_str(&format!(" [{emoji} {}]", users.join(", ")));
        }
        if let Some(expires_at) = self.expires_at {
            line.push_str(&format!(
                " [expires {}]",
                expires_at.format("%Y-%m-%d %H:%M:%S")
            ));
        }
        line
    }
}

mod rfc3339 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

mod rfc3339_opt {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => super::rfc3339::serialize(time, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                DateTime::parse_from_rfc3339(&text)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

#[cfg(test)]
#[path = "timeline_tests.rs"]
mod tests;
