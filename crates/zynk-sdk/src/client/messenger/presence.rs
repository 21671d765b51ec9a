//! Presence and typing for [`Messenger`]: a contact's presence by username
//! (`zynk presence`), the `presence` and `typing` frames as events with
//! usernames, and the client frames that report typing and `away`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zynk_proto::ids::{ConversationId, UserId};
use zynk_proto::presence::PresenceStatus;
use zynk_proto::ws::ClientFrame;

use super::Messenger;
use crate::client::error::ClientError;

/// A user's presence as this user may see it (`zynk presence USER`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceView {
    /// The user.
    pub username: String,
    /// Their id.
    pub user_id: UserId,
    /// `online`, `away`, `offline`, or `None` when they hide it.
    pub status: Option<PresenceStatus>,
    /// Last activity, `None` when hidden or unknown.
    pub last_seen_at: Option<DateTime<Utc>>,
}

impl PresenceView {
    /// One line for people: `ann online (last seen …)`.
    pub fn to_display_line(&self) -> String {
        let status = self.status.map_or("hidden", PresenceStatus::as_str);
        match self.last_seen_at {
            Some(at) => format!(
                "{} {status} (last seen {})",
                self.username,
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            None => format!("{} {status}", self.username),
        }
    }

    /// One JSON object with `username`, `user_id`, `status`, `last_seen_at`.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A live event of the `presence` or `typing` frames, with the user's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A contact's presence changed.
    Presence {
        /// Their username (or id when unknown).
        username: String,
        /// Their id.
        user_id: UserId,
        /// The new status.
        status: PresenceStatus,
        /// Last activity, when they show it.
        last_seen_at: Option<DateTime<Utc>>,
    },
    /// A participant started or stopped typing.
    Typing {
        /// The conversation.
        conversation_id: ConversationId,
        /// Their username (or id when unknown).
        username: String,
        /// Their id.
        user_id: UserId,
        /// Whether they are typing.
        typing: bool,
    },
}

impl LiveEvent {
    /// One line for people.
    pub fn to_display_line(&self) -> String {
        match self {
            LiveEvent::Presence {
                username, status, ..
            } => format!("{username} is {}", status.as_str()),
            LiveEvent::Typing {
                conversation_id,
                username,
                typing,
                ..
            } => {
                if *typing {
                    format!("{username} is typing in {conversation_id}")
                } else {
                    format!("{username} stopped typing in {conversation_id}")
                }
            }
        }
    }

    /// One JSON object tagged by `type` (`presence` or `typing`).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Messenger {
    /// The presence of `username`, as far as they show it to this user (the
    /// server answers only for users sharing a conversation with this user).
    pub async fn presence(&mut self, username: &str) -> Result<PresenceView, ClientError> {
        let profile = self.lookup_user(username).await?;
        let presence = self.api.presence(profile.user_id).await?;
        Ok(PresenceView {
            username: profile.username,
            user_id: profile.user_id,
            status: presence.status,
            last_seen_at: presence.last_seen_at,
        })
    }

    /// The frame that tells the other participants of `conversation_id` that
    /// this user is (or stopped) typing; send it with
    /// [`crate::client::EventStream::send`] and renew it within 5 s while
    /// typing goes on.
    pub fn typing_frame(conversation_id: ConversationId, typing: bool) -> ClientFrame {
        ClientFrame::Typing {
            conversation_id,
            typing,
        }
    }

    /// The frame that sets this device `away` (the app went to the
    /// background) or `online` again.
    pub fn presence_frame(away: bool) -> ClientFrame {
        ClientFrame::Presence {
            status: if away {
                PresenceStatus::Away
            } else {
                PresenceStatus::Online
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_the_user_and_status() {
        let user_id = UserId::new_random();
        let view = PresenceView {
            username: "ann".into(),
            user_id,
            status: None,
            last_seen_at: None,
        };
        assert_eq!(view.to_display_line(), "ann hidden");
        let json: serde_json::Value = serde_json::from_str(&view.to_json_line()).unwrap();
        assert!(json["status"].is_null());
        let event = LiveEvent::Presence {
            username: "ann".into(),
            user_id,
            status: PresenceStatus::Away,
            last_seen_at: None,
        };
        assert_eq!(event.to_display_line(), "ann is away");
        let json: serde_json::Value = serde_json::from_str(&event.to_json_line()).unwrap();
        assert_eq!(json["type"], "presence");
        assert_eq!(json["status"], "away");
    }
}
