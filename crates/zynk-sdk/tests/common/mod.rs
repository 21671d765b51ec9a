//! Test harness: a minimal in-memory stand-in for the server's key directory
//! (identity keys, device keys, one-time keys) and helpers that drive the
//! sans-I/O crypto API the way a client would.

#![allow(dead_code)]

use std::collections::HashMap;

use zynk_sdk::crypto::{
    CryptoMachine, DeviceKeys, DeviceRef, IdentityKey, KdfParams, SignedOneTimeKey,
    ToDeviceMessage, UserIdentity,
};

/// Cheap Argon2id parameters so save/load tests run fast in debug builds.
pub const FAST_KDF: KdfParams = KdfParams {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

/// One-time keys each device keeps on the directory.
pub const OTK_TARGET: usize = 3;

/// The key directory part of the server.
#[derive(Default)]
pub struct Directory {
    pub identities: HashMap<String, IdentityKey>,
    pub devices: HashMap<String, Vec<DeviceKeys>>,
    pub one_time_keys: HashMap<DeviceRef, Vec<SignedOneTimeKey>>,
    pub fallback_keys: HashMap<DeviceRef, SignedOneTimeKey>,
}

impl Directory {
    /// Register a device: its user's identity key, its key bundle and keys.
    pub fn register(&mut self, machine: &mut CryptoMachine) {
        let user = machine.user_id().to_owned();
        self.identities.insert(user.clone(), machine.identity_key());
        let keys = machine.device_keys();
        let list = self.devices.entry(user).or_default();
        list.retain(|k| k.device_id != keys.device_id);
        list.push(keys);
        self.replenish(machine);
    }

    /// Upload one-time keys up to the target, and a fallback key if needed.
    pub fn replenish(&mut self, machine: &mut CryptoMachine) {
        let device = DeviceRef::new(machine.user_id(), machine.device_id());
        let remaining = self.one_time_keys.get(&device).map_or(0, Vec::len);
        let fallback_needed = !self.fallback_keys.contains_key(&device);
        let upload = machine.keys_to_upload(remaining, OTK_TARGET, fallback_needed);
        self.one_time_keys
            .entry(device.clone())
            .or_default()
            .extend(upload.one_time_keys);
        if let Some(fallback) = upload.fallback_key {
            self.fallback_keys.insert(device, fallback);
        }
        machine.mark_keys_as_published();
    }

    /// Claim a one-time key of `device`, or its fallback key when none is left.
    pub fn claim(&mut self, device: &DeviceRef) -> Option<SignedOneTimeKey> {
        self.one_time_keys
            .get_mut(device)
            .and_then(Vec::pop)
            .or_else(|| self.fallback_keys.get(device).cloned())
    }

    /// Refresh `machine`'s view of `user`'s identity and devices.
    pub fn sync(&self, machine: &mut CryptoMachine, user: &str) {
        let identity = self.identities[user];
        let devices = self.devices.get(user).cloned().unwrap_or_default();
        machine
            .update_devices(user, &identity, &devices)
            .expect("trusted identity");
    }

    /// Refresh every user for `machine`.
    pub fn sync_all(&self, machine: &mut CryptoMachine) {
        let users: Vec<String> = self.identities.keys().cloned().collect();
        for user in users {
            self.sync(machine, &user);
        }
    }

    /// Share the conversation key from `machine` with `participants`,
    /// creating Olm sessions as needed; returns the to-device messages.
    pub fn share(
        &mut self,
        machine: &mut CryptoMachine,
        conversation: &str,
        participants: &[DeviceRef],
        now_ms: u64,
    ) -> Vec<ToDeviceMessage> {
        let mut share = machine
            .share_room_key(conversation, participants, now_ms)
            .unwrap();
        let mut messages = std::mem::take(&mut share.messages);
        if !share.missing_sessions.is_empty() {
            for device in &share.missing_sessions {
                let key = self.claim(device).expect("a key to claim");
                machine.create_outbound_session(device, &key).unwrap();
            }
            let second = machine
                .share_room_key(conversation, participants, now_ms)
                .unwrap();
            assert!(second.missing_sessions.is_empty());
            assert!(!second.rotated);
            messages.extend(second.messages);
        }
        messages
    }
}

/// A test user: a name and its identity seed, from which any number of its
/// devices can be made (the product moves the identity between a user's
/// devices over a verified channel).
pub struct TestUser {
    pub name: String,
    seed: [u8; 32],
}

impl TestUser {
    pub fn new(name: &str) -> Self {
        let seed = *UserIdentity::generate().unwrap().export_seed();
        Self {
            name: name.to_owned(),
            seed,
        }
    }

    /// A new device of this user.
    pub fn device(&self, device_id: &str) -> CryptoMachine {
        CryptoMachine::new(&self.name, device_id, UserIdentity::from_seed(&self.seed))
    }

    pub fn identity_key(&self) -> IdentityKey {
        UserIdentity::from_seed(&self.seed).public_key()
    }
}

/// Reference to a machine's own device.
pub fn me(machine: &CryptoMachine) -> DeviceRef {
    DeviceRef::new(machine.user_id(), machine.device_id())
}
