//! `shared_secret` groups for [`Messenger`] (see [`crate::client::group_secrets`] and
//! docs/encryption.md): an admin device makes one secret per epoch and gives it over Olm to
//! every device of every current member; members seal and open the group's messages with the
//! secret of the current epoch.
//!
//! - **When a secret is made.** The epoch changes with every change of readers (added,
//!   removed, left, deleted). The admin device that made the change makes the new epoch's
//!   secret right after it; any admin device that syncs or sends and holds no secret for the
//!   current epoch makes one too (a member left on their own, an admin was offline, the last
//!   admin left and a member was promoted). An admin device that made the current secret also
//!   rotates (next generation) when one of the devices it gave it to is no longer a member's
//!   (revoked), and gives it to members' new devices.
//! - **No secret yet.** A member that is not an admin and holds no secret for the current
//!   epoch does not send ([`ClientError::NoGroupKey`]): nothing is ever sealed under a secret
//!   that a removed member holds. Messages sealed under an epoch this device has no secret for
//!   wait ([`EntryBody::PendingSecret`]) and are opened when it arrives.

use zynk_proto::ConversationKind;
use zynk_proto::groups::EncryptionMode;
use zynk_proto::ids::{ConversationId, DeviceId, MessageId, UserId};

use super::Messenger;
use super::send::wire_ref;
use crate::client::error::ClientError;
use crate::client::group_secrets::{
    GENERATIONS, HeldSecret, Membership, ReceivedSecret, Verdict, generation_of, judge,
};
use crate::client::timeline::EntryBody;
use crate::crypto::shared_secret::{
    GroupSecret, GroupSecretContent, SHARED_SECRET_ALGORITHM, SharedSecretError,
    SharedSecretMessage,
};
use crate::crypto::{CryptoMachine, DeviceRef, RoomEvent, RoomEventContent};

/// `user_id/device_id/curve25519` of a device, as kept in [`HeldSecret::shared_with`].
fn device_key(machine: &CryptoMachine, device: &DeviceRef) -> Option<String> {
    machine.device(device).map(|verified| {
        format!(
            "{}/{}/{}",
            device.user_id,
            device.device_id,
            verified.curve25519_base64()
        )
    })
}

/// Whether stored message bytes are a `shared_secret` envelope.
pub(super) fn is_shared_secret(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| {
            v.get("algorithm")
                .and_then(|a| a.as_str())
                .map(str::to_owned)
        })
        .is_some_and(|a| a == SHARED_SECRET_ALGORITHM)
}

impl Messenger {
    /// The encryption mode of a group conversation: asked of the server once (with every
    /// other group of the user), then remembered (it never changes).
    pub async fn group_mode(
        &mut self,
        conversation_id: ConversationId,
    ) -> Result<EncryptionMode, ClientError> {
        if let Some(mode) = self.data.group_secrets.modes.get(&conversation_id) {
            return Ok(*mode);
        }
        for group in self.api.groups().await? {
            self.data
                .group_secrets
                .modes
                .insert(group.conversation_id, group.encryption_mode);
        }
        self.data
            .group_secrets
            .modes
            .get(&conversation_id)
            .copied()
            .ok_or_else(|| {
                ClientError::Invalid(format!(
                    "conversation {conversation_id} is not one of your groups"
                ))
            })
    }

    /// Whether `conversation_id` is a `shared_secret` group.
    pub(super) async fn is_shared_secret_group(
        &mut self,
        conversation_id: ConversationId,
    ) -> Result<bool, ClientError> {
        let is_group = self
            .data
            .conversations
            .get(&conversation_id)
            .is_some_and(|c| c.kind == ConversationKind::Group);
        Ok(is_group && self.group_mode(conversation_id).await? == EncryptionMode::SharedSecret)
    }

    /// A decrypted `zynk.group_secret` event from `sender` (a verified device): kept until the
    /// history shows whether the sender was an admin at its epoch.
    pub(super) fn receive_group_secret(
        &mut self,
        sender: &DeviceRef,
        content: serde_json::Value,
        warnings: &mut Vec<String>,
    ) {
        let parsed = serde_json::from_value::<GroupSecretContent>(content)
            .ok()
            .filter(|c| GroupSecret::from_content(c).is_ok());
        let (Some(content), Ok(user)) = (parsed, sender.user_id.parse::<UserId>()) else {
            warnings.push(format!(
                "ignored a malformed group key from device {}",
                sender.device_id
            ));
            return;
        };
        let Ok(conversation_id) = content.conversation_id.parse::<ConversationId>() else {
            warnings.push(format!(
                "ignored a group key for an unknown conversation from device {}",
                sender.device_id
            ));
            return;
        };
        self.data.group_secrets.waiting.push(ReceivedSecret::new(
            conversation_id,
            content,
            user,
            sender.device_id.clone(),
        ));
    }

