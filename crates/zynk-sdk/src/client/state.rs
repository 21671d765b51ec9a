//! What a device remembers between runs besides its crypto state: setup
//! progress, the to-device cursor, conversations with their history cursor,
//! receipts sent and stored messages (with their ciphertexts, for ledger
//! proofs), a user-name cache, the pinned ledger key, and which of the
//! account's other devices were given this device's history. Serialized
//! inside the encrypted state (see [`super::vault`]).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zynk_proto::ConversationKind;
use zynk_proto::ids::{ConversationId, DeviceId, MessageId, UserId};
use zynk_proto::users::IdentityBackup;

use super::group_secrets::GroupSecrets;
use super::ledger::PinnedLedger;
use super::session::{Secret, Session};
use super::timeline::{Entry, EntryBody};
use crate::crypto::SessionRef;

/// Version of the JSON inside the state file.
pub(crate) const STATE_VERSION: u32 = 1;

/// The whole persisted client state.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredState {
    pub(crate) version: u32,
    pub(crate) server_url: String,
    pub(crate) username: String,
    pub(crate) session: Option<Session>,
    /// Random passphrase of the inner crypto state (which is itself inside
    /// the password-encrypted file).
    pub(crate) crypto_key: Secret,
    /// `CryptoMachine::save` output, standard base64.
    pub(crate) crypto: String,
    pub(crate) data: ClientData,
}

/// Setup steps that must succeed once; retried until they do.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupState {
    /// Whether the device key bundle was uploaded.
    pub device_keys_uploaded: bool,
    /// An identity backup still to upload (encrypted; safe to keep).
    pub backup_pending: Option<IdentityBackup>,
}

/// Client data other than keys and tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientData {
    /// Setup progress.
    pub setup: SetupState,
    /// Highest to-device inbox id processed and acknowledged.
    pub to_device_since: i64,
    /// Known conversations.
    pub conversations: BTreeMap<ConversationId, ConversationState>,
    /// User id → username.
    pub usernames: BTreeMap<UserId, String>,
    /// The server's ledger key, pinned the first time a proof was checked.
    #[serde(default)]
    pub ledger: Option<PinnedLedger>,
    /// Contacts' identity keys checked against the ledger (key transparency):
    /// user id → the key and the block that recorded it.
    #[serde(default)]
    pub identity_checks: BTreeMap<UserId, IdentityCheck>,
    /// This account's other devices that were given this device's history
    /// (its group sessions, forwarded): device id → the Curve25519 key it had
    /// then. A device not listed, or listed with another key, gets it at the
    /// next sync.
    #[serde(default)]
    pub history_shared_with: BTreeMap<DeviceId, String>,
    /// Group sessions this device already asked its account's other devices
    /// for (`room_key_request`), so that each is asked once.
    #[serde(default)]
    pub key_requests_sent: BTreeSet<SessionRef>,
    /// `shared_secret` groups: the epoch secrets held and waiting, and each group
    /// conversation's encryption mode.
    #[serde(default)]
    pub group_secrets: GroupSecrets,
}

/// A contact's identity key that was found in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityCheck {
    /// The key, unpadded standard base64.
    pub identity_key: String,
    /// The block holding its registration; older proofs are refused later
    /// (a rotation cannot be rolled back).
    pub block: u64,
}

impl ClientData {
    /// Delete every stored message that has self-destructed at `now` (see
    /// [`Entry::is_expired`]); returns how many were deleted.
    pub fn remove_expired(&mut self, now: DateTime<Utc>) -> usize {
        self.conversations
            .values_mut()
            .map(|c| c.remove_expired(now))
            .sum()
    }
}

/// One conversation as this device knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationState {
    /// Id.
    pub id: ConversationId,
    /// `one_to_one` or `group`.
    pub kind: ConversationKind,
    /// Participants (user ids).
    pub participants: Vec<UserId>,
    /// Highest sequence number fetched from the history.
    pub cursor: i64,
    /// Delivered receipt sent up to this sequence number.
    pub delivered_sent: i64,
    /// Read receipt sent up to this sequence number.
    pub read_sent: i64,
    /// Stored messages, ascending by `seq`.
    pub entries: Vec<Entry>,
}

impl ConversationState {
    /// A conversation with no history fetched yet.
    pub fn new(id: ConversationId, kind: ConversationKind, participants: Vec<UserId>) -> Self {
        Self {
            id,
            kind,
            participants,
            cursor: 0,
            delivered_sent: 0,
            read_sent: 0,
            entries: Vec::new(),
        }
    }

    /// The stored entry with this message id.
    pub fn entry(&self, message_id: MessageId) -> Option<&Entry> {
        self.entries.iter().find(|e| e.message_id == message_id)
    }

