//! Signed public key material of a device: the device-key bundle (signed by
//! the device's own Ed25519 key and by the user identity key) and signed
//! one-time / fallback keys, with their verifiers.
//!
//! # Canonical encodings (see [`super::encoding`] for the field rules)
//!
//! Device keys, signed by the device Ed25519 key (`device_signature`) and by
//! the user identity key (`identity_signature`), both over the same bytes:
//!
//! ```text
//! "zynk/device-keys/v1" 0x00 ‖ len‖user_id ‖ len‖device_id
//!     ‖ curve25519 (32 bytes) ‖ ed25519 (32 bytes) ‖ count ‖ (len‖algorithm)*
//! ```
//!
//! One-time keys (`zynk/one-time-key/v1`) and fallback keys
//! (`zynk/fallback-key/v1`), signed by the device Ed25519 key:
//!
//! ```text
//! tag 0x00 ‖ len‖user_id ‖ len‖device_id ‖ len‖key_id ‖ curve25519 key (32 bytes)
//! ```

use serde::{Deserialize, Serialize};
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey};

use super::encoding::{SignedBytes, decode_fixed, encode_base64};
use super::error::{KeyError, VerificationError};
use super::identity::{IdentityKey, verify_ed25519};

/// Algorithm name of pairwise Olm encryption (to-device messages).
pub const OLM_ALGORITHM: &str = "zynk.olm.v1.curve25519-aes-sha2";
/// Algorithm name of Megolm group encryption (conversation messages).
pub const MEGOLM_ALGORITHM: &str = "zynk.megolm.v1.aes-sha2";

const DEVICE_KEYS_TAG: &str = "zynk/device-keys/v1";
const ONE_TIME_KEY_TAG: &str = "zynk/one-time-key/v1";
const FALLBACK_KEY_TAG: &str = "zynk/fallback-key/v1";

/// A device's public keys as uploaded to and served by the server.
///
/// Keys and signatures are unpadded standard base64. Trust it only through
/// [`DeviceKeys::verify`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceKeys {
    /// Owner of the device (the server's user id).
    pub user_id: String,
    /// The device id.
    pub device_id: String,
    /// The device's Curve25519 identity key (Olm).
    pub curve25519: String,
    /// The device's Ed25519 fingerprint key.
    pub ed25519: String,
    /// Encryption algorithms the device supports.
    pub algorithms: Vec<String>,
    /// Signature by the device's Ed25519 key over the canonical encoding.
    pub device_signature: String,
    /// Signature by the owner's identity key over the canonical encoding.
    pub identity_signature: String,
}

impl DeviceKeys {
    /// The canonical bytes both signatures cover.
    pub(crate) fn signed_bytes(
        user_id: &str,
        device_id: &str,
        curve25519: &[u8; 32],
        ed25519: &[u8; 32],
        algorithms: &[String],
    ) -> Vec<u8> {
        SignedBytes::new(DEVICE_KEYS_TAG)
            .string(user_id)
            .string(device_id)
            .key(curve25519)
            .key(ed25519)
            .strings(algorithms)
            .finish()
    }

    /// Verify the bundle for `expected_user_id` against the identity key this
    /// client trusts for that user. Checks both signatures strictly and that
    /// the device supports Olm and Megolm.
    pub fn verify(
        &self,
        expected_user_id: &str,
        identity_key: &IdentityKey,
    ) -> Result<VerifiedDevice, VerificationError> {
        if self.user_id != expected_user_id {
            return Err(VerificationError::UserMismatch {
                expected: expected_user_id.to_owned(),
                got: self.user_id.clone(),
            });
        }
        let (curve25519, ed25519) = self.decode_keys()?;
        let message = Self::signed_bytes(
            &self.user_id,
            &self.device_id,
            &curve25519,
            &ed25519,
            &self.algorithms,
        );
        if !verify_ed25519(&ed25519, &message, &self.device_signature) {
            return Err(VerificationError::BadDeviceSignature);
        }
        if !identity_key.verify(&message, &self.identity_signature) {
            return Err(VerificationError::BadIdentitySignature);
        }
        for required in [OLM_ALGORITHM, MEGOLM_ALGORITHM] {
            if !self.algorithms.iter().any(|a| a == required) {
                return Err(VerificationError::UnsupportedAlgorithm(required));
            }
        }
        self.restore_verified()
    }

    /// Rebuild the [`VerifiedDevice`] of a bundle that [`Self::verify`]
    /// accepted before, without checking signatures again. Only for bundles
    /// read back from the authenticated, encrypted client state.
    pub(crate) fn restore_verified(&self) -> Result<VerifiedDevice, VerificationError> {
        let (curve25519, ed25519) = self.decode_keys()?;
        let ed25519 = Ed25519PublicKey::from_slice(&ed25519).map_err(|_| KeyError::InvalidKey {
            what: "ed25519 key",
        })?;
        Ok(VerifiedDevice {
            user_id: self.user_id.clone(),
            device_id: self.device_id.clone(),
            curve25519: Curve25519PublicKey::from_bytes(curve25519),
            ed25519,
        })
    }

