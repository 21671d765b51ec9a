//! Megolm group sessions: one outbound session per conversation on this
//! device with its rotation policy, inbound sessions keyed by (conversation,
//! sender Curve25519 key, session id) stored at their first known index, and
//! the per-session replay table.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use vodozemac::megolm::{
    DecryptionError, ExportedSessionKey, GroupSession, GroupSessionPickle, InboundGroupSession,
    InboundGroupSessionPickle, MegolmMessage, SessionConfig, SessionKey, SessionOrdering,
};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::device_keys::{DeviceRef, MEGOLM_ALGORITHM};
use super::encoding::{decode_base64, encode_base64};
use super::error::{GroupError, StoreError};

/// When an outbound group session must be replaced by a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationPolicy {
    /// Rotate after this many messages.
    pub max_messages: u32,
    /// Rotate once the session is this old (milliseconds).
    pub max_age_ms: u64,
}

impl Default for RotationPolicy {
    /// 100 messages or 7 days, whichever comes first.
    fn default() -> Self {
        Self {
            max_messages: 100,
            max_age_ms: 7 * 24 * 60 * 60 * 1000,
        }
    }
}

/// A Megolm-encrypted conversation message: the `encrypted_content` the server
/// stores once for all participants. Its `Debug` shows the ciphertext length
/// only, so it can be logged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedRoomMessage {
    /// Always [`MEGOLM_ALGORITHM`].
    pub algorithm: String,
    /// The sending device's Curve25519 key, base64.
    pub sender_key: String,
    /// The Megolm session id.
    pub session_id: String,
    /// The Megolm message, base64.
    pub ciphertext: String,
}

impl fmt::Debug for EncryptedRoomMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedRoomMessage")
            .field("algorithm", &self.algorithm)
            .field("sender_key", &self.sender_key)
            .field("session_id", &self.session_id)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

impl EncryptedRoomMessage {
    fn parse(&self) -> Result<MegolmMessage, GroupError> {
        if self.algorithm != MEGOLM_ALGORITHM {
            return Err(GroupError::UnsupportedAlgorithm(self.algorithm.clone()));
        }
        let bytes = decode_base64("ciphertext", &self.ciphertext)
            .map_err(|e| GroupError::Malformed(e.to_string()))?;
        MegolmMessage::from_bytes(&bytes).map_err(|e| GroupError::Malformed(e.to_string()))
    }
}

/// Content of a `room_key` to-device event: a Megolm session key and what it
/// is for. Holds a secret: zeroized on drop, redacted in `Debug`.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct RoomKeyContent {
    pub(crate) algorithm: String,
    pub(crate) conversation_id: String,
    pub(crate) session_id: String,
    pub(crate) session_key: String,
    pub(crate) sender_curve25519: String,
    pub(crate) sender_ed25519: String,
}

