//! Room-key forwarding between one user's own devices (after Matrix's
//! `m.forwarded_room_key` and `m.room_key_request`, simplified): a device
//! exports the inbound Megolm sessions it holds at their first known index and
//! sends them, Olm-encrypted, to another device of the same user whose keys
//! verify under the user's identity key, so that a device added later can
//! read the history. Another user's devices never get them, and forwarded
//! sessions are accepted only from this user's own verified devices.
//!
//! `forwarded_room_key` content (one or more per forward; each stays below
//! [`MAX_FORWARD_CONTENT_BYTES`] of JSON so that its Olm envelope fits one
//! to-device message):
//!
//! ```json
//! {"algorithm": "zynk.megolm.v1.aes-sha2",
//!  "sessions": [{"conversation_id", "session_id",
//!                "session_key": "<vodozemac ExportedSessionKey, unpadded base64>",
//!                "first_known_index": 0,
//!                "sender_user_id", "sender_device_id",
//!                "sender_curve25519", "sender_ed25519"}, …]}
//! ```
//!
//! `room_key_request` content: `{"sessions": [{"conversation_id",
//! "sender_key", "session_id"}, …]}` (at most [`MAX_REQUESTED_SESSIONS`]).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{CryptoMachine, RoomKeyInfo, ToDeviceMessage};
use crate::crypto::device_keys::{DeviceRef, MEGOLM_ALGORITHM, VerifiedDevice};
use crate::crypto::error::{CryptoError, GroupError, OlmError};
use crate::crypto::events::{FORWARDED_ROOM_KEY_EVENT, ROOM_KEY_REQUEST_EVENT, scrub};
use crate::crypto::megolm::{InboundGroup, InboundKey, SessionSender, inbound_from_export};

/// Largest JSON `content` of one `forwarded_room_key` event, in bytes. Olm
/// adds its header, padding and MAC, base64 a third, and the envelope about
/// 150 bytes: the to-device content stays well below the server's 16 KiB
/// (`MAX_TO_DEVICE_CONTENT_BYTES`).
pub(crate) const MAX_FORWARD_CONTENT_BYTES: usize = 8 * 1024;

/// Most sessions one `room_key_request` may name.
pub(crate) const MAX_REQUESTED_SESSIONS: usize = 32;

/// Most sessions accepted from one `forwarded_room_key` event (its size is
/// bounded anyway; this bounds the work per event).
const MAX_FORWARDED_PER_EVENT: usize = 256;

/// Names one inbound group session: (conversation, sending device's
/// Curve25519 key, session id).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SessionRef {
    /// The conversation.
    pub conversation_id: String,
    /// The sending device's Curve25519 key (base64), as in the envelope.
    pub sender_key: String,
    /// The Megolm session id.
    pub session_id: String,
}

impl SessionRef {
    fn key(&self) -> InboundKey {
        (
            self.conversation_id.clone(),
            self.sender_key.clone(),
            self.session_id.clone(),
        )
    }
}

/// What [`CryptoMachine::forward_room_keys`] prepared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomKeyForward {
    /// Olm-encrypted `forwarded_room_key` events for the device, to send
    /// (one recipient, so one per to-device request with distinct ids).
    pub messages: Vec<ToDeviceMessage>,
    /// How many sessions they carry.
    pub sessions: usize,
    /// Sessions left out because one alone would exceed the size bound.
    pub oversized: usize,
}

/// What a received `forwarded_room_key` event did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForwardedKeysReport {
    /// Sessions stored, or improved to an earlier first index.
    pub imported: Vec<RoomKeyInfo>,
    /// Sessions this device already held as early or earlier.
    pub unchanged: usize,
    /// Entries refused, each with its reason (garbled, forged, conflicting).
    pub rejected: Vec<String>,
}

/// An inbound group session this device holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundSessionInfo {
    /// Which session.
    pub session: SessionRef,
    /// The device that created it.
    pub sender: DeviceRef,
    /// First message index this device can decrypt.
    pub first_known_index: u32,
    /// The own device whose forwarded copy is in use, if any.
    pub forwarded_by: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct ForwardedContent {
    algorithm: String,
    sessions: Vec<Value>,
}

impl Drop for ForwardedContent {
    fn drop(&mut self) {
        self.sessions.iter_mut().for_each(scrub);
    }
}

