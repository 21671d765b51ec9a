//! Sending, reading and acknowledging messages.
//!
//! The service owns the rules of relations (edits, reactions, deletions): which relation needs
//! the target to be the sender's own and what it does to the target ([`relation_write`]). The
//! store checks those preconditions and applies the effect inside the transaction that stores
//! the new message, so nothing can change the target in between.
//!
//! Sends go through group-commit writers: each writer takes every send waiting for it, stores
//! them in one transaction, and only then answers each sender, so an acknowledged message is
//! durable while many sends share one commit. Conversations are sharded over writers, so one
//! conversation's messages are always written by the same writer, in order. Each writer hands
//! its committed batches to its own fan-out task, which publishes them in that order (the hub
//! keeps each conversation in `seq` order on every node, see `realtime::order`); the fan-out
//! does not depend on the sender's request, so a sender that goes away after its commit does
//! not leave its message undelivered.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use dashmap::DashMap;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use zynk_backends::model::{
    HistoryRange, InsertOutcome, MessageRecord, NewMessage, RelationEffect, RelationWrite,
};
use zynk_proto::messages::{
    MAX_CIPHERTEXT_BYTES, MAX_MENTIONS, MAX_PAGE, Message, MessageMetadata, MessagePage, Relation,
    RelationType, SendMessageRequest, SendMessageResponse,
};
use zynk_proto::ws::ServerFrame;
use zynk_proto::{
    ConversationId, DeviceId, ErrorCode, MessageId, MessageType, RequestState, UserId,
};

use super::auth::AuthContext;
use super::contacts::SendGate;
use super::conversations::ConversationService;
use super::keys::decode_base64;
use crate::context::Context;
use crate::error::ApiError;
use crate::realtime::{ConnectionId, Hub, PushSender, Target};

mod delivery;
use delivery::{FAN_OUT_QUEUE, run_ack_flusher, run_fan_out, run_pusher, spawn_writer};

/// Most sends stored in one transaction.
const MAX_BATCH: usize = 1024;
/// Sends waiting per writer before new sends wait for room.
const WRITER_QUEUE: usize = 4096;
/// Most acknowledgements recorded in one transaction.
const ACK_FLUSH_CHUNK: usize = 512;
/// A device is woken up at most this often.
const PUSH_INTERVAL: Duration = Duration::from_secs(10);

type Reply = oneshot::Sender<Result<InsertOutcome, ApiError>>;

/// A send waiting for its writer.
struct Submission {
    message: NewMessage,
    reply: Reply,
    fan_out: FanOut,
}

/// Who a stored message goes to, as known when it was submitted.
struct FanOut {
    /// The participants at submit time (used if they cannot be read again after the commit).
    participants: Arc<[UserId]>,
    /// Participants whose devices get push wake-ups (not the recipient of a message request).
    push_to: Arc<[UserId]>,
    sender_device: DeviceId,
    /// The WebSocket connection the send came in on (answered separately, not echoed).
    origin: Option<ConnectionId>,
}

/// What a writer hands its fan-out task: a committed batch's new messages, in `seq` order.
type FanOutBatch = Vec<(MessageRecord, FanOut)>;

/// Messages of conversations.
#[derive(Clone)]
pub struct MessageService {
    context: Arc<Context>,
    hub: Arc<Hub>,
    conversations: ConversationService,
    writers: Arc<[mpsc::Sender<Submission>]>,
    push: mpsc::Sender<(Arc<[UserId]>, DeviceId)>,
    acks: Arc<DashMap<(ConversationId, UserId), i64>>,
}

/// The wire form of a stored message.
pub fn to_wire(record: MessageRecord) -> Message {
    let metadata = record
        .metadata
        .and_then(|m| serde_json::from_value::<MessageMetadata>(m).ok())
        .unwrap_or_default();
    Message {
        message_id: record.id,
        conversation_id: record.conversation_id,
        seq: record.seq,
        sender_id: record.sender_id,
        sender_device_id: record.sender_device_id,
        encrypted_content: base64::engine::general_purpose::STANDARD
            .encode(&record.encrypted_content),
        content_hash: record.content_hash,
        message_type: record.message_type,
        metadata,
        created_at: record.created_at,
        edited_at: record.edited_at,
        deleted_at: record.deleted_at,
        expires_at: record.expires_at,
    }
}

