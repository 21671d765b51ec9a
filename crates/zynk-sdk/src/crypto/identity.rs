//! The user's long-term Ed25519 identity key: it signs the user's device keys
//! and is what the server stores as `users.public_key`.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use super::encoding::{decode_fixed, encode_base64};
use super::error::{CryptoError, KeyError};

/// A user's public identity key (Ed25519).
///
/// Serialized as unpadded standard base64 of its 32 bytes: the value of the
/// register request's `identity_key` and of `users.public_key`. Small-order
/// ("weak") points are rejected on decode.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityKey([u8; 32]);

impl IdentityKey {
    /// Decode from unpadded base64, rejecting invalid and weak points.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = decode_fixed::<32>("identity key", text)?;
        Self::from_bytes(bytes)
    }

    /// Build from raw bytes, rejecting invalid and weak points.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::InvalidKey {
            what: "identity key",
        })?;
        if key.is_weak() {
            return Err(KeyError::InvalidKey {
                what: "identity key",
            });
        }
        Ok(Self(bytes))
    }

    /// Unpadded standard base64 of the 32 key bytes.
    pub fn to_base64(&self) -> String {
        encode_base64(&self.0)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Strictly verify a base64 signature over `message` with this key.
    pub(crate) fn verify(&self, message: &[u8], signature: &str) -> bool {
        verify_ed25519(&self.0, message, signature)
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKey({})", self.to_base64())
    }
}

impl fmt::Display for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl Serialize for IdentityKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for IdentityKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// Strict Ed25519 verification (`verify_strict`: rejects non-canonical and
/// small-order components) of a base64 signature.
pub(crate) fn verify_ed25519(public_key: &[u8; 32], message: &[u8], signature: &str) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    let Ok(signature) = decode_fixed::<64>("signature", signature) else {
        return false;
    };
    key.verify_strict(message, &Signature::from_bytes(&signature))
        .is_ok()
}

/// The user's identity key pair. Holds a secret: its `Debug` shows only the
/// public key and the secret is zeroized on drop.
pub struct UserIdentity {
    signing_key: SigningKey,
}

impl UserIdentity {
    /// Generate a fresh identity key pair from the OS random number generator.
    pub fn generate() -> Result<Self, CryptoError> {
        let seed = super::random_array::<32>()?;
        Ok(Self::from_seed(&seed))
    }

    /// Rebuild the key pair from its 32-byte secret seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            signing_key: SigningKey::from_bytes(seed),
        }
    }

    /// Export the 32-byte secret seed, e.g. to move the identity to another
    /// of the user's devices over a verified channel. Handle with care.
    pub fn export_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing_key.to_bytes())
    }

    /// The public identity key.
    pub fn public_key(&self) -> IdentityKey {
        IdentityKey(self.signing_key.verifying_key().to_bytes())
    }

    /// Sign a domain-separated statement; returns the base64 signature.
    pub(crate) fn sign(&self, message: &[u8]) -> String {
        encode_base64(&self.signing_key.sign(message).to_bytes())
    }
}

impl fmt::Debug for UserIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserIdentity")
            .field("public_key", &self.public_key())
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_key_round_trips_through_base64_and_serde() {
        let identity = UserIdentity::generate().unwrap();
        let key = identity.public_key();
        assert_eq!(key.to_base64().len(), 43);
        assert_eq!(IdentityKey::from_base64(&key.to_base64()).unwrap(), key);
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(json, format!("\"{}\"", key.to_base64()));
        assert_eq!(serde_json::from_str::<IdentityKey>(&json).unwrap(), key);
    }

    #[test]
    fn seed_export_restores_same_key() {
        let identity = UserIdentity::generate().unwrap();
        let copy = UserIdentity::from_seed(&identity.export_seed());
        assert_eq!(copy.public_key(), identity.public_key());
    }

    #[test]
    fn debug_redacts_the_secret() {
        let identity = UserIdentity::from_seed(&[7; 32]);
        let text = format!("{identity:?}");
        assert!(text.contains("<redacted>"));
        assert!(!text.contains(&encode_base64(&[7; 32])));
        assert!(!text.contains("secret_key"));
    }

    #[test]
    fn weak_and_invalid_keys_are_rejected() {
        // The identity point (small order) encodes as 0x01 followed by zeros.
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        assert!(IdentityKey::from_bytes(identity_point).is_err());
        assert!(IdentityKey::from_base64("AAAA").is_err());
        assert!(IdentityKey::from_base64("not base64!").is_err());
    }

    #[test]
    fn signatures_verify_strictly() {
        let identity = UserIdentity::generate().unwrap();
        let key = identity.public_key();
        let signature = identity.sign(b"statement");
        assert!(key.verify(b"statement", &signature));
        assert!(!key.verify(b"statement!", &signature));
        let other = UserIdentity::generate().unwrap().public_key();
        assert!(!other.verify(b"statement", &signature));

        // Flip one bit in the signature.
        let mut bytes = decode_fixed::<64>("sig", &signature).unwrap();
        bytes[10] ^= 1;
        assert!(!key.verify(b"statement", &encode_base64(&bytes)));

        // Malleated S (S + L) must fail strict verification.
        let mut malleated = decode_fixed::<64>("sig", &signature).unwrap();
        add_group_order(&mut malleated[32..]);
        assert!(!key.verify(b"statement", &encode_base64(&malleated)));

        assert!(!key.verify(b"statement", "garbage"));
    }

    /// Adds the Ed25519 group order L to a little-endian scalar (mod 2^256).
    fn add_group_order(scalar: &mut [u8]) {
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for (byte, l) in scalar.iter_mut().zip(L) {
            let sum = u16::from(*byte) + u16::from(l) + carry;
            *byte = (sum & 0xff) as u8;
            carry = sum >> 8;
        }
    }
}
