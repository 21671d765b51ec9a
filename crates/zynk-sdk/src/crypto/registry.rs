//! Registry of other devices whose key bundles verified under their owner's
//! pinned identity key: what Olm and Megolm encrypt to and accept from.

use std::collections::BTreeMap;

use super::device_keys::{DeviceKeys, DeviceRef, VerifiedDevice};
use super::error::VerificationError;
use super::identity::IdentityKey;

/// What changed when a user's device list was refreshed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceListUpdate {
    /// Devices seen for the first time.
    pub added: Vec<DeviceRef>,
    /// Known devices whose keys changed (re-registered).
    pub changed: Vec<DeviceRef>,
    /// Devices no longer listed: removed from the registry.
    pub removed: Vec<DeviceRef>,
    /// Bundles that failed verification and were ignored.
    pub rejected: Vec<(DeviceRef, VerificationError)>,
}

/// Verified devices by user and device id.
#[derive(Debug, Default)]
pub(crate) struct DeviceRegistry {
    users: BTreeMap<String, BTreeMap<String, (DeviceKeys, VerifiedDevice)>>,
}

impl DeviceRegistry {
    /// Replace `user_id`'s device list with the bundles in `devices` that
    /// verify under `identity_key`, skipping `own_device` (this device).
    pub(crate) fn update(
        &mut self,
        user_id: &str,
        identity_key: &IdentityKey,
        devices: &[DeviceKeys],
        own_device: Option<&str>,
    ) -> DeviceListUpdate {
        let mut update = DeviceListUpdate::default();
        let previous = self.users.remove(user_id).unwrap_or_default();
        let mut current = BTreeMap::new();
        for keys in devices {
            let device_ref = DeviceRef::new(keys.user_id.clone(), keys.device_id.clone());
            if own_device == Some(keys.device_id.as_str()) && keys.user_id == user_id {
                continue;
            }
            match keys.verify(user_id, identity_key) {
                Ok(verified) => {
                    match previous.get(&keys.device_id) {
                        None => update.added.push(device_ref),
                        Some((_, old)) if *old != verified => update.changed.push(device_ref),
                        Some(_) => {}
                    }
                    current.insert(keys.device_id.clone(), (keys.clone(), verified));
                }
                Err(error) => update.rejected.push((device_ref, error)),
            }
        }
        for device_id in previous.keys() {
            if !current.contains_key(device_id) {
                update
                    .removed
                    .push(DeviceRef::new(user_id, device_id.clone()));
            }
        }
        if !current.is_empty() {
            self.users.insert(user_id.to_owned(), current);
        }
        update
    }

    /// Forget every device of `user_id` (its identity key changed).
    pub(crate) fn forget_user(&mut self, user_id: &str) {
        self.users.remove(user_id);
    }

    /// A verified device by reference.
    pub(crate) fn get(&self, device: &DeviceRef) -> Option<&VerifiedDevice> {
        self.users
            .get(&device.user_id)?
            .get(&device.device_id)
            .map(|(_, v)| v)
    }

    /// All verified devices of a user.
    pub(crate) fn devices_of(&self, user_id: &str) -> Vec<&VerifiedDevice> {
        self.users
            .get(user_id)
            .map(|d| d.values().map(|(_, v)| v).collect())
            .unwrap_or_default()
    }

    /// The verified device with this Curve25519 key, if any.
    pub(crate) fn by_curve25519(&self, key: &str) -> Option<&VerifiedDevice> {
        self.users
            .values()
            .flat_map(BTreeMap::values)
            .map(|(_, v)| v)
            .find(|device| device.curve25519_base64() == key)
    }

    /// Signed bundles for persistence (re-verified on load).
    pub(crate) fn to_persisted(&self) -> Vec<DeviceKeys> {
        self.users
            .values()
            .flat_map(BTreeMap::values)
            .map(|(keys, _)| keys.clone())
            .collect()
    }

    /// Rebuild from persisted bundles (read from the authenticated state
    /// file, so not verified again), keeping only users whose identity key
    /// is still usable.
    pub(crate) fn from_persisted(
        bundles: Vec<DeviceKeys>,
        is_usable: impl Fn(&str) -> bool,
    ) -> Self {
        let mut registry = Self::default();
        for keys in bundles {
            if !is_usable(&keys.user_id) {
                continue;
            }
            if let Ok(verified) = keys.restore_verified() {
                registry
                    .users
                    .entry(keys.user_id.clone())
                    .or_default()
                    .insert(keys.device_id.clone(), (keys, verified));
            }
        }
        registry
    }
}