impl MessageService {
    /// Starts the writers, the push task and the acknowledgement flusher.
    pub fn start(
        context: Arc<Context>,
        hub: Arc<Hub>,
        conversations: ConversationService,
        pusher: Option<Arc<dyn PushSender>>,
    ) -> Self {
        let (push, push_rx) = mpsc::channel(WRITER_QUEUE);
        tokio::spawn(run_pusher(context.clone(), pusher, push_rx));
        let writers: Vec<_> = (0..context.store.parallel_writers().max(1))
            .map(|i| {
                let (tx, rx) = mpsc::channel(WRITER_QUEUE);
                let (fan_out, fan_out_rx) = mpsc::channel(FAN_OUT_QUEUE);
                tokio::spawn(run_fan_out(
                    context.analytics.clone(),
                    hub.clone(),
                    conversations.clone(),
                    push.clone(),
                    fan_out_rx,
                ));
                spawn_writer(i, context.clone(), rx, fan_out);
                tx
            })
            .collect();
        let service = Self {
            context,
            hub,
            conversations,
            writers: writers.into(),
            push,
            acks: Arc::default(),
        };
        tokio::spawn(run_ack_flusher(service.clone()));
        service
    }

    fn writer_for(&self, conversation_id: ConversationId) -> &mpsc::Sender<Submission> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        conversation_id.hash(&mut hasher);
        let index = (hasher.finish() % self.writers.len() as u64) as usize;
        &self.writers[index]
    }

    /// Validates, stores (group commit) and fans out a message. Returns the stored message and
    /// whether it was created now (false for an idempotent retry).
    pub async fn send(
        &self,
        caller: &AuthContext,
        conversation_id: ConversationId,
        request: &SendMessageRequest,
    ) -> Result<SendMessageResponse, ApiError> {
        self.submit(caller, conversation_id, request, None)
            .await?
            .complete()
            .await
    }

    /// Validates a message and queues it for the writer, without waiting for the commit. Sends
    /// submitted one after another by one connection are stored in that order; awaiting
    /// [`PendingSend::complete`] gives the outcome. A send that came in on the WebSocket
    /// connection `origin` is not echoed to that connection (its answer carries the message).
    pub async fn submit(
        &self,
        caller: &AuthContext,
        conversation_id: ConversationId,
        request: &SendMessageRequest,
        origin: Option<ConnectionId>,
    ) -> Result<PendingSend, ApiError> {
        let participants = self
            .conversations
            .require_participant(conversation_id, caller.user_id)
            .await?;
        let new = validate(caller, conversation_id, request, &participants)?;
        let related = new
            .relation
            .as_ref()
            .map(|r| r.target)
            .into_iter()
            .chain(request.metadata.reply_to_id);
        for target in related {
            self.check_relation_visible(caller.user_id, conversation_id, target)
                .await?;
        }
        let contacts = self.conversations.contacts();
        let push_to = match contacts
            .send_gate(conversation_id, caller.user_id, &participants)
            .await?
        {
            SendGate::Refused(error) => return Err(error),
            SendGate::Open {
                quiet,
                sender_accepts,
            } => {
                // Replying to a message request accepts it.
                if sender_accepts {
                    contacts
                        .set_state(
                            conversation_id,
                            caller.user_id,
                            &[RequestState::Pending, RequestState::Declined],
                            RequestState::Accepted,
                        )
                        .await?;
                }
                match quiet {
                    // A message request wakes no device of its recipient.
                    Some(quiet) => participants
                        .iter()
                        .copied()
                        .filter(|u| *u != quiet)
                        .collect(),
                    None => participants.clone(),
                }
            }
        };
        let (reply, answer) = oneshot::channel();
        let submission = Submission {
            message: new,
            reply,
            fan_out: FanOut {
                participants,
                push_to,
                sender_device: caller.device_id,
                origin,
            },
        };
        self.writer_for(conversation_id)
            .send(submission)
            .await
            .map_err(|_| ApiError::unavailable(&"message writer stopped"))?;
        Ok(PendingSend { answer })
    }

    /// A page of history.
    pub async fn history(
        &self,
        caller: &AuthContext,
        conversation_id: ConversationId,
        after: Option<i64>,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<MessagePage, ApiError> {
        self.conversations
            .require_participant(conversation_id, caller.user_id)
            .await?;
        // A group member reads from the event that added them on.
        let floor = self.history_floor(conversation_id, caller.user_id).await?;
        let range = match (after, before) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_field(
                    "after",
                    "give either `after` or `before`, not both",
                ));
            }
            (None, Some(b)) => HistoryRange::Before(b),
            (a, None) => HistoryRange::After(a.unwrap_or(0).max(floor - 1)),
        };
        let limit = limit.unwrap_or(100).clamp(1, MAX_PAGE);
        let (mut records, mut has_more) = self
            .context
            .store
            .history(conversation_id, range, limit, zynk_backends::now())
            .await?;
        if records.first().is_some_and(|r| r.seq < floor) {
            records.retain(|r| r.seq >= floor);
            has_more = false;
        }
        Ok(MessagePage {
            messages: records.into_iter().map(to_wire).collect(),
            has_more,
        })
    }

    /// One message, if the caller participates in its conversation.
    pub async fn get(
        &self,
        caller: &AuthContext,
        message_id: MessageId,
    ) -> Result<Message, ApiError> {
        let record = self
            .context
            .store
            .get_message(message_id, zynk_backends::now())
            .await?
            .ok_or_else(|| ApiError::not_found("message"))?;
        self.conversations
            .require_participant(record.conversation_id, caller.user_id)
            .await
            .map_err(|_| ApiError::not_found("message"))?;
        if record.seq
            < self
                .history_floor(record.conversation_id, caller.user_id)
                .await?
        {
            return Err(ApiError::not_found("message"));
        }
        Ok(to_wire(record))
    }

    /// A reply, reaction, edit or deletion may only point at a message the sender can read: in
    /// a group, a member who joined later gets "not found" for a message from before they
    /// joined, like for any message they cannot see.
    async fn check_relation_visible(
        &self,
        user_id: UserId,
        conversation_id: ConversationId,
        target: MessageId,
    ) -> Result<(), ApiError> {
        let Some(record) = self
            .context
            .store
            .get_message(target, zynk_backends::now())
            .await?
        else {
            return Ok(());
        };
        if record.conversation_id == conversation_id
            && record.seq < self.history_floor(conversation_id, user_id).await?
        {
            return Err(ApiError::not_found("message"));
        }
        Ok(())
    }

    /// The first sequence number a participant may read: 1, or in a group the `seq` of the
    /// event that added them.
    async fn history_floor(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> Result<i64, ApiError> {
        let Some(group_id) = self.conversations.group_of(conversation_id).await? else {
            return Ok(1);
        };
        self.context
            .store
            .member_joined_seq(group_id, user_id)
            .await?
            .ok_or_else(|| ApiError::not_found("conversation"))
    }

    /// Records that messages up to `seq` reached one of the user's devices. Acknowledgements are
    /// coalesced and written a few times a second.
    pub async fn ack(
        &self,
        caller: &AuthContext,
        conversation_id: ConversationId,
        seq: i64,
    ) -> Result<(), ApiError> {
        self.conversations
            .require_participant(conversation_id, caller.user_id)
            .await?;
        self.acks
            .entry((conversation_id, caller.user_id))
            .and_modify(|s| *s = (*s).max(seq))
            .or_insert(seq);
        Ok(())
    }

    /// Writes coalesced acknowledgements now, all in one transaction.
    pub async fn flush_acks(&self) {
        let pending: Vec<((ConversationId, UserId), i64)> =
            self.acks.iter().map(|e| (*e.key(), *e.value())).collect();
        let mut acks = Vec::with_capacity(pending.len());
        for ((conversation_id, user_id), seq) in pending {
            self.acks
                .remove_if(&(conversation_id, user_id), |_, s| *s == seq);
            acks.push((conversation_id, user_id, seq));
        }
        for chunk in acks.chunks(ACK_FLUSH_CHUNK) {
            if let Err(err) = self.conversations.advance_delivered(chunk).await {
                tracing::warn!(error = %err, "could not record delivery acknowledgements");
            }
        }
    }

    /// Tells participants that expired messages were removed.
    pub async fn announce_expired(&self, expired: &[(ConversationId, MessageId)]) {
        for &(conversation_id, message_id) in expired {
            match self.conversations.participants(conversation_id).await {
                Ok(users) => {
                    let targets = user_targets(&users);
                    self.hub
                        .publish(
                            &targets,
                            &ServerFrame::MessageExpired {
                                conversation_id,
                                message_id,
                                reason: zynk_proto::ws::ExpiryReason::SelfDestruct,
                            },
                        )
                        .await;
                }
                Err(err) => tracing::warn!(error = %err, "cannot announce an expired message"),
            }
        }
    }

    /// Tells the senders' devices that these messages were removed because no recipient
    /// received them in time (`message_expired` with reason `undelivered`).
    pub async fn announce_undelivered(&self, gone: &[zynk_backends::model::UndeliveredMessage]) {
        for m in gone {
            self.hub
                .publish(
                    &user_targets(&[m.sender_id]),
                    &ServerFrame::MessageExpired {
                        conversation_id: m.conversation_id,
                        message_id: m.message_id,
                        reason: zynk_proto::ws::ExpiryReason::Undelivered,
                    },
                )
                .await;
        }
    }
}

