//! [`CryptoMachine`]: the whole end-to-end encryption state of one device and
//! its sans-I/O operations. Every method takes and returns plain values; the
//! caller moves them to and from the server.

mod forward;
mod group;
mod pending;
mod shared;
mod state;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::account::DeviceAccount;
use super::device_keys::{
    DeviceKeys, DeviceRef, OneTimeKeyUpload, SignedOneTimeKey, VerifiedDevice,
};
use super::error::{CryptoError, GroupError, OlmError, TrustError};
use super::events::{
    DUMMY_EVENT, FORWARDED_ROOM_KEY_EVENT, OlmPayload, OutgoingToDevice, ROOM_KEY_EVENT,
    ROOM_KEY_REQUEST_EVENT, is_reserved_event_type,
};
use super::identity::{IdentityKey, UserIdentity};
use super::megolm::{GroupSessions, RoomKeyContent, RotationPolicy};
use super::olm::{EncryptedToDevice, OlmSessions};
use super::registry::{DeviceListUpdate, DeviceRegistry};
use super::safety_number::SafetyNumber;
use super::trust::{TrustLevel, TrustStore};

pub use forward::{ForwardedKeysReport, InboundSessionInfo, RoomKeyForward, SessionRef};
pub use group::{DecryptedRoomEvent, OutboundSessionInfo, RoomKeyShare};
pub use pending::PendingDevice;
pub use shared::GroupSecretShare;

/// An encrypted to-device message and the device it is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToDeviceMessage {
    /// The recipient device.
    pub recipient: DeviceRef,
    /// The encrypted message.
    pub envelope: EncryptedToDevice,
}

/// A decrypted to-device event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToDeviceEvent {
    /// A group session key was received and stored; messages of that
    /// session can now be decrypted.
    RoomKey(RoomKeyInfo),
    /// Another device of this user forwarded group sessions (history it
    /// holds); what was imported, kept and refused.
    ForwardedRoomKeys(ForwardedKeysReport),
    /// Another device of this user asks for these group sessions: answer
    /// with [`CryptoMachine::forward_room_keys`].
    RoomKeyRequest(Vec<SessionRef>),
    /// An empty event (sent to establish a session).
    Dummy,
    /// An application event.
    Custom {
        /// The event type.
        event_type: String,
        /// The event content.
        content: Value,
    },
}

/// Which group session a received `room_key` event unlocked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomKeyInfo {
    /// The conversation.
    pub conversation_id: String,
    /// The Megolm session id.
    pub session_id: String,
    /// The sending device's Curve25519 key.
    pub sender_key: String,
    /// First message index this device can decrypt.
    pub first_known_index: u32,
}

/// A decrypted, authenticated to-device message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecryptedToDevice {
    /// The verified device that sent it.
    pub sender: DeviceRef,
    /// The sender's Curve25519 key.
    pub sender_key: String,
    /// The event.
    pub event: ToDeviceEvent,
}

/// The end-to-end encryption state of one device: user identity, Olm
/// account, pairwise and group sessions, verified devices and trust store.
///
/// Holds secrets: `Debug` shows only ids and public keys, and all key
/// material is zeroized on drop.
pub struct CryptoMachine {
    identity: UserIdentity,
    account: DeviceAccount,
    olm: OlmSessions,
    groups: GroupSessions,
    trust: TrustStore,
    registry: DeviceRegistry,
    policy: RotationPolicy,
}

impl CryptoMachine {
    /// A new device with fresh Olm keys for `user_id`, holding the user's
    /// identity key pair (which signs this device's keys). The user's own
    /// identity key is pinned as verified.
    pub fn new(
        user_id: impl Into<String>,
        device_id: impl Into<String>,
        identity: UserIdentity,
    ) -> Self {
        Self::with_account(
            DeviceAccount::new(user_id.into(), device_id.into()),
            identity,
        )
    }

    /// A machine around an existing account; the user's own identity key is
    /// pinned as verified.
    fn with_account(account: DeviceAccount, identity: UserIdentity) -> Self {
        let mut trust = TrustStore::new();
        trust.pin_verified(account.user_id(), identity.public_key());
        Self {
            identity,
            account,
            olm: OlmSessions::default(),
            groups: GroupSessions::default(),
            trust,
            registry: DeviceRegistry::default(),
            policy: RotationPolicy::default(),
        }
    }