    fn decode_keys(&self) -> Result<([u8; 32], [u8; 32]), KeyError> {
        let curve25519 = decode_fixed::<32>("curve25519 key", &self.curve25519)?;
        let ed25519 = decode_fixed::<32>("ed25519 key", &self.ed25519)?;
        Ed25519PublicKey::from_slice(&ed25519).map_err(|_| KeyError::InvalidKey {
            what: "ed25519 key",
        })?;
        Ok((curve25519, ed25519))
    }
}

/// A device whose keys verified under its owner's trusted identity key.
/// Only [`DeviceKeys::verify`] creates one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedDevice {
    user_id: String,
    device_id: String,
    curve25519: Curve25519PublicKey,
    ed25519: Ed25519PublicKey,
}

impl VerifiedDevice {
    /// Owner of the device.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The device id.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The device's Curve25519 key, base64.
    pub fn curve25519_base64(&self) -> String {
        self.curve25519.to_base64()
    }

    /// The device's Ed25519 key, base64.
    pub fn ed25519_base64(&self) -> String {
        self.ed25519.to_base64()
    }

    /// A `(user_id, device_id)` reference to this device.
    pub fn device_ref(&self) -> DeviceRef {
        DeviceRef {
            user_id: self.user_id.clone(),
            device_id: self.device_id.clone(),
        }
    }

    pub(crate) fn curve25519(&self) -> Curve25519PublicKey {
        self.curve25519
    }

    pub(crate) fn ed25519(&self) -> Ed25519PublicKey {
        self.ed25519
    }
}

/// Names a device: `(user_id, device_id)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeviceRef {
    /// Owner of the device.
    pub user_id: String,
    /// The device id.
    pub device_id: String,
}

impl DeviceRef {
    /// Build a reference from its parts.
    pub fn new(user_id: impl Into<String>, device_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            device_id: device_id.into(),
        }
    }
}

/// A one-time or fallback Curve25519 key signed by its device's Ed25519 key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedOneTimeKey {
    /// The key id assigned by the device.
    pub key_id: String,
    /// The Curve25519 public key, base64.
    pub key: String,
    /// Whether this is the device's fallback key (reusable until replaced).
    pub fallback: bool,
    /// Device Ed25519 signature over the canonical encoding, base64.
    pub signature: String,
}

impl SignedOneTimeKey {
    /// The canonical bytes the signature covers.
    pub(crate) fn signed_bytes(
        user_id: &str,
        device_id: &str,
        key_id: &str,
        key: &[u8; 32],
        fallback: bool,
    ) -> Vec<u8> {
        let tag = if fallback {
            FALLBACK_KEY_TAG
        } else {
            ONE_TIME_KEY_TAG
        };
        SignedBytes::new(tag)
            .string(user_id)
            .string(device_id)
            .string(key_id)
            .key(key)
            .finish()
    }

    /// Verify the signature under `device`'s Ed25519 key and return the key.
    pub fn verify(
        &self,
        device: &VerifiedDevice,
    ) -> Result<Curve25519PublicKey, VerificationError> {
        let key = decode_fixed::<32>("one-time key", &self.key)?;
        let message = Self::signed_bytes(
            device.user_id(),
            device.device_id(),
            &self.key_id,
            &key,
            self.fallback,
        );
        if !verify_ed25519(device.ed25519().as_bytes(), &message, &self.signature) {
            return Err(VerificationError::BadOneTimeKeySignature);
        }
        Ok(Curve25519PublicKey::from_bytes(key))
    }

    pub(crate) fn new_signed(
        user_id: &str,
        device_id: &str,
        key_id: String,
        key: Curve25519PublicKey,
        fallback: bool,
        sign: impl Fn(&[u8]) -> String,
    ) -> Self {
        let message = Self::signed_bytes(user_id, device_id, &key_id, key.as_bytes(), fallback);
        Self {
            key_id,
            key: encode_base64(key.as_bytes()),
            fallback,
            signature: sign(&message),
        }
    }
}

/// Keys to upload to the server: fresh signed one-time keys and, when one
/// was generated, a new signed fallback key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimeKeyUpload {
    /// New signed one-time keys.
    pub one_time_keys: Vec<SignedOneTimeKey>,
    /// A new signed fallback key, if one is unpublished.
    pub fallback_key: Option<SignedOneTimeKey>,
}

impl OneTimeKeyUpload {
    /// Whether there is nothing to upload.
    pub fn is_empty(&self) -> bool {
        self.one_time_keys.is_empty() && self.fallback_key.is_none()
    }
}
