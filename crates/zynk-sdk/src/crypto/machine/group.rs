//! Group (Megolm) operations of [`CryptoMachine`]: sharing and rotating the
//! outbound session per conversation, receiving room keys, and encrypting
//! and decrypting conversation events.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{CryptoMachine, RoomKeyInfo, ToDeviceMessage};
use crate::crypto::device_keys::{DeviceRef, MEGOLM_ALGORITHM, VerifiedDevice};
use crate::crypto::error::{CryptoError, GroupError, OlmError};
use crate::crypto::events::{ROOM_KEY_EVENT, RoomEvent, RoomEventContent};
use crate::crypto::megolm::{
    EncryptedRoomMessage, InboundGroup, OutboundGroup, RoomKeyContent, SessionSender,
    inbound_from_key, parse_message,
};
use crate::crypto::trust::TrustLevel;

/// Result of [`CryptoMachine::share_room_key`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomKeyShare {
    /// The current outbound session id of the conversation.
    pub session_id: String,
    /// Whether a new session was started by this call.
    pub rotated: bool,
    /// Olm-encrypted `room_key` events to send now.
    pub messages: Vec<ToDeviceMessage>,
    /// Devices without an Olm session: claim a one-time key for each, call
    /// `create_outbound_session`, then `share_room_key` again.
    pub missing_sessions: Vec<DeviceRef>,
    /// Devices that are not verified or whose owner's identity key changed:
    /// they were not given the key.
    pub unavailable: Vec<DeviceRef>,
}

/// A decrypted, authenticated conversation event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecryptedRoomEvent {
    /// The event; its conversation, message id and sender were checked.
    pub event: RoomEvent,
    /// The device that sent it (the one that shared the session key).
    pub sender: DeviceRef,
    /// The sender's Curve25519 key.
    pub sender_key: String,
    /// Megolm session id.
    pub session_id: String,
    /// Index of the message within the session.
    pub message_index: u32,
    /// True if this same message was decrypted before (a duplicate delivery
    /// or a re-read of history): do not treat it as new.
    pub repeat: bool,
    /// The sender's trust level now.
    pub sender_trust: Option<TrustLevel>,
}

/// The current outbound group session of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundSessionInfo {
    /// The Megolm session id.
    pub session_id: String,
    /// Index the next message will get (= messages sent so far).
    pub message_index: u32,
    /// When the session was started (the caller's clock, milliseconds).
    pub created_at_ms: u64,
}

impl CryptoMachine {
    /// The current outbound session of `conversation_id`, if any.
    pub fn outbound_session(&self, conversation_id: &str) -> Option<OutboundSessionInfo> {
        self.groups
            .outbound
            .get(conversation_id)
            .map(|group| OutboundSessionInfo {
                session_id: group.session_id(),
                message_index: group.message_index(),
                created_at_ms: group.created_at_ms(),
            })
    }

    /// The users with at least one device holding the current room key of
    /// `conversation_id` (empty without an outbound session).
    pub fn users_holding_room_key(
        &self,
        conversation_id: &str,
    ) -> std::collections::BTreeSet<String> {
        self.groups
            .outbound
            .get(conversation_id)
            .map(|group| group.shared_users())
            .unwrap_or_default()
    }

    /// Whether `conversation_id` needs a new outbound session before the next
    /// message, given the current participant devices and time: no session
    /// yet, the message or age budget is spent, or a device that received
    /// the key is no longer a (verified) participant.
    pub fn needs_rotation(
        &self,
        conversation_id: &str,
        participants: &[DeviceRef],
        now_ms: u64,
    ) -> bool {
        let (current, _) = self.resolve_participants(participants);
        self.rotation_due(conversation_id, &current, now_ms)
    }

