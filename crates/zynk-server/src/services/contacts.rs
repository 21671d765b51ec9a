//! Blocking and message requests: who may message whom in a 1:1 conversation.
//!
//! The rules, in one place:
//!
//! * A block is one user's decision about another ([`either_blocks`] is the check other
//!   features call: group adds, calls, presence). Between two users where either blocks the
//!   other, no 1:1 conversation is opened and nothing is sent into their 1:1 conversation. The
//!   blocked user is not told: the refusal is [`not_accepting`], the very answer a user who only
//!   accepts contacts (or declined the request) gives. The blocker is told plainly that they
//!   blocked the user. Group conversations are not affected.
//! * A 1:1 conversation opened by someone the other user has not accepted (no accepted 1:1, no
//!   shared group) starts as a message request (`pending`) on the other side: readable, never
//!   pushed, accepted or declined by the recipient; the recipient's first send accepts it.
//!   `declined` hides it from the recipient and refuses the other side's sends.
//! * The privacy setting `who_can_message = contacts` refuses strangers: only users the person
//!   accepted or shares a group with may open a conversation or send.
//!
//! Each send into a conversation passes [`ContactService::send_gate`], whose decisions are
//! cached per (conversation, sender) on each node for 30 s; every block, unblock, accept, decline
//! and privacy change clears the cache on this node at once and, with Redis, on the other nodes
//! through the `contacts` channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use futures::StreamExt;
use zynk_proto::contacts::BlockedUser;
use zynk_proto::{ConversationId, ErrorCode, RequestState, UserId, WhoCanMessage};

use super::auth::AuthContext;
use crate::context::Context;
use crate::error::ApiError;

/// How long a send decision is cached on a node (changes made anywhere clear it earlier).
const GATE_TTL: Duration = Duration::from_secs(30);
/// The ephemeral channel that tells every node to drop its cached decisions.
const CHANNEL: &str = "contacts";

/// The one answer to a send or an open that the recipient does not accept, whatever the reason
/// (a block, `who_can_message = contacts`, a declined request), so the sender cannot tell which.
pub fn not_accepting() -> ApiError {
    ApiError::new(
        ErrorCode::NotAccepting,
        "this user does not accept messages from you",
    )
}

/// The answer to a blocker who tries to message the user they blocked.
pub fn you_blocked() -> ApiError {
    ApiError::new(
        ErrorCode::Forbidden,
        "you blocked this user; unblock them to message them",
    )
}

/// Whether `a` blocks `b` or `b` blocks `a`: the check for every feature that must not connect
/// two users who blocked each other (1:1 messages, calls, presence, adding to a group).
pub async fn either_blocks(context: &Context, a: UserId, b: UserId) -> Result<bool, ApiError> {
    Ok(context.store.is_blocked(a, b).await? || context.store.is_blocked(b, a).await?)
}

/// What a send into a conversation may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendGate {
    /// The send goes ahead.
    Open {
        /// A participant with a pending request: the message is stored and delivered, but no
        /// push wake-up goes to them.
        quiet: Option<UserId>,
        /// The sender's own side is a request (pending or declined): sending accepts it.
        sender_accepts: bool,
    },
    /// The send is refused with this error.
    Refused(ApiError),
}

/// Cached decisions and the generation that makes a decision read before a change unusable.
#[derive(Default)]
struct GateCache {
    entries: DashMap<(ConversationId, UserId), (SendGate, Instant)>,
    generation: AtomicU64,
}

impl GateCache {
    fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.clear();
    }
}

/// Blocks and message requests.
#[derive(Clone)]
pub struct ContactService {
    context: Arc<Context>,
    gates: Arc<GateCache>,
}

impl ContactService {
    /// A service over the shared context.
    pub fn new(context: Arc<Context>) -> Self {
        Self {
            context,
            gates: Arc::default(),
        }
    }

    /// Blocks a user (again: no change).
    pub async fn block(&self, caller: &AuthContext, user_id: UserId) -> Result<(), ApiError> {
        if user_id == caller.user_id {
            return Err(ApiError::invalid_field("user_id", "must be another user"));
        }
        let exists = self
            .context
            .store
            .block_user(caller.user_id, user_id, zynk_backends::now())
            .await?;
        if !exists {
            return Err(ApiError::not_found("user"));
        }
        self.changed().await;
        Ok(())
    }

    /// Lifts a block (none: no change).
    pub async fn unblock(&self, caller: &AuthContext, user_id: UserId) -> Result<(), ApiError> {
        if user_id == caller.user_id {
            return Err(ApiError::invalid_field("user_id", "must be another user"));
        }
        if self.context.store.get_user(user_id).await?.is_none() {
            return Err(ApiError::not_found("user"));
        }
        if self
            .context
            .store
            .unblock_user(caller.user_id, user_id)
            .await?
        {
            self.changed().await;
        }
        Ok(())
    }

    /// The users the caller blocked, most recent first.
    pub async fn blocks(&self, caller: &AuthContext) -> Result<Vec<BlockedUser>, ApiError> {
        Ok(self
            .context
            .store
            .list_blocks(caller.user_id)
            .await?
            .into_iter()
            .map(|b| BlockedUser {
                user_id: b.user_id,
                username: b.username,
                blocked_at: b.blocked_at,
            })
            .collect())
    }

