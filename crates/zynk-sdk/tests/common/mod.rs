//! Test harness: a minimal in-memory stand-in for the server's key directory
//! (identity keys, device keys, one-time keys) and helpers that drive the
//! sans-I/O crypto API the way a client would.

#![allow(dead_code)]

use std::collections::HashMap;

use serde_json::json;
use zynk_sdk::crypto::{
    CryptoMachine, DeviceKeys, DeviceRef, IdentityKey, KdfParams, OutgoingToDevice,
    SignedOneTimeKey, ToDeviceEvent, ToDeviceMessage, UserIdentity,
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

/// A custom to-device event carrying `n`.
pub fn custom(n: u32) -> OutgoingToDevice {
    OutgoingToDevice::Custom {
        event_type: "test.ping".into(),
        content: json!({ "n": n }),
    }
}

/// Assert `event` is the custom event made by [`custom`]`(n)`.
pub fn assert_custom(event: &ToDeviceEvent, n: u32) {
    assert_eq!(
        event,
        &ToDeviceEvent::Custom {
            event_type: "test.ping".into(),
            content: json!({ "n": n })
        }
    );
}

/// Alice and Bob, one device each, registered and synced.
pub fn pair() -> (Directory, CryptoMachine, CryptoMachine) {
    let mut directory = Directory::default();
    let mut alice = TestUser::new("alice").device("A1");
    let mut bob = TestUser::new("bob").device("B1");
    directory.register(&mut alice);
    directory.register(&mut bob);
    directory.sync_all(&mut alice);
    directory.sync_all(&mut bob);
    (directory, alice, bob)
}

/// Claim a key of `to` and start an Olm session to it from `from`.
pub fn connect(directory: &mut Directory, from: &mut CryptoMachine, to: &DeviceRef) {
    let key = directory.claim(to).unwrap();
    from.create_outbound_session(to, &key).unwrap();
}

/// Decode unpadded base64 (to tamper with ciphertexts).
pub fn decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text)
        .unwrap()
}

/// Alice (A1), Bob with two devices (B1, B2) and Carol (C1), all synced.
pub struct Group {
    pub directory: Directory,
    pub alice: CryptoMachine,
    pub bob1: CryptoMachine,
    pub bob2: CryptoMachine,
    pub carol: CryptoMachine,
}

impl Group {
    pub fn new() -> Self {
        let mut directory = Directory::default();
        let bob = TestUser::new("bob");
        let mut alice = TestUser::new("alice").device("A1");
        let mut bob1 = bob.device("B1");
        let mut bob2 = bob.device("B2");
        let mut carol = TestUser::new("carol").device("C1");
        for machine in [&mut alice, &mut bob1, &mut bob2, &mut carol] {
            directory.register(machine);
        }
        for machine in [&mut alice, &mut bob1, &mut bob2, &mut carol] {
            directory.sync_all(machine);
        }
        Self {
            directory,
            alice,
            bob1,
            bob2,
            carol,
        }
    }

    pub fn everyone(&self) -> Vec<DeviceRef> {
        vec![
            me(&self.alice),
            me(&self.bob1),
            me(&self.bob2),
            me(&self.carol),
        ]
    }

    pub fn machine(&mut self, device: &DeviceRef) -> &mut CryptoMachine {
        match device.device_id.as_str() {
            "A1" => &mut self.alice,
            "B1" => &mut self.bob1,
            "B2" => &mut self.bob2,
            _ => &mut self.carol,
        }
    }

    /// Alice shares her key with `participants` and the messages are delivered.
    pub fn alice_shares(&mut self, conversation: &str, participants: &[DeviceRef], now: u64) {
        let messages = self
            .directory
            .share(&mut self.alice, conversation, participants, now);
        for message in messages {
            let decrypted = self
                .machine(&message.recipient)
                .decrypt_to_device(&message.envelope);
            assert!(matches!(
                decrypted.unwrap().event,
                ToDeviceEvent::RoomKey(_)
            ));
        }
    }
}
