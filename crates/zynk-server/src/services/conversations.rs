//! Conversations and delivery/read cursors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use zynk_backends::model::{ConversationRecord, CursorMove, ParticipantRecord};
use zynk_proto::conversations::{
    Conversation, CreateConversationRequest, Participant, ReceiptRequest,
};
use zynk_proto::ws::ServerFrame;
use zynk_proto::{ConversationId, ConversationKind, ErrorCode, GroupId, RequestState, UserId};

use super::auth::AuthContext;
use super::contacts::{ContactService, NewConversation, SendGate};
use crate::context::Context;
use crate::error::ApiError;
use crate::realtime::{Hub, Target};

/// How long a conversation's participant list is cached on a node. Participants of 1:1
/// conversations never change; group membership changes invalidate the entry explicitly.
const PARTICIPANTS_TTL: Duration = Duration::from_secs(30);

/// Cached participant lists with the time they were read.
type ParticipantCache = DashMap<ConversationId, (Arc<[UserId]>, Instant)>;

/// The group of each conversation seen (`None` for a 1:1 conversation). A conversation's group
/// never changes, so entries need no expiry.
type GroupOfConversation = DashMap<ConversationId, Option<GroupId>>;

/// How long after a membership change its cache entry is dropped a second time: a read that
/// began before the change's commit and stored the old list after the first drop is undone by
/// then.
const SECOND_INVALIDATION: Duration = Duration::from_millis(500);

/// Conversations of the caller.
#[derive(Clone)]
pub struct ConversationService {
    context: Arc<Context>,
    hub: Arc<Hub>,
    participants: Arc<ParticipantCache>,
    contacts: ContactService,
    groups: Arc<GroupOfConversation>,
}

fn participant_to_wire(p: &ParticipantRecord, viewer: UserId) -> Participant {
    Participant {
        user_id: p.user_id,
        role: p.role.clone(),
        last_delivered_seq: p.last_delivered_seq,
        last_read_seq: (p.read_receipts || p.user_id == viewer).then_some(p.last_read_seq),
        joined_at: p.joined_at,
    }
}