/// One forwarded session. Holds a secret: zeroized on drop.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct ForwardedSession {
    conversation_id: String,
    session_id: String,
    session_key: String,
    first_known_index: u32,
    sender_user_id: String,
    sender_device_id: String,
    sender_curve25519: String,
    sender_ed25519: String,
}

#[derive(Serialize, Deserialize)]
struct RequestContent {
    sessions: Vec<SessionRef>,
}

/// JSON size of `{"algorithm":"…","sessions":[]}`, plus slack.
const FORWARD_ENVELOPE_BYTES: usize = 64;

impl CryptoMachine {
    /// This user's other devices whose keys verify under the user's identity
    /// key (the only devices history is forwarded to or accepted from).
    pub fn own_devices(&self) -> Vec<VerifiedDevice> {
        if !matches!(self.trust.usable_key(self.user_id()), Ok(Some(_))) {
            return Vec::new();
        }
        self.registry
            .devices_of(self.user_id())
            .into_iter()
            .cloned()
            .collect()
    }

    /// Every inbound group session this device holds.
    pub fn inbound_sessions(&self) -> Vec<InboundSessionInfo> {
        self.groups
            .inbound
            .iter()
            .map(
                |((conversation_id, sender_key, session_id), group)| InboundSessionInfo {
                    session: SessionRef {
                        conversation_id: conversation_id.clone(),
                        sender_key: sender_key.clone(),
                        session_id: session_id.clone(),
                    },
                    sender: DeviceRef::new(
                        group.sender.user_id.clone(),
                        group.sender.device_id.clone(),
                    ),
                    first_known_index: group.first_known_index(),
                    forwarded_by: group.forwarded_by.clone(),
                },
            )
            .collect()
    }