    /// This device's user id.
    pub fn user_id(&self) -> &str {
        self.account.user_id()
    }

    /// This device's id.
    pub fn device_id(&self) -> &str {
        self.account.device_id()
    }

    /// The user's public identity key (`users.public_key`).
    pub fn identity_key(&self) -> IdentityKey {
        self.identity.public_key()
    }

    /// This device's Curve25519 key, base64.
    pub fn curve25519_key(&self) -> String {
        self.account.inner().curve25519_key().to_base64()
    }

    /// This device's Ed25519 key, base64.
    pub fn ed25519_key(&self) -> String {
        self.account.inner().ed25519_key().to_base64()
    }

    /// This device's signed key bundle, to upload.
    pub fn device_keys(&self) -> DeviceKeys {
        self.account.device_keys(&self.identity)
    }

    /// Signed one-time keys (and a fallback key if `fallback_needed`) so that
    /// the server holds `target` keys, given that it reports
    /// `server_remaining`. The target is capped at [`Self::max_one_time_keys`].
    /// Call [`Self::mark_keys_as_published`] once the upload succeeded.
    pub fn keys_to_upload(
        &mut self,
        server_remaining: usize,
        target: usize,
        fallback_needed: bool,
    ) -> OneTimeKeyUpload {
        self.account
            .keys_to_upload(server_remaining, target, fallback_needed)
    }

    /// Mark every pending one-time and fallback key as published.
    pub fn mark_keys_as_published(&mut self) {
        self.account.mark_keys_as_published();
    }

    /// How many one-time keys the server should hold at most.
    pub fn max_one_time_keys(&self) -> usize {
        self.account.inner().max_number_of_one_time_keys()
    }

    /// The group-session rotation policy.
    pub fn rotation_policy(&self) -> RotationPolicy {
        self.policy
    }

    /// Replace the group-session rotation policy.
    pub fn set_rotation_policy(&mut self, policy: RotationPolicy) {
        self.policy = policy;
    }

    /// The trust store (read-only).
    pub fn trust_store(&self) -> &TrustStore {
        &self.trust
    }

    /// Refresh `user_id`'s devices from the server's answer: the user's
    /// identity key and device bundles. The identity key goes through the
    /// trust store first (pinned on first use; a change is returned as
    /// [`TrustError::IdentityKeyChanged`] and nothing is updated). Bundles
    /// that do not verify under the pinned key are listed as rejected.
    pub fn update_devices(
        &mut self,
        user_id: &str,
        identity_key: &IdentityKey,
        devices: &[DeviceKeys],
    ) -> Result<DeviceListUpdate, TrustError> {
        self.trust.observe(user_id, identity_key)?;
        let pinned = self
            .trust
            .usable_key(user_id)?
            .ok_or_else(|| TrustError::UnknownUser {
                user_id: user_id.to_owned(),
            })?;
        let own_device = (user_id == self.user_id()).then(|| self.device_id().to_owned());
        Ok(self
            .registry
            .update(user_id, &pinned, devices, own_device.as_deref()))
    }

    /// Accept a reported identity-key change of an unverified contact. Its
    /// devices are forgotten: fetch them again and call
    /// [`Self::update_devices`].
    pub fn accept_identity_change(
        &mut self,
        user_id: &str,
        key: &IdentityKey,
    ) -> Result<(), TrustError> {
        self.trust.accept_change(user_id, key)?;
        self.registry.forget_user(user_id);
        Ok(())
    }

    /// Dismiss a reported identity-key change: keep the pinned key (e.g. the
    /// server presented a different key and the user does not trust it).
    pub fn reject_identity_change(&mut self, user_id: &str) -> Result<(), TrustError> {
        self.trust.reject_change(user_id)
    }

    /// Mark `key` as verified for `user_id` after comparing safety numbers.
    /// If it replaces the pinned key, the user's devices are forgotten.
    pub fn verify_identity(&mut self, user_id: &str, key: &IdentityKey) -> Result<(), TrustError> {
        let previous = self.trust.entry(user_id).map(|entry| entry.pinned);
        self.trust.mark_verified(user_id, key)?;
        if previous != Some(*key) {
            self.registry.forget_user(user_id);
        }
        Ok(())
    }

