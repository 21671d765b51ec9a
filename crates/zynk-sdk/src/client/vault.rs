//! Encryption of the client state at rest under the user's password.
//!
//! One Argon2id run derives the key when the state is unlocked; the key is
//! kept in memory so that later saves (each with a fresh nonce) and reloads
//! of the same file cost no key derivation.
//!
//! # File format (version 1)
//!
//! ```text
//! offset  size  field
//!      0     8  magic "ZYNKVALT"
//!      8     1  format version = 1
//!      9     1  KDF id = 1 (Argon2id, version 0x13)
//!     10     4  memory cost in KiB (u32 big-endian)
//!     14     4  iterations (u32 big-endian)
//!     18     4  parallelism (u32 big-endian)
//!     22    16  random salt (chosen when the state is created)
//!     38    12  random AES-GCM nonce (fresh on every save)
//!     50     …  AES-256-GCM ciphertext ‖ 16-byte tag; associated data = bytes 0..50
//! ```
//!
//! key = Argon2id(password, salt, params), 32 bytes. The header is
//! authenticated, so changed parameters fail like a wrong password.

use std::fmt;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use zeroize::Zeroizing;

use super::error::VaultError;
use crate::crypto::KdfParams;
use crate::crypto::store::{
    HEADER_LEN, HeaderError, SALT_LEN, nonce_of, parse_header, write_header,
};

const MAGIC: &[u8; 8] = b"ZYNKVALT";

/// The unlocked key of a state file. Zeroized on drop, redacted in `Debug`.
pub struct Vault {
    params: KdfParams,
    salt: [u8; SALT_LEN],
    key: Zeroizing<[u8; 32]>,
}

impl Vault {
    /// A new vault for `password` with a fresh salt and the default Argon2id
    /// costs (19 MiB, 2 passes).
    pub fn create(password: &str) -> Result<Self, VaultError> {
        Self::create_with_params(password, KdfParams::default())
    }

    /// [`Self::create`] with explicit Argon2id costs (stored in the header).
    pub fn create_with_params(password: &str, params: KdfParams) -> Result<Self, VaultError> {
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(|e| VaultError::Save(format!("random salt: {e}")))?;
        let key = derive(password, params, &salt)?;
        Ok(Self { params, salt, key })
    }

    /// Decrypt a state file. When `cached` was unlocked from a file with the
    /// same salt and parameters, its key is reused instead of running
    /// Argon2id again. Returns the vault (to save with) and the plaintext.
    pub fn unlock(
        bytes: &[u8],
        password: &str,
        cached: Option<&Vault>,
    ) -> Result<(Self, Zeroizing<Vec<u8>>), VaultError> {
        let (params, salt) = parse_header(bytes, MAGIC)?;
        let key = match cached {
            Some(vault) if vault.params == params && vault.salt == salt => vault.key.clone(),
            _ => derive(password, params, &salt)?,
        };
        let vault = Self { params, salt, key };
        let plaintext = vault.decrypt(bytes)?;
        Ok((vault, plaintext))
    }

    /// Encrypt `plaintext` into a state file (fresh nonce).
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        let header = write_header(MAGIC, self.params, &self.salt)
            .map_err(|e| VaultError::Save(format!("random nonce: {e}")))?;
        let ciphertext = self
            .cipher()?
            .encrypt(
                &nonce_of(&header),
                Payload {
                    msg: plaintext,
                    aad: &header,
                },
            )
            .map_err(|_| VaultError::Save("AES-GCM encryption failed".into()))?;
        Ok([header.as_slice(), &ciphertext].concat())
    }

    fn decrypt(&self, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let (header, ciphertext) = bytes.split_at(HEADER_LEN);
        self.cipher()?
            .decrypt(
                &nonce_of(header),
                Payload {
                    msg: ciphertext,
                    aad: header,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| VaultError::WrongPasswordOrTampered)
    }

    fn cipher(&self) -> Result<Aes256Gcm, VaultError> {
        Aes256Gcm::new_from_slice(self.key.as_slice())
            .map_err(|_| VaultError::Save("AES key length".into()))
    }
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("params", &self.params)
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl From<HeaderError> for VaultError {
    fn from(e: HeaderError) -> Self {
        match e {
            HeaderError::Truncated => VaultError::Truncated,
            HeaderError::BadMagic => VaultError::BadMagic,
            HeaderError::UnsupportedVersion(v) => VaultError::UnsupportedVersion(v),
            HeaderError::KdfParams(m) => VaultError::KdfParams(m),
        }
    }
}

fn derive(
    password: &str,
    params: KdfParams,
    salt: &[u8],
) -> Result<Zeroizing<[u8; 32]>, VaultError> {
    let mut key = Zeroizing::new([0u8; 32]);
    params.derive_into(password, salt, key.as_mut_slice())?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const FAST: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn round_trip_reuses_the_key_and_changes_the_nonce() {
        let vault = Vault::create_with_params("pw", FAST).unwrap();
        let a = vault.seal(b"state one").unwrap();
        let b = vault.seal(b"state one").unwrap();
        assert_ne!(a, b);
        assert_eq!(&a[..38], &b[..38]);
        let (reopened, plain) = Vault::unlock(&a, "pw", None).unwrap();
        assert_eq!(plain.as_slice(), b"state one");
        // With the cached key even a wrong password opens it (no derivation).
        let (_, plain) = Vault::unlock(&b, "ignored", Some(&reopened)).unwrap();
        assert_eq!(plain.as_slice(), b"state one");
        assert!(!format!("{vault:?}").contains("key: ["));
    }

    #[test]
    fn wrong_password_and_tampering_are_rejected() {
        let vault = Vault::create_with_params("pw", FAST).unwrap();
        let bytes = vault.seal(b"secret state").unwrap();
        assert_eq!(
            Vault::unlock(&bytes, "other", None).err(),
            Some(VaultError::WrongPasswordOrTampered)
        );
        for index in 12..bytes.len() {
            let mut altered = bytes.clone();
            altered[index] ^= 1;
            match Vault::unlock(&altered, "pw", None) {
                Err(VaultError::WrongPasswordOrTampered | VaultError::KdfParams(_)) => {}
                other => panic!("byte {index}: {:?}", other.err()),
            }
        }
        // A cached key for another salt is not used.
        let other = Vault::create_with_params("pw2", FAST).unwrap();
        assert_eq!(
            Vault::unlock(&bytes, "other", Some(&other)).err(),
            Some(VaultError::WrongPasswordOrTampered)
        );
    }

    #[test]
    fn structural_errors_are_typed() {
        let vault = Vault::create_with_params("pw", FAST).unwrap();
        let bytes = vault.seal(b"x").unwrap();
        assert_eq!(
            Vault::unlock(&bytes[..3], "pw", None).err(),
            Some(VaultError::Truncated)
        );
        assert_eq!(
            Vault::unlock(&bytes[..HEADER_LEN + 2], "pw", None).err(),
            Some(VaultError::Truncated)
        );
        assert_eq!(
            Vault::unlock(b"NOTAVAULTFILE at all, no", "pw", None).err(),
            Some(VaultError::BadMagic)
        );
        let mut version = bytes.clone();
        version[8] = 7;
        assert_eq!(
            Vault::unlock(&version, "pw", None).err(),
            Some(VaultError::UnsupportedVersion(7))
        );
        let mut huge = bytes;
        huge[10..14].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            Vault::unlock(&huge, "pw", None),
            Err(VaultError::KdfParams(_))
        ));
    }
}
