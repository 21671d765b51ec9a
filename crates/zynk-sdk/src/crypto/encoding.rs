//! Byte encodings shared by the crypto modules: strict unpadded base64 and the
//! length-prefixed binary form that every Zynk signature covers.
//!
//! # Signed encodings
//!
//! Every signature made by a Zynk key covers a byte string built by
//! [`SignedBytes`]:
//!
//! ```text
//! tag ‖ 0x00 ‖ field_1 ‖ field_2 ‖ …
//! ```
//!
//! where `tag` is an ASCII domain-separation tag such as `zynk/device-keys/v1`
//! (never containing `0x00`), and each field is either a fixed-size key (its raw
//! bytes, no prefix) or a variable-length string written as a 4-byte big-endian
//! length followed by its UTF-8 bytes. Lists are a 4-byte big-endian count
//! followed by their length-prefixed items. Because every variable field
//! carries its length and every tag is distinct, no two different signed
//! statements share an encoding.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use super::error::KeyError;

/// Encode bytes as unpadded standard base64 (the form used for every key and
/// signature on the wire).
pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD_NO_PAD.encode(bytes)
}

/// Decode unpadded standard base64, rejecting padding and non-canonical
/// trailing bits so each value has exactly one textual form.
pub(crate) fn decode_base64(what: &'static str, text: &str) -> Result<Vec<u8>, KeyError> {
    STANDARD_NO_PAD
        .decode(text)
        .map_err(|_| KeyError::InvalidBase64 { what })
}

/// Decode unpadded base64 that must hold exactly `N` bytes.
pub(crate) fn decode_fixed<const N: usize>(
    what: &'static str,
    text: &str,
) -> Result<[u8; N], KeyError> {
    let bytes = decode_base64(what, text)?;
    let length = bytes.len();
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| KeyError::InvalidLength {
        what,
        expected: N,
        got: length,
    })
}

/// Builder for the domain-separated byte strings that Zynk signatures cover.
#[derive(Debug)]
pub(crate) struct SignedBytes {
    bytes: Vec<u8>,
}

impl SignedBytes {
    /// Start a statement with its domain-separation tag.
    pub(crate) fn new(tag: &str) -> Self {
        let mut bytes = Vec::with_capacity(tag.len() + 128);
        bytes.extend_from_slice(tag.as_bytes());
        bytes.push(0);
        Self { bytes }
    }

    /// Append a variable-length string (4-byte big-endian length, then bytes).
    pub(crate) fn string(mut self, value: &str) -> Self {
        self.push_length(value.len());
        self.bytes.extend_from_slice(value.as_bytes());
        self
    }

    /// Append a fixed-size key as its raw bytes.
    pub(crate) fn key(mut self, key: &[u8; 32]) -> Self {
        self.bytes.extend_from_slice(key);
        self
    }

    /// Append a list of strings (4-byte big-endian count, then each string).
    pub(crate) fn strings(mut self, values: &[String]) -> Self {
        self.push_length(values.len());
        for value in values {
            self = self.string(value);
        }
        self
    }

    /// The finished statement.
    pub(crate) fn finish(self) -> Vec<u8> {
        self.bytes
    }

    fn push_length(&mut self, length: usize) {
        // Lengths above u32::MAX cannot occur for ids and keys; saturating
        // keeps the encoding total without a panic path.
        let length = u32::try_from(length).unwrap_or(u32::MAX);
        self.bytes.extend_from_slice(&length.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_unpadded_and_strict() {
        assert_eq!(encode_base64(&[0xff; 32]).len(), 43);
        assert!(decode_base64("key", "AAAA").is_ok());
        assert!(matches!(
            decode_base64("key", "AA=="),
            Err(KeyError::InvalidBase64 { .. })
        ));
        // Non-canonical trailing bits are rejected.
        assert!(decode_base64("key", "AB").is_err());
        assert!(matches!(
            decode_fixed::<32>("key", "AAAA"),
            Err(KeyError::InvalidLength {
                expected: 32,
                got: 3,
                ..
            })
        ));
    }

    #[test]
    fn signed_bytes_are_length_prefixed_and_tagged() {
        let a = SignedBytes::new("t").string("ab").string("c").finish();
        let b = SignedBytes::new("t").string("a").string("bc").finish();
        assert_ne!(a, b);
        assert_eq!(
            a,
            [b"t\0".as_slice(), &[0, 0, 0, 2], b"ab", &[0, 0, 0, 1], b"c"].concat()
        );
        let other_tag = SignedBytes::new("u").string("ab").string("c").finish();
        assert_ne!(a, other_tag);
        let list = SignedBytes::new("t").strings(&["x".to_owned()]).finish();
        assert_eq!(
            list,
            [b"t\0".as_slice(), &[0, 0, 0, 1], &[0, 0, 0, 1], b"x"].concat()
        );
    }
}