    /// The trust level of a user, `None` if never seen.
    pub fn trust_level(&self, user_id: &str) -> Option<TrustLevel> {
        self.trust.level(user_id)
    }

    /// The safety number between this user and `user_id` (with the pinned
    /// key; an error while a key change is unresolved).
    pub fn safety_number(&self, user_id: &str) -> Result<SafetyNumber, TrustError> {
        let key = self
            .trust
            .usable_key(user_id)?
            .ok_or_else(|| TrustError::UnknownUser {
                user_id: user_id.to_owned(),
            })?;
        Ok(SafetyNumber::compute(
            self.user_id(),
            &self.identity_key(),
            user_id,
            &key,
        ))
    }

    /// A verified device, if its owner's key is usable.
    pub fn device(&self, device: &DeviceRef) -> Option<VerifiedDevice> {
        self.usable_device(device).cloned()
    }

    /// Every verified device of the given users whose keys are usable,
    /// except this device: the participant set for group sessions.
    pub fn participant_devices(&self, user_ids: &[String]) -> Vec<DeviceRef> {
        user_ids
            .iter()
            .filter(|user| matches!(self.trust.usable_key(user), Ok(Some(_))))
            .flat_map(|user| self.registry.devices_of(user))
            .map(VerifiedDevice::device_ref)
            .collect()
    }

    /// Whether an Olm session with `device` exists.
    pub fn has_olm_session(&self, device: &DeviceRef) -> bool {
        self.usable_device(device)
            .is_some_and(|d| self.olm.has_session(&d.curve25519()))
    }

    /// Number of Olm sessions with `device`.
    pub fn olm_session_count(&self, device: &DeviceRef) -> usize {
        self.usable_device(device)
            .map_or(0, |d| self.olm.session_count(&d.curve25519()))
    }

    /// Start an Olm session with `device` from one of its one-time (or
    /// fallback) keys claimed from the server, after checking the key's
    /// signature. The new session is used for the next messages to it.
    pub fn create_outbound_session(
        &mut self,
        device: &DeviceRef,
        one_time_key: &SignedOneTimeKey,
    ) -> Result<(), OlmError> {
        let device = self.require_device(device)?;
        let key = one_time_key.verify(&device)?;
        self.olm
            .create_outbound(self.account.inner(), device.curve25519(), key)?;
        Ok(())
    }

    /// Encrypt a to-device event for `device` over the Olm session last used
    /// with it ([`OlmError::NoSession`] if there is none).
    pub fn encrypt_to_device(
        &mut self,
        device: &DeviceRef,
        event: OutgoingToDevice,
    ) -> Result<EncryptedToDevice, OlmError> {
        let device = self.require_device(device)?;
        let (event_type, content) = match event {
            OutgoingToDevice::Dummy => (DUMMY_EVENT.to_owned(), Value::Object(Default::default())),
            OutgoingToDevice::Custom {
                event_type,
                content,
            } => {
                if is_reserved_event_type(&event_type) {
                    return Err(OlmError::InvalidPayload(format!(
                        "reserved event type {event_type}"
                    )));
                }
                (event_type, content)
            }
        };
        self.encrypt_payload(&device, event_type, content)
    }

