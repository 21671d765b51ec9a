//! Calls and their participants.

use super::*;

/// One participant of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallParticipantRecord {
    /// The participant.
    pub user_id: UserId,
    /// When they joined; `None` if never.
    pub joined_at: Option<DateTime<Utc>>,
    /// When they left or declined; `None` while in the call or never joined.
    pub left_at: Option<DateTime<Utc>>,
}

/// A call with its participants (the initiator first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// The call.
    pub id: zynk_proto::CallId,
    /// Its state.
    pub status: zynk_proto::calls::CallStatus,
    /// Audio or video.
    pub call_type: zynk_proto::calls::CallType,
    /// The conversation (the column is nullable).
    pub conversation_id: Option<ConversationId>,
    /// Who started it (`None` once their account is deleted).
    pub initiator_id: Option<UserId>,
    /// Whether the conversation is a group (several callees join and leave).
    pub group: bool,
    /// The participants, the initiator first, then by user id.
    pub participants: Vec<CallParticipantRecord>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When first answered.
    pub started_at: Option<DateTime<Utc>>,
    /// When over.
    pub ended_at: Option<DateTime<Utc>>,
    /// Seconds from `started_at` to `ended_at`.
    pub duration_seconds: Option<i64>,
}

/// A new call: the initiator (joined at once) and the conversation's other participants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCall {
    /// The call's id.
    pub id: zynk_proto::CallId,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The caller.
    pub initiator_id: UserId,
    /// Audio or video.
    pub call_type: zynk_proto::calls::CallType,
}

/// What a participant does to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallAction {
    /// A callee device was reached: `initiated` → `ringing`.
    Ring,
    /// A callee answers (or, in a group call in progress, joins or rejoins).
    Answer,
    /// A callee declines a ringing call.
    Decline,
    /// A participant hangs up: leaves, or ends the call; the initiator ending an unanswered
    /// call makes it `missed`.
    End,
}

/// The outcome of a call write. Nothing is written unless it is `Done` (or `Unchanged`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// Written; `event` names what happened (`created`, `ringing`, `answered`, `joined`,
    /// `left`, `declined`, `ended`, `missed`).
    Done {
        /// The call afterwards.
        call: Box<CallRecord>,
        /// What happened.
        event: &'static str,
    },
    /// Nothing to do (ringing an already ringing call).
    Unchanged(Box<CallRecord>),
    /// No such call or conversation, or the actor does not take part.
    NotFound,
    /// The transition is not allowed from the current state.
    Illegal(zynk_proto::calls::CallStatus),
    /// The conversation already has an active call.
    Active,
}
