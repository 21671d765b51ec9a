//! The `shared_secret` group mode on [`CryptoMachine`]: sharing an epoch's group secret over
//! Olm (a `zynk.group_secret` to-device event per member device), sealing with this device's
//! Ed25519 key, and opening with the verified key of the sender's device.
//! See [`crate::crypto::shared_secret`] for the construction.

use super::{CryptoMachine, OutgoingToDevice, ToDeviceMessage};
use crate::crypto::device_keys::DeviceRef;
use crate::crypto::shared_secret::{
    GROUP_SECRET_EVENT, GroupSecret, GroupSecretContent, MessageContext, SharedSecretError,
    SharedSecretMessage, open,
};
use zeroize::Zeroizing;

/// Result of [`CryptoMachine::share_group_secret`].
#[derive(Clone, Debug, Default)]
pub struct GroupSecretShare {
    /// Olm-encrypted `zynk.group_secret` events to send now.
    pub messages: Vec<ToDeviceMessage>,
    /// Devices without an Olm session or not verified: not given the secret.
    pub unavailable: Vec<DeviceRef>,
}

impl CryptoMachine {
    /// Olm-encrypts `secret` of `conversation_id` for each of `devices` (the current members'
    /// devices only: a removed member's devices must not be in the list). This device is
    /// skipped.
    pub fn share_group_secret(
        &mut self,
        conversation_id: &str,
        secret: &GroupSecret,
        devices: &[DeviceRef],
    ) -> GroupSecretShare {
        let content = secret.to_content(conversation_id);
        let mut share = GroupSecretShare::default();
        let own = DeviceRef::new(self.user_id(), self.device_id());
        for device in devices {
            if *device == own {
                continue;
            }
            let event = OutgoingToDevice::Custom {
                event_type: GROUP_SECRET_EVENT.to_owned(),
                content: serde_json::to_value(&content).unwrap_or_default(),
            };
            match self.encrypt_to_device(device, event) {
                Ok(envelope) => share.messages.push(ToDeviceMessage {
                    recipient: device.clone(),
                    envelope,
                }),
                Err(_) => share.unavailable.push(device.clone()),
            }
        }
        share
    }

    /// Seals `plaintext` under `secret` as this device, bound to the conversation and message.
    pub fn seal_shared_secret(
        &self,
        secret: &GroupSecret,
        conversation_id: &str,
        message_id: &str,
        plaintext: &[u8],
    ) -> Result<SharedSecretMessage, SharedSecretError> {
        let context = MessageContext {
            conversation_id,
            message_id,
            sender_user: self.user_id(),
            sender_device: self.device_id(),
        };
        secret.seal(context, plaintext, |bytes| self.account.sign(bytes))
    }

    /// Opens a sealed message the server recorded as sent by `sender`: the sender device must
    /// be a verified device of a trusted user, and its signature, the epoch and the ciphertext
    /// must hold (see [`open`]).
    pub fn open_shared_secret(
        &self,
        message: &SharedSecretMessage,
        conversation_id: &str,
        message_id: &str,
        sender: &DeviceRef,
        secrets: &[GroupSecret],
    ) -> Result<Zeroizing<Vec<u8>>, SharedSecretError> {
        let device = self
            .usable_device(sender)
            .ok_or(SharedSecretError::Mismatch(
                "unknown or untrusted sender device",
            ))?;
        let key = *device.ed25519().as_bytes();
        let context = MessageContext {
            conversation_id,
            message_id,
            sender_user: &sender.user_id,
            sender_device: &sender.device_id,
        };
        open(message, context, &key, secrets)
    }

    /// The group secret carried by a decrypted `zynk.group_secret` event, if `conversation_id`
    /// is what it says.
    pub fn group_secret_from_event(
        content: &serde_json::Value,
    ) -> Result<(String, GroupSecret), SharedSecretError> {
        let content: GroupSecretContent = serde_json::from_value(content.clone())
            .map_err(|_| SharedSecretError::Malformed("group secret event"))?;
        let secret = GroupSecret::from_content(&content)?;
        Ok((content.conversation_id, secret))
    }
}
