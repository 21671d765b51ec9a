//! Blocking, message requests and the conversation list for [`Messenger`]:
//! block and unblock by username, the requests waiting for this user (a
//! stranger's first messages), accepting and declining them, and every
//! conversation with its unread count.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zynk_proto::conversations::Conversation;
use zynk_proto::ids::{ConversationId, GroupId, UserId};
use zynk_proto::{ConversationKind, RequestState};

use super::Messenger;
use crate::client::error::ClientError;

/// A conversation in the list (`zynk conversations`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationView {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// `one_to_one` or `group`.
    #[serde(rename = "type")]
    pub kind: ConversationKind,
    /// The other participants' usernames.
    pub with: Vec<String>,
    /// For a group conversation, the group (`group_id`, `name`); absent for 1:1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupRef>,
    /// Messages from others this user has not read.
    pub unread: i64,
    /// Sequence number of the latest message (0 when empty).
    pub last_seq: i64,
    /// This user's side: `accepted`, `pending` (a request) or `declined`.
    pub request_state: RequestState,
    /// Last activity.
    pub updated_at: DateTime<Utc>,
}

/// The group of a group conversation in the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRef {
    /// The group.
    pub group_id: GroupId,
    /// Its name.
    pub name: String,
}

/// A message request (`zynk requests`): a stranger's conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestView {
    /// Who wrote.
    pub username: String,
    /// Their user id.
    pub user_id: UserId,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Messages waiting.
    pub unread: i64,
    /// Last activity.
    pub updated_at: DateTime<Utc>,
}

pub use zynk_proto::contacts::BlockedUser;

impl Messenger {
    /// Block `username`: they can no longer open a conversation with this
    /// user or send to them, and are not told.
    pub async fn block(&mut self, username: &str) -> Result<UserId, ClientError> {
        let user = self.other_user(username).await?;
        self.api.block_user(user).await?;
        Ok(user)
    }

    /// Lift a block of `username`.
    pub async fn unblock(&mut self, username: &str) -> Result<UserId, ClientError> {
        let user = self.other_user(username).await?;
        self.api.unblock_user(user).await?;
        Ok(user)
    }

    /// The users this user blocked, most recent first.
    pub async fn blocks(&mut self) -> Result<Vec<BlockedUser>, ClientError> {
        self.api.blocks().await
    }

    /// Message requests waiting for this user, most recent first.
    pub async fn requests(&mut self) -> Result<Vec<RequestView>, ClientError> {
        let me = self.user_id()?;
        let mut views = Vec::new();
        for conversation in self.api.requests().await? {
            let Some(other) = other_participant(&conversation, me) else {
                continue;
            };
            views.push(RequestView {
                username: self.username_of(other).await,
                user_id: other,
                conversation_id: conversation.conversation_id,
                unread: conversation.unread_count,
                updated_at: conversation.updated_at,
            });
        }
        Ok(views)
    }

    /// Accept the message request of `username` (also one declined before).
    pub async fn accept_request(&mut self, username: &str) -> Result<ConversationId, ClientError> {
        let conversation = self.request_from(username).await?;
        self.api.accept_request(conversation).await?;
        Ok(conversation)
    }

    /// Decline the message request of `username`: it is hidden, and their
    /// further messages are refused.
    pub async fn decline_request(&mut self, username: &str) -> Result<ConversationId, ClientError> {
        let conversation = self.request_from(username).await?;
        self.api.decline_request(conversation).await?;
        Ok(conversation)
    }

    /// Every conversation of this user (1:1 and groups; requests are listed
    /// by [`Self::requests`]), most recently active first, with unread counts.
    pub async fn conversations(&mut self) -> Result<Vec<ConversationView>, ClientError> {
        let me = self.user_id()?;
        let conversations = self.api.conversations().await?;
        // Group names, read once, only when there is a group conversation to name.
        let groups = if conversations
            .iter()
            .any(|c| c.kind == ConversationKind::Group)
        {
            self.groups().await?
        } else {
            Vec::new()
        };
        let mut views = Vec::new();
        for conversation in conversations {
            let mut with = Vec::new();
            for participant in &conversation.participants {
                if participant.user_id != me {
                    with.push(self.username_of(participant.user_id).await);
                }
            }
            views.push(ConversationView {
                conversation_id: conversation.conversation_id,
                kind: conversation.kind,
                with,
                group: groups
                    .iter()
                    .find(|g| g.conversation_id == conversation.conversation_id)
                    .map(|g| GroupRef {
                        group_id: g.group_id,
                        name: g.name.clone(),
                    }),
                unread: conversation.unread_count,
                last_seq: conversation.last_seq,
                request_state: conversation.request_state,
                updated_at: conversation.updated_at,
            });
        }
        Ok(views)
    }

    /// The user id of `username`, who must not be this user.
    async fn other_user(&mut self, username: &str) -> Result<UserId, ClientError> {
        let profile = self.lookup_user(username).await?;
        if profile.user_id == self.user_id()? {
            return Err(ClientError::Invalid("that is you".into()));
        }
        Ok(profile.user_id)
    }

    /// The 1:1 conversation with `username` that is (or was) a request to
    /// this user: a pending one from the server's list, else a declined one
    /// this device knows (declined here, or read with `messages`).
    async fn request_from(&mut self, username: &str) -> Result<ConversationId, ClientError> {
        let user = self.other_user(username).await?;
        let me = self.user_id()?;
        let requests = self.api.requests().await?;
        for conversation in &requests {
            // Remembered, so that a request declined here can be accepted later.
            self.record_conversation(conversation)?;
        }
        let pending = requests
            .into_iter()
            .find(|c| other_participant(c, me) == Some(user));
        if let Some(conversation) = pending {
            return Ok(conversation.conversation_id);
        }
        let known: Vec<ConversationId> = self
            .data
            .conversations
            .values()
            .filter(|c| {
                c.kind == ConversationKind::OneToOne
                    && c.has_participant(me)
                    && c.has_participant(user)
            })
            .map(|c| c.id)
            .collect();
        for id in known {
            let conversation = self.api.conversation(id).await?;
            if conversation.request_state == RequestState::Declined {
                return Ok(id);
            }
        }
        Err(ClientError::Invalid(format!(
            "no message request from {username}"
        )))
    }
}

/// The other participant of a 1:1 conversation.
fn other_participant(conversation: &Conversation, me: UserId) -> Option<UserId> {
    if conversation.kind != ConversationKind::OneToOne {
        return None;
    }
    conversation
        .participants
        .iter()
        .map(|p| p.user_id)
        .find(|u| *u != me)
}
