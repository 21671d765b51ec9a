//! Sending for [`Messenger`]: opening 1:1 conversations, sharing the
//! conversation's Megolm key with every participant device over Olm (claiming
//! one-time keys where no Olm session exists), and sending encrypted events:
//! text, replies, edits, reactions and deletions.

use zynk_proto::ConversationKind;
use zynk_proto::conversations::Conversation;
use zynk_proto::ids::{ConversationId, MessageId, UserId};
use zynk_proto::keys::DeviceRef as WireDeviceRef;
use zynk_proto::messages::{MessageMetadata, Relation, RelationType, SendMessageRequest};
use zynk_proto::to_device::{MAX_TO_DEVICE_RECIPIENTS, ToDeviceOutgoing, ToDeviceSendRequest};

use super::Messenger;
use super::keys::one_time_key_from;
use crate::client::error::ClientError;
use crate::client::state::ConversationState;
use crate::client::timeline::{Entry, EntryBody};
use crate::client::util::{base64_encode, new_message_id, new_random_id, now_ms, sha256_hex};
use crate::crypto::{DeviceRef, RoomEventContent, RoomEventKind, ToDeviceMessage};

/// The to-device event type of Olm-encrypted payloads.
pub const OLM_EVENT_TYPE: &str = "zynk.olm.v1";

/// What a send produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendReceipt {
    /// The message id (client-chosen).
    pub message_id: MessageId,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The sequence number the server gave it.
    pub seq: i64,
    /// Devices that could not be given the key, and similar notes.
    pub warnings: Vec<String>,
}

/// Longest self-destruct delay the server accepts (a year).
pub const MAX_EXPIRES_IN: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// How a message is sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Self-destruct: the message is removed everywhere this long after it
    /// was sent (1 s to a year).
    pub expires_in: Option<std::time::Duration>,
    /// The wire `message_type`: `text` when `None`; `image`, `video`, `audio` or `file` for a
    /// file announcement.
    pub message_type: Option<String>,
}

impl SendOptions {
    fn check(&self) -> Result<(), ClientError> {
        match self.expires_in {
            Some(after) if after.as_secs() < 1 || after > MAX_EXPIRES_IN => Err(
                ClientError::Invalid("the self-destruct delay must be 1 second to 365 days".into()),
            ),
            _ => Ok(()),
        }
    }
}

/// The names written as `@name` in `text` (letters, digits and `_`, 3 to 64
/// of them), in order, each once.
pub fn mentioned_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let preceded_by_word = text[..text.len() - rest.len() + at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let after = &rest[at + 1..];
        let len = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let name = &after[..len];
        if !preceded_by_word
            && (3..=64).contains(&len)
            && !names.iter().any(|n| n.eq_ignore_ascii_case(name))
        {
            names.push(name.to_owned());
        }
        rest = &after[len..];
    }
    names
}

pub(super) fn wire_ref(device: &DeviceRef) -> Option<WireDeviceRef> {
    Some(WireDeviceRef {
        user_id: device.user_id.parse().ok()?,
        device_id: device.device_id.parse().ok()?,
    })
}

impl Messenger {
    /// Remember a conversation the server reported. A 1:1 conversation must
    /// have exactly two participants, this user being one of them.
    pub(crate) fn record_conversation(
        &mut self,
        conversation: &Conversation,
    ) -> Result<(), ClientError> {
        let me = self.user_id()?;
        let participants: Vec<UserId> = conversation
            .participants
            .iter()
            .map(|p| p.user_id)
            .collect();
        if !participants.contains(&me) {
            return Err(ClientError::Protocol(format!(
                "conversation {} does not include this user",
                conversation.conversation_id
            )));
        }
        if conversation.kind == ConversationKind::OneToOne && participants.len() != 2 {
            return Err(ClientError::Protocol(format!(
                "1:1 conversation {} has {} participants",
                conversation.conversation_id,
                participants.len()
            )));
        }
        self.data
            .conversations
            .entry(conversation.conversation_id)
            .and_modify(|c| c.participants.clone_from(&participants))
            .or_insert_with(|| {
                ConversationState::new(
                    conversation.conversation_id,
                    conversation.kind,
                    participants.clone(),
                )
            });
        Ok(())
    }