/// A queued send: awaiting it gives the outcome once the message's batch is durable. The
/// message is fanned out by its writer's fan-out task, whether or not this is awaited.
pub struct PendingSend {
    answer: oneshot::Receiver<Result<InsertOutcome, ApiError>>,
}

impl PendingSend {
    /// Waits for the commit.
    pub async fn complete(self) -> Result<SendMessageResponse, ApiError> {
        let outcome = self
            .answer
            .await
            .map_err(|_| ApiError::unavailable(&"message writer stopped"))??;
        match outcome {
            InsertOutcome::Created(record) => Ok(SendMessageResponse {
                message: to_wire(record),
                created: true,
            }),
            InsertOutcome::Existing(record) => Ok(SendMessageResponse {
                message: to_wire(record),
                created: false,
            }),
            InsertOutcome::IdConflict => Err(ApiError::new(
                ErrorCode::MessageIdConflict,
                "this message id is already used by a different message",
            )),
            InsertOutcome::InvalidRelation => Err(ApiError::new(
                ErrorCode::InvalidRelation,
                "the related message does not exist in this conversation, is deleted, or is not yours",
            )),
        }
    }
}

/// Every device of each of `users`.
fn user_targets(users: &[UserId]) -> Vec<Target> {
    users
        .iter()
        .map(|&user_id| Target::User { user_id })
        .collect()
}