    /// Judges the waiting secrets against the history: those shared by an admin at their
    /// epoch are kept, others are refused (with a warning); the rest wait. Returns whether a
    /// secret was accepted.
    pub(super) fn judge_waiting_secrets(&mut self, warnings: &mut Vec<String>) -> bool {
        let waiting = std::mem::take(&mut self.data.group_secrets.waiting);
        let mut accepted = false;
        for received in waiting {
            let Some(state) = self.data.conversations.get(&received.conversation_id) else {
                self.data.group_secrets.waiting.push(received);
                continue;
            };
            let known = state.cursor.max(state.last_seq());
            match judge(&received, &state.entries, known) {
                Verdict::Accept => {
                    self.data
                        .group_secrets
                        .hold(received.conversation_id, received.held());
                    accepted = true;
                }
                Verdict::Wait => self.data.group_secrets.waiting.push(received),
                Verdict::Refuse(reason) => warnings.push(format!(
                    "refused a group key for epoch {} from device {}: {reason}",
                    received.epoch(),
                    received.sender_device
                )),
            }
        }
        accepted
    }

    /// Opens a `shared_secret` message the server recorded as sent by `sender_id` from
    /// `sender_device_id`.
    pub(super) fn open_shared_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        sender_id: UserId,
        sender_device_id: Option<DeviceId>,
        message: SharedSecretMessage,
        participants: &[UserId],
    ) -> EntryBody {
        let failed = |reason: &str| EntryBody::Failed {
            reason: reason.to_owned(),
        };
        let Some(device_id) = sender_device_id else {
            return failed("the server recorded no sending device");
        };
        let sender = DeviceRef::new(sender_id.to_string(), device_id.to_string());
        if self.machine.device(&sender).is_none() {
            return EntryBody::PendingSecret {
                reason: "the sending device's keys are not known yet".into(),
                message,
                sender_device_id,
            };
        }
        let (conversation, id) = (conversation_id.to_string(), message_id.to_string());
        let secrets = self.data.group_secrets.secrets(conversation_id);
        let plaintext =
            match self
                .machine
                .open_shared_secret(&message, &conversation, &id, &sender, &secrets)
            {
                Ok(plaintext) => plaintext,
                Err(SharedSecretError::UnknownEpoch(epoch)) => {
                    return EntryBody::PendingSecret {
                        reason: format!("the group key of epoch {epoch} has not arrived"),
                        message,
                        sender_device_id,
                    };
                }
                Err(error) => return failed(&error.to_string()),
            };
        let event: RoomEvent = match serde_json::from_slice(&plaintext) {
            Ok(event) => event,
            Err(e) => return failed(&format!("not a room event ({e})")),
        };
        if event.conversation_id != conversation || event.message_id != id {
            return failed("the encrypted event names another conversation or message");
        }
        if event.sender != sender.user_id || event.sender_device != sender.device_id {
            return failed("the encrypted sender differs from the server's record");
        }
        if !participants.contains(&sender_id) {
            return failed("the sender is not a participant");
        }
        EntryBody::Decrypted {
            content: event.content,
            sender_device: event.sender_device,
            sent_at_ms: event.sent_at,
        }
    }

    /// Fetches the device lists of the senders of messages waiting because their sending
    /// device was not known, so that they can be opened.
    pub(super) async fn learn_waiting_senders(&mut self, warnings: &mut Vec<String>) {
        let mut users: Vec<UserId> = Vec::new();
        for state in self.data.conversations.values() {
            for entry in &state.entries {
                if let EntryBody::PendingSecret {
                    sender_device_id: Some(device),
                    ..
                } = &entry.body
                {
                    let sender = DeviceRef::new(entry.sender_id.to_string(), device.to_string());
                    if self.machine.device(&sender).is_none() && !users.contains(&entry.sender_id) {
                        users.push(entry.sender_id);
                    }
                }
            }
        }
        if users.is_empty() {
            return;
        }
        match self.refresh_devices(&users).await {
            Ok(results) => {
                for (_, result) in results {
                    if let Err(error) = result {
                        warnings.push(error.to_string());
                    }
                }
            }
            Err(error) => warnings.push(error.to_string()),
        }
    }

    /// Seals `content` for a `shared_secret` group as this device under the current epoch's
    /// secret (made here first if this user is an admin and none is held). Returns the
    /// envelope's bytes.
    pub(super) async fn seal_for_group(
        &mut self,
        conversation_id: ConversationId,
        message_id: MessageId,
        content: RoomEventContent,
        now_ms: u64,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<u8>, ClientError> {
        // A secret may be waiting in the inbox, and the membership may have changed.
        self.receive_to_device(false, warnings).await?;
        let mut changes = Default::default();
        self.fetch_history(conversation_id, &mut changes).await?;
        self.judge_waiting_secrets(warnings);
        let secret = self.epoch_secret(conversation_id, true, warnings).await?;
        let event = RoomEvent {
            content,
            message_id: message_id.to_string(),
            conversation_id: conversation_id.to_string(),
            sender: self.machine.user_id().to_owned(),
            sender_device: self.machine.device_id().to_owned(),
            sent_at: now_ms,
        };
        let plaintext = zeroize::Zeroizing::new(
            serde_json::to_vec(&event)
                .map_err(|e| ClientError::Invalid(format!("cannot encode message: {e}")))?,
        );
        let sealed = self.machine.seal_shared_secret(
            &secret,
            &event.conversation_id,
            &event.message_id,
            &plaintext,
        )?;
        serde_json::to_vec(&sealed)
            .map_err(|e| ClientError::Invalid(format!("cannot encode message: {e}")))
    }

    /// After a membership change this device made in a `shared_secret` group (or when an admin
    /// device syncs): the history is fetched and, if this user is an admin and no secret for
    /// the current epoch is held, one is made and shared.
    pub(super) async fn start_epoch_if_due(
        &mut self,
        conversation_id: ConversationId,
        warnings: &mut Vec<String>,
    ) -> Result<(), ClientError> {
        if !self.is_shared_secret_group(conversation_id).await? {
            return Ok(());
        }
        let mut changes = Default::default();
        self.fetch_history(conversation_id, &mut changes).await?;
        self.judge_waiting_secrets(warnings);
        match self.epoch_secret(conversation_id, false, warnings).await {
            Ok(_) | Err(ClientError::NoGroupKey { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// At the end of a sync: every `shared_secret` group where this user is an admin and no
    /// secret for the current epoch is held gets one.
    pub(super) async fn start_due_epochs(&mut self, warnings: &mut Vec<String>) {
        let Ok(me) = self.user_id() else {
            return;
        };
        let due: Vec<ConversationId> = self
            .data
            .conversations
            .values()
            .filter(|c| c.kind == ConversationKind::Group)
            .filter_map(|c| {
                let membership = Membership::at(&c.entries, i64::MAX);
                let missing = self
                    .data
                    .group_secrets
                    .current(c.id, membership.base_epoch())
                    .is_none();
                (membership.last_change > 0 && membership.is_admin(me) && missing).then_some(c.id)
            })
            .collect();
        for id in due {
            match self.is_shared_secret_group(id).await {
                Ok(true) => {}
                // Not a shared-secret group, or no longer one of this user's groups.
                Ok(false) | Err(ClientError::Invalid(_)) => continue,
                Err(error) => {
                    warnings.push(format!("group key: {error}"));
                    continue;
                }
            }
            if let Err(error) = self.epoch_secret(id, false, warnings).await {
                warnings.push(format!("group key: {error}"));
            }
        }
    }

    /// The secret to seal with now, from the history this device holds (fetch it first). An
    /// admin device makes and shares one if none is held for the current epoch; with
    /// `check_devices` (before a send) an admin device that made the current secret also
    /// rotates if a device it gave it to is gone, and gives it to members' new devices. A
    /// member that is not an admin and has none gets [`ClientError::NoGroupKey`].
    async fn epoch_secret(
        &mut self,
        conversation_id: ConversationId,
        check_devices: bool,
        warnings: &mut Vec<String>,
    ) -> Result<GroupSecret, ClientError> {
        let membership = self
            .data
            .conversations
            .get(&conversation_id)
            .map(|c| Membership::at(&c.entries, i64::MAX))
            .unwrap_or_default();
        if membership.last_change == 0 {
            return Err(ClientError::Protocol(format!(
                "the history of group conversation {conversation_id} has no membership event"
            )));
        }
        let base = membership.base_epoch();
        let me = self.user_id()?;
        let current = self
            .data
            .group_secrets
            .current(conversation_id, base)
            .cloned();
        let unusable = || ClientError::Protocol("a stored group key is malformed".into());
        if !membership.is_admin(me) {
            return match current {
                Some(held) => held.secret(conversation_id).ok_or_else(unusable),
                None => Err(ClientError::NoGroupKey { epoch: base }),
            };
        }
        let made_here = current.as_ref().is_some_and(|h| !h.shared_with.is_empty());
        if current.is_some() && !(check_devices && made_here) {
            return current
                .and_then(|h| h.secret(conversation_id))
                .ok_or_else(unusable);
        }
        let members: Vec<UserId> = membership.roles.keys().copied().collect();
        if !check_devices {
            // Before a send (`check_devices`) the sender has just refreshed them.
            self.refresh_member_devices(&members, warnings).await?;
        }
        let users: Vec<String> = members.iter().map(UserId::to_string).collect();
        let devices = self.machine.participant_devices(&users);
        let Some(held) = current else {
            return self
                .share_new_secret(conversation_id, base, &devices, warnings)
                .await;
        };
        let keys: Vec<String> = devices
            .iter()
            .filter_map(|d| device_key(&self.machine, d))
            .collect();
        let own = self.own_marker();
        let gone = held
            .shared_with
            .iter()
            .any(|k| !k.starts_with(&own) && !keys.contains(k));
        if gone {
            if generation_of(held.epoch) + 1 >= GENERATIONS {
                return Err(ClientError::Invalid(
                    "too many key rotations for this membership".into(),
                ));
            }
            return self
                .share_new_secret(conversation_id, held.epoch + 1, &devices, warnings)
                .await;
        }
        let secret = held.secret(conversation_id).ok_or_else(unusable)?;
        let new: Vec<DeviceRef> = devices
            .into_iter()
            .filter(|d| {
                device_key(&self.machine, d).is_some_and(|k| !held.shared_with.contains(&k))
            })
            .collect();
        if !new.is_empty() {
            let given = self
                .give_secret(conversation_id, &secret, &new, warnings)
                .await?;
            if let Some(stored) = self
                .data
                .group_secrets
                .made_here_mut(conversation_id, held.epoch)
            {
                stored.shared_with.extend(given);
            }
        }
        Ok(secret)
    }

    /// This device in [`HeldSecret::shared_with`] (a prefix of its full key).
    fn own_marker(&self) -> String {
        format!("{}/{}/", self.machine.user_id(), self.machine.device_id())
    }

    /// Fetches and checks the device lists of `members`; a member whose devices cannot be
    /// checked (changed identity key…) is reported and gets no key.
    async fn refresh_member_devices(
        &mut self,
        members: &[UserId],
        warnings: &mut Vec<String>,
    ) -> Result<(), ClientError> {
        for (user, result) in self.refresh_devices(members).await? {
            if let Err(error) = result {
                warnings.push(format!(
                    "{} gets no group key: {error}",
                    self.username_of(user).await
                ));
            }
        }
        Ok(())
    }

    /// Makes the secret of `epoch`, gives it to `devices` and keeps it.
    async fn share_new_secret(
        &mut self,
        conversation_id: ConversationId,
        epoch: u64,
        devices: &[DeviceRef],
        warnings: &mut Vec<String>,
    ) -> Result<GroupSecret, ClientError> {
        let secret = GroupSecret::generate(epoch)?;
        let mut given = self
            .give_secret(conversation_id, &secret, devices, warnings)
            .await?;
        // Marks the secret as made here (the list is never empty then).
        given.push(self.own_marker());
        let mut held = HeldSecret::new(conversation_id, &secret, self.user_id()?);
        held.shared_with = given;
        self.data.group_secrets.hold(conversation_id, held);
        Ok(secret)
    }

    /// Gives `secret` over Olm to `devices` (opening Olm sessions where needed); returns the
    /// keys of the devices it was sent to.
    async fn give_secret(
        &mut self,
        conversation_id: ConversationId,
        secret: &GroupSecret,
        devices: &[DeviceRef],
        warnings: &mut Vec<String>,
    ) -> Result<Vec<String>, ClientError> {
        let own = DeviceRef::new(self.machine.user_id(), self.machine.device_id());
        let without_session: Vec<_> = devices
            .iter()
            .filter(|d| **d != own && !self.machine.has_olm_session(d))
            .filter_map(wire_ref)
            .collect();
        if !without_session.is_empty() {
            self.open_olm_sessions(
                without_session,
                warnings,
                " and does not get the group key until an admin device sends again",
            )
            .await?;
        }
        let share = self
            .machine
            .share_group_secret(&conversation_id.to_string(), secret, devices);
        for device in &share.unavailable {
            warnings.push(format!(
                "device {} cannot be given the group key",
                device.device_id
            ));
        }
        let given: Vec<String> = share
            .messages
            .iter()
            .filter_map(|m| device_key(&self.machine, &m.recipient))
            .collect();
        self.send_to_devices(share.messages, warnings).await?;
        Ok(given)
    }
}