    /// The 1:1 conversation with `username`, opened on the server if needed.
    pub async fn conversation_with(
        &mut self,
        username: &str,
    ) -> Result<ConversationId, ClientError> {
        let profile = self.lookup_user(username).await?;
        let me = self.user_id()?;
        if profile.user_id == me {
            return Err(ClientError::Invalid("you cannot message yourself".into()));
        }
        let known = self.data.conversations.values().find(|c| {
            c.kind == ConversationKind::OneToOne
                && c.has_participant(me)
                && c.has_participant(profile.user_id)
        });
        if let Some(conversation) = known {
            return Ok(conversation.id);
        }
        let conversation = self.api.open_conversation(profile.user_id).await?;
        self.record_conversation(&conversation)?;
        Ok(conversation.conversation_id)
    }

    /// Make sure a conversation is known locally (fetching it if not).
    pub(crate) async fn ensure_conversation(
        &mut self,
        id: ConversationId,
    ) -> Result<(), ClientError> {
        if self.data.conversations.contains_key(&id) {
            return Ok(());
        }
        let conversation = self.api.conversation(id).await?;
        self.record_conversation(&conversation)
    }

    /// The conversation a message belongs to: from the local history, else
    /// from the server.
    pub async fn conversation_of(
        &mut self,
        message_id: MessageId,
    ) -> Result<ConversationId, ClientError> {
        let local = self
            .data
            .conversations
            .values()
            .find(|c| c.entry(message_id).is_some())
            .map(|c| c.id);
        let id = match local {
            Some(id) => id,
            None => self.api.message(message_id).await?.conversation_id,
        };
        self.ensure_conversation(id).await?;
        Ok(id)
    }

    /// Send a text message to `username`.
    pub async fn send_text(
        &mut self,
        username: &str,
        text: &str,
    ) -> Result<SendReceipt, ClientError> {
        self.send_text_with(username, text, &SendOptions::default())
            .await
    }

    /// Send a text message to `username` with options (self-destruct).
    pub async fn send_text_with(
        &mut self,
        username: &str,
        text: &str,
        options: &SendOptions,
    ) -> Result<SendReceipt, ClientError> {
        options.check()?;
        let conversation = self.conversation_with(username).await?;
        self.send_event_with(
            conversation,
            RoomEventContent::text(text),
            MessageMetadata::default(),
            options,
        )
        .await
    }

    /// The participants of `conversation_id` (other than this user) named
    /// `@username` in `text`, in order of first mention.
    pub async fn mentions_in(
        &mut self,
        conversation_id: ConversationId,
        text: &str,
    ) -> Result<Vec<UserId>, ClientError> {
        let names = mentioned_names(text);
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let me = self.user_id()?;
        let participants = self
            .data
            .conversations
            .get(&conversation_id)
            .map(|c| c.participants.clone())
            .unwrap_or_default();
        let mut mentioned = Vec::new();
        for name in names {
            for &user in &participants {
                if user != me
                    && !mentioned.contains(&user)
                    && self.username_of(user).await.eq_ignore_ascii_case(&name)
                {
                    mentioned.push(user);
                }
            }
        }
        Ok(mentioned)
    }

    /// Reply to `message_id` with `text`.
    pub async fn reply(
        &mut self,
        message_id: MessageId,
        text: &str,
    ) -> Result<SendReceipt, ClientError> {
        let conversation = self.conversation_of(message_id).await?;
        let content = related(RoomEventKind::Reply, Some(text), message_id);
        let metadata = MessageMetadata {
            reply_to_id: Some(message_id),
            ..MessageMetadata::default()
        };
        self.send_event(conversation, content, metadata).await
    }

