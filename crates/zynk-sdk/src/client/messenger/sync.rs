//! Receiving for [`Messenger`]: the to-device inbox (room keys, forwarded
//! room keys, key requests) is processed before any message is decrypted,
//! and the account's new devices are given this device's history (see
//! `forward`); then each conversation's history is
//! fetched after its cursor, decrypted, checked and stored; messages whose key
//! has not arrived wait and are retried when keys come in. WebSocket frames
//! go through the same paths, and duplicates are dropped by
//! `(conversation, seq)` and to-device id.

use std::collections::{BTreeMap, BTreeSet};

use zynk_proto::conversations::ReceiptRequest;
use zynk_proto::ids::{ConversationId, DeviceId, MessageId, UserId};
use zynk_proto::messages::Message;
use zynk_proto::to_device::ToDeviceMessage as WireToDevice;
use zynk_proto::ws::{ClientFrame, ServerFrame};

use super::Messenger;
use super::forward::KeyRequests;
use super::keys::REPLENISH_BELOW;
use super::send::OLM_EVENT_TYPE;
use super::trust::TrustScoreChange;
use crate::client::error::ClientError;
use crate::client::timeline::{Entry, EntryBody, MessageView, affected_ids, fold};
use crate::client::util::{base64_decode, base64_encode, now, sha256_hex};
use crate::crypto::{
    CryptoError, EncryptedRoomMessage, EncryptedToDevice, GroupError, OlmError, ToDeviceEvent,
};

/// History page size.
const PAGE: u32 = 200;
/// To-device inbox page size.
const INBOX_PAGE: u32 = 100;
/// Upper bound on pages fetched in one pass, so a misbehaving server cannot
/// keep the client busy forever.
const MAX_PAGES: usize = 1000;

/// What a sync brought.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// New or changed messages (after folding), in conversation order.
    pub updates: Vec<MessageView>,
    /// Things the user should know (undecryptable to-device messages,
    /// changed identity keys, …); nothing here stopped the sync.
    pub warnings: Vec<String>,
}

/// What handling one WebSocket frame brought.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameOutcome {
    /// New or changed messages.
    pub updates: Vec<MessageView>,
    /// Frames to send back (delivery acknowledgements).
    pub replies: Vec<ClientFrame>,
    /// Notes for the user.
    pub warnings: Vec<String>,
    /// Changes of this account's trust score.
    pub trust_updates: Vec<TrustScoreChange>,
    /// Contacts' presence changes and participants' typing.
    pub live: Vec<super::LiveEvent>,
    /// Calls that changed state (`created`, `ringing`, `answered`, `joined`, `left`,
    /// `declined`, `ended`, `missed`) with the call as it is now.
    pub call_events: Vec<(String, zynk_proto::calls::Call)>,
}

/// New entries per conversation, collected while syncing.
pub(super) type Changes = BTreeMap<ConversationId, Vec<Entry>>;

impl Messenger {
    /// Catch up with the server: upload keys if needed, process the to-device
    /// inbox, fetch every conversation's new history, retry messages waiting
    /// for keys, and send delivery receipts.
    pub async fn sync(&mut self) -> Result<SyncReport, ClientError> {
        self.complete_setup().await?;
        self.replenish_keys(None).await?;
        let mut warnings = Vec::new();
        let mut changes = Changes::new();
        self.receive_to_device(true, &mut warnings).await?;
        // Message requests are readable (reading neither accepts nor declines them).
        let mut conversations = self.api.conversations().await?;
        conversations.extend(self.api.requests().await?);
        for conversation in conversations {
            if let Err(error) = self.record_conversation(&conversation) {
                warnings.push(error.to_string());
                continue;
            }
            let cursor = self
                .data
                .conversations
                .get(&conversation.conversation_id)
                .map_or(0, |c| c.cursor);
            if conversation.last_seq > cursor {
                self.fetch_history(conversation.conversation_id, &mut changes)
                    .await?;
            }
        }
        self.judge_waiting_secrets(&mut warnings);
        self.learn_waiting_senders(&mut warnings).await;
        self.retry_pending(&mut changes);
        self.start_due_epochs(&mut warnings).await;
        self.request_missing_keys(&mut warnings).await;
        self.send_delivery_receipts(&mut warnings).await;
        let updates = self.views_of(&changes).await;
        Ok(SyncReport { updates, warnings })
    }

