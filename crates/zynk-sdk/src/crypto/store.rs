//! Passphrase encryption of the client state at rest: Argon2id derives two
//! keys from the passphrase and a random salt; one encrypts the serialized
//! state with AES-256-GCM, the other encrypts every vodozemac pickle inside it.
//!
//! # File format (version 1)
//!
//! ```text
//! offset  size  field
//!      0     8  magic "ZYNKSTAT"
//!      8     1  format version = 1
//!      9     1  KDF id = 1 (Argon2id, version 0x13)
//!     10     4  memory cost in KiB (u32 big-endian)
//!     14     4  iterations (u32 big-endian)
//!     18     4  parallelism (u32 big-endian)
//!     22    16  random salt
//!     38    12  random AES-GCM nonce
//!     50     …  AES-256-GCM ciphertext ‖ 16-byte tag; associated data = bytes 0..50
//! ```
//!
//! Argon2id outputs 64 bytes: bytes 0..32 are the AES-256-GCM key, bytes
//! 32..64 the pickle key. Because the header is associated data, a changed
//! parameter, salt or nonce fails authentication like a wrong passphrase.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::error::StoreError;

const MAGIC: &[u8; 8] = b"ZYNKSTAT";
const FORMAT_VERSION: u8 = 1;
const KDF_ARGON2ID: u8 = 1;
/// Salt length of the sealed formats (this one and the client's vault).
pub(crate) const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
/// Header length of the sealed formats: magic, version, KDF id, costs, salt, nonce.
pub(crate) const HEADER_LEN: usize = 8 + 1 + 1 + 12 + SALT_LEN + NONCE_LEN;
const TAG_LEN: usize = 16;

/// Why the header of a sealed file (this format or the client's vault, which share the layout
/// above under different magics) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Shorter than a header and a tag.
    Truncated,
    /// Another file type.
    BadMagic,
    /// A format version this build cannot read.
    UnsupportedVersion(u8),
    /// An unknown KDF id or unusable costs.
    KdfParams(String),
}

impl From<HeaderError> for StoreError {
    fn from(e: HeaderError) -> Self {
        match e {
            HeaderError::Truncated => StoreError::Truncated,
            HeaderError::BadMagic => StoreError::BadMagic,
            HeaderError::UnsupportedVersion(v) => StoreError::UnsupportedVersion(v),
            HeaderError::KdfParams(m) => StoreError::KdfParams(m),
        }
    }
}

/// A header for `magic` with `params`, `salt` and a fresh random nonce.
pub(crate) fn write_header(
    magic: &[u8; 8],
    params: KdfParams,
    salt: &[u8; SALT_LEN],
) -> Result<[u8; HEADER_LEN], getrandom::Error> {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(magic);
    header[8] = FORMAT_VERSION;
    header[9] = KDF_ARGON2ID;
    header[10..14].copy_from_slice(&params.memory_kib.to_be_bytes());
    header[14..18].copy_from_slice(&params.iterations.to_be_bytes());
    header[18..22].copy_from_slice(&params.parallelism.to_be_bytes());
    header[22..22 + SALT_LEN].copy_from_slice(salt);
    getrandom::fill(&mut header[22 + SALT_LEN..HEADER_LEN])?;
    Ok(header)
}

/// Checks the header of a sealed file of type `magic` (and that a tag can follow); returns its
/// costs and salt.
pub(crate) fn parse_header(
    bytes: &[u8],
    magic: &[u8; 8],
) -> Result<(KdfParams, [u8; SALT_LEN]), HeaderError> {
    if bytes.len() < magic.len() {
        return Err(HeaderError::Truncated);
    }
    if &bytes[..8] != magic {
        return Err(HeaderError::BadMagic);
    }
    if bytes.len() < HEADER_LEN + TAG_LEN {
        return Err(HeaderError::Truncated);
    }
    if bytes[8] != FORMAT_VERSION {
        return Err(HeaderError::UnsupportedVersion(bytes[8]));
    }
    if bytes[9] != KDF_ARGON2ID {
        return Err(HeaderError::KdfParams(format!(
            "unknown KDF id {}",
            bytes[9]
        )));
    }
    let params = KdfParams {
        memory_kib: be_u32(&bytes[10..14]),
        iterations: be_u32(&bytes[14..18]),
        parallelism: be_u32(&bytes[18..22]),
    };
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&bytes[22..22 + SALT_LEN]);
    Ok((params, salt))
}