    /// Replace the text of one of this user's messages.
    pub async fn edit(
        &mut self,
        message_id: MessageId,
        text: &str,
    ) -> Result<SendReceipt, ClientError> {
        self.send_relation(
            RelationType::Edit,
            RoomEventKind::Edit,
            message_id,
            Some(text),
        )
        .await
    }

    /// Delete one of this user's messages (or withdraw one of its reactions).
    pub async fn delete(&mut self, message_id: MessageId) -> Result<SendReceipt, ClientError> {
        self.send_relation(
            RelationType::Delete,
            RoomEventKind::Delete,
            message_id,
            None,
        )
        .await
    }

    /// React to a message with `emoji`.
    pub async fn react(
        &mut self,
        message_id: MessageId,
        emoji: &str,
    ) -> Result<SendReceipt, ClientError> {
        if emoji.trim().is_empty() {
            return Err(ClientError::Invalid("the reaction is empty".into()));
        }
        self.send_relation(
            RelationType::Reaction,
            RoomEventKind::Reaction,
            message_id,
            Some(emoji),
        )
        .await
    }

    async fn send_relation(
        &mut self,
        relation: RelationType,
        kind: RoomEventKind,
        message_id: MessageId,
        body: Option<&str>,
    ) -> Result<SendReceipt, ClientError> {
        let conversation = self.conversation_of(message_id).await?;
        if matches!(relation, RelationType::Edit | RelationType::Delete) {
            let me = self.user_id()?;
            let sender = self
                .data
                .conversations
                .get(&conversation)
                .and_then(|c| c.entry(message_id))
                .map(|e| e.sender_id);
            if sender.is_some_and(|s| s != me) {
                return Err(ClientError::Invalid(
                    "only the sender can edit or delete a message".into(),
                ));
            }
        }
        let metadata = MessageMetadata {
            relation: Some(Relation {
                kind: relation,
                message_id,
            }),
            ..MessageMetadata::default()
        };
        self.send_event(conversation, related(kind, body, message_id), metadata)
            .await
    }

    /// Encrypt and send `content` in `conversation_id`: refreshes the
    /// participants' devices (a changed identity key stops the send), shares
    /// the room key where needed (rotating per policy), then posts the
    /// ciphertext with a fresh message id (retried once, idempotently, on a
    /// transport error).
    pub async fn send_event(
        &mut self,
        conversation_id: ConversationId,
        content: RoomEventContent,
        metadata: MessageMetadata,
    ) -> Result<SendReceipt, ClientError> {
        self.send_event_with(conversation_id, content, metadata, &SendOptions::default())
            .await
    }

    /// [`Self::send_event`] with the wire `message_type` (`text`, or `image`, `video`,
    /// `audio`, `file` for a file announcement).
    pub async fn send_event_as(
        &mut self,
        conversation_id: ConversationId,
        content: RoomEventContent,
        metadata: MessageMetadata,
        message_type: &str,
    ) -> Result<SendReceipt, ClientError> {
        let options = SendOptions {
            message_type: Some(message_type.to_owned()),
            ..SendOptions::default()
        };
        self.send_event_with(conversation_id, content, metadata, &options)
            .await
    }

