//! Streamed file encryption: AES-256-GCM in the STREAM construction (Hoang, Reyhanitabar,
//! Rogaway, Vizár, "Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance",
//! as implemented by RustCrypto's `aead-stream`, flavour `StreamBE32`).
//!
//! A file gets a fresh random 256-bit key and a random 7-byte nonce prefix. Its plaintext is
//! cut into chunks of [`CHUNK_SIZE`] bytes (the last one shorter, possibly empty); chunk `i`
//! is sealed with AES-256-GCM under the nonce `prefix (7) ‖ i as u32 big-endian (4) ‖ last
//! flag (1: 0x01 for the last chunk, 0x00 otherwise)` with no associated data, giving `chunk ‖
//! 16-byte tag`. The ciphertext is the segments one after another, nothing else: its length is
//! `plaintext + 16 × chunks`. Because the position and the last flag are in every nonce, a
//! segment moved, dropped, repeated or altered, and a file cut at a segment boundary, fail to
//! decrypt. Segments are independent, so encryption and decryption start at any segment
//! (resuming) and use one segment of memory.
//!
//! The key, nonce prefix and the plaintext's SHA-256 travel inside the end-to-end-encrypted
//! message that announces the file ([`FileDescriptor`]); the server sees the ciphertext only.

use std::io::{self, Read, Seek, SeekFrom, Write};

use aead_stream::{NewStream, StreamBE32, StreamPrimitive};
use aes_gcm::{Aes256Gcm, KeyInit};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::encoding::encode_base64;
use super::error::CryptoError;

/// Plaintext bytes per segment.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// The GCM tag closing each segment.
pub const TAG_SIZE: usize = 16;
/// Ciphertext bytes per full segment.
pub const SEGMENT_SIZE: usize = CHUNK_SIZE + TAG_SIZE;
/// Length of the random nonce prefix.
pub const NONCE_PREFIX_SIZE: usize = 7;
/// The format named in a [`FileDescriptor`].
pub const FILE_FORMAT: &str = "zynk-file-v1";

/// Why a file cannot be decrypted.
#[derive(Debug, thiserror::Error)]
pub enum FileCryptoError {
    /// A segment failed authentication: altered, moved or from another file.
    #[error("segment {0} does not verify: the file was altered, reordered or is not this file")]
    Segment(u64),
    /// The ciphertext ended early or went on after its last segment.
    #[error("the file is truncated or has extra bytes: {0}")]
    Length(String),
    /// The decrypted file does not have the announced SHA-256.
    #[error("the decrypted file does not have the announced SHA-256")]
    Hash,
    /// The key material in the announcement is malformed.
    #[error("invalid file key: {0}")]
    Key(String),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// A file's key and nonce prefix.
#[derive(Clone)]
pub struct FileKey {
    key: Zeroizing<[u8; 32]>,
    nonce_prefix: [u8; NONCE_PREFIX_SIZE],
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(<redacted>)")
    }
}

impl FileKey {
    /// A fresh random key and nonce prefix.
    pub fn generate() -> Result<Self, CryptoError> {
        let key = super::random_array::<32>()?;
        let prefix = super::random_array::<NONCE_PREFIX_SIZE>()?;
        Ok(Self {
            key,
            nonce_prefix: *prefix,
        })
    }

    /// The key from its base64 key and nonce prefix (as in a [`FileDescriptor`]).
    pub fn from_base64(key: &str, nonce_prefix: &str) -> Result<Self, FileCryptoError> {
        let decode = |text: &str| super::encoding::decode_base64("file key", text).ok();
        let key: [u8; 32] = decode(key)
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| FileCryptoError::Key("the key is not 32 bytes of base64".into()))?;
        let nonce_prefix: [u8; NONCE_PREFIX_SIZE] = decode(nonce_prefix)
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| {
                FileCryptoError::Key("the nonce prefix is not 7 bytes of base64".into())
            })?;
        Ok(Self {
            key: Zeroizing::new(key),
            nonce_prefix,
        })
    }

    /// The key, base64.
    pub fn key_base64(&self) -> String {
        encode_base64(self.key.as_slice())
    }

    /// The nonce prefix, base64.
    pub fn nonce_prefix_base64(&self) -> String {
        encode_base64(&self.nonce_prefix)
    }

    fn stream(&self) -> StreamBE32<Aes256Gcm> {
        let aead = Aes256Gcm::new(self.key.as_slice().try_into().expect("32-byte key"));
        StreamBE32::from_aead(
            aead,
            self.nonce_prefix.as_slice().try_into().expect("7 bytes"),
        )
    }
}