    /// Olm-encrypt the inbound group sessions this device holds (`only`
    /// those named, or all), each exported at its first known index, as
    /// `forwarded_room_key` events for `device`, which must be another
    /// verified device of this user ([`GroupError::NotOwnDevice`] for
    /// another user's device). Sessions the device created itself or
    /// forwarded to this device are left out. With something to forward but
    /// no Olm session to the device, the result is [`OlmError::NoSession`]:
    /// claim a one-time key, call `create_outbound_session`, and call this
    /// again.
    pub fn forward_room_keys(
        &mut self,
        device: &DeviceRef,
        only: Option<&[SessionRef]>,
    ) -> Result<RoomKeyForward, CryptoError> {
        let target = self.require_own_device(device)?;
        let wanted: Option<BTreeSet<InboundKey>> =
            only.map(|refs| refs.iter().map(SessionRef::key).collect());
        let target_curve = target.curve25519_base64();
        let mut entries = Vec::new();
        for (key, group) in &self.groups.inbound {
            if wanted.as_ref().is_some_and(|w| !w.contains(key))
                || group.sender.curve25519 == target_curve
                || group.forwarded_by.as_deref() == Some(target.device_id())
            {
                continue;
            }
            let exported = group.export();
            let session = ForwardedSession {
                conversation_id: key.0.clone(),
                session_id: key.2.clone(),
                session_key: exported.to_string(),
                first_known_index: group.first_known_index(),
                sender_user_id: group.sender.user_id.clone(),
                sender_device_id: group.sender.device_id.clone(),
                sender_curve25519: group.sender.curve25519.clone(),
                sender_ed25519: group.sender.ed25519.clone(),
            };
            let value = serde_json::to_value(&session)
                .map_err(|e| OlmError::InvalidPayload(e.to_string()))?;
            entries.push(value);
        }
        let sessions = entries.len();
        if sessions > 0 && !self.olm.has_session(&target.curve25519()) {
            entries.iter_mut().for_each(scrub);
            return Err(OlmError::NoSession {
                user_id: device.user_id.clone(),
                device_id: device.device_id.clone(),
            }
            .into());
        }
        let (chunks, oversized) = chunk_by_size(entries);
        let mut messages = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            let content = serde_json::to_value(ForwardedContent {
                algorithm: MEGOLM_ALGORITHM.to_owned(),
                sessions: chunk,
            })
            .map_err(|e| OlmError::InvalidPayload(e.to_string()))?;
            let envelope =
                self.encrypt_payload(&target, FORWARDED_ROOM_KEY_EVENT.to_owned(), content)?;
            messages.push(ToDeviceMessage {
                recipient: device.clone(),
                envelope,
            });
        }
        Ok(RoomKeyForward {
            messages,
            sessions: sessions - oversized,
            oversized,
        })
    }

    /// Olm-encrypt `room_key_request` events asking `device` (another
    /// verified device of this user) for `sessions`, at most 32 per event. [`OlmError::NoSession`] as for
    /// [`Self::forward_room_keys`].
    pub fn request_room_keys(
        &mut self,
        device: &DeviceRef,
        sessions: &[SessionRef],
    ) -> Result<Vec<ToDeviceMessage>, CryptoError> {
        let target = self.require_own_device(device)?;
        let mut messages = Vec::new();
        for chunk in sessions.chunks(MAX_REQUESTED_SESSIONS) {
            let content = serde_json::to_value(RequestContent {
                sessions: chunk.to_vec(),
            })
            .map_err(|e| OlmError::InvalidPayload(e.to_string()))?;
            let envelope =
                self.encrypt_payload(&target, ROOM_KEY_REQUEST_EVENT.to_owned(), content)?;
            messages.push(ToDeviceMessage {
                recipient: device.clone(),
                envelope,
            });
        }
        Ok(messages)
    }

    /// The verified device behind `device`, if it is another device of this
    /// user.
    fn require_own_device(&self, device: &DeviceRef) -> Result<VerifiedDevice, CryptoError> {
        if device.user_id != self.user_id() {
            return Err(GroupError::NotOwnDevice {
                user_id: device.user_id.clone(),
                device_id: device.device_id.clone(),
            }
            .into());
        }
        Ok(self.require_device(device)?)
    }

    fn check_own_sender(&self, sender: &VerifiedDevice) -> Result<(), GroupError> {
        if sender.user_id() != self.user_id() {
            return Err(GroupError::NotOwnDevice {
                user_id: sender.user_id().to_owned(),
                device_id: sender.device_id().to_owned(),
            });
        }
        Ok(())
    }

    /// A `room_key_request` from `sender`, which must be this user's own
    /// device.
    pub(super) fn receive_key_request(
        &self,
        sender: &VerifiedDevice,
        content: &Value,
    ) -> Result<Vec<SessionRef>, GroupError> {
        self.check_own_sender(sender)?;
        let request = RequestContent::deserialize(content)
            .map_err(|e| GroupError::InvalidPayload(format!("room key request: {e}")))?;
        if request.sessions.len() > MAX_REQUESTED_SESSIONS {
            return Err(GroupError::InvalidPayload(format!(
                "room key request for {} sessions (at most {MAX_REQUESTED_SESSIONS})",
                request.sessions.len()
            )));
        }
        Ok(request.sessions)
    }

    /// Import the sessions of a `forwarded_room_key` event from `sender`,
    /// which must be this user's own verified device. Each entry is checked
    /// on its own: a garbled or conflicting one is reported in `rejected`
    /// and the others still count.
    pub(super) fn receive_forwarded_room_keys(
        &mut self,
        sender: &VerifiedDevice,
        content: &Value,
    ) -> Result<ForwardedKeysReport, GroupError> {
        self.check_own_sender(sender)?;
        let forwarded = ForwardedContent::deserialize(content)
            .map_err(|e| GroupError::InvalidRoomKey(format!("forwarded room keys: {e}")))?;
        if forwarded.algorithm != MEGOLM_ALGORITHM {
            return Err(GroupError::UnsupportedAlgorithm(
                forwarded.algorithm.clone(),
            ));
        }
        if forwarded.sessions.len() > MAX_FORWARDED_PER_EVENT {
            return Err(GroupError::InvalidRoomKey(format!(
                "{} forwarded sessions in one event (at most {MAX_FORWARDED_PER_EVENT})",
                forwarded.sessions.len()
            )));
        }
        let mut report = ForwardedKeysReport::default();
        for (position, entry) in forwarded.sessions.iter().enumerate() {
            let session = match ForwardedSession::deserialize(entry) {
                Ok(session) => session,
                Err(e) => {
                    report
                        .rejected
                        .push(format!("forwarded session {position}: {e}"));
                    continue;
                }
            };
            match self.import_forwarded(sender, &session) {
                Ok(Some(info)) => report.imported.push(info),
                Ok(None) => report.unchanged += 1,
                Err(e) => report
                    .rejected
                    .push(format!("forwarded session {}: {e}", session.session_id)),
            }
        }
        Ok(report)
    }

    /// Store one forwarded session unless this device holds it as early or
    /// earlier. `Ok(None)`: nothing changed.
    fn import_forwarded(
        &mut self,
        forwarder: &VerifiedDevice,
        forwarded: &ForwardedSession,
    ) -> Result<Option<RoomKeyInfo>, GroupError> {
        let session = inbound_from_export(
            &forwarded.session_key,
            &forwarded.session_id,
            forwarded.first_known_index,
        )?;
        let sender = SessionSender {
            user_id: forwarded.sender_user_id.clone(),
            device_id: forwarded.sender_device_id.clone(),
            curve25519: forwarded.sender_curve25519.clone(),
            ed25519: forwarded.sender_ed25519.clone(),
        };
        self.check_claimed_sender(&sender)?;
        let key = (
            forwarded.conversation_id.clone(),
            sender.curve25519.clone(),
            forwarded.session_id.clone(),
        );
        let info = |index| RoomKeyInfo {
            conversation_id: forwarded.conversation_id.clone(),
            session_id: forwarded.session_id.clone(),
            sender_key: forwarded.sender_curve25519.clone(),
            first_known_index: index,
        };
        match self.groups.inbound.get_mut(&key) {
            Some(existing) => {
                if existing.sender != sender {
                    return Err(GroupError::InvalidRoomKey(
                        "the forwarded sender conflicts with the known one".into(),
                    ));
                }
                // Keeps the held copy unless the forwarded one starts earlier;
                // an unrelated ratchet under the same id is refused.
                if existing.merge(session)? {
                    existing.forwarded_by = Some(forwarder.device_id().to_owned());
                    Ok(Some(info(existing.first_known_index())))
                } else {
                    Ok(None)
                }
            }
            None => {
                let mut group = InboundGroup::new(session, sender);
                group.forwarded_by = Some(forwarder.device_id().to_owned());
                let index = group.first_known_index();
                self.groups.inbound.insert(key, group);
                Ok(Some(info(index)))
            }
        }
    }

    /// The original sender a forwarding device names must not contradict
    /// what this device knows: not this device itself (its own sessions are
    /// never missing), and consistent with any verified device holding that
    /// Curve25519 key or those ids.
    fn check_claimed_sender(&self, sender: &SessionSender) -> Result<(), GroupError> {
        let conflict = |what: &str| GroupError::InvalidRoomKey(format!("claimed sender {what}"));
        if sender.curve25519 == self.curve25519_key()
            || (sender.user_id == self.user_id() && sender.device_id == self.device_id())
        {
            return Err(conflict(
                "is this device, which lacks no session of its own",
            ));
        }
        if let Some(known) = self.registry.by_curve25519(&sender.curve25519)
            && (known.user_id() != sender.user_id
                || known.device_id() != sender.device_id
                || known.ed25519_base64() != sender.ed25519)
        {
            return Err(conflict("does not match the device with that key"));
        }
        let by_id = DeviceRef::new(sender.user_id.clone(), sender.device_id.clone());
        if let Some(known) = self.registry.get(&by_id)
            && known.curve25519_base64() != sender.curve25519
        {
            return Err(conflict("has other keys than the verified device"));
        }
        Ok(())
    }
}

/// Split serialized sessions into chunks whose `forwarded_room_key` content
/// stays within [`MAX_FORWARD_CONTENT_BYTES`]; an entry too large alone is
/// dropped and counted.
fn chunk_by_size(entries: Vec<Value>) -> (Vec<Vec<Value>>, usize) {
    let budget = MAX_FORWARD_CONTENT_BYTES - FORWARD_ENVELOPE_BYTES;
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut size = 0;
    let mut oversized = 0;
    for mut entry in entries {
        let length = serde_json::to_vec(&entry).map_or(usize::MAX, |mut bytes| {
            let length = bytes.len() + 1;
            bytes.zeroize();
            length
        });
        if length > budget {
            scrub(&mut entry);
            oversized += 1;
            continue;
        }
        if size + length > budget {
            chunks.push(std::mem::take(&mut current));
            size = 0;
        }
        size += length;
        current.push(entry);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    (chunks, oversized)
}