/// Highest costs accepted (256 MiB, 16 passes, 8 lanes), so a crafted file
/// cannot make the client allocate or compute without bound; a browser tab
/// must still be able to open the state.
const MAX_MEMORY_KIB: u32 = 256 * 1024;
const MAX_ITERATIONS: u32 = 16;
const MAX_PARALLELISM: u32 = 8;

/// Argon2id cost parameters, stored in the file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism.
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// OWASP's Argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl KdfParams {
    /// Fills `output` with Argon2id(`passphrase`, `salt`) at these costs, refusing costs above
    /// the accepted maximum.
    pub(crate) fn derive_into(
        self,
        passphrase: &str,
        salt: &[u8],
        output: &mut [u8],
    ) -> Result<(), HeaderError> {
        if self.memory_kib > MAX_MEMORY_KIB
            || self.iterations > MAX_ITERATIONS
            || self.parallelism > MAX_PARALLELISM
        {
            return Err(HeaderError::KdfParams(format!(
                "{self:?} above the accepted maximum"
            )));
        }
        let params = Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(output.len()),
        )
        .map_err(|e| HeaderError::KdfParams(e.to_string()))?;
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase.as_bytes(), salt, output)
            .map_err(|e| HeaderError::KdfParams(e.to_string()))
    }
}

/// Keys derived for one save: the header to write and both keys.
pub(crate) struct SealingKeys {
    header: [u8; HEADER_LEN],
    aes_key: Zeroizing<[u8; 32]>,
    pickle_key: Zeroizing<[u8; 32]>,
}

impl SealingKeys {
    /// The key that encrypts vodozemac pickles.
    pub(crate) fn pickle_key(&self) -> &[u8; 32] {
        &self.pickle_key
    }
}

/// Derive keys for a new save with a fresh random salt and nonce.
pub(crate) fn prepare_seal(passphrase: &str, params: KdfParams) -> Result<SealingKeys, StoreError> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| StoreError::Save(format!("random salt: {e}")))?;
    let header = write_header(MAGIC, params, &salt)
        .map_err(|e| StoreError::Save(format!("random nonce: {e}")))?;
    let (aes_key, pickle_key) = derive(passphrase, params, &header[22..22 + SALT_LEN])?;
    Ok(SealingKeys {
        header,
        aes_key,
        pickle_key,
    })
}

