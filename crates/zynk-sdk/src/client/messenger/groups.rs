//! Groups for [`Messenger`]: creating and managing groups, naming a group by id or by its
//! (unique) name, and sending to a group's conversation. Encryption is that of every
//! conversation (see `send.rs`): before each send the member list is read from the server, the
//! sending device's Megolm session is shared with every member device that lacks it, and it is
//! rotated when a device that held it is no longer a member's (a member removed or gone, a
//! device revoked), so a removed member cannot read what follows; a member added later gets the
//! session from its current index on, so earlier messages stay unreadable to them.

use zynk_proto::GroupId;
use zynk_proto::groups::{CreateGroupRequest, EncryptionMode, Group, UpdateGroupRequest};
use zynk_proto::ids::{ConversationId, UserId};
use zynk_proto::messages::MessageMetadata;

use super::Messenger;
use super::send::SendReceipt;
use crate::client::error::ClientError;
use crate::crypto::RoomEventContent;

impl Messenger {
    /// Creates a group named `name` with these users (by username) besides this one.
    pub async fn create_group(
        &mut self,
        name: &str,
        members: &[String],
        encryption_mode: EncryptionMode,
    ) -> Result<Group, ClientError> {
        let mut ids = Vec::with_capacity(members.len());
        for username in members {
            ids.push(self.lookup_user(username).await?.user_id);
        }
        let request = CreateGroupRequest {
            name: name.to_owned(),
            description: None,
            avatar_url: None,
            encryption_mode,
            members: ids,
            max_members: None,
        };
        let group = self.api().create_group(&request).await?;
        self.remember_group(&group).await?;
        // A `shared_secret` group's first epoch starts now (see `shared.rs`).
        let mut warnings = Vec::new();
        self.start_epoch_if_due(group.conversation_id, &mut warnings)
            .await?;
        Ok(group)
    }

    /// This user's groups.
    pub async fn groups(&mut self) -> Result<Vec<Group>, ClientError> {
        self.api().groups().await
    }

    /// A group named by its id or by its name, which must then be unique among this user's
    /// groups.
    pub async fn find_group(&mut self, id_or_name: &str) -> Result<Group, ClientError> {
        if let Ok(id) = id_or_name.parse::<GroupId>() {
            return self.api().group(id).await;
        }
        let mut matching: Vec<Group> = self
            .groups()
            .await?
            .into_iter()
            .filter(|g| g.name == id_or_name)
            .collect();
        match matching.len() {
            1 => Ok(matching.remove(0)),
            0 => Err(ClientError::Invalid(format!(
                "you are in no group named {id_or_name:?}"
            ))),
            n => Err(ClientError::Invalid(format!(
                "{n} of your groups are named {id_or_name:?}: give the group id"
            ))),
        }
    }

    /// Adds a user to a group (admins).
    pub async fn add_to_group(
        &mut self,
        group: GroupId,
        username: &str,
    ) -> Result<Group, ClientError> {
        let user = self.lookup_user(username).await?.user_id;
        let added = self.api().add_group_member(group, user).await?;
        self.remember_group(&added).await?;
        self.rotate_after_change(added.conversation_id, &format!("{username} was added"))
            .await?;
        Ok(added)
    }

    /// After a change of readers made here in a `shared_secret` group, the new epoch's
    /// secret is made and shared at once (see `shared.rs`). The change itself is done: a
    /// failure here says so (the secret is then made at this or another admin device's next
    /// sync or send).
    async fn rotate_after_change(
        &mut self,
        conversation: ConversationId,
        done: &str,
    ) -> Result<(), ClientError> {
        let mut warnings = Vec::new();
        self.start_epoch_if_due(conversation, &mut warnings)
            .await
            .map_err(|error| {
                ClientError::Invalid(format!(
                    "{done}, but the new group key could not be shared yet ({error}); an admin \
                     device shares it at its next sync or send"
                ))
            })
    }

    /// Removes a member from a group (admins).
    pub async fn remove_from_group(
        &mut self,
        group: GroupId,
        username: &str,
    ) -> Result<(), ClientError> {
        let user = self.lookup_user(username).await?.user_id;
        let found = self.api().group(group).await?;
        self.api().remove_group_member(group, user).await?;
        if user == self.user_id()? {
            // Removing oneself is leaving: the remaining admins start the next epoch.
            return Ok(());
        }
        self.remember_group(&found).await?;
        self.rotate_after_change(found.conversation_id, &format!("{username} was removed"))
            .await
    }

    /// Makes a member an admin (admins).
    pub async fn promote_in_group(
        &mut self,
        group: GroupId,
        username: &str,
    ) -> Result<Group, ClientError> {
        let user = self.lookup_user(username).await?.user_id;
        self.api().set_group_admin(group, user, true).await
    }

    /// Leaves a group.
    pub async fn leave_group(&mut self, group: GroupId) -> Result<(), ClientError> {
        self.api().leave_group(group).await
    }

    /// Renames a group (admins).
    pub async fn rename_group(&mut self, group: GroupId, name: &str) -> Result<Group, ClientError> {
        let request = UpdateGroupRequest {
            name: Some(name.to_owned()),
            ..UpdateGroupRequest::default()
        };
        self.api().update_group(group, &request).await
    }

    /// Sends a text message to a group.
    pub async fn send_group_text(
        &mut self,
        group: &Group,
        text: &str,
    ) -> Result<SendReceipt, ClientError> {
        self.remember_group(group).await?;
        self.send_event(
            group.conversation_id,
            RoomEventContent::text(text),
            MessageMetadata::default(),
        )
        .await
    }

    /// Records the group's conversation locally (so its history is fetched and its keys
    /// shared).
    async fn remember_group(&mut self, group: &Group) -> Result<ConversationId, ClientError> {
        let conversation = self.api().conversation(group.conversation_id).await?;
        self.record_conversation(&conversation)?;
        self.data
            .group_secrets
            .modes
            .insert(group.conversation_id, group.encryption_mode);
        Ok(group.conversation_id)
    }

    /// The usernames of a group's members with their roles.
    pub fn group_members(&self, group: &Group) -> Vec<(String, String, UserId)> {
        let mut members = Vec::with_capacity(group.members.len());
        for m in &group.members {
            members.push((m.username.clone(), m.role.as_str().to_owned(), m.user_id));
        }
        members
    }
}