    /// Every message of `conversation_id` this device holds, folded.
    /// Self-destructed messages are deleted first (see
    /// [`Self::remove_expired`]).
    pub async fn timeline(&mut self, conversation_id: ConversationId) -> Vec<MessageView> {
        self.remove_expired(now());
        let Some(state) = self.data.conversations.get(&conversation_id) else {
            return Vec::new();
        };
        let items = fold(&state.entries);
        self.resolve_names(&items).await;
        items
            .iter()
            .map(|item| MessageView::new(conversation_id, item, |u| self.name_or_id(u)))
            .collect()
    }

    /// Tell the server the user read `conversation_id` up to its last message.
    pub async fn mark_read(&mut self, conversation_id: ConversationId) -> Result<(), ClientError> {
        let Some(state) = self.data.conversations.get(&conversation_id) else {
            return Ok(());
        };
        let last = state.last_seq().max(state.cursor);
        if last <= state.read_sent {
            return Ok(());
        }
        let receipt = ReceiptRequest {
            delivered_up_to: Some(last),
            read_up_to: Some(last),
        };
        self.api.receipts(conversation_id, &receipt).await?;
        if let Some(state) = self.data.conversations.get_mut(&conversation_id) {
            state.read_sent = last;
            state.delivered_sent = state.delivered_sent.max(last);
        }
        Ok(())
    }

    /// Handle one WebSocket frame. Messages and room keys go through the same
    /// checks as [`Self::sync`]; acknowledgements to send back are returned.
    pub async fn handle_frame(&mut self, frame: ServerFrame) -> Result<FrameOutcome, ClientError> {
        let mut outcome = FrameOutcome::default();
        let mut changes = Changes::new();
        match frame {
            ServerFrame::Hello {
                one_time_key_count, ..
            }
            | ServerFrame::KeysLow { one_time_key_count } => {
                if one_time_key_count < REPLENISH_BELOW {
                    self.replenish_keys(None).await?;
                }
            }
            ServerFrame::ToDevice { message } => {
                if message.id > self.data.to_device_since {
                    // Fetch the inbox rather than trusting the frame alone, so
                    // nothing before it is acknowledged unprocessed.
                    self.receive_to_device(false, &mut outcome.warnings).await?;
                    self.retry_pending(&mut changes);
                    self.request_missing_keys(&mut outcome.warnings).await;
                }
            }
            ServerFrame::Message { message } => {
                match self.receive_frame_message(message, &mut changes).await {
                    Ok(()) => {
                        let waiting_sender = changes
                            .values()
                            .flatten()
                            .any(|e| matches!(e.body, EntryBody::PendingSecret { .. }));
                        if waiting_sender {
                            self.learn_waiting_senders(&mut outcome.warnings).await;
                            self.retry_pending(&mut changes);
                        }
                    }
                    Err(error @ (ClientError::Transport(_) | ClientError::SessionEnded(_))) => {
                        return Err(error);
                    }
                    // One bad message or conversation must not stop the stream.
                    Err(error) => outcome.warnings.push(error.to_string()),
                }
                for (id, entries) in &changes {
                    if let (Some(state), false) =
                        (self.data.conversations.get_mut(id), entries.is_empty())
                    {
                        outcome.replies.push(ClientFrame::Ack {
                            conversation_id: *id,
                            seq: state.cursor,
                        });
                        state.delivered_sent = state.delivered_sent.max(state.cursor);
                    }
                }
            }
            ServerFrame::MessageExpired {
                conversation_id,
                message_id,
                ..
            } => {
                if let Some(state) = self.data.conversations.get_mut(&conversation_id) {
                    state.remove(message_id);
                }
            }
            ServerFrame::Error { code, message, .. } => {
                outcome.warnings.push(format!("server: {code}: {message}"));
            }
            ServerFrame::TrustScoreUpdated {
                did,
                old_score,
                new_score,
                reason,
                transaction_hash,
            } => {
                // The server sends each account only its own changes.
                if did == zynk_ledger::ZynkDid::new(self.user_id()?.as_uuid()).to_string() {
                    outcome.trust_updates.push(TrustScoreChange {
                        did,
                        old_score,
                        new_score,
                        reason,
                        transaction_hash,
                    });
                } else {
                    outcome.warnings.push(format!(
                        "ignored a trust score update for {did}, which is not this account"
                    ));
                }
            }
            ServerFrame::Presence {
                user_id,
                status,
                last_seen_at,
            } => {
                let username = self.username_of(user_id).await;
                outcome.live.push(super::LiveEvent::Presence {
                    username,
                    user_id,
                    status,
                    last_seen_at,
                });
            }
            ServerFrame::Typing {
                conversation_id,
                user_id,
                typing,
            } => {
                let username = self.username_of(user_id).await;
                outcome.live.push(super::LiveEvent::Typing {
                    conversation_id,
                    username,
                    user_id,
                    typing,
                });
            }
            ServerFrame::Call { event, call } => outcome.call_events.push((event, call)),
            ServerFrame::Receipt { .. } | ServerFrame::Sent { .. } | ServerFrame::Pong => {}
        }
        outcome.updates = self.views_of(&changes).await;
        Ok(outcome)
    }

