//! Device keys, one-time keys and fallback keys: upload, count, query and claim.
//!
//! The server stores these as published by clients and hands them out; it checks shapes and
//! that a bundle belongs to the calling device, while clients verify the signatures (a client
//! trusts a device only if the user identity key's signature over its keys verifies).

use crate::ids::{DeviceId, UserId};
use serde::{Deserialize, Serialize};

/// Most one-time keys accepted in one upload.
pub const MAX_ONE_TIME_KEYS_PER_UPLOAD: usize = 100;
/// Most one-time keys a device may have stored.
pub const MAX_STORED_ONE_TIME_KEYS: u64 = 200;
/// Most devices in one query or claim.
pub const MAX_DEVICES_PER_CLAIM: usize = 1024;
/// Most users in one key query.
pub const MAX_USERS_PER_QUERY: usize = 256;
/// Below this many stored one-time keys the server tells the device to upload more.
pub const ONE_TIME_KEYS_LOW: u64 = 10;

/// A device's signed key bundle (Curve25519 + Ed25519), signed by the device's Ed25519 key and
/// by the user's identity key over the SDK's canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceKeysBundle {
    /// Owner (must be the caller on upload).
    pub user_id: String,
    /// Device (must be the calling device on upload).
    pub device_id: String,
    /// Curve25519 identity key, unpadded base64.
    pub curve25519: String,
    /// Ed25519 key, unpadded base64; must equal the device's registered public key.
    pub ed25519: String,
    /// Supported algorithms.
    pub algorithms: Vec<String>,
    /// Signature by the device's Ed25519 key.
    pub device_signature: String,
    /// Signature by the user's identity key.
    pub identity_signature: String,
}

/// A signed one-time or fallback key (Curve25519), as the SDK's `SignedOneTimeKey`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignedKey {
    /// Key id chosen by the device, 1-64 characters.
    pub key_id: String,
    /// Curve25519 public key, unpadded base64.
    pub key: String,
    /// Whether this is the fallback key.
    pub fallback: bool,
    /// Device Ed25519 signature, base64.
    pub signature: String,
}

/// `POST /api/v1/keys/upload`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct KeysUploadRequest {
    /// The device's key bundle (uploaded once; re-uploading identical keys is accepted).
    #[serde(default)]
    pub device_keys: Option<DeviceKeysBundle>,
    /// New one-time keys (`fallback: false`), at most 100.
    #[serde(default)]
    pub one_time_keys: Vec<SignedKey>,
    /// A new fallback key (`fallback: true`), replacing the previous one.
    #[serde(default)]
    pub fallback_key: Option<SignedKey>,
}

/// Reply to an upload, and `GET /api/v1/keys/count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyCounts {
    /// Unclaimed one-time keys the server holds for the calling device.
    pub one_time_key_count: u64,
    /// Whether the server holds a fallback key for the calling device.
    pub fallback_key_present: bool,
    /// Whether the device keys bundle has been uploaded.
    pub device_keys_present: bool,
}

/// `POST /api/v1/keys/query`: device key bundles of users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct KeysQueryRequest {
    /// Users whose keys are wanted, at most 256.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<uuid::Uuid>))]
    pub user_ids: Vec<UserId>,
}

/// One user's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserKeys {
    /// The user.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub user_id: UserId,
    /// The user's identity key as the server holds it (clients check it against the ledger).
    pub identity_key: String,
    /// Bundles of the user's devices that uploaded one.
    pub devices: Vec<DeviceKeysBundle>,
}

/// Reply to a key query; unknown users are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeysQueryResponse {
    /// Keys per user.
    pub users: Vec<UserKeys>,
}

/// A device whose key is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceRef {
    /// Owner.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub user_id: UserId,
    /// Device.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub device_id: DeviceId,
}

/// `POST /api/v1/keys/claim`: one key per device. A one-time key is handed out once only;
/// when none is left the fallback key is returned (it may be handed out repeatedly).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct KeysClaimRequest {
    /// Devices, at most 1024.
    pub devices: Vec<DeviceRef>,
}

/// One claimed key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimedKey {
    /// Owner.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub user_id: UserId,
    /// Device.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub device_id: DeviceId,
    /// The key.
    pub key: SignedKey,
}

/// Reply to a claim. Devices that have neither a one-time nor a fallback key (or do not exist)
/// are listed in `unavailable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeysClaimResponse {
    /// Claimed keys.
    pub keys: Vec<ClaimedKey>,
    /// Devices with no key to hand out.
    pub unavailable: Vec<DeviceRef>,
}