impl fmt::Debug for RoomKeyContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomKeyContent")
            .field("conversation_id", &self.conversation_id)
            .field("session_id", &self.session_id)
            .field("session_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// This device's current outbound session for one conversation.
pub(crate) struct OutboundGroup {
    session: GroupSession,
    created_at_ms: u64,
    /// Devices that received this session's key, with the Curve25519 key
    /// they had when they got it.
    shared_with: BTreeMap<DeviceRef, String>,
}

impl OutboundGroup {
    pub(crate) fn new(now_ms: u64) -> Self {
        Self {
            session: GroupSession::new(SessionConfig::version_1()),
            created_at_ms: now_ms,
            shared_with: BTreeMap::new(),
        }
    }

    pub(crate) fn session_id(&self) -> String {
        self.session.session_id()
    }

    pub(crate) fn message_index(&self) -> u32 {
        self.session.message_index()
    }

    pub(crate) fn created_at_ms(&self) -> u64 {
        self.created_at_ms
    }

    pub(crate) fn session_key(&self) -> Zeroizing<String> {
        Zeroizing::new(self.session.session_key().to_base64())
    }

    /// The inbound twin of this session, so this device can read its own
    /// messages (and history) too.
    pub(crate) fn inbound_copy(&self) -> InboundGroupSession {
        InboundGroupSession::from(&self.session)
    }

    /// The users with at least one device that was given this session's key.
    pub(crate) fn shared_users(&self) -> std::collections::BTreeSet<String> {
        self.shared_with.keys().map(|d| d.user_id.clone()).collect()
    }

    pub(crate) fn is_shared_with(&self, device: &DeviceRef, curve25519: &str) -> bool {
        self.shared_with
            .get(device)
            .is_some_and(|key| key == curve25519)
    }

    pub(crate) fn mark_shared(&mut self, device: DeviceRef, curve25519: String) {
        self.shared_with.insert(device, curve25519);
    }

    /// Whether the message or age budget is spent.
    pub(crate) fn budget_exhausted(&self, policy: &RotationPolicy, now_ms: u64) -> bool {
        self.session.message_index() >= policy.max_messages
            || now_ms.saturating_sub(self.created_at_ms) >= policy.max_age_ms
    }

    /// Whether the session must rotate for `participants` (device and its
    /// current Curve25519 key): budget spent, or a device that holds the key
    /// left the set or changed its key.
    pub(crate) fn needs_rotation(
        &self,
        policy: &RotationPolicy,
        now_ms: u64,
        participants: &BTreeMap<DeviceRef, String>,
    ) -> bool {
        self.budget_exhausted(policy, now_ms)
            || self
                .shared_with
                .iter()
                .any(|(device, key)| participants.get(device) != Some(key))
    }

    pub(crate) fn encrypt(&mut self, plaintext: &[u8], sender_key: &str) -> EncryptedRoomMessage {
        let message = self.session.encrypt(plaintext);
        EncryptedRoomMessage {
            algorithm: MEGOLM_ALGORITHM.to_owned(),
            sender_key: sender_key.to_owned(),
            session_id: self.session.session_id(),
            ciphertext: encode_base64(&message.to_bytes()),
        }
    }
}

/// Who sent an inbound session (authenticated by the Olm channel it came on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SessionSender {
    pub(crate) user_id: String,
    pub(crate) device_id: String,
    pub(crate) curve25519: String,
    pub(crate) ed25519: String,
}

/// A received group session for one (conversation, sender, session id).
pub(crate) struct InboundGroup {
    session: InboundGroupSession,
    pub(crate) sender: SessionSender,
    /// Message index → message id it decrypted to, for replay detection.
    seen: BTreeMap<u32, String>,
    /// The device id of this user's own device that forwarded the copy in
    /// use (a `forwarded_room_key`), or `None` if the key came from its
    /// sending device (or is this device's own session).
    pub(crate) forwarded_by: Option<String>,
}

/// A successfully decrypted and replay-checked group message.
pub(crate) struct GroupPlaintext {
    pub(crate) plaintext: Zeroizing<Vec<u8>>,
    pub(crate) message_index: u32,
}

impl InboundGroup {
    pub(crate) fn new(session: InboundGroupSession, sender: SessionSender) -> Self {
        Self {
            session,
            sender,
            seen: BTreeMap::new(),
            forwarded_by: None,
        }
    }

    pub(crate) fn first_known_index(&self) -> u32 {
        self.session.first_known_index()
    }

    #[cfg(test)]
    pub(crate) fn session_id(&self) -> String {
        self.session.session_id()
    }

    /// The session key exported at the first index this device knows
    /// (vodozemac's `ExportedSessionKey`, unpadded base64), to forward to
    /// another device of this user.
    pub(crate) fn export(&self) -> Zeroizing<String> {
        Zeroizing::new(self.session.export_at_first_known_index().to_base64())
    }

    /// Decrypt (signature and MAC checked by vodozemac).
    pub(crate) fn decrypt(
        &mut self,
        message: &MegolmMessage,
    ) -> Result<GroupPlaintext, GroupError> {
        match self.session.decrypt(message) {
            Ok(decrypted) => Ok(GroupPlaintext {
                message_index: decrypted.message_index,
                plaintext: Zeroizing::new(decrypted.plaintext),
            }),
            Err(DecryptionError::UnknownMessageIndex(first_known, index)) => {
                Err(GroupError::UnknownMessageIndex { first_known, index })
            }
            Err(other) => Err(GroupError::Undecryptable(other.to_string())),
        }
    }