    async fn receive_frame_message(
        &mut self,
        message: Message,
        changes: &mut Changes,
    ) -> Result<(), ClientError> {
        let id = message.conversation_id;
        self.ensure_conversation(id).await?;
        let cursor = self.data.conversations.get(&id).map_or(0, |c| c.cursor);
        if message.seq <= cursor {
            return Ok(());
        }
        if message.seq > cursor + 1 {
            // Something may be missing before it: the history covers both.
            return self.fetch_history(id, changes).await;
        }
        self.ingest(&message, changes);
        if let Some(state) = self.data.conversations.get_mut(&id) {
            state.cursor = state.cursor.max(message.seq);
        }
        Ok(())
    }

    /// Process the to-device inbox, then give the account's new devices this
    /// device's history (fetching the account's device list first with
    /// `refresh_own`) and answer its other devices' key requests.
    pub(super) async fn receive_to_device(
        &mut self,
        refresh_own: bool,
        warnings: &mut Vec<String>,
    ) -> Result<(), ClientError> {
        let requests = self.process_to_device(warnings).await?;
        let served = self
            .share_history_with_new_devices(refresh_own, warnings)
            .await;
        self.answer_key_requests(requests, &served, warnings).await;
        Ok(())
    }

    /// Process the to-device inbox after the cursor and acknowledge it.
    /// Returns the key requests of the account's other devices.
    async fn process_to_device(
        &mut self,
        warnings: &mut Vec<String>,
    ) -> Result<KeyRequests, ClientError> {
        let mut requests = KeyRequests::new();
        for _ in 0..MAX_PAGES {
            let since = self.data.to_device_since;
            let inbox = self.api.to_device_inbox(since, INBOX_PAGE).await?;
            let mut last = since;
            for message in &inbox.messages {
                if message.id <= last {
                    continue;
                }
                self.handle_to_device(message, warnings, &mut requests)
                    .await;
                last = message.id;
            }
            if last > since {
                self.data.to_device_since = last;
                self.api.ack_to_device(last).await?;
            }
            if !inbox.has_more || last == since {
                break;
            }
        }
        self.judge_waiting_secrets(warnings);
        Ok(requests)
    }

