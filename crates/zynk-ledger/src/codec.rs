//! Fixed binary encoding used for everything that is hashed or signed: big-endian integers,
//! raw fixed-size byte arrays, and byte strings prefixed by their length as a `u64` big-endian.
//!
//! Every encoding starts with an ASCII domain tag followed by `0x00`, so bytes signed for one
//! purpose can never be replayed as bytes of another. The [`Reader`] is strict: it never
//! allocates from an untrusted length before checking that the bytes are present, and callers
//! finish with [`Reader::finish`] so trailing bytes are rejected.

use crate::types::{Hash32, Signature64};

/// Longest string accepted by the decoder (DIDs, batch ids, validator ids).
pub const MAX_STRING_LEN: usize = 1024;

/// Why a binary encoding could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended early.
    #[error("truncated input: needed {needed} more bytes at offset {offset}, {available} left")]
    Truncated {
        /// Offset of the field being read.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// Bytes remain after the last field.
    #[error("{0} trailing bytes after the encoded value")]
    TrailingBytes(usize),
    /// The domain tag differs from the one expected.
    #[error("wrong domain tag at offset 0")]
    DomainTag,
    /// A string is longer than [`MAX_STRING_LEN`].
    #[error("string length: expected at most {max}, got {got}")]
    StringTooLong {
        /// Maximum accepted length.
        max: usize,
        /// Length found.
        got: u64,
    },
    /// A string is not UTF-8.
    #[error("string at offset {0} is not valid UTF-8")]
    Utf8(usize),
    /// An enum tag byte has no meaning.
    #[error("unknown {what} tag {tag}")]
    UnknownTag {
        /// Which enum was being decoded.
        what: &'static str,
        /// The tag byte found.
        tag: u8,
    },
    /// A decoded field is outside its allowed range.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// Which field.
        field: &'static str,
        /// Why it is rejected.
        reason: String,
    },
}

/// Appends fields to a byte buffer in the canonical binary form.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Starts an encoding with `domain` followed by a `0x00` separator.
    pub fn with_domain(domain: &[u8]) -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(domain);
        buf.push(0);
        Self { buf }
    }

    /// Appends one byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// Appends a big-endian `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends raw bytes with no length prefix (for fixed-size fields).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// Appends a 32-byte hash.
    pub fn hash(&mut self, h: &Hash32) -> &mut Self {
        self.raw(&h.0)
    }

    /// Appends a length-prefixed (`u64` BE) byte string.
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        // usize is at most 64 bits on every supported target, so this never truncates.
        self.u64(bytes.len() as u64);
        self.raw(bytes)
    }

    /// Appends a length-prefixed UTF-8 string.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    /// Returns the encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads fields back from a canonical binary encoding.
#[derive(Debug)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading `input`, which must begin with `domain` and `0x00`.
    ///
    /// # Errors
    /// [`DecodeError::DomainTag`] when the prefix differs.
    pub fn with_domain(input: &'a [u8], domain: &[u8]) -> Result<Self, DecodeError> {
        let tag_len = domain.len() + 1;
        if input.len() < tag_len || &input[..domain.len()] != domain || input[domain.len()] != 0 {
            return Err(DecodeError::DomainTag);
        }
        Ok(Self {
            input,
            pos: tag_len,
        })
    }

    /// Current offset into the input.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Takes the next `n` bytes.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] when fewer than `n` bytes remain.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let available = self.input.len() - self.pos;
        if n > available {
            return Err(DecodeError::Truncated {
                offset: self.pos,
                needed: n,
                available,
            });
        }
        let out = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Reads a fixed-size array.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] when the input ends early.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] when the input ends early.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a big-endian `u64`.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] when the input ends early.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array::<8>()?))
    }

    /// Reads a 32-byte hash.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] when the input ends early.
    pub fn hash(&mut self) -> Result<Hash32, DecodeError> {
        Ok(Hash32(self.array::<32>()?))
    }

    /// Reads a 64-byte signature.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] when the input ends early.
    pub fn signature(&mut self) -> Result<Signature64, DecodeError> {
        Ok(Signature64(self.array::<64>()?))
    }

    /// Reads a length-prefixed UTF-8 string of at most [`MAX_STRING_LEN`] bytes.
    ///
    /// # Errors
    /// [`DecodeError::StringTooLong`], [`DecodeError::Truncated`] or [`DecodeError::Utf8`].
    pub fn string(&mut self) -> Result<String, DecodeError> {
        let len = self.u64()?;
        if len > MAX_STRING_LEN as u64 {
            return Err(DecodeError::StringTooLong {
                max: MAX_STRING_LEN,
                got: len,
            });
        }
        let offset = self.pos;
        // Bounded by MAX_STRING_LEN above, so the cast cannot truncate.
        let bytes = self.take(len as usize)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::Utf8(offset))
    }

    /// Reads a length-prefixed byte string of at most `max` bytes, borrowing it.
    ///
    /// # Errors
    /// [`DecodeError::InvalidField`] when longer than `max`, or [`DecodeError::Truncated`].
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.u64()?;
        if len > max as u64 {
            return Err(DecodeError::InvalidField {
                field: "byte string length",
                reason: format!("expected at most {max}, got {len}"),
            });
        }
        // Bounded by `max` above, so the cast cannot truncate.
        self.take(len as usize)
    }

    /// Whether all input has been consumed.
    pub fn is_empty(&self) -> bool {
        self.pos == self.input.len()
    }

    /// Succeeds only when every byte has been consumed.
    ///
    /// # Errors
    /// [`DecodeError::TrailingBytes`] otherwise.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.input.len() - self.pos {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        let mut w = Writer::with_domain(b"zynk/test/v1");
        w.u8(3).u64(42).str("héllo").hash(&Hash32([9; 32]));
        let bytes = w.into_bytes();

        let mut r = Reader::with_domain(&bytes, b"zynk/test/v1").expect("domain");
        assert_eq!(r.u8(), Ok(3));
        assert_eq!(r.u64(), Ok(42));
        assert_eq!(r.string().as_deref(), Ok("héllo"));
        assert_eq!(r.hash(), Ok(Hash32([9; 32])));
        assert_eq!(r.finish(), Ok(()));

        assert!(Reader::with_domain(&bytes, b"zynk/test/v2").is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        let mut r = Reader::with_domain(&longer, b"zynk/test/v1").expect("domain");
        r.take(bytes.len() - 13).expect("body");
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes(1)));
    }

    #[test]
    fn huge_length_prefix_is_rejected_without_allocating() {
        let mut w = Writer::with_domain(b"t");
        w.u64(u64::MAX);
        let bytes = w.into_bytes();
        let mut r = Reader::with_domain(&bytes, b"t").expect("domain");
        assert!(matches!(r.string(), Err(DecodeError::StringTooLong { .. })));
    }
}