    /// [`Self::send_event`] with options: a self-destruct time, the wire message type. An
    /// `@username` of a participant in a text, reply or edit becomes a
    /// mention: inside the encrypted event (`mentions`, user ids) and, for
    /// the server's routing, in the plaintext metadata.
    pub async fn send_event_with(
        &mut self,
        conversation_id: ConversationId,
        mut content: RoomEventContent,
        mut metadata: MessageMetadata,
        options: &SendOptions,
    ) -> Result<SendReceipt, ClientError> {
        options.check()?;
        self.complete_setup().await?;
        self.ensure_conversation(conversation_id).await?;
        let is_group = self
            .data
            .conversations
            .get(&conversation_id)
            .is_some_and(|c| c.kind == ConversationKind::Group);
        if is_group {
            // A group's members change: share keys with (and rotate away from) the members as
            // the server has them now, not as this device last saw them.
            let conversation = self.api.conversation(conversation_id).await?;
            self.record_conversation(&conversation)?;
        }
        let mentionable = matches!(
            content.kind,
            RoomEventKind::Text | RoomEventKind::Reply | RoomEventKind::Edit
        );
        if mentionable && metadata.mentions.is_empty() && content.mentions.is_empty() {
            let body = content.body.clone().unwrap_or_default();
            let mentioned = self.mentions_in(conversation_id, &body).await?;
            content.mentions = mentioned.iter().map(ToString::to_string).collect();
            metadata.mentions = mentioned;
        }
        let participants = self
            .data
            .conversations
            .get(&conversation_id)
            .map(|c| c.participants.clone())
            .unwrap_or_default();
        let mut warnings = Vec::new();
        for (user, result) in self.refresh_devices(&participants).await? {
            let update = result?;
            for (device, error) in update.rejected {
                warnings.push(format!(
                    "ignored a device of {} with invalid keys ({}): {error}",
                    self.username_of(user).await,
                    device.device_id
                ));
            }
        }
        let now = now_ms();
        let me = self.user_id()?;
        let message_id = new_message_id()?;
        let bytes = if is_group && self.is_shared_secret_group(conversation_id).await? {
            // One secret per epoch for the whole group (see `shared.rs`).
            self.seal_for_group(
                conversation_id,
                message_id,
                content.clone(),
                now,
                &mut warnings,
            )
            .await?
        } else {
            self.share_room_key(conversation_id, &participants, now, &mut warnings)
                .await?;
            let conversation = conversation_id.to_string();
            // A participant none of whose devices holds the key could never read the message.
            let holders = self.machine.users_holding_room_key(&conversation);
            for user in &participants {
                if *user != me && !holders.contains(&user.to_string()) {
                    return Err(ClientError::NoReadableDevice {
                        username: self.username_of(*user).await,
                    });
                }
            }
            let envelope = self.machine.encrypt_room_event(
                &conversation,
                &message_id.to_string(),
                content.clone(),
                now,
            )?;
            serde_json::to_vec(&envelope)
                .map_err(|e| ClientError::Invalid(format!("cannot encode message: {e}")))?
        };
        let request = SendMessageRequest {
            message_id,
            encrypted_content: base64_encode(&bytes),
            content_hash: sha256_hex(&bytes),
            message_type: options
                .message_type
                .clone()
                .unwrap_or_else(|| "text".to_owned()),
            metadata,
            expires_at: options.expires_in.map(|after| {
                crate::client::util::now()
                    + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::zero())
            }),
        };
        let response = match self.api.send_message(conversation_id, &request).await {
            Err(ClientError::Transport(_)) => {
                self.api.send_message(conversation_id, &request).await?
            }
            other => other?,
        };
        let device = self.machine.device_id().to_owned();
        if let Some(state) = self.data.conversations.get_mut(&conversation_id) {
            state.upsert(Entry {
                seq: response.message.seq,
                message_id,
                sender_id: me,
                created_at: response.message.created_at,
                body: EntryBody::Decrypted {
                    content,
                    sender_device: device,
                    sent_at_ms: now,
                },
                ciphertext: Some(request.encrypted_content),
                expires_at: response.message.expires_at,
            });
        }
        Ok(SendReceipt {
            message_id,
            conversation_id,
            seq: response.message.seq,
            warnings,
        })
    }

    /// Claim one-time keys of `wanted` and open an Olm session with each
    /// device that has one; a device without keys left is reported with
    /// `consequence` appended, a key that does not verify is reported too.
    pub(super) async fn open_olm_sessions(
        &mut self,
        wanted: Vec<WireDeviceRef>,
        warnings: &mut Vec<String>,
        consequence: &str,
    ) -> Result<(), ClientError> {
        let claimed = self.api.claim_keys(wanted).await?;
        for key in claimed.keys {
            let device = DeviceRef::new(key.user_id.to_string(), key.device_id.to_string());
            if let Err(error) = self
                .machine
                .create_outbound_session(&device, &one_time_key_from(key.key))
            {
                warnings.push(format!(
                    "no session with device {}: {error}",
                    device.device_id
                ));
            }
        }
        for device in claimed.unavailable {
            warnings.push(format!(
                "device {} has no one-time keys left{consequence}",
                device.device_id
            ));
        }
        Ok(())
    }

    /// Give every participant device the current room key (rotating per
    /// policy), creating Olm sessions from claimed one-time keys as needed.
    async fn share_room_key(
        &mut self,
        conversation_id: ConversationId,
        participants: &[UserId],
        now: u64,
        warnings: &mut Vec<String>,
    ) -> Result<(), ClientError> {
        let conversation = conversation_id.to_string();
        let users: Vec<String> = participants.iter().map(UserId::to_string).collect();
        let devices = self.machine.participant_devices(&users);
        let mut share = self.machine.share_room_key(&conversation, &devices, now)?;
        let mut messages = std::mem::take(&mut share.messages);
        for device in &share.unavailable {
            warnings.push(format!(
                "device {} cannot be given the key",
                device.device_id
            ));
        }
        if !share.missing_sessions.is_empty() {
            let wanted: Vec<WireDeviceRef> =
                share.missing_sessions.iter().filter_map(wire_ref).collect();
            if let Err(error) = self
                .open_olm_sessions(wanted, warnings, " and cannot read this message")
                .await
            {
                self.machine.discard_outbound_group_session(&conversation);
                return Err(error);
            }
            let second = self.machine.share_room_key(&conversation, &devices, now)?;
            messages.extend(second.messages);
        }
        if let Err(error) = self.send_to_devices(messages, warnings).await {
            // The key may not have reached everyone: start over next time.
            self.machine.discard_outbound_group_session(&conversation);
            return Err(error);
        }
        Ok(())
    }

    /// Post Olm-encrypted payloads, in requests the server accepts: at most
    /// [`MAX_TO_DEVICE_RECIPIENTS`] payloads and [`MAX_REQUEST_CONTENT_BYTES`]
    /// of content each, and no recipient twice in one request (the server
    /// stores one payload per transaction and recipient). Order is kept.
    pub(crate) async fn send_to_devices(
        &mut self,
        messages: Vec<ToDeviceMessage>,
        warnings: &mut Vec<String>,
    ) -> Result<(), ClientError> {
        let mut outgoing = Vec::with_capacity(messages.len());
        for message in messages {
            let Some(recipient) = wire_ref(&message.recipient) else {
                warnings.push(format!(
                    "skipped device {} with a malformed id",
                    message.recipient.device_id
                ));
                continue;
            };
            let content = serde_json::to_value(&message.envelope)
                .map_err(|e| ClientError::Invalid(format!("cannot encode key share: {e}")))?;
            outgoing.push(ToDeviceOutgoing { recipient, content });
        }
        for batch in to_device_batches(outgoing) {
            let request = ToDeviceSendRequest {
                txn_id: new_random_id()?.simple().to_string(),
                event_type: OLM_EVENT_TYPE.to_owned(),
                messages: batch,
            };
            let response = match self.api.send_to_device(&request).await {
                Err(ClientError::Transport(_)) => self.api.send_to_device(&request).await?,
                other => other?,
            };
            for device in response.unknown_devices {
                warnings.push(format!("device {} no longer exists", device.device_id));
            }
        }
        Ok(())
    }
}