/// Number of segments of a plaintext of `len` bytes (an empty file has one, empty).
pub fn segments(plaintext_len: u64) -> u64 {
    plaintext_len.div_ceil(CHUNK_SIZE as u64).max(1)
}

/// Ciphertext length of a plaintext of `len` bytes.
pub fn ciphertext_len(plaintext_len: u64) -> u64 {
    plaintext_len + segments(plaintext_len) * TAG_SIZE as u64
}

/// Seals and opens the segments of one file.
pub struct FileCipher {
    stream: StreamBE32<Aes256Gcm>,
    plaintext_len: u64,
}

impl FileCipher {
    /// The cipher of a file of `plaintext_len` bytes under `key`.
    pub fn new(key: &FileKey, plaintext_len: u64) -> Self {
        Self {
            stream: key.stream(),
            plaintext_len,
        }
    }

    /// Number of segments.
    pub fn segments(&self) -> u64 {
        segments(self.plaintext_len)
    }

    /// Plaintext length of segment `index`.
    pub fn chunk_len(&self, index: u64) -> usize {
        let start = index * CHUNK_SIZE as u64;
        (self.plaintext_len.saturating_sub(start)).min(CHUNK_SIZE as u64) as usize
    }

    fn position(index: u64) -> Result<u32, FileCryptoError> {
        u32::try_from(index).map_err(|_| FileCryptoError::Length("too many segments".into()))
    }

    /// Seals segment `index` in place (`buffer` holds its plaintext; the tag is appended).
    pub fn seal(&self, index: u64, buffer: &mut Vec<u8>) -> Result<(), FileCryptoError> {
        let last = index + 1 == self.segments();
        self.stream
            .encrypt_in_place(Self::position(index)?, last, b"", buffer)
            .map_err(|_| FileCryptoError::Segment(index))
    }

    /// Opens segment `index` in place (`buffer` holds its ciphertext; the tag is removed).
    pub fn open(&self, index: u64, buffer: &mut Vec<u8>) -> Result<(), FileCryptoError> {
        let last = index + 1 == self.segments();
        self.stream
            .decrypt_in_place(Self::position(index)?, last, b"", buffer)
            .map_err(|_| FileCryptoError::Segment(index))
    }
}

/// Reads a plaintext file and yields its ciphertext, from any ciphertext offset (a resumed
/// upload), one segment in memory at a time.
pub struct EncryptingReader<R> {
    inner: R,
    cipher: FileCipher,
    next_segment: u64,
    buffer: Vec<u8>,
    pos: usize,
}

impl<R: Read + Seek> EncryptingReader<R> {
    /// Ciphertext of `inner` (a plaintext of `plaintext_len` bytes) from byte `offset` on.
    pub fn new(
        mut inner: R,
        key: &FileKey,
        plaintext_len: u64,
        offset: u64,
    ) -> Result<Self, FileCryptoError> {
        if offset > ciphertext_len(plaintext_len) {
            return Err(FileCryptoError::Length("offset past the end".into()));
        }
        let segment = offset / SEGMENT_SIZE as u64;
        inner.seek(SeekFrom::Start(segment * CHUNK_SIZE as u64))?;
        let mut reader = Self {
            inner,
            cipher: FileCipher::new(key, plaintext_len),
            next_segment: segment,
            buffer: Vec::with_capacity(SEGMENT_SIZE),
            pos: 0,
        };
        let skip = (offset % SEGMENT_SIZE as u64) as usize;
        if segment < reader.cipher.segments() {
            reader.fill()?;
            reader.pos = skip;
        }
        Ok(reader)
    }