    /// Decrypt one to-device payload; failures become warnings. A key
    /// request (only ever accepted from this account's own devices) is
    /// added to `requests`.
    async fn handle_to_device(
        &mut self,
        message: &WireToDevice,
        warnings: &mut Vec<String>,
        requests: &mut KeyRequests,
    ) {
        let sender = match message.sender_user_id {
            Some(user) => self.username_of(user).await,
            None => "a deleted account".to_owned(),
        };
        if message.event_type != OLM_EVENT_TYPE {
            warnings.push(format!(
                "ignored a to-device message of type {} from {sender}",
                message.event_type
            ));
            return;
        }
        let envelope: EncryptedToDevice = match serde_json::from_value(message.content.clone()) {
            Ok(envelope) => envelope,
            Err(e) => {
                warnings.push(format!("malformed to-device message from {sender}: {e}"));
                return;
            }
        };
        let mut result = self.machine.decrypt_to_device(&envelope);
        if let (Err(CryptoError::Olm(OlmError::UnknownSenderDevice { .. })), Some(user)) =
            (&result, message.sender_user_id)
        {
            match self.refresh_devices(&[user]).await {
                Ok(results) => {
                    for (_, outcome) in results {
                        if let Err(error) = outcome {
                            warnings.push(error.to_string());
                        }
                    }
                }
                Err(error) => warnings.push(error.to_string()),
            }
            result = self.machine.decrypt_to_device(&envelope);
        }
        match result {
            Ok(decrypted) => match decrypted.event {
                ToDeviceEvent::Custom {
                    event_type,
                    content,
                } if event_type == super::calls::CALL_SIGNAL_EVENT => {
                    match serde_json::from_value(content) {
                        Ok(signal) => self.call_signals.push(super::calls::ReceivedCallSignal {
                            sender_user_id: decrypted.sender.user_id.clone(),
                            sender_device_id: decrypted.sender.device_id.clone(),
                            signal,
                        }),
                        Err(e) => {
                            warnings.push(format!("malformed call signal from {sender}: {e}"))
                        }
                    }
                }
                ToDeviceEvent::Custom {
                    event_type,
                    content,
                } if event_type == crate::crypto::shared_secret::GROUP_SECRET_EVENT => {
                    self.receive_group_secret(&decrypted.sender, content, warnings);
                }
                ToDeviceEvent::Custom { event_type, .. } => {
                    warnings.push(format!("ignored a {event_type} event from {sender}"));
                }
                ToDeviceEvent::ForwardedRoomKeys(report) => {
                    for reason in report.rejected {
                        warnings.push(format!(
                            "refused a key forwarded by your device {}: {reason}",
                            decrypted.sender.device_id
                        ));
                    }
                }
                ToDeviceEvent::RoomKeyRequest(sessions) => {
                    requests
                        .entry(decrypted.sender)
                        .or_default()
                        .extend(sessions);
                }
                ToDeviceEvent::RoomKey(_) | ToDeviceEvent::Dummy => {}
            },
            Err(error) => warnings.push(format!(
                "could not decrypt a key message from {sender}: {error}"
            )),
        }
    }

    /// Fetch and store the history of `id` after its cursor.
    pub(super) async fn fetch_history(
        &mut self,
        id: ConversationId,
        changes: &mut Changes,
    ) -> Result<(), ClientError> {
        for _ in 0..MAX_PAGES {
            let cursor = self.data.conversations.get(&id).map_or(0, |c| c.cursor);
            let page = self.api.messages_after(id, cursor, PAGE).await?;
            let mut advanced = cursor;
            for message in &page.messages {
                if message.seq <= advanced || message.conversation_id != id {
                    continue;
                }
                self.ingest(message, changes);
                advanced = message.seq;
            }
            if let Some(state) = self.data.conversations.get_mut(&id) {
                state.cursor = advanced;
            }
            if !page.has_more || advanced == cursor {
                break;
            }
        }
        Ok(())
    }

    /// Decrypt and store one message unless it is already stored.
    fn ingest(&mut self, message: &Message, changes: &mut Changes) {
        let id = message.conversation_id;
        let Some(state) = self.data.conversations.get(&id) else {
            return;
        };
        if !state.needs(message.seq, message.message_id) {
            return;
        }
        let participants = state.participants.clone();
        let body = if message.message_type == zynk_proto::MessageType::Membership {
            match &message.metadata.membership {
                Some(event) => {
                    self.apply_membership(id, event);
                    EntryBody::Membership {
                        event: (**event).clone(),
                    }
                }
                None => failed("a membership message without its event"),
            }
        } else {
            self.decrypt_message(message, &participants)
        };
        let entry = Entry {
            seq: message.seq,
            message_id: message.message_id,
            sender_id: message.sender_id,
            created_at: message.created_at,
            body,
            ciphertext: kept_ciphertext(message),
            expires_at: message.expires_at,
        };
        let starts_epoch = matches!(&entry.body, EntryBody::Membership { event }
            if crate::client::group_secrets::changes_readers(event.action));
        if let Some(state) = self.data.conversations.get_mut(&id) {
            state.upsert(entry.clone());
        }
        changes.entry(id).or_default().push(entry);
        if starts_epoch && !self.data.group_secrets.waiting.is_empty() {
            // A secret for the epoch this change starts may be waiting: the messages that
            // follow in the history need it.
            let mut ignored = Vec::new();
            self.judge_waiting_secrets(&mut ignored);
        }
    }

