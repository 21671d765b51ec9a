//! The `shared_secret` group mode: one random 256-bit secret per group epoch, shared by an admin
//! device over the Olm to-device channel, and group messages sealed under it.
//!
//! Nothing here is a new primitive. It only composes:
//! - AES-256-GCM (RustCrypto `aes-gcm`) with a random 96-bit nonce per message, the associated
//!   data binding the conversation, the message id, the sender user and device, and the epoch;
//! - an Ed25519 signature by the sending device's vodozemac account key over that associated
//!   data, the nonce and the ciphertext, so one member cannot pass a message off as another's
//!   (every member holds the secret, so the AEAD alone authenticates "some member").
//!
//! A receiver verifies the signature with the sender device's verified Ed25519 key, checks that
//! the envelope names the sender and epoch it expects, and only then decrypts. A new epoch
//! (fresh secret) follows every membership change; removed members never get it, new members
//! get only the current one.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::encoding::{SignedBytes, decode_base64, decode_fixed, encode_base64};
use super::identity::verify_ed25519;

/// The envelope version and algorithm name.
pub const SHARED_SECRET_ALGORITHM: &str = "zynk.shared_secret.v1.aes-256-gcm.ed25519";
/// The to-device event type that carries a group secret (inside Olm).
pub const GROUP_SECRET_EVENT: &str = "zynk.group_secret";

const SIGNATURE_TAG: &str = "zynk/shared-secret-message/v1";

/// Why a shared-secret message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SharedSecretError {
    /// The envelope is malformed.
    #[error("malformed shared-secret message: {0}")]
    Malformed(&'static str),
    /// The envelope is for another conversation, message, sender or algorithm.
    #[error("the shared-secret message does not match its context ({0})")]
    Mismatch(&'static str),
    /// No secret is known for the envelope's epoch.
    #[error("no group secret for epoch {0}")]
    UnknownEpoch(u64),
    /// The sender device's signature does not hold.
    #[error("the sender's signature does not verify")]
    BadSignature,
    /// The ciphertext was altered or sealed under another secret.
    #[error("the ciphertext does not authenticate under the epoch's secret")]
    Tampered,
    /// The system random generator failed.
    #[error("no randomness")]
    Randomness,
}

/// One epoch's group secret (stored and sent as [`GroupSecretContent`]). `Debug` hides the key;
/// it is zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct GroupSecret {
    /// Epoch number (grows by one per membership change).
    pub epoch: u64,
    /// The 256-bit AES key.
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for GroupSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupSecret")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// The content of a `zynk.group_secret` to-device event (always sent inside Olm).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSecretContent {
    /// The conversation of the group.
    pub conversation_id: String,
    /// The epoch.
    pub epoch: u64,
    /// The secret, base64.
    pub secret: String,
}

/// A sealed group message (the `encrypted_content` of a `shared_secret` group message, as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedSecretMessage {
    /// [`SHARED_SECRET_ALGORITHM`].
    pub algorithm: String,
    /// The epoch whose secret sealed it.
    pub epoch: u64,
    /// The sending user.
    pub sender_user: String,
    /// The sending device.
    pub sender_device: String,
    /// The AES-GCM nonce, base64.
    pub nonce: String,
    /// The AES-GCM ciphertext with its tag, base64.
    pub ciphertext: String,
    /// The sender device's Ed25519 signature, base64.
    pub signature: String,
}

/// What a message is bound to: checked on both ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageContext<'a> {
    /// The group's conversation.
    pub conversation_id: &'a str,
    /// The message id (chosen by the sender, stored by the server).
    pub message_id: &'a str,
    /// The sending user (as the server recorded it).
    pub sender_user: &'a str,
    /// The sending device (as the server recorded it).
    pub sender_device: &'a str,
}

impl GroupSecret {
    /// A fresh random secret for `epoch`.
    pub fn generate(epoch: u64) -> Result<Self, SharedSecretError> {
        let key = super::random_array::<32>().map_err(|_| SharedSecretError::Randomness)?;
        Ok(Self { epoch, key })
    }

    /// The secret of a received `zynk.group_secret` event.
    pub fn from_content(content: &GroupSecretContent) -> Result<Self, SharedSecretError> {
        let key = decode_fixed::<32>("group secret", &content.secret)
            .map_err(|_| SharedSecretError::Malformed("secret"))?;
        Ok(Self {
            epoch: content.epoch,
            key: Zeroizing::new(key),
        })
    }