/// Checks a send request and turns it into a message to store.
fn validate(
    caller: &AuthContext,
    conversation_id: ConversationId,
    request: &SendMessageRequest,
    participants: &[UserId],
) -> Result<NewMessage, ApiError> {
    let ciphertext = decode_base64(&request.encrypted_content)
        .ok_or_else(|| ApiError::invalid_field("encrypted_content", "must be standard base64"))?;
    if ciphertext.is_empty() || ciphertext.len() > MAX_CIPHERTEXT_BYTES {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("encrypted_content must be 1 to {MAX_CIPHERTEXT_BYTES} bytes"),
        ));
    }
    let hash = hex::encode(Sha256::digest(&ciphertext));
    if request.content_hash != hash {
        return Err(ApiError::new(
            ErrorCode::ContentHashMismatch,
            "content_hash must be the lowercase hex SHA-256 of the decoded encrypted_content",
        ));
    }
    let message_type: MessageType = request
        .message_type
        .parse()
        .ok()
        .filter(|t| *t != MessageType::Membership)
        .ok_or_else(|| {
            ApiError::invalid_field(
                "message_type",
                "must be text, image, file, audio, video or location",
            )
        })?;
    let metadata = &request.metadata;
    if metadata.membership.is_some() {
        return Err(ApiError::invalid_field(
            "metadata.membership",
            "is written by the server only",
        ));
    }
    if metadata.mentions.len() > MAX_MENTIONS {
        return Err(ApiError::invalid_field(
            "metadata.mentions",
            "at most 256 users",
        ));
    }
    if metadata.mentions.iter().any(|m| !participants.contains(m)) {
        return Err(ApiError::invalid_field(
            "metadata.mentions",
            "must name participants",
        ));
    }
    let now = zynk_backends::now();
    if let Some(expires) = request.expires_at {
        if expires <= now {
            return Err(ApiError::invalid_field(
                "expires_at",
                "must be in the future",
            ));
        }
        if expires > now + chrono::Duration::days(365) {
            return Err(ApiError::invalid_field(
                "expires_at",
                "must be within a year",
            ));
        }
    }
    if metadata
        .relation
        .is_some_and(|r| r.message_id == request.message_id)
    {
        return Err(ApiError::invalid_field(
            "metadata.relation",
            "a message cannot relate to itself",
        ));
    }
    let metadata = serde_json::to_value(metadata).map_err(|e| ApiError::internal(&e))?;
    Ok(NewMessage {
        id: request.message_id,
        conversation_id,
        sender_id: caller.user_id,
        sender_device_id: caller.device_id,
        encrypted_content: ciphertext,
        content_hash: hash,
        message_type,
        metadata,
        relation: request.metadata.relation.as_ref().map(relation_write),
        expires_at: request.expires_at,
    })
}

/// What a relation requires of its target and does to it. Every relation needs a live target
/// in the same conversation; edits and deletions also need it to be the sender's own message.
/// An edit marks the target edited, a deletion deletes it, a reaction leaves it as it is.
pub fn relation_write(relation: &Relation) -> RelationWrite {
    let (require_same_sender, effect) = match relation.kind {
        RelationType::Edit => (true, RelationEffect::MarkEdited),
        RelationType::Delete => (true, RelationEffect::Delete),
        RelationType::Reaction => (false, RelationEffect::None),
    };
    RelationWrite {
        target: relation.message_id,
        require_same_sender,
        effect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_and_deletions_need_the_senders_own_target_reactions_do_not() {
        let target = MessageId::new_v7();
        let write = |kind| {
            relation_write(&Relation {
                kind,
                message_id: target,
            })
        };
        let expected = |require_same_sender, effect| RelationWrite {
            target,
            require_same_sender,
            effect,
        };
        assert_eq!(
            write(RelationType::Edit),
            expected(true, RelationEffect::MarkEdited)
        );
        assert_eq!(
            write(RelationType::Delete),
            expected(true, RelationEffect::Delete)
        );
        assert_eq!(
            write(RelationType::Reaction),
            expected(false, RelationEffect::None)
        );
    }
}