fn to_wire(c: ConversationRecord, viewer: UserId) -> Conversation {
    Conversation {
        conversation_id: c.id,
        kind: c.kind,
        participants: c
            .participants
            .iter()
            .map(|p| participant_to_wire(p, viewer))
            .collect(),
        last_seq: c.last_seq,
        unread_count: c.unread_count,
        request_state: c.request_state,
        anchor_expiring: c.anchor_expiring,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

impl ConversationService {
    /// A service over the shared context.
    pub fn new(context: Arc<Context>, hub: Arc<Hub>) -> Self {
        Self {
            contacts: ContactService::new(context.clone()),
            context,
            hub,
            participants: Arc::default(),
            groups: Arc::default(),
        }
    }

    /// Blocks and message requests (shared with the message service).
    pub fn contacts(&self) -> &ContactService {
        &self.contacts
    }

    /// Opens the 1:1 conversation with another user; `true` when it was created now.
    pub async fn open(
        &self,
        caller: &AuthContext,
        request: &CreateConversationRequest,
    ) -> Result<(Conversation, bool), ApiError> {
        // Groups are opened through their own API: only a 1:1 conversation is opened here.
        let kind = request.kind.parse::<ConversationKind>();
        if kind != Ok(ConversationKind::OneToOne) {
            return Err(ApiError::invalid_field(
                "type",
                "must be one_to_one (groups have their own API)",
            ));
        }
        if request.participant == caller.user_id {
            return Err(ApiError::invalid_field(
                "participant",
                "must be another user",
            ));
        }
        // A new conversation needs the other user's consent rules; an existing one is returned
        // as it is (sends into it are checked one by one).
        let other_state = match self
            .contacts
            .new_conversation(caller.user_id, request.participant)
            .await?
        {
            NewConversation::NoSuchUser => return Err(ApiError::not_found("user")),
            NewConversation::Exists => RequestState::Accepted,
            NewConversation::Allowed { other_state } => other_state,
        };
        let (record, created) = self
            .context
            .store
            .open_one_to_one_as(
                caller.user_id,
                request.participant,
                request.anchor_expiring,
                other_state,
                zynk_backends::now(),
            )
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        Ok((to_wire(record, caller.user_id), created))
    }

    /// The caller's message requests (1:1 conversations with messages that the caller has not
    /// accepted), most recently active first.
    pub async fn requests(&self, caller: &AuthContext) -> Result<Vec<Conversation>, ApiError> {
        let records = self.context.store.list_requests(caller.user_id).await?;
        Ok(records
            .into_iter()
            .map(|c| to_wire(c, caller.user_id))
            .collect())
    }

    /// Accepts a message request (or a declined one): the conversation joins the caller's list
    /// and the other side's messages wake the caller's devices. Accepting an accepted
    /// conversation changes nothing. Groups: `not_a_request`.
    pub async fn accept(
        &self,
        caller: &AuthContext,
        conversation_id: ConversationId,
    ) -> Result<Conversation, ApiError> {
        self.request_answer(
            caller,
            conversation_id,
            &[RequestState::Pending, RequestState::Declined],
            RequestState::Accepted,
        )
        .await?;
        self.get(caller, conversation_id).await
    }

    /// Declines a message request: the conversation is hidden from the caller and the other
    /// side's sends are refused (they are not told why). Declining again changes nothing;
    /// an accepted conversation or a group is `not_a_request` (block the user instead).
    pub async fn decline(
        &self,
        caller: &AuthContext,
        conversation_id: ConversationId,
    ) -> Result<(), ApiError> {
        let before = self
            .request_answer(
                caller,
                conversation_id,
                &[RequestState::Pending],
                RequestState::Declined,
            )
            .await?;
        if before == RequestState::Accepted {
            return Err(ApiError::new(
                ErrorCode::NotARequest,
                "this conversation is not a message request (block the user instead)",
            ));
        }
        Ok(())
    }

    async fn request_answer(
        &self,
        caller: &AuthContext,
        conversation_id: ConversationId,
        from: &[RequestState],
        to: RequestState,
    ) -> Result<RequestState, ApiError> {
        match self
            .contacts
            .set_state(conversation_id, caller.user_id, from, to)
            .await?
        {
            Some(before) => Ok(before),
            None => {
                // A group the caller is in, or nothing of the caller's at all.
                self.get(caller, conversation_id).await?;
                Err(ApiError::new(
                    ErrorCode::NotARequest,
                    "group conversations have no message requests",
                ))
            }
        }
    }

    /// The caller's conversations, most recently active first.
    pub async fn list(&self, caller: &AuthContext) -> Result<Vec<Conversation>, ApiError> {
        let records = self
            .context
            .store
            .list_conversations(caller.user_id)
            .await?;
        Ok(records
            .into_iter()
            .map(|c| to_wire(c, caller.user_id))
            .collect())
    }

    /// One conversation of the caller; others' conversations are "not found".
    pub async fn get(
        &self,
        caller: &AuthContext,
        conversation_id: ConversationId,
    ) -> Result<Conversation, ApiError> {
        let record = self
            .context
            .store
            .get_conversation(conversation_id, caller.user_id)
            .await?
            .ok_or_else(|| ApiError::not_found("conversation"))?;
        Ok(to_wire(record, caller.user_id))
    }

    /// The participants of a conversation: of a 1:1 conversation cached briefly on this node, of
    /// a group's conversation in the group-member cache of the ephemeral store
    /// (`group_members:{group_id}`, shared by every node and dropped on every membership change).
    pub async fn participants(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Arc<[UserId]>, ApiError> {
        if let Some(entry) = self.participants.get(&conversation_id)
            && entry.1.elapsed() < PARTICIPANTS_TTL
        {
            return Ok(entry.0.clone());
        }
        if let Some(group_id) = self.group_of(conversation_id).await? {
            return self.group_members(group_id, conversation_id).await;
        }
        let users: Arc<[UserId]> = self
            .context
            .store
            .participants(conversation_id)
            .await?
            .into();
        if !users.is_empty() {
            if self.participants.len() > 100_000 {
                self.participants
                    .retain(|_, (_, at)| at.elapsed() < PARTICIPANTS_TTL);
            }
            self.participants
                .insert(conversation_id, (users.clone(), Instant::now()));
        }
        Ok(users)
    }

    /// The group whose conversation this is; `None` for a 1:1 conversation.
    pub async fn group_of(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Option<GroupId>, ApiError> {
        if let Some(entry) = self.groups.get(&conversation_id) {
            return Ok(*entry);
        }
        let group = self
            .context
            .store
            .group_of_conversation(conversation_id)
            .await?;
        if self.groups.len() > 100_000 {
            self.groups.clear();
        }
        self.groups.insert(conversation_id, group);
        Ok(group)
    }

    /// A group's members, through the group-member cache.
    async fn group_members(
        &self,
        group_id: GroupId,
        conversation_id: ConversationId,
    ) -> Result<Arc<[UserId]>, ApiError> {
        match self.context.ephemeral.group_members_get(group_id).await {
            Ok(Some(members)) => return Ok(members.into()),
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "group member cache unreadable"),
        }
        let users = self.context.store.participants(conversation_id).await?;
        if !users.is_empty()
            && let Err(err) = self
                .context
                .ephemeral
                .group_members_put(group_id, &users)
                .await
        {
            tracing::warn!(error = %err, "group member cache not written");
        }
        Ok(users.into())
    }

    /// Drops a group's cached member list, at once and once more shortly after (see
    /// [`SECOND_INVALIDATION`]). Call after every committed membership change.
    pub async fn invalidate_group(&self, group_id: GroupId) {
        invalidate_group_members(&self.context, group_id).await;
    }

    /// Fails with "not found" unless `user_id` participates in the conversation.
    pub async fn require_participant(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> Result<Arc<[UserId]>, ApiError> {
        let users = self.participants(conversation_id).await?;
        if users.contains(&user_id) {
            Ok(users)
        } else {
            Err(ApiError::not_found("conversation"))
        }
    }

    /// Moves the caller's cursors and tells the participants (the read cursor only where the
    /// caller's privacy settings allow read receipts).
    pub async fn receipt(
        &self,
        caller: &AuthContext,
        conversation_id: ConversationId,
        request: &ReceiptRequest,
    ) -> Result<(), ApiError> {
        for (field, value) in [
            ("delivered_up_to", request.delivered_up_to),
            ("read_up_to", request.read_up_to),
        ] {
            if value.is_some_and(|v| v < 0) {
                return Err(ApiError::invalid_field(field, "must not be negative"));
            }
        }
        if request.delivered_up_to.is_none() && request.read_up_to.is_none() {
            return Err(ApiError::new(
                ErrorCode::InvalidField,
                "give delivered_up_to or read_up_to",
            ));
        }
        self.advance(
            caller.user_id,
            conversation_id,
            request.delivered_up_to,
            request.read_up_to,
        )
        .await
    }

    /// Moves a user's cursors and broadcasts the change.
    pub async fn advance(
        &self,
        user_id: UserId,
        conversation_id: ConversationId,
        delivered: Option<i64>,
        read: Option<i64>,
    ) -> Result<(), ApiError> {
        let moved = self
            .move_cursors(&[CursorMove {
                conversation_id,
                user_id,
                delivered_up_to: delivered,
                read_up_to: read,
            }])
            .await?;
        if moved == 1 {
            Ok(())
        } else {
            Err(ApiError::not_found("conversation"))
        }
    }

    /// Moves many delivered cursors in one transaction (coalesced acknowledgements) and tells
    /// the participants. `acks` holds (conversation, user, delivered up to); a user who is no
    /// longer a participant is skipped.
    pub async fn advance_delivered(
        &self,
        acks: &[(ConversationId, UserId, i64)],
    ) -> Result<(), ApiError> {
        let moves: Vec<CursorMove> = acks
            .iter()
            .map(|&(conversation_id, user_id, seq)| CursorMove {
                conversation_id,
                user_id,
                delivered_up_to: Some(seq),
                read_up_to: None,
            })
            .collect();
        self.move_cursors(&moves).await.map(|_| ())
    }

    /// Moves the cursors of the `moves` whose user participates (the others are skipped), in
    /// one transaction, and announces each; returns how many moved.
    async fn move_cursors(&self, moves: &[CursorMove]) -> Result<usize, ApiError> {
        let mut kept = Vec::with_capacity(moves.len());
        let mut audiences = Vec::with_capacity(moves.len());
        for m in moves {
            match self.require_participant(m.conversation_id, m.user_id).await {
                Ok(users) => {
                    kept.push(*m);
                    audiences.push(users);
                }
                Err(e) if e.code == ErrorCode::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if kept.is_empty() {
            return Ok(0);
        }
        let moved = self
            .context
            .store
            .move_cursors(&kept, zynk_backends::now())
            .await?;
        let mut count = 0;
        for ((m, users), outcome) in kept.iter().zip(audiences).zip(moved) {
            if let Some(outcome) = outcome {
                use crate::services::analytics::EventKind;
                if outcome.delivered_moved {
                    self.context
                        .analytics
                        .record(m.user_id, EventKind::MessageDelivered);
                }
                if outcome.read_moved {
                    self.context
                        .analytics
                        .record(m.user_id, EventKind::MessageRead);
                }
                // A receipt that moves nothing announces nothing; a read alone, without read
                // receipts, only to the user's own devices.
                if outcome.moved() {
                    let others_see = outcome.delivered_moved || outcome.participant.read_receipts;
                    self.announce_cursors(
                        m.conversation_id,
                        &users,
                        &outcome.participant,
                        others_see,
                    )
                    .await;
                }
                count += 1;
            }
        }
        Ok(count)
    }

    /// Sends a participant's cursors to the others (the read cursor only where their privacy
    /// settings allow read receipts) and to the participant's own devices. In a 1:1 conversation
    /// the other user sees them only where the participant may send there (the send gate,
    /// cached): across a block, either way, receipts no more cross than messages do.
    async fn announce_cursors(
        &self,
        conversation_id: ConversationId,
        users: &[UserId],
        participant: &ParticipantRecord,
        others_see: bool,
    ) {
        let user_id = participant.user_id;
        let others_see = others_see
            && matches!(
                self.contacts
                    .send_gate(conversation_id, user_id, users)
                    .await,
                Ok(SendGate::Open { .. })
            );
        let others: Vec<Target> = users
            .iter()
            .filter(|u| **u != user_id)
            .map(|&user_id| Target::User { user_id })
            .collect();
        let frame = |read_visible: bool| ServerFrame::Receipt {
            conversation_id,
            user_id,
            last_delivered_seq: participant.last_delivered_seq,
            last_read_seq: read_visible.then_some(participant.last_read_seq),
        };
        if others_see {
            self.hub
                .publish(&others, &frame(participant.read_receipts))
                .await;
        }
        self.hub
            .publish(&[Target::User { user_id }], &frame(true))
            .await;
    }
}

/// Drops a group's cached member list on every node, and once more a little later (against a
/// read that raced the change).
pub async fn invalidate_group_members(context: &Context, group_id: GroupId) {
    if let Err(err) = context.ephemeral.group_members_invalidate(group_id).await {
        tracing::warn!(error = %err, "group member cache not invalidated");
    }
    let ephemeral = context.ephemeral.clone();
    tokio::spawn(async move {
        tokio::time::sleep(SECOND_INVALIDATION).await;
        if let Err(err) = ephemeral.group_members_invalidate(group_id).await {
            tracing::warn!(error = %err, "group member cache not invalidated");
        }
    });
}
