//! What a device keeps for `shared_secret` groups (see docs/encryption.md, "The two modes"):
//! the epoch secrets it accepted, the ones it received but could not check yet, and which
//! group conversations use the mode. Serialized inside the encrypted state ([`super::vault`]).
//!
//! **Epochs.** A group's epoch is named after the membership change that started it: the
//! `seq` of the latest `added`, `removed`, `left` or `deleted` event of the group's
//! conversation, times [`GENERATIONS`], plus a generation counter that an admin device raises
//! when it rotates without a membership change (one of the members' devices was revoked). Every
//! member device computes the current epoch from the history it holds, so senders and
//! receivers agree on it without asking anyone.
//!
//! **Who may share a secret.** A received secret for epoch `e` is accepted only once the
//! history up to the membership change of `e` is known and the device that shared it belongs
//! to a user who was an admin of the group at that change; until then it waits. A secret from
//! anyone else is refused.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use zynk_proto::groups::{EncryptionMode, GroupRole, MembershipAction, MembershipEvent};
use zynk_proto::ids::{ConversationId, UserId};

use super::timeline::{Entry, EntryBody};
use crate::crypto::shared_secret::{GroupSecret, GroupSecretContent};

/// Epochs per membership change: `epoch = seq * GENERATIONS + generation`.
pub const GENERATIONS: u64 = 1 << 16;

/// The epoch of a membership change at `seq`, generation `generation`.
pub fn epoch_of(seq: i64, generation: u64) -> u64 {
    u64::try_from(seq).unwrap_or(0) * GENERATIONS + generation % GENERATIONS
}

/// The `seq` of the membership change that started `epoch`.
pub fn membership_seq_of(epoch: u64) -> i64 {
    i64::try_from(epoch / GENERATIONS).unwrap_or(i64::MAX)
}

/// The generation of `epoch` within its membership change.
pub fn generation_of(epoch: u64) -> u64 {
    epoch % GENERATIONS
}

/// Whether a membership action changes who reads the group (and so starts an epoch).
pub fn changes_readers(action: MembershipAction) -> bool {
    matches!(
        action,
        MembershipAction::Added
            | MembershipAction::Removed
            | MembershipAction::Left
            | MembershipAction::Deleted
    )
}

/// A group's members and admins at some point of its history, rebuilt from the membership
/// events this device holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    /// Members and their roles.
    pub roles: BTreeMap<UserId, GroupRole>,
    /// The `seq` of the latest change of readers (0 when none is known).
    pub last_change: i64,
}

impl Membership {
    /// Applies one event.
    pub fn apply(&mut self, seq: i64, event: &MembershipEvent) {
        match event.action {
            MembershipAction::Added => {
                if !event.members.is_empty() {
                    self.roles = event.members.iter().map(|m| (m.user_id, m.role)).collect();
                }
                self.roles.insert(event.user_id, event.role);
            }
            MembershipAction::Removed | MembershipAction::Left | MembershipAction::Deleted => {
                self.roles.remove(&event.user_id);
            }
            MembershipAction::Promoted => {
                self.roles.insert(event.user_id, GroupRole::Admin);
            }
            MembershipAction::Demoted => {
                if let Some(role) = self.roles.get_mut(&event.user_id) {
                    *role = GroupRole::Member;
                }
            }
            MembershipAction::Updated => {}
        }
        if changes_readers(event.action) {
            self.last_change = self.last_change.max(seq);
        }
    }

    /// The membership after every event of `entries` up to `seq` (inclusive).
    pub fn at(entries: &[Entry], seq: i64) -> Self {
        let mut membership = Self::default();
        for entry in entries.iter().filter(|e| e.seq <= seq) {
            if let EntryBody::Membership { event } = &entry.body {
                membership.apply(entry.seq, event);
            }
        }
        membership
    }

    /// Whether `user` is an admin.
    pub fn is_admin(&self, user: UserId) -> bool {
        self.roles.get(&user) == Some(&GroupRole::Admin)
    }