    /// Whether a message needs (re)processing: unknown, or stored as pending.
    pub fn needs(&self, seq: i64, message_id: MessageId) -> bool {
        match self
            .entries
            .iter()
            .find(|e| e.seq == seq || e.message_id == message_id)
        {
            None => true,
            Some(entry) => matches!(
                entry.body,
                EntryBody::Pending { .. } | EntryBody::PendingSecret { .. }
            ),
        }
    }

    /// Insert an entry in `seq` order, replacing one with the same id or seq.
    pub fn upsert(&mut self, entry: Entry) {
        self.entries
            .retain(|e| e.seq != entry.seq && e.message_id != entry.message_id);
        let at = self.entries.partition_point(|e| e.seq < entry.seq);
        self.entries.insert(at, entry);
    }

    /// Remove a message (expired); returns whether it was there.
    pub fn remove(&mut self, message_id: MessageId) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.message_id != message_id);
        before != self.entries.len()
    }

    /// Delete the messages that have self-destructed at `now`; returns how
    /// many were deleted. The history cursor stays, so they are not fetched
    /// again.
    pub fn remove_expired(&mut self, now: DateTime<Utc>) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| !e.is_expired(now));
        before - self.entries.len()
    }

    /// Highest stored sequence number.
    pub fn last_seq(&self) -> i64 {
        self.entries.last().map_or(0, |e| e.seq)
    }

    /// Whether `user_id` takes part.
    pub fn has_participant(&self, user_id: UserId) -> bool {
        self.participants.contains(&user_id)
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn entry(seq: i64, id: u128, body: EntryBody) -> Entry {
        Entry {
            seq,
            message_id: MessageId::from_u128(id),
            sender_id: UserId::nil(),
            created_at: DateTime::UNIX_EPOCH,
            body,
            ciphertext: None,
            expires_at: None,
        }
    }

    #[test]
    fn states_written_before_ledger_proofs_still_load() {
        let mut conv =
            ConversationState::new(ConversationId::nil(), ConversationKind::OneToOne, vec![]);
        conv.upsert(entry(1, 1, EntryBody::Removed));
        let mut data = ClientData::default();
        data.conversations.insert(conv.id, conv);
        let json = serde_json::to_value(&data).unwrap();
        assert!(json.get("ledger").is_some());
        let mut old = json.clone();
        for field in [
            "ledger",
            "history_shared_with",
            "key_requests_sent",
            "group_secrets",
        ] {
            assert!(
                old.as_object_mut().unwrap().remove(field).is_some(),
                "{field}"
            );
        }
        let entry_json = &old["conversations"][ConversationId::nil().to_string()]["entries"][0];
        assert!(entry_json.get("ciphertext").is_none());
        let loaded: ClientData = serde_json::from_value(old).unwrap();
        assert_eq!(loaded, data);
    }

    #[test]
    fn upsert_keeps_order_and_replaces_pending() {
        let mut conv =
            ConversationState::new(ConversationId::nil(), ConversationKind::OneToOne, vec![]);
        conv.upsert(entry(3, 3, EntryBody::Removed));
        conv.upsert(entry(1, 1, EntryBody::Failed { reason: "x".into() }));
        conv.upsert(entry(2, 2, EntryBody::Removed));
        let seqs: Vec<i64> = conv.entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        assert!(!conv.needs(2, MessageId::from_u128(2)));
        assert!(conv.needs(4, MessageId::from_u128(4)));
        conv.upsert(entry(2, 2, EntryBody::Failed { reason: "y".into() }));
        assert_eq!(conv.entries.len(), 3);
        assert_eq!(conv.last_seq(), 3);
        assert!(conv.remove(MessageId::from_u128(3)));
        assert!(!conv.remove(MessageId::from_u128(3)));
        assert_eq!(conv.last_seq(), 2);
    }

    #[test]
    fn expired_entries_are_removed_and_others_kept() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut conv =
            ConversationState::new(ConversationId::nil(), ConversationKind::OneToOne, vec![]);
        let mut past = entry(1, 1, EntryBody::Removed);
        past.expires_at = Some(now - chrono::Duration::seconds(1));
        let mut exactly_now = entry(2, 2, EntryBody::Removed);
        exactly_now.expires_at = Some(now);
        let mut future = entry(3, 3, EntryBody::Removed);
        future.expires_at = Some(now + chrono::Duration::seconds(1));
        for e in [past, exactly_now, entry(4, 4, EntryBody::Removed), future] {
            conv.upsert(e);
        }
        conv.cursor = 4;
        let mut data = ClientData::default();
        data.conversations.insert(conv.id, conv);
        assert_eq!(data.remove_expired(now), 2);
        let conv = &data.conversations[&ConversationId::nil()];
        let seqs: Vec<i64> = conv.entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![3, 4]);
        assert_eq!(conv.cursor, 4, "expired messages are not fetched again");
        assert_eq!(data.remove_expired(now), 0);
    }
}