    /// Follows a group's membership change in the local participant list, so the next send
    /// shares keys with (and rotates away from) the right devices.
    fn apply_membership(
        &mut self,
        id: ConversationId,
        event: &zynk_proto::groups::MembershipEvent,
    ) {
        use zynk_proto::groups::MembershipAction;
        let Some(state) = self.data.conversations.get_mut(&id) else {
            return;
        };
        match event.action {
            MembershipAction::Added => {
                if !event.members.is_empty() {
                    state.participants = event.members.iter().map(|m| m.user_id).collect();
                } else if !state.participants.contains(&event.user_id) {
                    state.participants.push(event.user_id);
                }
            }
            MembershipAction::Removed | MembershipAction::Left | MembershipAction::Deleted => {
                state.participants.retain(|u| *u != event.user_id);
            }
            MembershipAction::Promoted | MembershipAction::Demoted | MembershipAction::Updated => {}
        }
    }

    /// Decrypt a stored message and check it against the server's record.
    fn decrypt_message(&mut self, message: &Message, participants: &[UserId]) -> EntryBody {
        if message.encrypted_content.is_empty() || message.deleted_at.is_some() {
            return EntryBody::Removed;
        }
        let Some(bytes) = base64_decode(&message.encrypted_content) else {
            return failed("the ciphertext is not base64");
        };
        if sha256_hex(&bytes) != message.content_hash.to_ascii_lowercase() {
            return failed("the ciphertext does not match its content hash");
        }
        if super::shared::is_shared_secret(&bytes) {
            return match serde_json::from_slice(&bytes) {
                Ok(sealed) => self.open_shared_message(
                    message.conversation_id,
                    message.message_id,
                    message.sender_id,
                    message.sender_device_id,
                    sealed,
                    participants,
                ),
                Err(e) => failed(&format!("not a sealed group message ({e})")),
            };
        }
        let envelope: EncryptedRoomMessage = match serde_json::from_slice(&bytes) {
            Ok(envelope) => envelope,
            Err(e) => return failed(&format!("not an encrypted event ({e})")),
        };
        self.decrypt_envelope(
            message.conversation_id,
            message.message_id,
            message.sender_id,
            message.sender_device_id,
            envelope,
            participants,
        )
    }

    fn decrypt_envelope(
        &mut self,
        conversation_id: ConversationId,
        message_id: MessageId,
        sender_id: UserId,
        sender_device_id: Option<DeviceId>,
        envelope: EncryptedRoomMessage,
        participants: &[UserId],
    ) -> EntryBody {
        let result = self.machine.decrypt_room_event(
            &conversation_id.to_string(),
            &message_id.to_string(),
            &envelope,
        );
        let decrypted = match result {
            Ok(decrypted) => decrypted,
            Err(GroupError::UnknownSession { .. }) => {
                return EntryBody::Pending {
                    reason: "the message key has not arrived".into(),
                    envelope,
                    sender_device_id,
                };
            }
            // The key this device holds starts later; another of the
            // account's devices may forward an earlier copy.
            Err(error @ GroupError::UnknownMessageIndex { .. }) => {
                return EntryBody::Pending {
                    reason: error.to_string(),
                    envelope,
                    sender_device_id,
                };
            }
            Err(error) => return failed(&error.to_string()),
        };
        if decrypted.sender.user_id != sender_id.to_string() {
            return failed("the encrypted sender differs from the server's record");
        }
        if sender_device_id.is_some_and(|d| d.to_string() != decrypted.sender.device_id) {
            return failed("the encrypted sender device differs from the server's record");
        }
        if !participants.contains(&sender_id) {
            return failed("the sender is not a participant");
        }
        EntryBody::Decrypted {
            content: decrypted.event.content,
            sender_device: decrypted.sender.device_id,
            sent_at_ms: decrypted.event.sent_at,
        }
    }

    /// Delete every stored message whose `expires_at` is `now` or earlier,
    /// on this device, whether or not the server's `message_expired` frame
    /// arrived; returns how many were deleted. [`Self::timeline`], the
    /// updates of [`Self::sync`] and [`Self::handle_frame`], and
    /// [`Self::save`] apply it with the current time.
    pub fn remove_expired(&mut self, now: chrono::DateTime<chrono::Utc>) -> usize {
        self.data.remove_expired(now)
    }