    fn fill(&mut self) -> Result<bool, FileCryptoError> {
        if self.next_segment >= self.cipher.segments() {
            return Ok(false);
        }
        let len = self.cipher.chunk_len(self.next_segment);
        self.buffer.clear();
        self.buffer.resize(len, 0);
        self.inner.read_exact(&mut self.buffer).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                FileCryptoError::Length("the file is shorter than when it was hashed".into())
            } else {
                e.into()
            }
        })?;
        self.cipher.seal(self.next_segment, &mut self.buffer)?;
        self.next_segment += 1;
        self.pos = 0;
        Ok(true)
    }
}

impl<R> EncryptingReader<R> {
    /// The plaintext reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read + Seek> Read for EncryptingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.buffer.len() {
            let more = self.fill().map_err(|e| match e {
                FileCryptoError::Io(e) => e,
                other => io::Error::other(other),
            })?;
            if !more {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buffer.len() - self.pos);
        out[..n].copy_from_slice(&self.buffer[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Takes a file's ciphertext (from any segment boundary on) and writes the verified plaintext,
/// one segment at a time; [`DecryptingWriter::finish`] checks that the file ended where it must
/// and that the plaintext has the announced SHA-256.
pub struct DecryptingWriter<W> {
    inner: W,
    cipher: FileCipher,
    next_segment: u64,
    buffer: Vec<u8>,
    hasher: Sha256,
}

impl<W: Write> DecryptingWriter<W> {
    /// Writes the plaintext of a file of `plaintext_len` bytes to `inner`, from segment
    /// `start_segment` on; `hasher` has hashed the plaintext of the segments before it.
    pub fn new(
        inner: W,
        key: &FileKey,
        plaintext_len: u64,
        start_segment: u64,
        hasher: Sha256,
    ) -> Self {
        Self {
            inner,
            cipher: FileCipher::new(key, plaintext_len),
            next_segment: start_segment,
            buffer: Vec::with_capacity(SEGMENT_SIZE),
            hasher,
        }
    }

    fn segment_len(&self) -> usize {
        self.cipher.chunk_len(self.next_segment) + TAG_SIZE
    }

    fn flush_segment(&mut self) -> Result<(), FileCryptoError> {
        self.cipher.open(self.next_segment, &mut self.buffer)?;
        self.hasher.update(&self.buffer);
        self.inner.write_all(&self.buffer)?;
        self.buffer.clear();
        self.next_segment += 1;
        Ok(())
    }

    /// Takes more ciphertext.
    pub fn push(&mut self, mut data: &[u8]) -> Result<(), FileCryptoError> {
        while !data.is_empty() {
            if self.next_segment >= self.cipher.segments() {
                return Err(FileCryptoError::Length(
                    "bytes after the last segment".into(),
                ));
            }
            let need = self.segment_len() - self.buffer.len();
            let take = need.min(data.len());
            self.buffer.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buffer.len() == self.segment_len() {
                self.flush_segment()?;
            }
        }
        Ok(())
    }

    /// Checks that every segment arrived and the plaintext's SHA-256 is `expected_sha256`
    /// (hex); returns the writer.
    pub fn finish(mut self, expected_sha256: &str) -> Result<W, FileCryptoError> {
        if self.next_segment + 1 == self.cipher.segments()
            && self.buffer.len() == self.segment_len()
        {
            self.flush_segment()?;
        }
        if self.next_segment != self.cipher.segments() || !self.buffer.is_empty() {
            return Err(FileCryptoError::Length(format!(
                "{} of {} segments arrived",
                self.next_segment,
                self.cipher.segments()
            )));
        }
        if hex::encode(self.hasher.finalize()) != expected_sha256 {
            return Err(FileCryptoError::Hash);
        }
        self.inner.flush()?;
        Ok(self.inner)
    }
}

/// Dimensions and duration of a file's content, where known.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMetadata {
    /// Width in pixels (images, videos).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Duration in milliseconds (audio, video).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// One encrypted blob as announced: where it is and how to open and check it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedBlob {
    /// The server's file id.
    pub file_id: String,
    /// AES-256 key, unpadded base64.
    pub key: String,
    /// 7-byte nonce prefix, unpadded base64.
    pub nonce_prefix: String,
    /// Plaintext segment size (65,536).
    pub chunk_size: u32,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// SHA-256 of the ciphertext, hex (what the server checked).
    pub ciphertext_sha256: String,
}

impl std::fmt::Debug for EncryptedBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedBlob")
            .field("file_id", &self.file_id)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl EncryptedBlob {
    /// The key of this blob.
    pub fn file_key(&self) -> Result<FileKey, FileCryptoError> {
        if self.chunk_size as usize != CHUNK_SIZE {
            return Err(FileCryptoError::Key(format!(
                "unsupported chunk size {}",
                self.chunk_size
            )));
        }
        FileKey::from_base64(&self.key, &self.nonce_prefix)
    }

    /// Ciphertext length.
    pub fn ciphertext_len(&self) -> u64 {
        ciphertext_len(self.size)
    }
}

/// A thumbnail announced with a file: a small JPEG, encrypted like a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thumbnail {
    /// The encrypted thumbnail.
    #[serde(flatten)]
    pub blob: EncryptedBlob,
    /// Its media type (`image/jpeg`).
    pub mime_type: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// What a file message carries inside its encryption (the event's `extra`): the file's name,
/// type, size and metadata, and the keys of it and of its thumbnail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDescriptor {
    /// `zynk-file-v1`.
    pub format: String,
    /// The file.
    #[serde(flatten)]
    pub blob: EncryptedBlob,
    /// Its name (no directories).
    pub name: String,
    /// Its media type.
    pub mime_type: String,
    /// Dimensions, duration.
    #[serde(default)]
    pub metadata: FileMetadata,
    /// A preview, for images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<Thumbnail>,
}

impl FileDescriptor {
    /// The wire `message_type` of a file of this media type: `image`, `video`, `audio` or
    /// `file`.
    pub fn message_type(&self) -> &'static str {
        message_type_of(&self.mime_type)
    }
}

