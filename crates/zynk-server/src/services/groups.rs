//! Groups: creation, settings, membership.
//!
//! The store applies each change in one transaction that also keeps the group conversation's
//! participants in step and writes one `membership` message per change (with its own `seq`);
//! the rules that depend on the current state (the caller is an admin, the group has room, an
//! admin remains) are checked inside that transaction. This service checks the request, maps
//! the outcome to an answer, drops the cached member list (on every node: the cache lives in
//! the ephemeral store) and then delivers the events like messages, to the members before and
//! after the change (so a removed member's devices learn of their removal, and nothing after).

use std::sync::Arc;

use zynk_backends::model::{
    GroupChanges, GroupOutcome, GroupRecord, GroupWrite, MembershipChange, NewGroup,
};
use zynk_proto::groups::{
    AddMemberRequest, CreateGroupRequest, Group, GroupMember, GroupRole, MAX_AVATAR_URL_BYTES,
    MAX_GROUP_DESCRIPTION_CHARS, MAX_GROUP_MEMBERS, MAX_GROUP_NAME_CHARS, UpdateGroupRequest,
};
use zynk_proto::{ConversationId, ErrorCode, GroupId, UserId};

use super::auth::AuthContext;
use super::contacts;
use super::conversations::ConversationService;
use super::messages::to_wire as message_to_wire;
use crate::context::Context;
use crate::error::ApiError;
use crate::realtime::{Hub, Target};

/// Groups of the caller.
#[derive(Clone)]
pub struct GroupService {
    context: Arc<Context>,
    hub: Arc<Hub>,
    conversations: ConversationService,
}

/// The wire form of a group.
pub fn to_wire(group: GroupRecord) -> Group {
    Group {
        group_id: group.id,
        conversation_id: group.conversation_id,
        name: group.name,
        description: group.description,
        avatar_url: group.avatar_url,
        max_members: group.max_members,
        encryption_mode: group.encryption_mode,
        created_by: group.created_by,
        created_at: group.created_at,
        updated_at: group.updated_at,
        members: group
            .members
            .into_iter()
            .map(|m| GroupMember {
                user_id: m.user_id,
                username: m.username,
                role: m.role,
                joined_at: m.joined_at,
                joined_seq: m.joined_seq,
                invited_by: m.invited_by,
            })
            .collect(),
    }
}