/// Encrypt the serialized state under keys from [`prepare_seal`].
pub(crate) fn seal(keys: &SealingKeys, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
    let cipher = Aes256Gcm::new_from_slice(keys.aes_key.as_slice())
        .map_err(|_| StoreError::Save("AES key length".into()))?;
    let nonce = nonce_of(&keys.header);
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: &keys.header,
            },
        )
        .map_err(|_| StoreError::Save("AES-GCM encryption failed".into()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
    out.extend_from_slice(&keys.header);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Decrypted state and the pickle key to open the pickles inside it.
pub(crate) struct Opened {
    pub(crate) plaintext: Zeroizing<Vec<u8>>,
    pub(crate) pickle_key: Zeroizing<[u8; 32]>,
}

/// Check the header, derive the keys and decrypt.
pub(crate) fn open(bytes: &[u8], passphrase: &str) -> Result<Opened, StoreError> {
    let (params, salt) = parse_header(bytes, MAGIC)?;
    let (header, ciphertext) = bytes.split_at(HEADER_LEN);
    let (aes_key, pickle_key) = derive(passphrase, params, &salt)?;
    let cipher = Aes256Gcm::new_from_slice(aes_key.as_slice())
        .map_err(|_| StoreError::WrongPassphraseOrTampered)?;
    let nonce = nonce_of(header);
    let plaintext = cipher
        .decrypt(
            &nonce,
            Payload {
                msg: ciphertext,
                aad: header,
            },
        )
        .map_err(|_| StoreError::WrongPassphraseOrTampered)?;
    Ok(Opened {
        plaintext: Zeroizing::new(plaintext),
        pickle_key,
    })
}

type KeyPair = (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>);

fn derive(passphrase: &str, params: KdfParams, salt: &[u8]) -> Result<KeyPair, StoreError> {
    let mut output = Zeroizing::new([0u8; 64]);
    params.derive_into(passphrase, salt, output.as_mut_slice())?;
    let mut aes_key = Zeroizing::new([0u8; 32]);
    let mut pickle_key = Zeroizing::new([0u8; 32]);
    aes_key.copy_from_slice(&output[..32]);
    pickle_key.copy_from_slice(&output[32..]);
    Ok((aes_key, pickle_key))
}

/// The AES-GCM nonce stored at the end of a header.
pub(crate) fn nonce_of(header: &[u8]) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&header[HEADER_LEN - NONCE_LEN..HEADER_LEN]);
    Nonce::from(nonce)
}

fn be_u32(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(0u32, |acc, byte| (acc << 8) | u32::from(*byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap parameters so the tests run fast in debug builds.
    const FAST: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn sealed(plaintext: &[u8]) -> (Vec<u8>, [u8; 32]) {
        let keys = prepare_seal("correct horse", FAST).unwrap();
        (seal(&keys, plaintext).unwrap(), *keys.pickle_key())
    }

    #[test]
    fn round_trip_and_same_pickle_key() {
        let (bytes, pickle_key) = sealed(b"state");
        assert_eq!(&bytes[..8], MAGIC);
        let opened = open(&bytes, "correct horse").unwrap();
        assert_eq!(opened.plaintext.as_slice(), b"state");
        assert_eq!(*opened.pickle_key, pickle_key);
        // Fresh salt each time: same input, different output.
        assert_ne!(sealed(b"state").0, bytes);
    }

    #[test]
    fn wrong_passphrase_and_every_tampered_byte_are_rejected() {
        let (bytes, _) = sealed(b"some state");
        assert_eq!(
            open(&bytes, "wrong").err(),
            Some(StoreError::WrongPassphraseOrTampered)
        );
        // Bytes 10..12 raise the memory cost to 64 MiB and more: checked separately
        // below, kept out of this loop so it stays fast in debug builds.
        for index in 12..bytes.len() {
            let mut altered = bytes.clone();
            altered[index] ^= 0x01;
            match open(&altered, "correct horse") {
                Err(StoreError::WrongPassphraseOrTampered | StoreError::KdfParams(_)) => {}
                other => panic!("byte {index}: unexpected {:?}", other.err()),
            }
        }
    }

    #[test]
    fn structural_errors_are_typed() {
        let (bytes, _) = sealed(b"x");
        assert_eq!(open(&bytes[..4], "p").err(), Some(StoreError::Truncated));
        assert_eq!(
            open(&bytes[..HEADER_LEN + 3], "p").err(),
            Some(StoreError::Truncated)
        );
        assert_eq!(
            open(b"NOTZYNK!and more bytes", "p").err(),
            Some(StoreError::BadMagic)
        );
        let mut version = bytes.clone();
        version[8] = 9;
        assert_eq!(
            open(&version, "p").err(),
            Some(StoreError::UnsupportedVersion(9))
        );
        let mut huge = bytes.clone();
        huge[10..14].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(open(&huge, "p"), Err(StoreError::KdfParams(_))));
        let mut zero = bytes;
        zero[14..18].copy_from_slice(&0u32.to_be_bytes());
        assert!(matches!(open(&zero, "p"), Err(StoreError::KdfParams(_))));
        assert!(open(&[], "p").is_err());
    }
}