    /// Record that `index` decrypted to `message_id`. Returns whether it was
    /// already seen with the same id, or [`GroupError::Replay`] if it was
    /// seen with a different one.
    pub(crate) fn record(&mut self, index: u32, message_id: &str) -> Result<bool, GroupError> {
        match self.seen.get(&index) {
            Some(previous) if previous == message_id => Ok(true),
            Some(previous) => Err(GroupError::Replay {
                session_id: self.session.session_id(),
                index,
                previous_message_id: previous.clone(),
            }),
            None => {
                self.seen.insert(index, message_id.to_owned());
                Ok(false)
            }
        }
    }

    /// Merge a newly received copy of the same session: keep whichever
    /// decrypts more history. A copy with the same id but a different ratchet
    /// is a forgery and rejected.
    pub(crate) fn merge(&mut self, mut other: InboundGroupSession) -> Result<bool, GroupError> {
        match other.compare(&mut self.session) {
            SessionOrdering::Better => {
                self.session = other;
                Ok(true)
            }
            SessionOrdering::Equal | SessionOrdering::Worse => Ok(false),
            SessionOrdering::Unconnected => Err(GroupError::InvalidRoomKey(
                "session key conflicts with a known one".into(),
            )),
        }
    }
}

/// Build an inbound session from a base64 session key (its signature is
/// checked by vodozemac) and check it has the announced id.
pub(crate) fn inbound_from_key(
    session_key: &str,
    session_id: &str,
) -> Result<InboundGroupSession, GroupError> {
    let key = SessionKey::from_base64(session_key)
        .map_err(|e| GroupError::InvalidRoomKey(e.to_string()))?;
    let session = InboundGroupSession::new(&key, SessionConfig::version_1());
    if session.session_id() != session_id {
        return Err(GroupError::InvalidRoomKey(
            "session id does not match the key".into(),
        ));
    }
    Ok(session)
}

/// Build an inbound session from a forwarded, exported session key (base64
/// of vodozemac's `ExportedSessionKey`) and check it has the announced id and
/// first index. An exported key carries no signature of the session's
/// creator: it is only as trustworthy as the device that forwarded it.
pub(crate) fn inbound_from_export(
    exported: &str,
    session_id: &str,
    first_known_index: u32,
) -> Result<InboundGroupSession, GroupError> {
    let key = ExportedSessionKey::from_base64(exported)
        .map_err(|e| GroupError::InvalidRoomKey(e.to_string()))?;
    let session = InboundGroupSession::import(&key, SessionConfig::version_1());
    if session.session_id() != session_id {
        return Err(GroupError::InvalidRoomKey(
            "session id does not match the key".into(),
        ));
    }
    if session.first_known_index() != first_known_index {
        return Err(GroupError::InvalidRoomKey(
            "first known index does not match the key".into(),
        ));
    }
    Ok(session)
}

/// Parse a Megolm envelope.
pub(crate) fn parse_message(envelope: &EncryptedRoomMessage) -> Result<MegolmMessage, GroupError> {
    envelope.parse()
}

/// Key of an inbound session: (conversation, sender Curve25519 key, session id).
pub(crate) type InboundKey = (String, String, String);

/// Outbound and inbound group sessions of this device.
#[derive(Default)]
pub(crate) struct GroupSessions {
    pub(crate) outbound: BTreeMap<String, OutboundGroup>,
    pub(crate) inbound: BTreeMap<InboundKey, InboundGroup>,
}

impl fmt::Debug for GroupSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupSessions")
            .field(
                "outbound_conversations",
                &self.outbound.keys().collect::<Vec<_>>(),
            )
            .field("inbound_sessions", &self.inbound.len())
            .finish()
    }
}

/// Persisted form of [`GroupSessions`] (pickles encrypted).
#[derive(Serialize, Deserialize)]
pub(crate) struct PersistedGroupSessions {
    outbound: Vec<PersistedOutbound>,
    inbound: Vec<PersistedInbound>,
}

#[derive(Serialize, Deserialize)]
struct PersistedOutbound {
    conversation_id: String,
    created_at_ms: u64,
    shared_with: Vec<(DeviceRef, String)>,
    pickle: String,
}