    /// Retry every message still waiting for its key.
    fn retry_pending(&mut self, changes: &mut Changes) {
        let waiting: Vec<(ConversationId, Entry, Vec<UserId>)> = self
            .data
            .conversations
            .values()
            .flat_map(|c| {
                c.entries
                    .iter()
                    .filter(|e| {
                        matches!(
                            e.body,
                            EntryBody::Pending { .. } | EntryBody::PendingSecret { .. }
                        )
                    })
                    .map(|e| (c.id, e.clone(), c.participants.clone()))
            })
            .collect();
        for (conversation_id, entry, participants) in waiting {
            let body = match entry.body.clone() {
                EntryBody::Pending {
                    envelope,
                    sender_device_id,
                    ..
                } => self.decrypt_envelope(
                    conversation_id,
                    entry.message_id,
                    entry.sender_id,
                    sender_device_id,
                    envelope,
                    &participants,
                ),
                EntryBody::PendingSecret {
                    message,
                    sender_device_id,
                    ..
                } => self.open_shared_message(
                    conversation_id,
                    entry.message_id,
                    entry.sender_id,
                    sender_device_id,
                    message,
                    &participants,
                ),
                _ => continue,
            };
            let still = |b: &EntryBody| match b {
                EntryBody::Pending { reason, .. } | EntryBody::PendingSecret { reason, .. } => {
                    Some(reason.clone())
                }
                _ => None,
            };
            if let Some(reason) = still(&body) {
                // Still waiting; keep the current reason (e.g. a later key
                // of the session arrived) without reporting it as a change.
                if still(&entry.body).as_ref() != Some(&reason)
                    && let Some(state) = self.data.conversations.get_mut(&conversation_id)
                {
                    state.upsert(Entry { body, ..entry });
                }
                continue;
            }
            let updated = Entry { body, ..entry };
            if let Some(state) = self.data.conversations.get_mut(&conversation_id) {
                state.upsert(updated.clone());
            }
            changes.entry(conversation_id).or_default().push(updated);
        }
    }

    /// Move each conversation's delivered cursor on the server.
    async fn send_delivery_receipts(&mut self, warnings: &mut Vec<String>) {
        let due: Vec<(ConversationId, i64)> = self
            .data
            .conversations
            .values()
            .filter(|c| c.cursor > c.delivered_sent)
            .map(|c| (c.id, c.cursor))
            .collect();
        for (id, cursor) in due {
            let receipt = ReceiptRequest {
                delivered_up_to: Some(cursor),
                read_up_to: None,
            };
            match self.api.receipts(id, &receipt).await {
                Ok(()) => {
                    if let Some(state) = self.data.conversations.get_mut(&id) {
                        state.delivered_sent = cursor;
                    }
                }
                Err(error) => warnings.push(format!("delivery receipt: {error}")),
            }
        }
    }

    /// The folded items that `changes` created or changed.
    async fn views_of(&mut self, changes: &Changes) -> Vec<MessageView> {
        self.remove_expired(now());
        let mut views = Vec::new();
        for (id, entries) in changes {
            let affected: BTreeSet<MessageId> = affected_ids(entries);
            let Some(state) = self.data.conversations.get(id) else {
                continue;
            };
            let items: Vec<_> = fold(&state.entries)
                .into_iter()
                .filter(|item| affected.contains(&item.id))
                .collect();
            self.resolve_names(&items).await;
            views.extend(
                items
                    .iter()
                    .map(|item| MessageView::new(*id, item, |u| self.name_or_id(u))),
            );
        }
        views
    }

    /// Fetch the usernames of every sender and reactor not in the cache.
    async fn resolve_names(&mut self, items: &[crate::client::timeline::TimelineItem]) {
        let users: BTreeSet<UserId> = items
            .iter()
            .flat_map(|i| {
                std::iter::once(i.sender_id).chain(i.reactions.iter().map(|r| r.sender_id))
            })
            .collect();
        for user in users {
            self.username_of(user).await;
        }
    }

    fn name_or_id(&self, user: UserId) -> String {
        self.data
            .usernames
            .get(&user)
            .cloned()
            .unwrap_or_else(|| user.to_string())
    }
}

/// The ciphertext to keep with a received message (for ledger proofs): the
/// decoded `encrypted_content`, re-encoded canonically; `None` once the
/// server deleted it or when it is not base64.
fn kept_ciphertext(message: &Message) -> Option<String> {
    if message.encrypted_content.is_empty() || message.deleted_at.is_some() {
        return None;
    }
    base64_decode(&message.encrypted_content).map(|bytes| base64_encode(&bytes))
}

fn failed(reason: &str) -> EntryBody {
    EntryBody::Failed {
        reason: reason.to_owned(),
    }
}
