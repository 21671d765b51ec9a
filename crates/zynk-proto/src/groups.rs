//! Groups: up to 256 members sharing one conversation (`/api/v1/groups`).
//!
//! A group is 1:1 with a conversation of type `group`: its messages are sent and read through the
//! conversation routes like any others. Every membership change is also a message of that
//! conversation, of type `membership`, written by the server with its own `seq`; its
//! `metadata.membership` is a [`MembershipEvent`], so a device can rebuild the member list from
//! the history alone.

use crate::ids::{ConversationId, GroupId, UserId};
use serde::{Deserialize, Serialize};

/// The most members a group can have (and the default `max_members`).
pub const MAX_GROUP_MEMBERS: u32 = 256;
/// Longest group name, in characters.
pub const MAX_GROUP_NAME_CHARS: usize = 255;
/// Longest group description, in characters.
pub const MAX_GROUP_DESCRIPTION_CHARS: usize = 4096;
/// Longest avatar URL, in bytes.
pub const MAX_AVATAR_URL_BYTES: usize = 2048;

/// A member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GroupRole {
    /// Changes membership and settings.
    Admin,
    /// Reads and sends.
    Member,
}

impl GroupRole {
    /// The stored spelling.
    pub const fn as_str(&self) -> &'static str {
        match self {
            GroupRole::Admin => "admin",
            GroupRole::Member => "member",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(GroupRole::Admin),
            "member" => Some(GroupRole::Member),
            _ => None,
        }
    }
}

/// How the group's messages are encrypted (chosen at creation; the server only records it, the
/// clients do the encryption).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EncryptionMode {
    /// A Megolm session per sending device, shared over Olm with every member device.
    #[default]
    SenderKeys,
    /// One group key shared by an admin, rotated on every membership change.
    SharedSecret,
}

impl EncryptionMode {
    /// The stored spelling.
    pub const fn as_str(&self) -> &'static str {
        match self {
            EncryptionMode::SenderKeys => "sender_keys",
            EncryptionMode::SharedSecret => "shared_secret",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sender_keys" => Some(EncryptionMode::SenderKeys),
            "shared_secret" => Some(EncryptionMode::SharedSecret),
            _ => None,
        }
    }
}

/// What happened to a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MembershipAction {
    /// Joined (at creation, or added by an admin).
    Added,
    /// Removed by an admin.
    Removed,
    /// Left.
    Left,
    /// Became an admin (by an admin, or automatically when the last admin left).
    Promoted,
    /// Became a plain member.
    Demoted,
    /// The group's settings changed (`settings` says which, by an admin; `user_id` and `by`
    /// are that admin).
    Updated,
    /// The member's account was deleted (they are no longer a member; `by` is the member).
    Deleted,
}

impl MembershipAction {
    /// The spelling on the wire.
    pub const fn as_str(&self) -> &'static str {
        match self {
            MembershipAction::Added => "added",
            MembershipAction::Removed => "removed",
            MembershipAction::Left => "left",
            MembershipAction::Promoted => "promoted",
            MembershipAction::Demoted => "demoted",
            MembershipAction::Updated => "updated",
            MembershipAction::Deleted => "deleted",
        }
    }
}

/// A member and their role, in the snapshot an `added` event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MemberRole {
    /// The member.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub user_id: UserId,
    /// Their role.
    pub role: GroupRole,
}

/// One membership change (`metadata.membership` of a `membership` message). Not encrypted: the
/// server knows who is in a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MembershipEvent {
    /// What happened.
    pub action: MembershipAction,
    /// The group.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub group_id: GroupId,
    /// The member it happened to.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub user_id: UserId,
    /// Who did it (the member themself for `left`; for an automatic promotion, the admin whose
    /// leaving caused it).
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub by: UserId,
    /// The member's role after the change (for `removed` and `left`: the role they had).
    pub role: GroupRole,
    /// For a member added after the group's creation: every member after the change, so the
    /// new member, who reads the history from this event on, can rebuild the member list.
    /// (Members added at creation read the history from its first event.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberRole>,
    /// For `updated`: the settings that changed, with their new values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<SettingsChange>,
}

/// The settings an `updated` event changed: only the changed fields are present, with their new
/// value (`""` for a cleared description or avatar). Names are not secret to the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    /// The new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The new description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The new avatar URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
}

/// `POST /api/v1/groups`: creates a group whose creator is its first admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    /// 1-255 characters, not blank.
    pub name: String,
    /// Up to 4,096 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// An `https://` or `http://` URL, up to 2,048 bytes.
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// `sender_keys` (default) or `shared_secret`.
    #[serde(default)]
    pub encryption_mode: EncryptionMode,
    /// Initial members besides the creator (existing users; at most `max_members - 1`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<uuid::Uuid>))]
    pub members: Vec<UserId>,
    /// 2-256 (default 256).
    #[serde(default)]
    pub max_members: Option<u32>,
}

/// `PATCH /api/v1/groups/{group_id}`: changes the given settings (admins only). An empty
/// `description` or `avatar_url` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupRequest {
    /// New name (1-255 characters, not blank).
    #[serde(default)]
    pub name: Option<String>,
    /// New description ("" clears it).
    #[serde(default)]
    pub description: Option<String>,
    /// New avatar URL ("" clears it).
    #[serde(default)]
    pub avatar_url: Option<String>,
}

/// `POST /api/v1/groups/{group_id}/members`: adds a user (admins only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The user to add.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub user_id: UserId,
}

/// A member of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupMember {
    /// The user.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub user_id: UserId,
    /// Their username.
    pub username: String,
    /// `admin` or `member`.
    pub role: GroupRole,
    /// When they joined.
    pub joined_at: chrono::DateTime<chrono::Utc>,
    /// The `seq` of the event that added them: they read the history from there on.
    pub joined_seq: i64,
    /// Who added them (absent for the creator, or once that user is deleted).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<uuid::Uuid>))]
    pub invited_by: Option<UserId>,
}

/// A group as its members see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Group {
    /// Id.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub group_id: GroupId,
    /// The group's conversation (send and read messages there).
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub conversation_id: ConversationId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Most members.
    pub max_members: u32,
    /// `sender_keys` or `shared_secret`.
    pub encryption_mode: EncryptionMode,
    /// The creator (absent once deleted).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<uuid::Uuid>))]
    pub created_by: Option<UserId>,
    /// Creation time.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last change of settings or membership.
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// Members, longest-standing first.
    pub members: Vec<GroupMember>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_events_have_a_stable_shape() {
        let id = |n: u128| uuid::Uuid::from_u128(n);
        let event = MembershipEvent {
            action: MembershipAction::Removed,
            group_id: GroupId::from_uuid(id(1)),
            user_id: UserId::from_uuid(id(2)),
            by: UserId::from_uuid(id(3)),
            role: GroupRole::Member,
            members: Vec::new(),
            settings: None,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert!(json.get("members").is_none());
        assert_eq!(json["action"], "removed");
        assert_eq!(json["role"], "member");
        assert_eq!(json["by"], id(3).to_string());
        assert_eq!(
            serde_json::from_value::<MembershipEvent>(json).unwrap(),
            event
        );
        for role in [GroupRole::Admin, GroupRole::Member] {
            assert_eq!(GroupRole::parse(role.as_str()), Some(role));
        }
        for mode in [EncryptionMode::SenderKeys, EncryptionMode::SharedSecret] {
            assert_eq!(EncryptionMode::parse(mode.as_str()), Some(mode));
        }
    }
}
