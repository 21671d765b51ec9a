//! Conversations and delivery/read cursors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use zynk_backends::model::{ConversationRecord, CursorMove, ParticipantRecord};
use zynk_proto::conversations::{
    Conversation, CreateConversationRequest, Participant, ReceiptRequest,
};
use zynk_proto::ws::ServerFrame;
use zynk_proto::{ConversationId, ConversationKind, ErrorCode, UserId};

use super::auth::AuthContext;
use crate::context::Context;
use crate::error::ApiError;
use crate::realtime::{Hub, Target};

/// How long a conversation's participant list is cached on a node. Participants of 1:1
/// conversations never change; group membership changes invalidate the entry explicitly.
const PARTICIPANTS_TTL: Duration = Duration::from_secs(30);

/// Cached participant lists with the time they were read.
type ParticipantCache = DashMap<ConversationId, (Arc<[UserId]>, Instant)>;

/// Conversations of the caller.
#[derive(Clone)]
pub struct ConversationService {
    context: Arc<Context>,
    hub: Arc<Hub>,
    participants: Arc<ParticipantCache>,
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
        anchor_expiring: c.anchor_expiring,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

impl ConversationService {
    /// A service over the shared context.
    pub fn new(context: Arc<Context>, hub: Arc<Hub>) -> Self {
        Self {
            context,
            hub,
            participants: Arc::default(),
        }
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
        let (record, created) = self
            .context
            .store
            .open_one_to_one(
                caller.user_id,
                request.participant,
                request.anchor_expiring,
                zynk_backends::now(),
            )
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        Ok((to_wire(record, caller.user_id), created))
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

    /// The participants of a conversation (cached briefly).
    pub async fn participants(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Arc<[UserId]>, ApiError> {
        if let Some(entry) = self.participants.get(&conversation_id)
            && entry.1.elapsed() < PARTICIPANTS_TTL
        {
            return Ok(entry.0.clone());
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
    /// settings allow read receipts) and to the participant's own devices.
    async fn announce_cursors(
        &self,
        conversation_id: ConversationId,
        users: &[UserId],
        participant: &ParticipantRecord,
        others_see: bool,
    ) {
        let user_id = participant.user_id;
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