    /// The current epoch's membership part (the first epoch of the latest change).
    pub fn base_epoch(&self) -> u64 {
        epoch_of(self.last_change, 0)
    }
}

/// One epoch secret this device accepted (or made).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldSecret {
    /// The epoch.
    pub epoch: u64,
    /// The secret, standard base64.
    secret: String,
    /// The admin who shared it (this user for a secret made here).
    pub shared_by: UserId,
    /// For a secret this device made: the devices it was given to, as
    /// `user_id/device_id/curve25519`; empty for a received secret.
    #[serde(default)]
    pub shared_with: Vec<String>,
}

impl fmt::Debug for HeldSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeldSecret")
            .field("epoch", &self.epoch)
            .field("shared_by", &self.shared_by)
            .finish_non_exhaustive()
    }
}

impl HeldSecret {
    /// Keeps `secret` of `conversation_id`.
    pub fn new(conversation_id: ConversationId, secret: &GroupSecret, shared_by: UserId) -> Self {
        Self {
            epoch: secret.epoch,
            secret: secret.to_content(&conversation_id.to_string()).secret,
            shared_by,
            shared_with: Vec::new(),
        }
    }

    /// The secret itself.
    pub fn secret(&self, conversation_id: ConversationId) -> Option<GroupSecret> {
        GroupSecret::from_content(&GroupSecretContent {
            conversation_id: conversation_id.to_string(),
            epoch: self.epoch,
            secret: self.secret.clone(),
        })
        .ok()
    }
}

/// A secret received over Olm, waiting for the history that says whether its sender was an
/// admin at its epoch.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedSecret {
    /// The group's conversation.
    pub conversation_id: ConversationId,
    /// The secret as it came (epoch and base64 secret).
    content: GroupSecretContent,
    /// The (verified) sending user.
    pub sender: UserId,
    /// The sending device.
    pub sender_device: String,
}

impl fmt::Debug for ReceivedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceivedSecret")
            .field("conversation_id", &self.conversation_id)
            .field("epoch", &self.content.epoch)
            .field("sender", &self.sender)
            .finish_non_exhaustive()
    }
}

impl ReceivedSecret {
    /// A received `zynk.group_secret` event.
    pub fn new(
        conversation_id: ConversationId,
        content: GroupSecretContent,
        sender: UserId,
        sender_device: String,
    ) -> Self {
        Self {
            conversation_id,
            content,
            sender,
            sender_device,
        }
    }

    /// Its epoch.
    pub fn epoch(&self) -> u64 {
        self.content.epoch
    }

    /// What to keep once accepted.
    pub fn held(&self) -> HeldSecret {
        HeldSecret {
            epoch: self.content.epoch,
            secret: self.content.secret.clone(),
            shared_by: self.sender,
            shared_with: Vec::new(),
        }
    }
}

/// What the verdict on a received secret is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The sender was an admin at the epoch's membership change.
    Accept,
    /// The history does not reach the epoch's membership change yet.
    Wait,
    /// Not acceptable, for the reason given.
    Refuse(String),
}

/// Judges a received secret against the history of its conversation (`entries`, up to
/// `cursor`).
pub fn judge(received: &ReceivedSecret, entries: &[Entry], cursor: i64) -> Verdict {
    let seq = membership_seq_of(received.epoch());
    if seq == 0 {
        return Verdict::Refuse("epoch 0 names no membership change".into());
    }
    if seq > cursor {
        return Verdict::Wait;
    }
    let starts_epoch = entries.iter().any(|e| {
        e.seq == seq
            && matches!(&e.body, EntryBody::Membership { event } if changes_readers(event.action))
    });
    if !starts_epoch {
        return Verdict::Refuse(format!(
            "epoch {} names no membership change this device knows",
            received.epoch()
        ));
    }
    if Membership::at(entries, seq).is_admin(received.sender) {
        Verdict::Accept
    } else {
        Verdict::Refuse("its sender was not an admin of the group at that epoch".into())
    }
}