    /// Make sure `conversation_id` has a current outbound session and that
    /// every participant device holds its key: rotates when
    /// [`Self::needs_rotation`] says so, then Olm-encrypts a `room_key` event
    /// for each device that lacks the key. Call before sending; cheap when
    /// nothing is to do. If sending the returned messages fails, call
    /// [`Self::discard_outbound_group_session`] so the next share starts over.
    pub fn share_room_key(
        &mut self,
        conversation_id: &str,
        participants: &[DeviceRef],
        now_ms: u64,
    ) -> Result<RoomKeyShare, CryptoError> {
        let (current, unavailable) = self.resolve_participants(participants);
        let rotate = self.rotation_due(conversation_id, &current, now_ms);
        if rotate {
            self.start_outbound(conversation_id, now_ms);
        }
        let (session_id, session_key) = match self.groups.outbound.get(conversation_id) {
            Some(group) => (group.session_id(), group.session_key()),
            None => {
                return Err(GroupError::NoOutboundSession {
                    conversation_id: conversation_id.to_owned(),
                }
                .into());
            }
        };
        let mut share = RoomKeyShare {
            session_id: session_id.clone(),
            rotated: rotate,
            messages: Vec::new(),
            missing_sessions: Vec::new(),
            unavailable,
        };
        for device in current {
            let (device_ref, curve25519) = (device.device_ref(), device.curve25519_base64());
            let already = self
                .groups
                .outbound
                .get(conversation_id)
                .is_some_and(|g| g.is_shared_with(&device_ref, &curve25519));
            if already {
                continue;
            }
            let content = RoomKeyContent {
                algorithm: MEGOLM_ALGORITHM.to_owned(),
                conversation_id: conversation_id.to_owned(),
                session_id: session_id.clone(),
                session_key: session_key.to_string(),
                sender_curve25519: self.curve25519_key(),
                sender_ed25519: self.ed25519_key(),
            };
            let content = serde_json::to_value(&content)
                .map_err(|e| OlmError::InvalidPayload(e.to_string()))?;
            match self.encrypt_payload(&device, ROOM_KEY_EVENT.to_owned(), content) {
                Ok(envelope) => {
                    if let Some(group) = self.groups.outbound.get_mut(conversation_id) {
                        group.mark_shared(device_ref.clone(), curve25519);
                    }
                    share.messages.push(ToDeviceMessage {
                        recipient: device_ref,
                        envelope,
                    });
                }
                Err(OlmError::NoSession { .. }) => share.missing_sessions.push(device_ref),
                Err(other) => return Err(other.into()),
            }
        }
        Ok(share)
    }

    /// Drop the outbound session of `conversation_id`; the next
    /// [`Self::share_room_key`] starts a new one.
    pub fn discard_outbound_group_session(&mut self, conversation_id: &str) {
        self.groups.outbound.remove(conversation_id);
    }

    /// Encrypt a conversation event with the conversation's outbound session.
    /// `message_id` is the client-chosen id the server will store it under;
    /// `now_ms` becomes `sent_at` and is checked against the age budget.
    pub fn encrypt_room_event(
        &mut self,
        conversation_id: &str,
        message_id: &str,
        content: RoomEventContent,
        now_ms: u64,
    ) -> Result<EncryptedRoomMessage, GroupError> {
        let sender_key = self.curve25519_key();
        let event = RoomEvent {
            content,
            message_id: message_id.to_owned(),
            conversation_id: conversation_id.to_owned(),
            sender: self.user_id().to_owned(),
            sender_device: self.device_id().to_owned(),
            sent_at: now_ms,
        };
        let plaintext = Zeroizing::new(
            serde_json::to_vec(&event).map_err(|e| GroupError::InvalidPayload(e.to_string()))?,
        );
        let group = self
            .groups
            .outbound
            .get_mut(conversation_id)
            .ok_or_else(|| GroupError::NoOutboundSession {
                conversation_id: conversation_id.to_owned(),
            })?;
        if group.budget_exhausted(&self.policy, now_ms) {
            return Err(GroupError::RotationRequired {
                conversation_id: conversation_id.to_owned(),
            });
        }
        Ok(group.encrypt(&plaintext, &sender_key))
    }

    /// Decrypt a conversation message delivered by the server as
    /// (`conversation_id`, `message_id`, `envelope`). Checks that the
    /// plaintext names the same conversation, message id and the device that
    /// shared the session, and that its (session, index) did not decrypt to
    /// another message id before ([`GroupError::Replay`]).
    ///
    /// Whether the sender belongs to the conversation is the caller's check
    /// (`DecryptedRoomEvent::sender`).
    pub fn decrypt_room_event(
        &mut self,
        conversation_id: &str,
        message_id: &str,
        envelope: &EncryptedRoomMessage,
    ) -> Result<DecryptedRoomEvent, GroupError> {
        let message = parse_message(envelope)?;
        let key = (
            conversation_id.to_owned(),
            envelope.sender_key.clone(),
            envelope.session_id.clone(),
        );
        let group =
            self.groups
                .inbound
                .get_mut(&key)
                .ok_or_else(|| GroupError::UnknownSession {
                    sender_key: envelope.sender_key.clone(),
                    session_id: envelope.session_id.clone(),
                })?;
        let decrypted = group.decrypt(&message)?;
        let event: RoomEvent = serde_json::from_slice(&decrypted.plaintext)
            .map_err(|e| GroupError::InvalidPayload(e.to_string()))?;
        if event.conversation_id != conversation_id {
            return Err(GroupError::BindingMismatch("conversation_id"));
        }
        if event.message_id != message_id {
            return Err(GroupError::BindingMismatch("message_id"));
        }
        if event.sender != group.sender.user_id || event.sender_device != group.sender.device_id {
            return Err(GroupError::BindingMismatch("sender"));
        }
        let repeat = group.record(decrypted.message_index, message_id)?;
        let sender = DeviceRef::new(group.sender.user_id.clone(), group.sender.device_id.clone());
        let sender_trust = self.trust.level(&sender.user_id);
        Ok(DecryptedRoomEvent {
            event,
            sender,
            sender_key: envelope.sender_key.clone(),
            session_id: envelope.session_id.clone(),
            message_index: decrypted.message_index,
            repeat,
            sender_trust,
        })
    }

