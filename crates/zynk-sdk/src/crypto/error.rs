//! Error types of the crypto core: one small enum per operation family, plus
//! [`CryptoError`] that wraps them all for callers that want a single type.

use thiserror::Error;

/// A key, signature or other fixed-size value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// The text was not canonical unpadded standard base64.
    #[error("{what}: not canonical unpadded base64")]
    InvalidBase64 {
        /// Which value was being decoded.
        what: &'static str,
    },
    /// The decoded value had the wrong number of bytes.
    #[error("{what}: expected {expected} bytes, got {got}")]
    InvalidLength {
        /// Which value was being decoded.
        what: &'static str,
        /// Required length in bytes.
        expected: usize,
        /// Decoded length in bytes.
        got: usize,
    },
    /// The bytes do not form a valid key (e.g. not a curve point).
    #[error("{what}: not a valid key")]
    InvalidKey {
        /// Which value was being decoded.
        what: &'static str,
    },
}

/// A signed device-key bundle or one-time key failed verification.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerificationError {
    /// A key or signature in the bundle could not be decoded.
    #[error("malformed key material: {0}")]
    Malformed(#[from] KeyError),
    /// The device's self-signature does not verify under its Ed25519 key.
    #[error("the device signature does not verify")]
    BadDeviceSignature,
    /// The user identity signature does not verify under the identity key.
    #[error("the identity-key signature does not verify")]
    BadIdentitySignature,
    /// A one-time or fallback key signature does not verify.
    #[error("the one-time key signature does not verify")]
    BadOneTimeKeySignature,
    /// The bundle does not list the algorithms this client requires.
    #[error("the device does not support {0}")]
    UnsupportedAlgorithm(&'static str),
    /// The bundle belongs to a different user than the one asked about.
    #[error("device keys are for user {got}, expected {expected}")]
    UserMismatch {
        /// The user the caller asked about.
        expected: String,
        /// The user named in the bundle.
        got: String,
    },
}

/// A contact's identity key conflicts with what the trust store remembers.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TrustError {
    /// The server presented an identity key different from the pinned one.
    /// Nothing was changed: the old key stays pinned until the user accepts
    /// the new one (or re-verifies, for a verified contact).
    #[error(
        "identity key of {user_id} changed from {pinned} to {offered} (was verified: {was_verified})"
    )]
    IdentityKeyChanged {
        /// The contact.
        user_id: String,
        /// The key remembered so far (base64).
        pinned: String,
        /// The new key the server presented (base64).
        offered: String,
        /// Whether the contact had been verified with the old key.
        was_verified: bool,
    },
    /// The contact was verified and its key changed: it stays blocked until
    /// it is verified again with the new key.
    #[error("{user_id} was verified and its identity key changed: re-verify before use")]
    ReverificationRequired {
        /// The contact.
        user_id: String,
    },
    /// The trust store has no key for this user.
    #[error("no identity key known for {user_id}")]
    UnknownUser {
        /// The contact.
        user_id: String,
    },
    /// The key given for an accept/verify call is neither the pinned nor the
    /// pending key of that user.
    #[error("the given identity key is not the pinned or pending key of {user_id}")]
    KeyNotOffered {
        /// The contact.
        user_id: String,
    },
}