    /// Decides whether `caller` may open a new 1:1 conversation with `other` (an error is the
    /// refusal). An existing conversation is not decided here: opening it again only returns it,
    /// and sends into it pass [`Self::send_gate`].
    pub async fn new_conversation(
        &self,
        caller: UserId,
        other: UserId,
    ) -> Result<NewConversation, ApiError> {
        let Some(standing) = self.context.store.contact_standing(caller, other).await? else {
            return Ok(NewConversation::NoSuchUser);
        };
        if standing.conversation.is_some() {
            return Ok(NewConversation::Exists);
        }
        if standing.user_blocks_other {
            return Err(you_blocked());
        }
        if standing.other_blocks_user
            || (standing.other_who_can_message == WhoCanMessage::Contacts && !standing.share_group)
        {
            return Err(not_accepting());
        }
        Ok(NewConversation::Allowed {
            other_state: if standing.share_group {
                RequestState::Accepted
            } else {
                RequestState::Pending
            },
        })
    }

    /// Decides a send of `sender` into a conversation with these participants (cached).
    pub async fn send_gate(
        &self,
        conversation_id: ConversationId,
        sender: UserId,
        participants: &[UserId],
    ) -> Result<SendGate, ApiError> {
        // Groups are never gated: only a 1:1 conversation has exactly two participants and is
        // the pair's conversation.
        if participants.len() != 2 {
            return Ok(SendGate::Open {
                quiet: None,
                sender_accepts: false,
            });
        }
        let key = (conversation_id, sender);
        if let Some(entry) = self.gates.entries.get(&key)
            && entry.1.elapsed() < GATE_TTL
        {
            return Ok(entry.0.clone());
        }
        let generation = self.gates.generation.load(Ordering::SeqCst);
        let gate = self.decide(conversation_id, sender, participants).await?;
        if self.gates.entries.len() > 100_000 {
            self.gates
                .entries
                .retain(|_, (_, at)| at.elapsed() < GATE_TTL);
        }
        // A decision read while something changed is used once, not kept.
        if self.gates.generation.load(Ordering::SeqCst) == generation {
            self.gates
                .entries
                .insert(key, (gate.clone(), Instant::now()));
            if self.gates.generation.load(Ordering::SeqCst) != generation {
                self.gates.entries.remove(&key);
            }
        }
        Ok(gate)
    }

    async fn decide(
        &self,
        conversation_id: ConversationId,
        sender: UserId,
        participants: &[UserId],
    ) -> Result<SendGate, ApiError> {
        let open = SendGate::Open {
            quiet: None,
            sender_accepts: false,
        };
        let Some(&other) = participants.iter().find(|u| **u != sender) else {
            return Ok(open);
        };
        let Some(standing) = self.context.store.contact_standing(sender, other).await? else {
            return Ok(open);
        };
        let Some(pair) = standing.conversation.filter(|c| c.id == conversation_id) else {
            // A group of two.
            return Ok(open);
        };
        if standing.user_blocks_other {
            return Ok(SendGate::Refused(you_blocked()));
        }
        let refused = standing.other_blocks_user
            || pair.other_state == RequestState::Declined
            || (standing.other_who_can_message == WhoCanMessage::Contacts
                && pair.other_state != RequestState::Accepted
                && !standing.share_group);
        if refused {
            return Ok(SendGate::Refused(not_accepting()));
        }
        Ok(SendGate::Open {
            quiet: (pair.other_state == RequestState::Pending).then_some(other),
            sender_accepts: pair.user_state != RequestState::Accepted,
        })
    }

    /// Sets the caller's side of a 1:1 conversation to `to` if it is one of `from`; returns the
    /// state before, `None` if the caller has no such conversation.
    pub async fn set_state(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        from: &[RequestState],
        to: RequestState,
    ) -> Result<Option<RequestState>, ApiError> {
        let before = self
            .context
            .store
            .set_request_state(conversation_id, user_id, from, to, zynk_backends::now())
            .await?;
        if before.is_some_and(|b| b != to && from.contains(&b)) {
            self.changed().await;
        }
        Ok(before)
    }

    /// Drops every cached decision here and on the other nodes (after a change that may alter
    /// one: a block, an accept or decline, a privacy change).
    pub async fn changed(&self) {
        self.gates.clear();
        if self.context.config.redis_url.is_some()
            && let Err(err) = self.context.ephemeral.publish(CHANNEL, b"clear").await
        {
            tracing::warn!(error = %err, "cannot tell other nodes about a contact change");
        }
    }

    /// Clears the cached decisions whenever another node announces a change, until the
    /// subscription ends (with Redis only; one node needs no relay).
    pub async fn run_relay(self) {
        if self.context.config.redis_url.is_none() {
            return;
        }
        let mut changes = match self.context.ephemeral.subscribe(CHANNEL).await {
            Ok(changes) => changes,
            Err(err) => {
                tracing::error!(error = %err, "cannot subscribe to contact changes");
                return;
            }
        };
        while changes.next().await.is_some() {
            self.gates.clear();
        }
    }
}

/// The decision on opening a 1:1 conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewConversation {
    /// The other user does not exist.
    NoSuchUser,
    /// The pair's conversation exists already.
    Exists,
    /// A new conversation may be opened; the other side starts in this state.
    Allowed {
        /// `accepted` (they share a group) or `pending` (a message request).
        other_state: RequestState,
    },
}