/// The `shared_secret` state of a device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSecrets {
    /// Accepted secrets per group conversation, oldest epoch first.
    #[serde(default)]
    pub held: BTreeMap<ConversationId, Vec<HeldSecret>>,
    /// Received secrets not checked yet.
    #[serde(default)]
    pub waiting: Vec<ReceivedSecret>,
    /// The encryption mode of each group conversation this device looked up (chosen at
    /// creation, never changed).
    #[serde(default)]
    pub modes: BTreeMap<ConversationId, EncryptionMode>,
}

impl GroupSecrets {
    /// Keeps a secret (once per epoch and value).
    pub fn hold(&mut self, conversation_id: ConversationId, secret: HeldSecret) {
        let held = self.held.entry(conversation_id).or_default();
        if held
            .iter()
            .any(|h| h.epoch == secret.epoch && h.secret == secret.secret)
        {
            return;
        }
        let at = held.partition_point(|h| h.epoch <= secret.epoch);
        held.insert(at, secret);
    }

    /// Every secret held for a conversation.
    pub fn secrets(&self, conversation_id: ConversationId) -> Vec<GroupSecret> {
        self.held
            .get(&conversation_id)
            .map(|held| {
                held.iter()
                    .filter_map(|h| h.secret(conversation_id))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The secret to seal with in the epochs of the membership change starting at
    /// `base_epoch`: the latest generation held, the latest received among equals.
    pub fn current(&self, conversation_id: ConversationId, base_epoch: u64) -> Option<&HeldSecret> {
        self.held
            .get(&conversation_id)?
            .iter()
            .rfind(|h| h.epoch >= base_epoch && h.epoch < base_epoch + GENERATIONS)
    }

    /// The held secret of `epoch` this device made, if any.
    pub fn made_here_mut(
        &mut self,
        conversation_id: ConversationId,
        epoch: u64,
    ) -> Option<&mut HeldSecret> {
        self.held
            .get_mut(&conversation_id)?
            .iter_mut()
            .rev()
            .find(|h| h.epoch == epoch && !h.shared_with.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use zynk_proto::GroupId;
    use zynk_proto::groups::MemberRole;
    use zynk_proto::ids::MessageId;

    use super::*;

    fn user(n: u128) -> UserId {
        UserId::from_u128(n)
    }

    fn membership(seq: i64, action: MembershipAction, who: u128, role: GroupRole) -> Entry {
        membership_with(seq, action, who, role, Vec::new())
    }

    fn membership_with(
        seq: i64,
        action: MembershipAction,
        who: u128,
        role: GroupRole,
        members: Vec<MemberRole>,
    ) -> Entry {
        Entry {
            seq,
            message_id: MessageId::from_u128(seq as u128),
            sender_id: user(1),
            created_at: DateTime::UNIX_EPOCH,
            body: EntryBody::Membership {
                event: MembershipEvent {
                    action,
                    group_id: GroupId::from_u128(9),
                    user_id: user(who),
                    by: user(1),
                    role,
                    members,
                    settings: None,
                },
            },
            ciphertext: None,
            expires_at: None,
        }
    }

    fn received(epoch: u64, sender: u128) -> ReceivedSecret {
        let secret = GroupSecret::generate(epoch).unwrap();
        ReceivedSecret::new(
            ConversationId::nil(),
            secret.to_content(&ConversationId::nil().to_string()),
            user(sender),
            "DEVICE".into(),
        )
    }

    /// alice (1) creates with bob (2) and carol (3), promotes bob at 4, removes carol at 5,
    /// demotes bob at 6.
    fn history() -> Vec<Entry> {
        use GroupRole::{Admin, Member};
        use MembershipAction::{Added, Demoted, Promoted, Removed};
        vec![
            membership(1, Added, 1, Admin),
            membership(2, Added, 2, Member),
            membership(3, Added, 3, Member),
            membership(4, Promoted, 2, Admin),
            membership(5, Removed, 3, Member),
            membership(6, Demoted, 2, Member),
        ]
    }

    #[test]
    fn epochs_follow_changes_of_readers_only() {
        let entries = history();
        assert_eq!(Membership::at(&entries, 3).last_change, 3);
        // A promotion is not a change of readers.
        assert_eq!(Membership::at(&entries, 4).last_change, 3);
        let now = Membership::at(&entries, 6);
        assert_eq!(now.last_change, 5);
        assert_eq!(now.base_epoch(), 5 * GENERATIONS);
        assert_eq!(now.roles.len(), 2);
        assert!(now.is_admin(user(1)) && !now.is_admin(user(2)));
        assert_eq!(membership_seq_of(epoch_of(5, 3)), 5);
        assert_eq!(generation_of(epoch_of(5, 3)), 3);
    }

    #[test]
    fn a_late_member_rebuilds_the_list_from_its_added_event() {
        use GroupRole::{Admin, Member};
        let snapshot = vec![
            MemberRole {
                user_id: user(1),
                role: Admin,
            },
            MemberRole {
                user_id: user(4),
                role: Member,
            },
        ];
        let entries = vec![membership_with(
            9,
            MembershipAction::Added,
            4,
            Member,
            snapshot,
        )];
        let membership = Membership::at(&entries, 9);
        assert!(membership.is_admin(user(1)));
        assert_eq!(membership.roles.len(), 2);
        assert_eq!(membership.last_change, 9);
    }

    #[test]
    fn only_an_admin_at_the_epoch_may_share_its_secret() {
        let entries = history();
        assert_eq!(
            judge(&received(epoch_of(3, 0), 1), &entries, 6),
            Verdict::Accept
        );
        assert_eq!(
            judge(&received(epoch_of(5, 1), 2), &entries, 6),
            Verdict::Accept
        );
        // bob was not an admin at 3; carol never was.
        assert!(matches!(
            judge(&received(epoch_of(3, 0), 2), &entries, 6),
            Verdict::Refuse(_)
        ));
        assert!(matches!(
            judge(&received(epoch_of(5, 0), 3), &entries, 6),
            Verdict::Refuse(_)
        ));
        // Not a change of readers, or no history yet.
        assert!(matches!(
            judge(&received(epoch_of(4, 0), 1), &entries, 6),
            Verdict::Refuse(_)
        ));
        assert!(matches!(
            judge(&received(0, 1), &entries, 6),
            Verdict::Refuse(_)
        ));
        assert_eq!(
            judge(&received(epoch_of(7, 0), 1), &entries, 6),
            Verdict::Wait
        );
        assert_eq!(
            judge(&received(epoch_of(5, 0), 1), &entries, 4),
            Verdict::Wait
        );
    }

    #[test]
    fn the_latest_generation_of_the_current_change_seals() {
        let conversation = ConversationId::nil();
        let mut secrets = GroupSecrets::default();
        for (seq, generation) in [(3, 0), (5, 0), (5, 1)] {
            let secret = GroupSecret::generate(epoch_of(seq, generation)).unwrap();
            secrets.hold(
                conversation,
                HeldSecret::new(conversation, &secret, user(1)),
            );
        }
        let again = secrets.held[&conversation][0].clone();
        secrets.hold(conversation, again);
        assert_eq!(secrets.secrets(conversation).len(), 3);
        assert_eq!(
            secrets
                .current(conversation, epoch_of(5, 0))
                .map(|h| h.epoch),
            Some(epoch_of(5, 1))
        );
        assert_eq!(
            secrets
                .current(conversation, epoch_of(3, 0))
                .map(|h| h.epoch),
            Some(epoch_of(3, 0))
        );
        assert!(secrets.current(conversation, epoch_of(6, 0)).is_none());
        // The stored form keeps the key out of Debug.
        let shown = format!("{secrets:?}");
        let key = secrets.held[&conversation][0].secret.clone();
        assert!(!shown.contains(&key), "{shown}");
        let round: GroupSecrets =
            serde_json::from_value(serde_json::to_value(&secrets).unwrap()).unwrap();
        assert_eq!(round, secrets);
    }
}
