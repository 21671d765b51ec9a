//! Fixed-size byte values shared by every ledger structure: 32-byte hashes and 20-byte EVM
//! addresses rendered as `0x`-prefixed lowercase hex, and 64-byte Ed25519 signatures rendered as
//! unpadded base64url.
//!
//! Parsing is strict so that each value has exactly one textual form: hex must carry the `0x`
//! prefix, be lowercase and have the exact length; base64url must be unpadded and canonical.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// Why a textual fixed-size value could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The string lacks the mandatory `0x` prefix.
    #[error("missing 0x prefix")]
    MissingPrefix,
    /// The hex body has the wrong number of characters.
    #[error("wrong hex length: expected {expected} characters after 0x, got {got}")]
    HexLength {
        /// Characters required after `0x`.
        expected: usize,
        /// Characters present after `0x`.
        got: usize,
    },
    /// A character is not lowercase hex.
    #[error("invalid character at position {0}: only lowercase hex is accepted")]
    HexChar(usize),
    /// The base64url text is not canonical unpadded base64url.
    #[error("invalid base64url: {0}")]
    Base64(String),
    /// The decoded bytes have the wrong length.
    #[error("wrong decoded length: expected {expected} bytes, got {got}")]
    ByteLength {
        /// Bytes required.
        expected: usize,
        /// Bytes decoded.
        got: usize,
    },
}

/// Decodes `0x` + exactly `2 * N` lowercase hex characters.
fn parse_prefixed_hex<const N: usize>(s: &str) -> Result<[u8; N], ParseError> {
    let body = s.strip_prefix("0x").ok_or(ParseError::MissingPrefix)?;
    if body.len() != 2 * N {
        return Err(ParseError::HexLength {
            expected: 2 * N,
            got: body.len(),
        });
    }
    if let Some(pos) = body
        .bytes()
        .position(|c| !(c.is_ascii_digit() || (b'a'..=b'f').contains(&c)))
    {
        return Err(ParseError::HexChar(pos + 2));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(body, &mut out).map_err(|_| ParseError::HexChar(2))?;
    Ok(out)
}

macro_rules! hex_bytes_type {
    ($(#[$meta:meta])* $name:ident, $len:expr, $expecting:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Number of bytes in the value.
            pub const LEN: usize = $len;

            /// Wraps raw bytes.
            pub const fn new(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Copies a slice that must be exactly the right length.
            ///
            /// # Errors
            /// [`ParseError::ByteLength`] when the slice length differs.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, ParseError> {
                <[u8; $len]>::try_from(bytes)
                    .map(Self)
                    .map_err(|_| ParseError::ByteLength {
                        expected: $len,
                        got: bytes.len(),
                    })
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("0x")?;
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            /// Parses `0x` followed by exactly the right number of lowercase hex digits.
            fn from_str(s: &str) -> Result<Self, ParseError> {
                parse_prefixed_hex::<$len>(s).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(V)
            }
        }
    };
}

hex_bytes_type!(
    /// A SHA-256 output (Merkle node, leaf hash, block or transaction hash). Renders as `0x` + 64
    /// lowercase hex characters, the shape of a `bytes32`; it is never a Keccak/Ethereum hash.
    Hash32,
    32,
    "0x followed by 64 lowercase hex characters"
);

hex_bytes_type!(
    /// A 20-byte EVM account or contract address, rendered as `0x` + 40 lowercase hex characters
    /// (no EIP-55 checksum casing).
    Address20,
    20,
    "0x followed by 40 lowercase hex characters"
);

impl Hash32 {
    /// All-zero hash, used as `prev_hash` of the genesis block and first batch header.
    pub const ZERO: Hash32 = Hash32([0u8; 32]);

    /// SHA-256 of `data`.
    pub fn sha256(data: &[u8]) -> Hash32 {
        Hash32(Sha256::digest(data).into())
    }
}

/// A 64-byte Ed25519 signature, rendered as unpadded base64url (86 characters).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature64(pub [u8; 64]);

impl Signature64 {
    /// All-zero placeholder carried by a structure that has not been signed yet. It never
    /// verifies.
    pub const UNSIGNED: Signature64 = Signature64([0u8; 64]);

    /// The raw signature bytes.
    pub const fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl Default for Signature64 {
    fn default() -> Self {
        Self::UNSIGNED
    }
}

impl From<ed25519_dalek::Signature> for Signature64 {
    fn from(sig: ed25519_dalek::Signature) -> Self {
        Signature64(sig.to_bytes())
    }
}

impl From<Signature64> for ed25519_dalek::Signature {
    fn from(sig: Signature64) -> Self {
        ed25519_dalek::Signature::from_bytes(&sig.0)
    }
}

impl fmt::Display for Signature64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for Signature64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature64({self})")
    }
}

impl FromStr for Signature64 {
    type Err = ParseError;

    /// Parses canonical unpadded base64url that decodes to exactly 64 bytes.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        // 64 bytes encode to 86 characters; reject longer input before decoding it.
        if s.len() != 86 {
            return Err(ParseError::Base64(format!(
                "expected 86 characters, got {}",
                s.len()
            )));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|e| ParseError::Base64(e.to_string()))?;
        <[u8; 64]>::try_from(bytes.as_slice())
            .map(Signature64)
            .map_err(|_| ParseError::ByteLength {
                expected: 64,
                got: bytes.len(),
            })
    }
}

impl Serialize for Signature64 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Signature64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Signature64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an unpadded base64url Ed25519 signature")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Signature64, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_hex_round_trip_and_strictness() {
        let h = Hash32::sha256(b"");
        let s = h.to_string();
        assert_eq!(
            s,
            "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(s.parse::<Hash32>(), Ok(h));
        assert_eq!(
            s[2..].parse::<Hash32>(),
            Err(ParseError::MissingPrefix),
            "unprefixed"
        );
        assert_eq!(
            s.to_uppercase().replace("0X", "0x").parse::<Hash32>(),
            Err(ParseError::HexChar(2))
        );
        assert_eq!(
            format!("{s}0").parse::<Hash32>(),
            Err(ParseError::HexLength {
                expected: 64,
                got: 65
            })
        );
        let json = serde_json::to_string(&h).unwrap_or_default();
        assert_eq!(json, format!("\"{s}\""));
        assert_eq!(serde_json::from_str::<Hash32>(&json).ok(), Some(h));
    }

    #[test]
    fn address_is_forty_hex() {
        let a = Address20([0xab; 20]);
        assert_eq!(a.to_string().len(), 42);
        assert_eq!(a.to_string().parse::<Address20>(), Ok(a));
    }

    #[test]
    fn signature_base64url_round_trip() {
        let sig = Signature64([7u8; 64]);
        let s = sig.to_string();
        assert_eq!(s.len(), 86);
        assert_eq!(s.parse::<Signature64>(), Ok(sig));
        assert!(format!("{s}==").parse::<Signature64>().is_err());
        assert!(s[..85].parse::<Signature64>().is_err());
        // The last character carries 4 unused bits; a non-zero value there is rejected.
        let mut noisy = s.clone();
        noisy.pop();
        noisy.push('H');
        assert!(noisy.parse::<Signature64>().is_err());
    }
}