/// The wire `message_type` of a file of media type `mime`.
pub fn message_type_of(mime: &str) -> &'static str {
    match mime.split('/').next().unwrap_or("") {
        "image" => "image",
        "video" => "video",
        "audio" => "audio",
        _ => "file",
    }
}

/// Encrypts `plaintext` held in memory (a thumbnail): the ciphertext and its SHA-256.
pub fn encrypt_bytes(key: &FileKey, plaintext: &[u8]) -> Result<Vec<u8>, FileCryptoError> {
    let mut reader =
        EncryptingReader::new(io::Cursor::new(plaintext), key, plaintext.len() as u64, 0)?;
    let mut out = Vec::with_capacity(ciphertext_len(plaintext.len() as u64) as usize);
    reader.read_to_end(&mut out)?;
    Ok(out)
}

/// Decrypts a whole blob held in memory (a thumbnail) and checks it.
pub fn decrypt_bytes(blob: &EncryptedBlob, ciphertext: &[u8]) -> Result<Vec<u8>, FileCryptoError> {
    let mut writer =
        DecryptingWriter::new(Vec::new(), &blob.file_key()?, blob.size, 0, Sha256::new());
    writer.push(ciphertext)?;
    writer.finish(&blob.sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn encrypt(key: &FileKey, plain: &[u8]) -> Vec<u8> {
        encrypt_bytes(key, plain).unwrap()
    }

    fn decrypt(
        key: &FileKey,
        plain_len: usize,
        cipher: &[u8],
        sha: &str,
    ) -> Result<Vec<u8>, FileCryptoError> {
        let mut writer = DecryptingWriter::new(Vec::new(), key, plain_len as u64, 0, Sha256::new());
        writer.push(cipher)?;
        writer.finish(sha)
    }

    #[test]
    fn round_trips_at_every_size_near_segment_boundaries() {
        let key = FileKey::generate().unwrap();
        for len in [
            0,
            1,
            CHUNK_SIZE - 1,
            CHUNK_SIZE,
            CHUNK_SIZE + 1,
            3 * CHUNK_SIZE,
            3 * CHUNK_SIZE + 17,
        ] {
            let plain = data(len);
            let cipher = encrypt(&key, &plain);
            assert_eq!(cipher.len() as u64, ciphertext_len(len as u64), "{len}");
            let sha = hex::encode(Sha256::digest(&plain));
            assert_eq!(decrypt(&key, len, &cipher, &sha).unwrap(), plain, "{len}");
        }
    }

    #[test]
    fn the_same_key_gives_the_same_ciphertext_from_any_offset() {
        let key = FileKey::generate().unwrap();
        let plain = data(3 * CHUNK_SIZE + 100);
        let whole = encrypt(&key, &plain);
        for offset in [
            0,
            1,
            SEGMENT_SIZE - 1,
            SEGMENT_SIZE,
            SEGMENT_SIZE + 5,
            whole.len(),
        ] {
            let mut reader = EncryptingReader::new(
                io::Cursor::new(&plain),
                &key,
                plain.len() as u64,
                offset as u64,
            )
            .unwrap();
            let mut rest = Vec::new();
            reader.read_to_end(&mut rest).unwrap();
            assert_eq!(rest, &whole[offset..], "offset {offset}");
        }
    }

    #[test]
    fn truncated_reordered_altered_or_foreign_ciphertext_is_refused() {
        let key = FileKey::generate().unwrap();
        let plain = data(3 * CHUNK_SIZE + 100);
        let sha = hex::encode(Sha256::digest(&plain));
        let cipher = encrypt(&key, &plain);
        // Cut at a segment boundary: the last flag is missing.
        let cut = &cipher[..3 * SEGMENT_SIZE];
        assert!(decrypt(&key, plain.len(), cut, &sha).is_err());
        // Cut and claimed shorter: the now-last segment was not sealed as last.
        assert!(matches!(
            decrypt(&key, 3 * CHUNK_SIZE, cut, &sha),
            Err(FileCryptoError::Segment(2))
        ));
        // Two segments swapped.
        let mut swapped = cipher.clone();
        swapped[..SEGMENT_SIZE].copy_from_slice(&cipher[SEGMENT_SIZE..2 * SEGMENT_SIZE]);
        swapped[SEGMENT_SIZE..2 * SEGMENT_SIZE].copy_from_slice(&cipher[..SEGMENT_SIZE]);
        assert!(matches!(
            decrypt(&key, plain.len(), &swapped, &sha),
            Err(FileCryptoError::Segment(0))
        ));
        // One bit flipped anywhere.
        for at in [0, SEGMENT_SIZE + 3, cipher.len() - 1] {
            let mut altered = cipher.clone();
            altered[at] ^= 1;
            assert!(decrypt(&key, plain.len(), &altered, &sha).is_err(), "{at}");
        }
        // Extra bytes after the end.
        let mut longer = cipher.clone();
        longer.push(0);
        assert!(decrypt(&key, plain.len(), &longer, &sha).is_err());
        // Another key.
        let other = FileKey::generate().unwrap();
        assert!(decrypt(&other, plain.len(), &cipher, &sha).is_err());
        // The right bytes with another announced hash.
        assert!(matches!(
            decrypt(&key, plain.len(), &cipher, &"0".repeat(64)),
            Err(FileCryptoError::Hash)
        ));
    }

    #[test]
    fn the_nonce_is_prefix_counter_and_last_flag() {
        // Segment 1 of 2, sealed directly with AES-256-GCM under prefix ‖ 00000001 ‖ 01.
        use aes_gcm::aead::{Aead, Payload};
        let key =
            FileKey::from_base64(&encode_base64(&[7u8; 32]), &encode_base64(&[9u8; 7])).unwrap();
        let plain = data(CHUNK_SIZE + 5);
        let cipher = encrypt(&key, &plain);
        let aead = Aes256Gcm::new((&[7u8; 32]).into());
        let mut nonce = [9u8; 12];
        nonce[7..11].copy_from_slice(&1u32.to_be_bytes());
        nonce[11] = 1;
        let direct = aead
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: &plain[CHUNK_SIZE..],
                    aad: b"",
                },
            )
            .unwrap();
        assert_eq!(&cipher[SEGMENT_SIZE..], direct.as_slice());
    }

    #[test]
    fn message_types_follow_the_media_type() {
        assert_eq!(message_type_of("image/png"), "image");
        assert_eq!(message_type_of("video/mp4"), "video");
        assert_eq!(message_type_of("audio/ogg"), "audio");
        assert_eq!(message_type_of("application/pdf"), "file");
    }
}