    /// Decrypt a to-device message. The sender must be a verified device;
    /// the payload's sender and recipient fields must match the keys that
    /// authenticated it. A `room_key` event is stored as an inbound group
    /// session; `forwarded_room_key` and `room_key_request` events are
    /// accepted only from this user's own verified devices
    /// ([`GroupError::NotOwnDevice`] otherwise). Errors leave every session
    /// usable.
    pub fn decrypt_to_device(
        &mut self,
        envelope: &EncryptedToDevice,
    ) -> Result<DecryptedToDevice, CryptoError> {
        let (sender_key, message) = envelope.parse()?;
        let sender_key_b64 = sender_key.to_base64();
        let device = self
            .registry
            .by_curve25519(&sender_key_b64)
            .filter(|d| matches!(self.trust.usable_key(d.user_id()), Ok(Some(_))))
            .cloned()
            .ok_or_else(|| OlmError::UnknownSenderDevice {
                sender_key: sender_key_b64.clone(),
            })?;
        let plaintext = self
            .olm
            .decrypt(self.account.inner_mut(), sender_key, &message)?;
        let mut payload: OlmPayload = serde_json::from_slice(&plaintext)
            .map_err(|e| OlmError::InvalidPayload(e.to_string()))?;
        self.check_payload(&payload, &device)?;
        let event = match payload.event_type.as_str() {
            ROOM_KEY_EVENT => {
                let content: RoomKeyContent =
                    serde_json::from_value(std::mem::take(&mut payload.content))
                        .map_err(|e| GroupError::InvalidRoomKey(e.to_string()))?;
                ToDeviceEvent::RoomKey(self.receive_room_key(&device, &content)?)
            }
            FORWARDED_ROOM_KEY_EVENT => ToDeviceEvent::ForwardedRoomKeys(
                self.receive_forwarded_room_keys(&device, &payload.content)?,
            ),
            ROOM_KEY_REQUEST_EVENT => {
                ToDeviceEvent::RoomKeyRequest(self.receive_key_request(&device, &payload.content)?)
            }
            DUMMY_EVENT => ToDeviceEvent::Dummy,
            _ => ToDeviceEvent::Custom {
                event_type: payload.event_type.clone(),
                content: std::mem::take(&mut payload.content),
            },
        };
        Ok(DecryptedToDevice {
            sender: device.device_ref(),
            sender_key: sender_key_b64,
            event,
        })
    }

    fn check_payload(&self, payload: &OlmPayload, sender: &VerifiedDevice) -> Result<(), OlmError> {
        let own_ed25519 = self.ed25519_key();
        let checks = [
            ("sender", payload.sender == sender.user_id()),
            ("sender_device", payload.sender_device == sender.device_id()),
            (
                "sender_ed25519",
                payload.sender_ed25519 == sender.ed25519_base64(),
            ),
            ("recipient", payload.recipient == self.user_id()),
            (
                "recipient_device",
                payload.recipient_device == self.device_id(),
            ),
            (
                "recipient_ed25519",
                payload.recipient_ed25519 == own_ed25519,
            ),
        ];
        match checks.into_iter().find(|(_, ok)| !ok) {
            Some((field, _)) => Err(OlmError::PayloadMismatch(field)),
            None => Ok(()),
        }
    }

    fn encrypt_payload(
        &mut self,
        device: &VerifiedDevice,
        event_type: String,
        content: Value,
    ) -> Result<EncryptedToDevice, OlmError> {
        let payload = OlmPayload {
            event_type,
            content,
            sender: self.user_id().to_owned(),
            sender_device: self.device_id().to_owned(),
            sender_ed25519: self.ed25519_key(),
            recipient: device.user_id().to_owned(),
            recipient_device: device.device_id().to_owned(),
            recipient_ed25519: device.ed25519_base64(),
        };
        let plaintext = Zeroizing::new(
            serde_json::to_vec(&payload).map_err(|e| OlmError::InvalidPayload(e.to_string()))?,
        );
        let own_key = self.account.inner().curve25519_key();
        self.olm
            .encrypt(own_key, &device.curve25519(), &plaintext)?
            .ok_or_else(|| OlmError::NoSession {
                user_id: device.user_id().to_owned(),
                device_id: device.device_id().to_owned(),
            })
    }

    fn usable_device(&self, device: &DeviceRef) -> Option<&VerifiedDevice> {
        match self.trust.usable_key(&device.user_id) {
            Ok(Some(_)) => self.registry.get(device),
            _ => None,
        }
    }

    fn require_device(&self, device: &DeviceRef) -> Result<VerifiedDevice, OlmError> {
        self.usable_device(device)
            .cloned()
            .ok_or_else(|| OlmError::UnknownDevice {
                user_id: device.user_id.clone(),
                device_id: device.device_id.clone(),
            })
    }
}

impl fmt::Debug for CryptoMachine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoMachine")
            .field("account", &self.account)
            .field("identity", &self.identity)
            .field("olm", &self.olm)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}
