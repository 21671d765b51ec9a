//! End-to-end encryption core of the Zynk client: the only code that touches
//! vodozemac and key material. Sans-I/O: every operation takes and returns
//! serde-serializable values that the caller moves to and from the server.
//!
//! - [`UserIdentity`] / [`IdentityKey`]: the user's Ed25519 identity key.
//! - [`CryptoMachine`]: one device's Olm account, pairwise Olm sessions,
//!   Megolm group sessions, verified device registry and [`TrustStore`], with
//!   encrypted persistence ([`CryptoMachine::save`] / [`CryptoMachine::load`]).
//! - [`DeviceKeys`], [`SignedOneTimeKey`]: signed public key material and
//!   verifiers (encodings documented in `device_keys`).
//! - [`SafetyNumber`]: 60-digit fingerprints to compare out of band.
//! - [`file`]: streamed AES-256-GCM STREAM encryption of files, and the
//!   [`file::FileDescriptor`] a file message carries.

mod account;
mod device_keys;
mod encoding;
mod error;
mod events;
pub mod file;
mod identity;
mod machine;
mod megolm;
mod olm;
mod registry;
mod safety_number;
pub mod shared_secret;
pub(crate) mod store;
mod trust;

pub use device_keys::{
    DeviceKeys, DeviceRef, MEGOLM_ALGORITHM, OLM_ALGORITHM, OneTimeKeyUpload, SignedOneTimeKey,
    VerifiedDevice,
};
pub use encoding::encode_base64;
pub use error::{
    CryptoError, GroupError, KeyError, OlmError, StoreError, TrustError, VerificationError,
};
pub use events::{OutgoingToDevice, RoomEvent, RoomEventContent, RoomEventKind};
pub use identity::{IdentityKey, UserIdentity};
pub use machine::{
    CryptoMachine, DecryptedRoomEvent, DecryptedToDevice, ForwardedKeysReport, GroupSecretShare,
    InboundSessionInfo, OutboundSessionInfo, PendingDevice, RoomKeyForward, RoomKeyInfo,
    RoomKeyShare, SessionRef, ToDeviceEvent, ToDeviceMessage,
};
pub use megolm::{EncryptedRoomMessage, RotationPolicy};
pub use olm::EncryptedToDevice;
pub use registry::DeviceListUpdate;
pub use safety_number::SafetyNumber;
pub use store::KdfParams;
pub use trust::{KeyObservation, TrustEntry, TrustLevel, TrustStore};

/// `N` bytes from the operating system's random number generator.
pub(crate) fn random_array<const N: usize>() -> Result<zeroize::Zeroizing<[u8; N]>, CryptoError> {
    let mut bytes = zeroize::Zeroizing::new([0u8; N]);
    getrandom::fill(bytes.as_mut_slice()).map_err(|_| CryptoError::Randomness)?;
    Ok(bytes)
}
