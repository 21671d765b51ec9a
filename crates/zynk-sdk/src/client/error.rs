//! [`ClientError`]: every failure of the networking and messaging layer, with
//! the server's error code kept when the server answered with one.

use thiserror::Error;
use zynk_proto::ErrorCode;

use crate::crypto::{CryptoError, StoreError, TrustError};

/// An error of the client layer. Its `Display` is one line meant for users;
/// it never contains a token, password or key.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The server answered with its error shape (`{"error":{"code","message"}}`).
    #[error("server error {code} (HTTP {status}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The stable error code (e.g. `not_found`).
        code: String,
        /// The server's explanation.
        message: String,
    },
    /// The server could not be reached or the connection failed.
    #[error("cannot reach the server: {0}")]
    Transport(String),
    /// The server sent something this client cannot parse.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// The session is gone (logged out, revoked or the refresh token expired).
    #[error("the session has ended ({0}); log in again")]
    SessionEnded(String),
    /// Unknown username, or wrong password, at login.
    #[error("unknown username or wrong password")]
    InvalidCredentials,
    /// The identity backup could not be decrypted or does not match the account.
    #[error("identity backup: {0}")]
    Backup(#[from] BackupError),
    /// The encrypted local state could not be opened or written.
    #[error("local state: {0}")]
    Vault(#[from] VaultError),
    /// A contact's identity key changed: nothing is sent to or accepted from
    /// them until the user compares safety numbers (`verify`).
    #[error(
        "the identity key of {username} changed{}; compare safety numbers with `verify {username}` and confirm with `verify {username} --confirm SAFETY_NUMBER` before messaging them",
        if *was_verified { " and they were verified" } else { "" }
    )]
    IdentityChanged {
        /// The contact's username.
        username: String,
        /// Whether the old key had been verified.
        was_verified: bool,
    },
    /// A username now belongs to another account than the contact this
    /// device knew under it (that account was deleted and the name registered
    /// again): nothing is sent to it until the user compares safety numbers
    /// with the new account and confirms.
    #[error(
        "{username} is now a different account than the {}contact you knew under that name (that account was deleted and the name registered again); compare safety numbers with `verify {username}` and confirm with `verify {username} --confirm SAFETY_NUMBER` before messaging it",
        if *was_verified { "verified " } else { "" }
    )]
    AccountReplaced {
        /// The username.
        username: String,
        /// Whether the earlier account had been verified.
        was_verified: bool,
    },
    /// Key transparency: the identity key the server hands out for a contact
    /// is not the one the ledger records (or the ledger's proof does not
    /// hold). Nothing is sent to or accepted from that contact.
    #[error("refusing {username}'s identity key: {reason}")]
    KeyTransparency {
        /// The contact's username.
        username: String,
        /// What did not match.
        reason: String,
    },
    /// No device of a participant could be given the room key (they have no
    /// device with valid keys, or none could be reached): the message would be
    /// unreadable for them, so it was not sent.
    #[error(
        "none of {username}'s devices can read this message (no device with valid keys could be given the room key); nothing was sent"
    )]
    NoReadableDevice {
        /// The participant's username.
        username: String,
    },
    /// A `shared_secret` group has no key for its current membership on this device yet, and
    /// this user is not an admin (only admins share group keys): nothing was sent.
    #[error(
        "no group key for the group's current membership yet (epoch {epoch}): an admin's device shares it at its next sync or send; nothing was sent, try again later"
    )]
    NoGroupKey {
        /// The epoch still without a key.
        epoch: u64,
    },
    /// Sealing a `shared_secret` group message failed.
    #[error("group encryption: {0}")]
    SharedSecret(#[from] crate::crypto::shared_secret::SharedSecretError),
    /// The safety number given to confirm a contact is not the one computed
    /// with the contact's current identity key: nothing was marked verified.
    #[error("the safety number does not match; the contact's key may have changed — compare again")]
    SafetyNumberMismatch,
    /// An end-to-end encryption operation failed.
    #[error("encryption: {0}")]
    Crypto(#[from] CryptoError),
    /// No user has this name.
    #[error("no user named {0}")]
    UnknownUser(String),
    /// No message with this id is known to this device or the server.
    #[error("no message {0}")]
    UnknownMessage(String),
    /// The message's ledger batch is not sealed yet, so it has no proof.
    #[error("message {0} is not anchored yet; try again after the next batch")]
    NotAnchored(String),
    /// The server's ledger key differs from the one this device pinned the
    /// first time it checked a proof.
    #[error(
        "the server's ledger key changed: this device pinned {pinned}, the server now offers {offered}; proofs are not checked against a key that was not pinned"
    )]
    LedgerKeyChanged {
        /// The pinned key (`did:key`).
        pinned: String,
        /// The key the server offers now (`did:key`).
        offered: String,
    },
    /// The local state directory could not be used.
    #[error("local storage: {0}")]
    Storage(String),
    /// The request is not valid (bad argument).
    #[error("{0}")]
    Invalid(String),
}

impl ClientError {
    /// The server's error code, if the server answered with one it knows.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Api { code, .. } => ErrorCode::from_code(code),
            _ => None,
        }
    }

    /// Whether the server answered with `code`.
    pub fn is(&self, code: ErrorCode) -> bool {
        self.code() == Some(code)
    }
}

impl From<TrustError> for ClientError {
    fn from(error: TrustError) -> Self {
        Self::Crypto(CryptoError::Trust(error))
    }
}

impl From<StoreError> for ClientError {
    fn from(error: StoreError) -> Self {
        Self::Crypto(CryptoError::Store(error))
    }
}

impl From<crate::crypto::GroupError> for ClientError {
    fn from(error: crate::crypto::GroupError) -> Self {
        Self::Crypto(CryptoError::Group(error))
    }
}

impl From<crate::crypto::OlmError> for ClientError {
    fn from(error: crate::crypto::OlmError) -> Self {
        Self::Crypto(CryptoError::Olm(error))
    }
}

/// The identity backup could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BackupError {
    /// The server holds no backup for this account.
    #[error("the server holds no identity backup for this account")]
    Missing,
    /// Not a backup this client understands.
    #[error("malformed backup: {0}")]
    Malformed(String),
    /// Written by an unknown format version.
    #[error("unsupported backup version {0}")]
    UnsupportedVersion(u8),
    /// Authentication failed: the password differs from the one the backup
    /// was made with, or the backup was altered.
    #[error("cannot decrypt the identity backup: wrong password or altered backup")]
    WrongPasswordOrTampered,
    /// The decrypted identity is not the account's identity key.
    #[error("the backed-up identity does not match the account's identity key")]
    IdentityMismatch,
}

/// The encrypted local state could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VaultError {
    /// Shorter than its header.
    #[error("state file truncated")]
    Truncated,
    /// Not a Zynk client state file.
    #[error("not a Zynk client state file")]
    BadMagic,
    /// Written by an unknown format version.
    #[error("unsupported state file version {0}")]
    UnsupportedVersion(u8),
    /// The key-derivation parameters are out of range.
    #[error("invalid key-derivation parameters: {0}")]
    KdfParams(String),
    /// A wrong password, or the file was modified.
    #[error("wrong password (or the state file was modified)")]
    WrongPasswordOrTampered,
    /// The decrypted state could not be parsed.
    #[error("corrupt state: {0}")]
    Corrupt(String),
    /// Randomness or encryption failed while saving.
    #[error("cannot save state: {0}")]
    Save(String),
}