    /// The to-device content that shares this secret (encrypt it with Olm per device).
    pub fn to_content(&self, conversation_id: &str) -> GroupSecretContent {
        GroupSecretContent {
            conversation_id: conversation_id.to_owned(),
            epoch: self.epoch,
            secret: encode_base64(self.key.as_slice()),
        }
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&(*self.key).into())
    }

    /// Seals `plaintext` for `context`; `sign` is the sending device's Ed25519 signer (the
    /// vodozemac account), returning a base64 signature.
    pub fn seal(
        &self,
        context: MessageContext<'_>,
        plaintext: &[u8],
        sign: impl FnOnce(&[u8]) -> String,
    ) -> Result<SharedSecretMessage, SharedSecretError> {
        let nonce = super::random_array::<12>().map_err(|_| SharedSecretError::Randomness)?;
        let aad = associated_data(context, self.epoch);
        let ciphertext = self
            .cipher()
            .encrypt(
                &Nonce::from(*nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| SharedSecretError::Tampered)?;
        let signature = sign(&signed_bytes(&aad, nonce.as_slice(), &ciphertext));
        Ok(SharedSecretMessage {
            algorithm: SHARED_SECRET_ALGORITHM.to_owned(),
            epoch: self.epoch,
            sender_user: context.sender_user.to_owned(),
            sender_device: context.sender_device.to_owned(),
            nonce: encode_base64(nonce.as_slice()),
            ciphertext: encode_base64(&ciphertext),
            signature,
        })
    }
}

/// Opens a sealed message: the envelope must name `context`'s sender, its signature must hold
/// under `sender_ed25519` (the sender device's verified key), a secret for its epoch must be
/// among `secrets`, and the ciphertext must authenticate under it (or under one of them, when
/// several secrets of the epoch are held).
pub fn open(
    message: &SharedSecretMessage,
    context: MessageContext<'_>,
    sender_ed25519: &[u8; 32],
    secrets: &[GroupSecret],
) -> Result<Zeroizing<Vec<u8>>, SharedSecretError> {
    if message.algorithm != SHARED_SECRET_ALGORITHM {
        return Err(SharedSecretError::Mismatch("algorithm"));
    }
    if message.sender_user != context.sender_user || message.sender_device != context.sender_device
    {
        return Err(SharedSecretError::Mismatch("sender"));
    }
    let nonce = decode_fixed::<12>("nonce", &message.nonce)
        .map_err(|_| SharedSecretError::Malformed("nonce"))?;
    let ciphertext = decode_base64("ciphertext", &message.ciphertext)
        .map_err(|_| SharedSecretError::Malformed("ciphertext"))?;
    let aad = associated_data(context, message.epoch);
    if !verify_ed25519(
        sender_ed25519,
        &signed_bytes(&aad, &nonce, &ciphertext),
        &message.signature,
    ) {
        return Err(SharedSecretError::BadSignature);
    }
    // Two admins may start the same epoch at once, each with its own secret: every one held
    // for the epoch is tried (the AEAD tag tells which one sealed it).
    let mut candidates = secrets
        .iter()
        .filter(|s| s.epoch == message.epoch)
        .peekable();
    if candidates.peek().is_none() {
        return Err(SharedSecretError::UnknownEpoch(message.epoch));
    }
    for secret in candidates {
        if let Ok(plaintext) = secret.cipher().decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &ciphertext,
                aad: &aad,
            },
        ) {
            return Ok(Zeroizing::new(plaintext));
        }
    }
    Err(SharedSecretError::Tampered)
}

fn associated_data(context: MessageContext<'_>, epoch: u64) -> Vec<u8> {
    SignedBytes::new(SHARED_SECRET_ALGORITHM)
        .string(context.conversation_id)
        .string(context.message_id)
        .string(context.sender_user)
        .string(context.sender_device)
        .string(&epoch.to_string())
        .finish()
}

