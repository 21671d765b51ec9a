//! Blocks and message requests.

use super::*;

/// A block, as its author lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRecord {
    /// The blocked user.
    pub user_id: UserId,
    /// Their username.
    pub username: String,
    /// When the block was made.
    pub blocked_at: DateTime<Utc>,
}

/// The 1:1 conversation of two users with each side's request state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairConversation {
    /// The conversation.
    pub id: ConversationId,
    /// The state of the user the standing was asked for.
    pub user_state: RequestState,
    /// The state of the other user.
    pub other_state: RequestState,
}

/// Everything that decides whether `user` may message `other` in a 1:1 conversation, read in
/// one go (see `ContactStore::contact_standing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactStanding {
    /// `user` blocked `other`.
    pub user_blocks_other: bool,
    /// `other` blocked `user`.
    pub other_blocks_user: bool,
    /// The two are members of at least one common group.
    pub share_group: bool,
    /// `other`'s privacy setting.
    pub other_who_can_message: WhoCanMessage,
    /// Their 1:1 conversation, if one exists.
    pub conversation: Option<PairConversation>,
}