#[derive(Serialize, Deserialize)]
struct PersistedInbound {
    conversation_id: String,
    sender: SessionSender,
    seen: Vec<(u32, String)>,
    /// Absent in states written before key forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    forwarded_by: Option<String>,
    pickle: String,
}

impl GroupSessions {
    pub(crate) fn to_persisted(&self, pickle_key: &[u8; 32]) -> PersistedGroupSessions {
        PersistedGroupSessions {
            outbound: self
                .outbound
                .iter()
                .map(|(conversation_id, group)| PersistedOutbound {
                    conversation_id: conversation_id.clone(),
                    created_at_ms: group.created_at_ms,
                    shared_with: group.shared_with.clone().into_iter().collect(),
                    pickle: group.session.pickle().encrypt(pickle_key),
                })
                .collect(),
            inbound: self
                .inbound
                .iter()
                .map(|((conversation_id, _, _), group)| PersistedInbound {
                    conversation_id: conversation_id.clone(),
                    sender: group.sender.clone(),
                    seen: group.seen.clone().into_iter().collect(),
                    forwarded_by: group.forwarded_by.clone(),
                    pickle: group.session.pickle().encrypt(pickle_key),
                })
                .collect(),
        }
    }

    pub(crate) fn from_persisted(
        persisted: PersistedGroupSessions,
        pickle_key: &[u8; 32],
    ) -> Result<Self, StoreError> {
        let corrupt = |e: vodozemac::PickleError| StoreError::Corrupt(format!("group pickle: {e}"));
        let mut sessions = Self::default();
        for stored in persisted.outbound {
            let pickle =
                GroupSessionPickle::from_encrypted(&stored.pickle, pickle_key).map_err(corrupt)?;
            sessions.outbound.insert(
                stored.conversation_id,
                OutboundGroup {
                    session: GroupSession::from_pickle(pickle),
                    created_at_ms: stored.created_at_ms,
                    shared_with: stored.shared_with.into_iter().collect(),
                },
            );
        }
        for stored in persisted.inbound {
            let pickle = InboundGroupSessionPickle::from_encrypted(&stored.pickle, pickle_key)
                .map_err(corrupt)?;
            let session = InboundGroupSession::from_pickle(pickle);
            let key = (
                stored.conversation_id,
                stored.sender.curve25519.clone(),
                session.session_id(),
            );
            sessions.inbound.insert(
                key,
                InboundGroup {
                    session,
                    sender: stored.sender,
                    seen: stored.seen.into_iter().collect(),
                    forwarded_by: stored.forwarded_by,
                },
            );
        }
        Ok(sessions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender() -> SessionSender {
        SessionSender {
            user_id: "alice".into(),
            device_id: "A".into(),
            curve25519: "curve".into(),
            ed25519: "ed".into(),
        }
    }

    #[test]
    fn rotation_by_count_age_and_membership() {
        let policy = RotationPolicy {
            max_messages: 3,
            max_age_ms: 1000,
        };
        let mut group = OutboundGroup::new(10);
        let bob = DeviceRef::new("bob", "B");
        let mut participants = BTreeMap::from([(bob.clone(), "kb".to_owned())]);
        group.mark_shared(bob.clone(), "kb".into());
        assert!(!group.needs_rotation(&policy, 10, &participants));

        // A new participant alone does not force rotation.
        participants.insert(DeviceRef::new("carol", "C"), "kc".into());
        assert!(!group.needs_rotation(&policy, 10, &participants));

        // Age budget.
        assert!(!group.needs_rotation(&policy, 1009, &participants));
        assert!(group.needs_rotation(&policy, 1010, &participants));

        // A device that holds the key left, or changed its key.
        let mut left = participants.clone();
        left.remove(&bob);
        assert!(group.needs_rotation(&policy, 10, &left));
        let mut rekeyed = participants.clone();
        rekeyed.insert(bob, "other".into());
        assert!(group.needs_rotation(&policy, 10, &rekeyed));

        // Message budget.
        for _ in 0..3 {
            group.encrypt(b"x", "k");
        }
        assert!(group.needs_rotation(&policy, 10, &participants));
        assert!(RotationPolicy::default().max_messages == 100);
    }

    #[test]
    fn inbound_decrypts_from_its_first_known_index_only() {
        let mut outbound = OutboundGroup::new(0);
        let early = parse_message(&outbound.encrypt(b"early", "k")).unwrap();
        let key = outbound.session_key();
        let late = parse_message(&outbound.encrypt(b"late", "k")).unwrap();
        let mut inbound = InboundGroup::new(
            inbound_from_key(&key, &outbound.session_id()).unwrap(),
            sender(),
        );
        assert_eq!(inbound.first_known_index(), 1);
        assert_eq!(
            inbound.decrypt(&late).unwrap().plaintext.as_slice(),
            b"late"
        );
        assert_eq!(
            inbound.decrypt(&early).err(),
            Some(GroupError::UnknownMessageIndex {
                first_known: 1,
                index: 0
            })
        );
    }

    #[test]
    fn same_index_with_another_message_id_is_a_replay() {
        let mut outbound = OutboundGroup::new(0);
        let mut inbound = InboundGroup::new(outbound.inbound_copy(), sender());
        // Simulate a sender whose state rolled back: two messages, one index.
        let snapshot = outbound.session.pickle().encrypt(&[9; 32]);
        let first = parse_message(&outbound.encrypt(b"one", "k")).unwrap();
        outbound.session = GroupSession::from_pickle(
            GroupSessionPickle::from_encrypted(&snapshot, &[9; 32]).unwrap(),
        );
        let second = parse_message(&outbound.encrypt(b"two", "k")).unwrap();

        let a = inbound.decrypt(&first).unwrap();
        assert_eq!(inbound.record(a.message_index, "m1"), Ok(false));
        assert_eq!(inbound.record(a.message_index, "m1"), Ok(true));
        let b = inbound.decrypt(&second).unwrap();
        assert_eq!(b.message_index, a.message_index);
        assert!(matches!(
            inbound.record(b.message_index, "m2"),
            Err(GroupError::Replay { .. })
        ));
    }

    #[test]
    fn tampered_truncated_and_forged_messages_fail_cleanly() {
        let mut outbound = OutboundGroup::new(0);
        let mut inbound = InboundGroup::new(outbound.inbound_copy(), sender());
        let envelope = outbound.encrypt(b"hello", "k");
        let bytes = decode_base64("c", &envelope.ciphertext).unwrap();

        for position in [0, 3, bytes.len() / 2, bytes.len() - 70, bytes.len() - 1] {
            let mut altered = bytes.clone();
            altered[position] ^= 0x20;
            let envelope = EncryptedRoomMessage {
                ciphertext: encode_base64(&altered),
                ..envelope.clone()
            };
            match parse_message(&envelope) {
                Ok(message) => assert!(inbound.decrypt(&message).is_err()),
                Err(GroupError::Malformed(_)) => {}
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        for cut in [0, 1, 10, bytes.len() - 1] {
            let envelope = EncryptedRoomMessage {
                ciphertext: encode_base64(&bytes[..cut]),
                ..envelope.clone()
            };
            assert!(parse_message(&envelope).is_err());
        }
        let wrong_algorithm = EncryptedRoomMessage {
            algorithm: "x".into(),
            ..envelope.clone()
        };
        assert!(matches!(
            parse_message(&wrong_algorithm),
            Err(GroupError::UnsupportedAlgorithm(_))
        ));

        // A message from another session with the same shape is rejected.
        let mut other = OutboundGroup::new(0);
        let foreign = parse_message(&other.encrypt(b"hello", "k")).unwrap();
        assert!(matches!(
            inbound.decrypt(&foreign),
            Err(GroupError::Undecryptable(_))
        ));

        // After all of that, the genuine message still decrypts.
        let genuine = parse_message(&envelope).unwrap();
        assert_eq!(
            inbound.decrypt(&genuine).unwrap().plaintext.as_slice(),
            b"hello"
        );
    }

    #[test]
    fn room_keys_are_checked_and_merged() {
        let mut outbound = OutboundGroup::new(0);
        let key_at_0 = outbound.session_key();
        outbound.encrypt(b"x", "k");
        let key_at_1 = outbound.session_key();
        let id = outbound.session_id();

        assert!(inbound_from_key(&key_at_0, "wrong id").is_err());
        assert!(inbound_from_key("garbage", &id).is_err());
        let mut forged = decode_base64("k", &key_at_0).unwrap();
        forged[10] ^= 1;
        assert!(inbound_from_key(&encode_base64(&forged), &id).is_err());

        let mut group = InboundGroup::new(inbound_from_key(&key_at_1, &id).unwrap(), sender());
        assert_eq!(
            group.merge(inbound_from_key(&key_at_0, &id).unwrap()),
            Ok(true)
        );
        assert_eq!(group.first_known_index(), 0);
        assert_eq!(
            group.merge(inbound_from_key(&key_at_1, &id).unwrap()),
            Ok(false)
        );
        assert_eq!(group.first_known_index(), 0);
    }

    #[test]
    fn persisted_sessions_round_trip() {
        let mut sessions = GroupSessions::default();
        let mut outbound = OutboundGroup::new(7);
        outbound.mark_shared(DeviceRef::new("bob", "B"), "kb".into());
        let mut inbound = InboundGroup::new(outbound.inbound_copy(), sender());
        let envelope = outbound.encrypt(b"hi", "k");
        inbound.record(0, "m0").unwrap();
        let key = ("conv".to_owned(), "curve".to_owned(), outbound.session_id());
        sessions.inbound.insert(key.clone(), inbound);
        sessions.outbound.insert("conv".into(), outbound);

        let persisted = sessions.to_persisted(&[3; 32]);
        let json = serde_json::to_string(&persisted).unwrap();
        // Written before key forwarding: no `forwarded_by`.
        assert!(!json.contains("forwarded_by"));
        let restored: PersistedGroupSessions = serde_json::from_str(&json).unwrap();
        assert!(
            GroupSessions::from_persisted(serde_json::from_str(&json).unwrap(), &[4; 32]).is_err()
        );
        let mut restored = GroupSessions::from_persisted(restored, &[3; 32]).unwrap();
        let group = restored.inbound.get_mut(&key).unwrap();
        let message = parse_message(&envelope).unwrap();
        assert_eq!(group.decrypt(&message).unwrap().plaintext.as_slice(), b"hi");
        assert_eq!(group.record(0, "m0"), Ok(true));
        let outbound = &restored.outbound["conv"];
        assert_eq!(outbound.message_index(), 1);
        assert!(outbound.is_shared_with(&DeviceRef::new("bob", "B"), "kb"));

        // A forwarded session keeps its origin.
        restored.inbound.get_mut(&key).unwrap().forwarded_by = Some("A2".into());
        let json = serde_json::to_string(&restored.to_persisted(&[3; 32])).unwrap();
        let again =
            GroupSessions::from_persisted(serde_json::from_str(&json).unwrap(), &[3; 32]).unwrap();
        assert_eq!(again.inbound[&key].forwarded_by.as_deref(), Some("A2"));
    }

    #[test]
    fn exported_keys_import_at_their_index_and_are_checked() {
        let mut outbound = OutboundGroup::new(0);
        let mut holder = InboundGroup::new(outbound.inbound_copy(), sender());
        let first = parse_message(&outbound.encrypt(b"first", "k")).unwrap();
        let id = outbound.session_id();
        let exported = holder.export();
        let mut imported =
            InboundGroup::new(inbound_from_export(&exported, &id, 0).unwrap(), sender());
        assert_eq!(
            imported.decrypt(&first).unwrap().plaintext.as_slice(),
            b"first"
        );
        assert!(
            inbound_from_export(&exported, &id, 1).is_err(),
            "index must match"
        );
        assert!(inbound_from_export(&exported, "other", 0).is_err());
        assert!(inbound_from_export("garbage", &id, 0).is_err());
        // A signed session key is not an exported one.
        assert!(inbound_from_export(&outbound.session_key(), &id, 1).is_err());
        // The forwarded copy merges with the original: equal, not better.
        assert_eq!(
            holder.merge(inbound_from_export(&exported, &id, 0).unwrap()),
            Ok(false)
        );
    }
}