    /// Store a group session key received over Olm from `device`.
    pub(super) fn receive_room_key(
        &mut self,
        device: &VerifiedDevice,
        content: &RoomKeyContent,
    ) -> Result<RoomKeyInfo, GroupError> {
        if content.algorithm != MEGOLM_ALGORITHM {
            return Err(GroupError::UnsupportedAlgorithm(content.algorithm.clone()));
        }
        if content.sender_curve25519 != device.curve25519_base64()
            || content.sender_ed25519 != device.ed25519_base64()
        {
            return Err(GroupError::InvalidRoomKey(
                "sender keys do not match the Olm sender".into(),
            ));
        }
        let session = inbound_from_key(&content.session_key, &content.session_id)?;
        let key = (
            content.conversation_id.clone(),
            device.curve25519_base64(),
            content.session_id.clone(),
        );
        let sender = SessionSender {
            user_id: device.user_id().to_owned(),
            device_id: device.device_id().to_owned(),
            curve25519: device.curve25519_base64(),
            ed25519: device.ed25519_base64(),
        };
        if self
            .groups
            .inbound
            .get(&key)
            .is_some_and(|g| g.forwarded_by.is_some() && g.sender != sender)
        {
            // A forwarded copy named another sender than the device that
            // now authenticates the key over Olm: the sender wins.
            self.groups.inbound.remove(&key);
        }
        let first_known_index = match self.groups.inbound.get_mut(&key) {
            Some(existing) => {
                if existing.merge(session)? {
                    // The copy in use now comes from the sender itself.
                    existing.forwarded_by = None;
                }
                existing.first_known_index()
            }
            None => {
                let group = InboundGroup::new(session, sender);
                let index = group.first_known_index();
                self.groups.inbound.insert(key, group);
                index
            }
        };
        Ok(RoomKeyInfo {
            conversation_id: content.conversation_id.clone(),
            session_id: content.session_id.clone(),
            sender_key: device.curve25519_base64(),
            first_known_index,
        })
    }

    fn start_outbound(&mut self, conversation_id: &str, now_ms: u64) {
        let group = OutboundGroup::new(now_ms);
        let sender = SessionSender {
            user_id: self.user_id().to_owned(),
            device_id: self.device_id().to_owned(),
            curve25519: self.curve25519_key(),
            ed25519: self.ed25519_key(),
        };
        let key = (
            conversation_id.to_owned(),
            sender.curve25519.clone(),
            group.session_id(),
        );
        self.groups
            .inbound
            .insert(key, InboundGroup::new(group.inbound_copy(), sender));
        self.groups
            .outbound
            .insert(conversation_id.to_owned(), group);
    }

    /// Whether the outbound session of `conversation_id` must be replaced
    /// for the resolved participant devices `current`.
    fn rotation_due(&self, conversation_id: &str, current: &[VerifiedDevice], now_ms: u64) -> bool {
        let Some(group) = self.groups.outbound.get(conversation_id) else {
            return true;
        };
        let keys: BTreeMap<DeviceRef, String> = current
            .iter()
            .map(|d| (d.device_ref(), d.curve25519_base64()))
            .collect();
        group.needs_rotation(&self.policy, now_ms, &keys)
    }

    /// Split participants into usable (verified, trusted) devices and
    /// unavailable ones; this device itself is left out.
    fn resolve_participants(
        &self,
        participants: &[DeviceRef],
    ) -> (Vec<VerifiedDevice>, Vec<DeviceRef>) {
        let mut usable = Vec::new();
        let mut unavailable = Vec::new();
        let own = DeviceRef::new(self.user_id(), self.device_id());
        let unique: BTreeSet<&DeviceRef> = participants.iter().filter(|d| **d != own).collect();
        for device in unique {
            match self.usable_device(device) {
                Some(verified) => usable.push(verified.clone()),
                None => unavailable.push(device.clone()),
            }
        }
        (usable, unavailable)
    }
}