/// Failure of a pairwise (Olm) operation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OlmError {
    /// The message or envelope could not be parsed.
    #[error("malformed Olm message: {0}")]
    Malformed(String),
    /// The envelope names an algorithm this client does not speak.
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// A key in the envelope could not be decoded.
    #[error("malformed key: {0}")]
    Key(#[from] KeyError),
    /// The sender's Curve25519 key belongs to no device whose keys were
    /// verified: fetch that user's device list and retry.
    #[error("no verified device has sender key {sender_key}")]
    UnknownSenderDevice {
        /// The sender's Curve25519 key (base64).
        sender_key: String,
    },
    /// There is no Olm session with the recipient yet: claim one of its
    /// one-time keys and call `create_outbound_session`.
    #[error("no Olm session with {user_id}/{device_id}")]
    NoSession {
        /// Recipient user.
        user_id: String,
        /// Recipient device.
        device_id: String,
    },
    /// The recipient device is not in the verified device registry.
    #[error("device {user_id}/{device_id} is unknown or unverified")]
    UnknownDevice {
        /// Recipient user.
        user_id: String,
        /// Recipient device.
        device_id: String,
    },
    /// The message was already decrypted (its key was used up), or a pre-key
    /// message for a session this device created before was replayed.
    #[error("Olm message replayed or already decrypted")]
    Replayed,
    /// No session could decrypt the message.
    #[error("Olm message could not be decrypted: {0}")]
    Undecryptable(String),
    /// A new inbound session could not be created from the pre-key message.
    #[error("cannot create an Olm session: {0}")]
    SessionCreation(String),
    /// One of the keys lacked contributory behaviour (e.g. a low-order point).
    #[error("non-contributory Diffie-Hellman key rejected")]
    NonContributoryKey,
    /// The decrypted payload is not valid JSON of the expected shape.
    #[error("invalid decrypted payload: {0}")]
    InvalidPayload(String),
    /// The decrypted payload names a different sender or recipient than the
    /// keys that authenticated it: a re-attributed or mis-routed message.
    #[error("payload field `{0}` does not match the authenticated keys")]
    PayloadMismatch(&'static str),
    /// The one-time key offered for a new session failed verification.
    #[error("one-time key rejected: {0}")]
    OneTimeKey(#[from] VerificationError),
}

/// Failure of a group (Megolm) operation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GroupError {
    /// The message or envelope could not be parsed.
    #[error("malformed group message: {0}")]
    Malformed(String),
    /// The envelope names an algorithm this client does not speak.
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// No room key for this (conversation, sender, session) was received yet.
    #[error("unknown group session {session_id} from {sender_key}")]
    UnknownSession {
        /// Sender's Curve25519 key (base64).
        sender_key: String,
        /// Megolm session id.
        session_id: String,
    },
    /// The session key we hold starts after this message.
    #[error("message index {index} precedes the first known index {first_known}")]
    UnknownMessageIndex {
        /// First index our copy of the session can decrypt.
        first_known: u32,
        /// Index of the message.
        index: u32,
    },
    /// Signature or MAC check failed: altered or forged ciphertext.
    #[error("group message failed authentication: {0}")]
    Undecryptable(String),
    /// The same (session, message index) previously decrypted to a different
    /// message id: the ciphertext was replayed under another identity.
    #[error("replay: index {index} of session {session_id} was message {previous_message_id}")]
    Replay {
        /// Megolm session id.
        session_id: String,
        /// Message index within the session.
        index: u32,
        /// Message id seen the first time.
        previous_message_id: String,
    },
    /// The decrypted event does not belong where the server delivered it
    /// (another conversation, message id or sender).
    #[error("decrypted event field `{0}` does not match its envelope or session")]
    BindingMismatch(&'static str),
    /// The decrypted payload is not a valid room event.
    #[error("invalid decrypted event: {0}")]
    InvalidPayload(String),
    /// There is no usable outbound session: call `share_room_key` first.
    #[error("no current outbound group session for conversation {conversation_id}")]
    NoOutboundSession {
        /// Conversation.
        conversation_id: String,
    },
    /// The outbound session reached its message or age budget: call
    /// `share_room_key` to rotate and share a new key before sending.
    #[error("outbound group session for {conversation_id} must be rotated")]
    RotationRequired {
        /// Conversation.
        conversation_id: String,
    },
    /// A received room key was malformed or inconsistent with its sender.
    #[error("invalid room key: {0}")]
    InvalidRoomKey(String),
    /// Forwarded room keys or a key request came from (or were to go to) a
    /// device of another user: only a user's own verified devices exchange
    /// history.
    #[error(
        "room keys are forwarded only between one account's own devices; {user_id}/{device_id} belongs to another account"
    )]
    NotOwnDevice {
        /// The other device's user.
        user_id: String,
        /// The other device.
        device_id: String,
    },
}

/// Failure to save or load the encrypted client state.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The file is shorter than its header or holds no ciphertext.
    #[error("state file truncated")]
    Truncated,
    /// The file does not start with the Zynk state magic bytes.
    #[error("not a Zynk state file")]
    BadMagic,
    /// The file was written by an unknown format version.
    #[error("unsupported state format version {0}")]
    UnsupportedVersion(u8),
    /// The key-derivation parameters are invalid or out of the accepted range.
    #[error("invalid key-derivation parameters: {0}")]
    KdfParams(String),
    /// Authentication failed: a wrong passphrase or a modified file.
    #[error("wrong passphrase or corrupted state file")]
    WrongPassphraseOrTampered,
    /// The decrypted state could not be parsed (or a pickle inside it).
    #[error("corrupt state: {0}")]
    Corrupt(String),
    /// Randomness or serialization failed while saving.
    #[error("cannot save state: {0}")]
    Save(String),
}

/// Any error from the crypto core.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// See [`KeyError`].
    #[error(transparent)]
    Key(#[from] KeyError),
    /// See [`VerificationError`].
    #[error(transparent)]
    Verification(#[from] VerificationError),
    /// See [`TrustError`].
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// See [`OlmError`].
    #[error(transparent)]
    Olm(#[from] OlmError),
    /// See [`GroupError`].
    #[error(transparent)]
    Group(#[from] GroupError),
    /// See [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The operating system's random number generator failed.
    #[error("random number generator failure")]
    Randomness,
}
