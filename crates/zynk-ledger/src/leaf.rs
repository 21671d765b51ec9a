//! Message leaves: the fixed binary record that represents one stored message in a batch tree.
//!
//! Layout (76 bytes, never JSON, never plaintext):
//!
//! ```text
//! "zynk/msg/v1" 0x00 ‖ message_id (16, UUID bytes) ‖ SHA-256(ciphertext envelope) (32)
//!                    ‖ seq (u64 BE) ‖ created_ms (u64 BE, Unix milliseconds)
//! ```
//!
//! Only the hash of the *encrypted* envelope enters the leaf: hashing plaintext would let anyone
//! holding a leaf confirm a guessed message. Sender and recipient ids are left out on purpose
//! (metadata minimisation). The Merkle leaf hash is then `SHA-256(0x00 ‖ leaf bytes)` as for any
//! RFC 9162 leaf.

use uuid::Uuid;

use crate::merkle;
use crate::types::Hash32;

/// Domain tag that opens every message leaf.
pub const MESSAGE_LEAF_DOMAIN: &[u8] = b"zynk/msg/v1";

/// Length in bytes of an encoded message leaf.
pub const MESSAGE_LEAF_LEN: usize = MESSAGE_LEAF_DOMAIN.len() + 1 + 16 + 32 + 8 + 8;

/// Why bytes are not a valid message leaf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeafError {
    /// The input has the wrong length.
    #[error("message leaf length: expected {expected}, got {got}", expected = MESSAGE_LEAF_LEN)]
    Length {
        /// Bytes supplied.
        got: usize,
    },
    /// The input does not start with `"zynk/msg/v1" 0x00`.
    #[error("message leaf domain tag mismatch")]
    DomainTag,
}

/// The fields committed to for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageLeaf {
    /// The message's UUID.
    pub message_id: Uuid,
    /// SHA-256 of the encrypted content envelope exactly as stored and delivered.
    pub content_hash: Hash32,
    /// Server-assigned sequence number, which orders the leaves of a batch.
    pub seq: u64,
    /// Server timestamp of the message, Unix milliseconds.
    pub created_ms: u64,
}

impl MessageLeaf {
    /// A leaf from an already-computed ciphertext hash.
    pub fn new(message_id: Uuid, content_hash: Hash32, seq: u64, created_ms: u64) -> Self {
        Self {
            message_id,
            content_hash,
            seq,
            created_ms,
        }
    }

    /// A leaf from the ciphertext envelope bytes, which are hashed here.
    pub fn from_ciphertext(message_id: Uuid, ciphertext: &[u8], seq: u64, created_ms: u64) -> Self {
        Self::new(message_id, content_hash(ciphertext), seq, created_ms)
    }

    /// The fixed 76-byte encoding.
    pub fn to_bytes(&self) -> [u8; MESSAGE_LEAF_LEN] {
        let mut out = [0u8; MESSAGE_LEAF_LEN];
        let d = MESSAGE_LEAF_DOMAIN.len();
        out[..d].copy_from_slice(MESSAGE_LEAF_DOMAIN);
        // out[d] stays 0x00: the separator.
        out[d + 1..d + 17].copy_from_slice(self.message_id.as_bytes());
        out[d + 17..d + 49].copy_from_slice(&self.content_hash.0);
        out[d + 49..d + 57].copy_from_slice(&self.seq.to_be_bytes());
        out[d + 57..].copy_from_slice(&self.created_ms.to_be_bytes());
        out
    }

    /// Decodes the fixed encoding.
    ///
    /// # Errors
    /// [`LeafError::Length`] or [`LeafError::DomainTag`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LeafError> {
        let b: &[u8; MESSAGE_LEAF_LEN] = bytes
            .try_into()
            .map_err(|_| LeafError::Length { got: bytes.len() })?;
        let d = MESSAGE_LEAF_DOMAIN.len();
        if &b[..d] != MESSAGE_LEAF_DOMAIN || b[d] != 0 {
            return Err(LeafError::DomainTag);
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&b[d + 1..d + 17]);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&b[d + 17..d + 49]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&b[d + 49..d + 57]);
        let mut ms = [0u8; 8];
        ms.copy_from_slice(&b[d + 57..]);
        Ok(Self {
            message_id: Uuid::from_bytes(id),
            content_hash: Hash32(hash),
            seq: u64::from_be_bytes(seq),
            created_ms: u64::from_be_bytes(ms),
        })
    }

    /// The RFC 9162 leaf hash `SHA-256(0x00 ‖ leaf bytes)`.
    pub fn leaf_hash(&self) -> Hash32 {
        merkle::leaf_hash(&self.to_bytes())
    }
}

/// SHA-256 of a ciphertext envelope.
pub fn content_hash(ciphertext: &[u8]) -> Hash32 {
    Hash32::sha256(ciphertext)
}

/// Leaf bytes for a message, hashing `ciphertext` first.
pub fn message_leaf_bytes(
    message_id: Uuid,
    ciphertext: &[u8],
    seq: u64,
    created_ms: u64,
) -> [u8; MESSAGE_LEAF_LEN] {
    MessageLeaf::from_ciphertext(message_id, ciphertext, seq, created_ms).to_bytes()
}

/// Leaf hash for a message, hashing `ciphertext` first.
pub fn message_leaf_hash(message_id: Uuid, ciphertext: &[u8], seq: u64, created_ms: u64) -> Hash32 {
    MessageLeaf::from_ciphertext(message_id, ciphertext, seq, created_ms).leaf_hash()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_fixed() {
        let id = Uuid::from_bytes([0x11; 16]);
        let leaf = MessageLeaf::from_ciphertext(id, b"ciphertext", 0x0102, 0x0304);
        let bytes = leaf.to_bytes();
        assert_eq!(bytes.len(), 76);
        assert_eq!(&bytes[..12], b"zynk/msg/v1\0");
        assert_eq!(&bytes[12..28], &[0x11; 16]);
        assert_eq!(&bytes[28..60], &Hash32::sha256(b"ciphertext").0);
        assert_eq!(&bytes[60..68], &0x0102u64.to_be_bytes());
        assert_eq!(&bytes[68..76], &0x0304u64.to_be_bytes());
        assert_eq!(MessageLeaf::from_bytes(&bytes), Ok(leaf));
        assert_eq!(leaf.leaf_hash(), merkle::leaf_hash(&bytes));
        assert_eq!(
            message_leaf_hash(id, b"ciphertext", 0x0102, 0x0304),
            leaf.leaf_hash()
        );
    }

    #[test]
    fn rejects_bad_input() {
        let bytes = MessageLeaf::from_ciphertext(Uuid::nil(), b"", 1, 2).to_bytes();
        assert_eq!(
            MessageLeaf::from_bytes(&bytes[1..]),
            Err(LeafError::Length { got: 75 })
        );
        let mut bad = bytes;
        bad[11] = 1;
        assert_eq!(MessageLeaf::from_bytes(&bad), Err(LeafError::DomainTag));
    }
}
