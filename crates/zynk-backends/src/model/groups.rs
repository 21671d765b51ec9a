//! Groups and their membership changes.

use super::*;

/// A member of a group (`group_members` with the username).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMemberRecord {
    /// User.
    pub user_id: UserId,
    /// Username.
    pub username: String,
    /// Role.
    pub role: zynk_proto::groups::GroupRole,
    /// Join time.
    pub joined_at: DateTime<Utc>,
    /// Sequence number of the event that added the member.
    pub joined_seq: i64,
    /// Who added them.
    pub invited_by: Option<UserId>,
}

/// A row of `groups` with its members, longest-standing first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    /// Id.
    pub id: zynk_proto::GroupId,
    /// The group's conversation.
    pub conversation_id: ConversationId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Most members.
    pub max_members: u32,
    /// Encryption mode.
    pub encryption_mode: zynk_proto::groups::EncryptionMode,
    /// Creator.
    pub created_by: Option<UserId>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Members.
    pub members: Vec<GroupMemberRecord>,
}

/// A group to create, with its conversation and first members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroup {
    /// Id.
    pub id: zynk_proto::GroupId,
    /// Id of its conversation.
    pub conversation_id: ConversationId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Encryption mode.
    pub encryption_mode: zynk_proto::groups::EncryptionMode,
    /// Most members (2-256).
    pub max_members: u32,
    /// The creator: the first admin.
    pub created_by: UserId,
    /// Other first members, distinct, without the creator.
    pub members: Vec<UserId>,
}

/// Settings to change; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupChanges {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<Option<String>>,
    /// New avatar URL.
    pub avatar_url: Option<Option<String>>,
}

/// A membership change asked for by `actor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipChange {
    /// An admin adds a user.
    Add(UserId),
    /// An admin removes a member (not themself: they leave).
    Remove(UserId),
    /// An admin makes a member an admin.
    Promote(UserId),
    /// An admin makes an admin (possibly themself) a plain member.
    Demote(UserId),
    /// The actor leaves.
    Leave,
}

/// What a group write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupWrite {
    /// The group afterwards; `None` when it ended (its last member left).
    pub group: Option<GroupRecord>,
    /// The `membership` messages written, in sequence order.
    pub events: Vec<MessageRecord>,
    /// Who should hear of it: the members before and after the change.
    pub audience: Vec<UserId>,
}

/// The outcome of a group write. Nothing is written unless it is `Done`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOutcome {
    /// Written.
    Done(Box<GroupWrite>),
    /// No such group, or the actor is not a member.
    NotFound,
    /// The actor is not an admin.
    NotAdmin,
    /// A named user does not exist.
    UnknownUser(UserId),
    /// The user to add is already a member.
    AlreadyMember,
    /// The user is not a member.
    NotMember,
    /// The group would exceed `max_members`.
    Full,
    /// The change would leave members without an admin.
    LastAdmin,
}
