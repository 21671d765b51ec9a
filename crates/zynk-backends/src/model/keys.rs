//! Device keys and to-device payloads.

use super::*;

/// A signed one-time or fallback key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Key id.
    pub key_id: String,
    /// Public key.
    pub public_key: String,
    /// Signature.
    pub signature: String,
}

/// Key stock of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyStock {
    /// Unclaimed one-time keys.
    pub one_time_keys: u64,
    /// Whether a fallback key is stored.
    pub fallback_key: bool,
    /// Whether the device key bundle is stored.
    pub device_keys: bool,
}

/// The outcome of a key upload (all of it is stored, or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUpload {
    /// Stored; the device's stock afterwards.
    Stored(KeyStock),
    /// A different key bundle is already stored for the device.
    BundleConflict,
    /// The device would hold more one-time keys than allowed.
    TooManyKeys,
}

/// A claimed key: a one-time key (removed from the store) or the fallback key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// Owner.
    pub user_id: UserId,
    /// Device.
    pub device_id: DeviceId,
    /// The key.
    pub key: StoredKey,
    /// Whether it is the fallback key.
    pub fallback: bool,
    /// One-time keys the device has left after this claim.
    pub remaining: u64,
}

/// A user's identity key and device bundles.
#[derive(Debug, Clone, PartialEq)]
pub struct UserKeysRecord {
    /// User.
    pub user_id: UserId,
    /// Identity key.
    pub identity_key: String,
    /// Bundles (JSON as uploaded).
    pub bundles: Vec<serde_json::Value>,
}

/// A to-device payload to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewToDevice {
    /// Recipient owner (checked).
    pub recipient_user_id: UserId,
    /// Recipient device.
    pub recipient_device_id: DeviceId,
    /// Payload.
    pub content: serde_json::Value,
}

/// A stored to-device payload.
#[derive(Debug, Clone, PartialEq)]
pub struct ToDeviceRecord {
    /// Inbox position.
    pub id: i64,
    /// Recipient device.
    pub recipient_device_id: DeviceId,
    /// Sender.
    pub sender_user_id: Option<UserId>,
    /// Sending device.
    pub sender_device_id: Option<DeviceId>,
    /// Event type.
    pub event_type: String,
    /// Payload.
    pub content: serde_json::Value,
    /// Send time.
    pub created_at: DateTime<Utc>,
}

/// What a to-device send stored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToDeviceOutcome {
    /// Newly stored payloads (to push to connected devices).
    pub stored: Vec<ToDeviceRecord>,
    /// Recipients already holding this transaction (a retry).
    pub duplicates: u64,
    /// Recipients (user, device) that do not exist.
    pub unknown: Vec<(UserId, DeviceId)>,
}