/// A checked group name: trimmed, 1-255 characters, no control characters.
fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_GROUP_NAME_CHARS {
        return Err(ApiError::invalid_field(
            "name",
            "must be 1 to 255 characters",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// A checked description; empty means none.
fn check_description(description: &str) -> Result<Option<String>, ApiError> {
    if description.chars().count() > MAX_GROUP_DESCRIPTION_CHARS {
        return Err(ApiError::invalid_field(
            "description",
            "must be at most 4096 characters",
        ));
    }
    Ok((!description.is_empty()).then(|| description.to_owned()))
}

/// A checked avatar URL (until encrypted files exist, an avatar is a URL); empty means none.
fn check_avatar_url(url: &str) -> Result<Option<String>, ApiError> {
    if url.is_empty() {
        return Ok(None);
    }
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if url.len() > MAX_AVATAR_URL_BYTES
        || !scheme_ok
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ApiError::invalid_field(
            "avatar_url",
            "must be an http(s) URL of at most 2048 bytes",
        ));
    }
    Ok(Some(url.to_owned()))
}

impl GroupService {
    /// A service over the shared context.
    pub fn new(context: Arc<Context>, hub: Arc<Hub>, conversations: ConversationService) -> Self {
        Self {
            context,
            hub,
            conversations,
        }
    }

    /// Creates a group with the caller as its admin.
    pub async fn create(
        &self,
        caller: &AuthContext,
        request: &CreateGroupRequest,
    ) -> Result<Group, ApiError> {
        let name = check_name(&request.name)?;
        let description = match &request.description {
            Some(d) => check_description(d)?,
            None => None,
        };
        let avatar_url = match &request.avatar_url {
            Some(u) => check_avatar_url(u)?,
            None => None,
        };
        let max_members = request.max_members.unwrap_or(MAX_GROUP_MEMBERS);
        if !(2..=MAX_GROUP_MEMBERS).contains(&max_members) {
            return Err(ApiError::invalid_field("max_members", "must be 2 to 256"));
        }
        let mut members: Vec<UserId> = Vec::with_capacity(request.members.len());
        for &m in &request.members {
            if m != caller.user_id && !members.contains(&m) {
                members.push(m);
            }
        }
        if members.len() + 1 > max_members as usize {
            return Err(group_full());
        }
        for &member in &members {
            self.check_not_blocked(caller.user_id, member).await?;
        }
        let new = NewGroup {
            id: GroupId::new_v7(),
            conversation_id: ConversationId::new_v7(),
            name,
            description,
            avatar_url,
            encryption_mode: request.encryption_mode,
            max_members,
            created_by: caller.user_id,
            members,
        };
        let outcome = self
            .context
            .store
            .create_group(&new, zynk_backends::now())
            .await?;
        self.context.analytics.record(
            caller.user_id,
            crate::services::analytics::EventKind::GroupChanged,
        );
        let write = self.settle(new.id, outcome).await?;
        write
            .group
            .map(to_wire)
            .ok_or_else(|| ApiError::internal(&"a created group vanished"))
    }

    /// The caller's groups, most recently changed first.
    pub async fn list(&self, caller: &AuthContext) -> Result<Vec<Group>, ApiError> {
        Ok(self
            .context
            .store
            .list_groups(caller.user_id)
            .await?
            .into_iter()
            .map(to_wire)
            .collect())
    }

    /// One of the caller's groups; other groups are "not found".
    pub async fn get(&self, caller: &AuthContext, group_id: GroupId) -> Result<Group, ApiError> {
        let group = self
            .context
            .store
            .get_group(group_id)
            .await?
            .filter(|g| g.members.iter().any(|m| m.user_id == caller.user_id))
            .ok_or_else(|| ApiError::not_found("group"))?;
        Ok(to_wire(group))
    }

    /// Changes name, description or avatar (admins).
    pub async fn update(
        &self,
        caller: &AuthContext,
        group_id: GroupId,
        request: &UpdateGroupRequest,
    ) -> Result<Group, ApiError> {
        let changes = GroupChanges {
            name: request.name.as_deref().map(check_name).transpose()?,
            description: request
                .description
                .as_deref()
                .map(check_description)
                .transpose()?,
            avatar_url: request
                .avatar_url
                .as_deref()
                .map(check_avatar_url)
                .transpose()?,
        };
        if changes == GroupChanges::default() {
            return Err(ApiError::new(
                ErrorCode::InvalidField,
                "give name, description or avatar_url",
            ));
        }
        let outcome = self
            .context
            .store
            .update_group(group_id, caller.user_id, &changes, zynk_backends::now())
            .await?;
        self.context.analytics.record(
            caller.user_id,
            crate::services::analytics::EventKind::GroupChanged,
        );
        let write = self.settle(group_id, outcome).await?;
        write
            .group
            .map(to_wire)
            .ok_or_else(|| ApiError::not_found("group"))
    }

    /// Refuses to put `user` into a group by `adder` when either blocked the other: a user who
    /// blocked the adder gets the same answer as any refused first contact (they are not
    /// revealed), and an adder who blocked `user` is told to unblock first.
    async fn check_not_blocked(&self, adder: UserId, user: UserId) -> Result<(), ApiError> {
        if self.context.store.is_blocked(user, adder).await? {
            return Err(contacts::not_accepting());
        }
        if self.context.store.is_blocked(adder, user).await? {
            return Err(contacts::you_blocked());
        }
        Ok(())
    }

    /// Adds a user (admins).
    pub async fn add(
        &self,
        caller: &AuthContext,
        group_id: GroupId,
        request: &AddMemberRequest,
    ) -> Result<Group, ApiError> {
        // The service's own check of max_members, from the cached member list; the store checks
        // again under the group's lock, and the database refuses an extra row in any case.
        if let Some(group) = self.context.store.get_group(group_id).await?
            && group.members.iter().any(|m| m.user_id == caller.user_id)
        {
            let members = self
                .conversations
                .participants(group.conversation_id)
                .await?;
            if !members.contains(&request.user_id) && members.len() >= group.max_members as usize {
                return Err(group_full());
            }
            // Only an admin's attempt learns of a block (anyone else is refused by the store).
            if group
                .members
                .iter()
                .any(|m| m.user_id == caller.user_id && m.role == GroupRole::Admin)
            {
                self.check_not_blocked(caller.user_id, request.user_id)
                    .await?;
            }
        }
        self.change(caller, group_id, MembershipChange::Add(request.user_id))
            .await?
            .group
            .map(to_wire)
            .ok_or_else(|| ApiError::not_found("group"))
    }

    /// Removes a member (admins; removing oneself is leaving).
    pub async fn remove(
        &self,
        caller: &AuthContext,
        group_id: GroupId,
        user_id: UserId,
    ) -> Result<(), ApiError> {
        self.change(caller, group_id, MembershipChange::Remove(user_id))
            .await
            .map(|_| ())
    }

    /// Makes a member an admin (admins).
    pub async fn promote(
        &self,
        caller: &AuthContext,
        group_id: GroupId,
        user_id: UserId,
    ) -> Result<Group, ApiError> {
        self.change(caller, group_id, MembershipChange::Promote(user_id))
            .await?
            .group
            .map(to_wire)
            .ok_or_else(|| ApiError::not_found("group"))
    }

    /// Makes an admin a plain member (admins; not the last admin).
    pub async fn demote(
        &self,
        caller: &AuthContext,
        group_id: GroupId,
        user_id: UserId,
    ) -> Result<Group, ApiError> {
        self.change(caller, group_id, MembershipChange::Demote(user_id))
            .await?
            .group
            .map(to_wire)
            .ok_or_else(|| ApiError::not_found("group"))
    }

    /// The caller leaves (the last admin's leaving promotes the longest-standing member; the
    /// last member's ends the group).
    pub async fn leave(&self, caller: &AuthContext, group_id: GroupId) -> Result<(), ApiError> {
        self.change(caller, group_id, MembershipChange::Leave)
            .await
            .map(|_| ())
    }

    async fn change(
        &self,
        caller: &AuthContext,
        group_id: GroupId,
        change: MembershipChange,
    ) -> Result<GroupWrite, ApiError> {
        let outcome = self
            .context
            .store
            .change_membership(group_id, caller.user_id, change, zynk_backends::now())
            .await?;
        self.context.analytics.record(
            caller.user_id,
            crate::services::analytics::EventKind::GroupChanged,
        );
        self.settle(group_id, outcome).await
    }

    /// Turns an outcome into an answer; after a write, drops the cached member list and
    /// delivers the events.
    async fn settle(
        &self,
        group_id: GroupId,
        outcome: GroupOutcome,
    ) -> Result<GroupWrite, ApiError> {
        let write = match outcome {
            GroupOutcome::Done(write) => *write,
            GroupOutcome::NotFound => return Err(ApiError::not_found("group")),
            GroupOutcome::NotAdmin => {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "only the group's admins can do this",
                ));
            }
            GroupOutcome::UnknownUser(user) => {
                return Err(ApiError::new(
                    ErrorCode::NotFound,
                    format!("user {user} not found"),
                ));
            }
            GroupOutcome::AlreadyMember => {
                return Err(ApiError::new(
                    ErrorCode::AlreadyMember,
                    "the user is already a member of the group",
                ));
            }
            GroupOutcome::NotMember => {
                return Err(ApiError::new(
                    ErrorCode::NotGroupMember,
                    "the user is not a member of the group",
                ));
            }
            GroupOutcome::Full => return Err(group_full()),
            GroupOutcome::LastAdmin => {
                return Err(ApiError::new(
                    ErrorCode::LastAdmin,
                    "the group's only admin cannot step down; promote someone first or leave",
                ));
            }
        };
        if !write.events.is_empty() || write.group.is_none() {
            self.conversations.invalidate_group(group_id).await;
        }
        let targets: Vec<Target> = write
            .audience
            .iter()
            .map(|&user_id| Target::User { user_id })
            .collect();
        metrics::counter!("zynk_group_membership_events_total")
            .increment(write.events.len() as u64);
        let events = write
            .events
            .iter()
            .map(|event| (targets.clone(), message_to_wire(event.clone()), None))
            .collect();
        self.hub.publish_messages(events).await;
        Ok(write)
    }
}

fn group_full() -> ApiError {
    ApiError::new(
        ErrorCode::GroupFull,
        "the group already has max_members members (at most 256)",
    )
}

/// Takes a user whose account is being deleted out of their groups (a `deleted` event in each,
/// a promotion if no admin remains, the end of a group they were the last member of), then
/// drops each group's cached member list and delivers the events to its members.
pub async fn remove_deleted_account(
    context: &Context,
    hub: &Hub,
    user_id: UserId,
) -> Result<(), ApiError> {
    let writes = context
        .store
        .remove_from_all_groups(user_id, zynk_backends::now())
        .await?;
    for (group_id, write) in writes {
        super::conversations::invalidate_group_members(context, group_id).await;
        let targets: Vec<Target> = write
            .audience
            .iter()
            .filter(|&&u| u != user_id)
            .map(|&user_id| Target::User { user_id })
            .collect();
        metrics::counter!("zynk_group_membership_events_total")
            .increment(write.events.len() as u64);
        let events = write
            .events
            .into_iter()
            .map(|event| (targets.clone(), message_to_wire(event), None))
            .collect();
        hub.publish_messages(events).await;
    }
    Ok(())
}