/// Most content bytes (serialized envelopes) in one to-device request, well
/// below the server's default request body limit of 128 KiB
/// (`limits.max_body_bytes`).
pub(crate) const MAX_REQUEST_CONTENT_BYTES: usize = 64 * 1024;

/// Split payloads into requests, in order: a new request starts when the
/// next payload's recipient is already in the current one, or when it is
/// full by count or size.
fn to_device_batches(outgoing: Vec<ToDeviceOutgoing>) -> Vec<Vec<ToDeviceOutgoing>> {
    let mut batches = Vec::new();
    let mut current: Vec<ToDeviceOutgoing> = Vec::new();
    let mut recipients = std::collections::BTreeSet::new();
    let mut size = 0;
    for message in outgoing {
        let length = message.content.to_string().len();
        let key = (message.recipient.user_id, message.recipient.device_id);
        if !current.is_empty()
            && (recipients.contains(&key)
                || current.len() >= MAX_TO_DEVICE_RECIPIENTS
                || size + length > MAX_REQUEST_CONTENT_BYTES)
        {
            batches.push(std::mem::take(&mut current));
            recipients.clear();
            size = 0;
        }
        recipients.insert(key);
        size += length;
        current.push(message);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

fn related(kind: RoomEventKind, body: Option<&str>, target: MessageId) -> RoomEventContent {
    RoomEventContent {
        kind,
        body: body.map(str::to_owned),
        relates_to: Some(target.to_string()),
        mentions: Vec::new(),
        extra: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zynk_proto::ids::DeviceId;

    fn payload(device: u128, bytes: usize) -> ToDeviceOutgoing {
        ToDeviceOutgoing {
            recipient: WireDeviceRef {
                user_id: UserId::from_u128(1),
                device_id: DeviceId::from_u128(device),
            },
            content: serde_json::json!({ "c": "x".repeat(bytes) }),
        }
    }

    #[test]
    fn mentions_are_at_names_not_inside_words() {
        assert_eq!(
            mentioned_names("hi @bob and @Carol_1, @bob again; mail me@example.org @ab @"),
            vec!["bob".to_owned(), "Carol_1".to_owned()]
        );
        assert!(mentioned_names("no mentions here").is_empty());
    }

    #[test]
    fn self_destruct_delays_are_checked() {
        let with = |secs| SendOptions {
            expires_in: Some(std::time::Duration::from_secs(secs)),
            ..SendOptions::default()
        };
        assert!(with(0).check().is_err());
        assert!(with(1).check().is_ok());
        assert!(with(365 * 24 * 3600).check().is_ok());
        assert!(with(365 * 24 * 3600 + 1).check().is_err());
        assert!(SendOptions::default().check().is_ok());
    }

    #[test]
    fn to_device_batches_keep_order_and_never_repeat_a_recipient() {
        // Three forwards to device 2 interleaved with one to device 3.
        let batches = to_device_batches(vec![
            payload(2, 10),
            payload(3, 10),
            payload(2, 10),
            payload(2, 10),
        ]);
        let shape: Vec<Vec<u128>> = batches
            .iter()
            .map(|b| {
                b.iter()
                    .map(|m| m.recipient.device_id.as_uuid().as_u128())
                    .collect()
            })
            .collect();
        assert_eq!(shape, vec![vec![2, 3], vec![2], vec![2]]);

        // Size and count bounds.
        let big = to_device_batches((0..10).map(|d| payload(d, 12 * 1024)).collect());
        assert!(big.len() >= 2);
        for batch in &big {
            let size: usize = batch.iter().map(|m| m.content.to_string().len()).sum();
            assert!(size <= MAX_REQUEST_CONTENT_BYTES, "{size}");
        }
        assert_eq!(big.iter().map(Vec::len).sum::<usize>(), 10);
        let many = to_device_batches((0..2000).map(|d| payload(d, 1)).collect());
        assert_eq!(many.len(), 2);
        assert_eq!(many[0].len(), MAX_TO_DEVICE_RECIPIENTS);
        assert!(to_device_batches(Vec::new()).is_empty());
    }
}