fn signed_bytes(aad: &[u8], nonce: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let mut bytes = SignedBytes::new(SIGNATURE_TAG).finish();
    for part in [aad, nonce, ciphertext] {
        bytes.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        bytes.extend_from_slice(part);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use vodozemac::olm::Account;

    fn signer(account: &Account) -> impl FnOnce(&[u8]) -> String + '_ {
        move |bytes| encode_base64(&account.sign(bytes).to_bytes())
    }

    fn key_of(account: &Account) -> [u8; 32] {
        *account.identity_keys().ed25519.as_bytes()
    }

    const CONTEXT: MessageContext<'static> = MessageContext {
        conversation_id: "conv-1",
        message_id: "msg-1",
        sender_user: "alice",
        sender_device: "ALICEPHONE",
    };

    fn sealed(secret: &GroupSecret, alice: &Account) -> SharedSecretMessage {
        secret.seal(CONTEXT, b"hello group", signer(alice)).unwrap()
    }

    #[test]
    fn a_member_opens_what_another_sealed() {
        let alice = Account::new();
        let secret = GroupSecret::generate(3).unwrap();
        let message = sealed(&secret, &alice);
        assert_eq!(message.epoch, 3);
        // The secret travels as to-device content and comes back whole.
        let received = GroupSecret::from_content(&secret.to_content("conv-1")).unwrap();
        let plain = open(&message, CONTEXT, &key_of(&alice), &[received]).unwrap();
        assert_eq!(plain.as_slice(), b"hello group");
        // Two seals of the same text differ (random nonces).
        assert_ne!(sealed(&secret, &alice).ciphertext, message.ciphertext);
    }

    #[test]
    fn tampering_is_refused() {
        let alice = Account::new();
        let secret = GroupSecret::generate(1).unwrap();
        let message = sealed(&secret, &alice);
        let key = key_of(&alice);
        let secrets = [secret.clone()];
        let mut bytes = decode_base64("c", &message.ciphertext).unwrap();
        bytes[0] ^= 1;
        let mut altered = message.clone();
        altered.ciphertext = encode_base64(&bytes);
        assert_eq!(
            open(&altered, CONTEXT, &key, &secrets),
            Err(SharedSecretError::BadSignature)
        );
        let mut altered = message.clone();
        altered.nonce = encode_base64(&[0u8; 12]);
        assert!(open(&altered, CONTEXT, &key, &secrets).is_err());
        // Moved to another message or conversation: the bound context no longer matches.
        for context in [
            MessageContext {
                message_id: "msg-2",
                ..CONTEXT
            },
            MessageContext {
                conversation_id: "conv-2",
                ..CONTEXT
            },
        ] {
            assert_eq!(
                open(&message, context, &key, &secrets),
                Err(SharedSecretError::BadSignature)
            );
        }
        // A member re-signs an altered ciphertext: the AEAD still refuses it.
        let mut resealed = message.clone();
        resealed.ciphertext = encode_base64(&bytes);
        let nonce = decode_fixed::<12>("n", &message.nonce).unwrap();
        let aad = associated_data(CONTEXT, 1);
        resealed.signature =
            encode_base64(&alice.sign(signed_bytes(&aad, &nonce, &bytes)).to_bytes());
        assert_eq!(
            open(&resealed, CONTEXT, &key, &secrets),
            Err(SharedSecretError::Tampered)
        );
    }

    #[test]
    fn a_wrong_or_unknown_epoch_is_refused() {
        let alice = Account::new();
        let old = GroupSecret::generate(1).unwrap();
        let new = GroupSecret::generate(2).unwrap();
        let message = sealed(&new, &alice);
        let key = key_of(&alice);
        // A removed member holds only the old epoch's secret.
        assert_eq!(
            open(&message, CONTEXT, &key, std::slice::from_ref(&old)),
            Err(SharedSecretError::UnknownEpoch(2))
        );
        // Relabelling the epoch breaks the signature; a secret under the wrong label fails.
        let mut relabelled = message.clone();
        relabelled.epoch = 1;
        assert_eq!(
            open(&relabelled, CONTEXT, &key, &[old.clone(), new.clone()]),
            Err(SharedSecretError::BadSignature)
        );
        let mislabelled = GroupSecret {
            epoch: 2,
            key: old.key.clone(),
        };
        assert_eq!(
            open(&message, CONTEXT, &key, std::slice::from_ref(&mislabelled)),
            Err(SharedSecretError::Tampered)
        );
        // Two secrets for the same epoch (two admins rotated at once): the right one opens it,
        // whatever the order.
        for secrets in [
            [mislabelled.clone(), new.clone()],
            [new.clone(), mislabelled.clone()],
        ] {
            let plain = open(&message, CONTEXT, &key, &secrets).unwrap();
            assert_eq!(plain.as_slice(), b"hello group");
        }
    }

    #[test]
    fn a_member_cannot_forge_another_sender() {
        let alice = Account::new();
        let mallory = Account::new();
        let secret = GroupSecret::generate(1).unwrap();
        let secrets = [secret.clone()];
        // Mallory holds the secret and seals a message claiming to be alice.
        let forged = secret
            .seal(CONTEXT, b"send money", signer(&mallory))
            .unwrap();
        assert_eq!(
            open(&forged, CONTEXT, &key_of(&alice), &secrets),
            Err(SharedSecretError::BadSignature)
        );
        // Alice's genuine message presented as from another sender is refused too.
        let genuine = sealed(&secret, &alice);
        let other = MessageContext {
            sender_user: "mallory",
            sender_device: "MALLORYPC",
            ..CONTEXT
        };
        assert_eq!(
            open(&genuine, other, &key_of(&mallory), &secrets),
            Err(SharedSecretError::Mismatch("sender"))
        );
        let mut renamed = genuine.clone();
        renamed.sender_user = "mallory".into();
        renamed.sender_device = "MALLORYPC".into();
        assert_eq!(
            open(&renamed, other, &key_of(&alice), &secrets),
            Err(SharedSecretError::BadSignature)
        );
    }
}
