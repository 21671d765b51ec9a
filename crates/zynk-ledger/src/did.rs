//! DID helpers: `did:zynk:<uuid>` identifiers, `did:key` for Ed25519, the `Multikey`
//! `publicKeyMultibase` form (`z6Mk…` = base58btc of `0xed 0x01 ‖ key`), and a W3C DID Core
//! document builder for `did:zynk` identities.
//!
//! Parsing is strict: the UUID must be lowercase and hyphenated, multibase must be base58btc
//! (`z`) with the Ed25519 multicodec prefix, and keys must decode to a valid, non-weak curve
//! point.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// Prefix of every Zynk DID.
pub const DID_ZYNK_PREFIX: &str = "did:zynk:";
/// Prefix of a `did:key` DID.
pub const DID_KEY_PREFIX: &str = "did:key:";
/// Multicodec varint for an Ed25519 public key (`0xed` as unsigned varint).
pub const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];
/// Fragment of the identity key in a `did:zynk` document.
pub const IDENTITY_KEY_FRAGMENT: &str = "key-1";
/// DID Core v1 JSON-LD context.
pub const DID_CONTEXT_V1: &str = "https://www.w3.org/ns/did/v1";
/// Multikey JSON-LD context.
pub const MULTIKEY_CONTEXT_V1: &str = "https://w3id.org/security/multikey/v1";
/// Longest generic DID [`is_valid_did`] accepts.
pub const MAX_DID_LEN: usize = 256;

/// Why a DID, key or document was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DidError {
    /// The DID does not start with the expected method prefix.
    #[error("DID method: expected prefix {expected:?}, got {got:?}")]
    Method {
        /// Prefix required.
        expected: &'static str,
        /// Input (truncated).
        got: String,
    },
    /// The `did:zynk` identifier is not a canonical lowercase hyphenated UUID.
    #[error("did:zynk id is not a lowercase hyphenated UUID: {0:?}")]
    Uuid(String),
    /// The multibase value is not base58btc (`z` prefix).
    #[error("multibase: expected base58btc 'z' prefix")]
    MultibasePrefix,
    /// The base58 text is invalid or too long.
    #[error("base58btc: {0}")]
    Base58(String),
    /// Decoded key material has the wrong length.
    #[error("multikey length: expected 34 bytes, got {0}")]
    KeyLength(usize),
    /// The multicodec prefix is not Ed25519's `0xed 0x01`.
    #[error("multicodec: expected ed01, got {0}")]
    Multicodec(String),
    /// The bytes are not a valid Ed25519 point, or are a weak (small-order) key.
    #[error("invalid Ed25519 public key: {0}")]
    InvalidKey(&'static str),
    /// A DID document lacks a usable identity key.
    #[error("DID document: {0}")]
    Document(String),
}

fn truncated(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A `did:zynk:<uuid>` identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZynkDid(Uuid);

impl ZynkDid {
    /// The DID of the user with this UUID.
    pub const fn new(user: Uuid) -> Self {
        Self(user)
    }

    /// The UUID part.
    pub const fn uuid(&self) -> Uuid {
        self.0
    }

    /// DID URL `did:zynk:<uuid>#<fragment>`.
    pub fn url(&self, fragment: &str) -> String {
        format!("{self}#{fragment}")
    }
}

impl fmt::Display for ZynkDid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{DID_ZYNK_PREFIX}{}", self.0.hyphenated())
    }
}

impl FromStr for ZynkDid {
    type Err = DidError;

    /// Accepts exactly `did:zynk:` + a lowercase hyphenated UUID (45 characters).
    fn from_str(s: &str) -> Result<Self, DidError> {
        let id = s
            .strip_prefix(DID_ZYNK_PREFIX)
            .ok_or_else(|| DidError::Method {
                expected: DID_ZYNK_PREFIX,
                got: truncated(s),
            })?;
        let uuid = Uuid::try_parse(id).map_err(|_| DidError::Uuid(truncated(id)))?;
        if uuid.hyphenated().to_string() != id {
            return Err(DidError::Uuid(truncated(id)));
        }
        Ok(Self(uuid))
    }
}

impl Serialize for ZynkDid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ZynkDid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ZynkDid;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a did:zynk:<uuid> string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ZynkDid, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// Checks generic DID syntax (DID Core §3.1): `did:` + lowercase alphanumeric method + `:` +
/// a non-empty method-specific id of `ALPHA / DIGIT / . / - / _ / : / %XX`, not ending in `:`,
/// at most [`MAX_DID_LEN`] characters. DID URLs (path, query, fragment) are not DIDs.
pub fn is_valid_did(s: &str) -> bool {
    if s.len() > MAX_DID_LEN {
        return false;
    }
    let Some(rest) = s.strip_prefix("did:") else {
        return false;
    };
    let Some((method, id)) = rest.split_once(':') else {
        return false;
    };
    if method.is_empty()
        || !method
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return false;
    }
    if id.is_empty() || id.ends_with(':') {
        return false;
    }
    let b = id.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let ok =
                    b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
                if !ok {
                    return false;
                }
                i += 3;
            }
            c if c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b':') => i += 1,
            _ => return false,
        }
    }
    true
}

/// A raw 32-byte Ed25519 public key. Serialises as its `publicKeyMultibase` (`z6Mk…`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ed25519PublicKey(pub [u8; 32]);

impl fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519PublicKey({})", self.to_multibase())
    }
}

impl From<&VerifyingKey> for Ed25519PublicKey {
    fn from(key: &VerifyingKey) -> Self {
        Self(key.to_bytes())
    }
}

impl Ed25519PublicKey {
    /// `z` + base58btc(`0xed 0x01 ‖ key`).
    pub fn to_multibase(&self) -> String {
        let mut bytes = [0u8; 34];
        bytes[..2].copy_from_slice(&ED25519_MULTICODEC);
        bytes[2..].copy_from_slice(&self.0);
        format!("z{}", bs58::encode(bytes).into_string())
    }

    /// Parses a `z6Mk…` multibase Ed25519 key. The point itself is checked by
    /// [`Self::to_verifying_key`].
    ///
    /// # Errors
    /// [`DidError::MultibasePrefix`], [`DidError::Base58`], [`DidError::KeyLength`] or
    /// [`DidError::Multicodec`].
    pub fn from_multibase(s: &str) -> Result<Self, DidError> {
        let body = s.strip_prefix('z').ok_or(DidError::MultibasePrefix)?;
        // 34 bytes are at most 47 base58 characters; refuse long input before decoding.
        if body.len() > 50 {
            return Err(DidError::Base58(format!(
                "expected at most 50 characters, got {}",
                body.len()
            )));
        }
        let bytes = bs58::decode(body)
            .into_vec()
            .map_err(|e| DidError::Base58(e.to_string()))?;
        if bytes.len() != 34 {
            return Err(DidError::KeyLength(bytes.len()));
        }
        if bytes[..2] != ED25519_MULTICODEC {
            return Err(DidError::Multicodec(hex::encode(&bytes[..2])));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[2..]);
        Ok(Self(key))
    }

    /// `did:key:z6Mk…`.
    pub fn to_did_key(&self) -> String {
        format!("{DID_KEY_PREFIX}{}", self.to_multibase())
    }

    /// Parses a `did:key` DID (not a DID URL) holding an Ed25519 key.
    ///
    /// # Errors
    /// [`DidError::Method`] or those of [`Self::from_multibase`].
    pub fn from_did_key(s: &str) -> Result<Self, DidError> {
        let mb = s
            .strip_prefix(DID_KEY_PREFIX)
            .ok_or_else(|| DidError::Method {
                expected: DID_KEY_PREFIX,
                got: truncated(s),
            })?;
        Self::from_multibase(mb)
    }

    /// The key as a dalek verifying key, rejecting invalid encodings and weak (small-order)
    /// points.
    ///
    /// # Errors
    /// [`DidError::InvalidKey`].
    pub fn to_verifying_key(&self) -> Result<VerifyingKey, DidError> {
        let key = VerifyingKey::from_bytes(&self.0)
            .map_err(|_| DidError::InvalidKey("not a valid curve point"))?;
        if key.is_weak() {
            return Err(DidError::InvalidKey("small-order (weak) key"));
        }
        Ok(key)
    }
}

impl Serialize for Ed25519PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_multibase())
    }
}

impl<'de> Deserialize<'de> for Ed25519PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Ed25519PublicKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an Ed25519 publicKeyMultibase (z6Mk…)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ed25519PublicKey, E> {
                Ed25519PublicKey::from_multibase(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// `did:key:z6Mk…` of a verifying key.
pub fn did_key(key: &VerifyingKey) -> String {
    Ed25519PublicKey::from(key).to_did_key()
}

/// Parses a `did:key` into a valid, non-weak Ed25519 verifying key.
///
/// # Errors
/// Those of [`Ed25519PublicKey::from_did_key`] and [`Ed25519PublicKey::to_verifying_key`].
pub fn parse_did_key(s: &str) -> Result<VerifyingKey, DidError> {
    Ed25519PublicKey::from_did_key(s)?.to_verifying_key()
}

/// A DID Core verification method using the `Multikey` type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationMethod {
    /// DID URL of the key, e.g. `did:zynk:…#key-1`.
    pub id: String,
    /// Always `Multikey` for keys built here.
    #[serde(rename = "type")]
    pub kind: String,
    /// The DID that controls the key.
    pub controller: String,
    /// `z6Mk…`.
    #[serde(rename = "publicKeyMultibase")]
    pub public_key_multibase: String,
}

/// A W3C DID Core document (JSON representation) for a `did:zynk` identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DidDocument {
    /// JSON-LD contexts.
    #[serde(rename = "@context")]
    pub context: Vec<String>,
    /// The DID.
    pub id: String,
    /// Equivalent identifiers, e.g. the `did:key` of the identity key.
    #[serde(rename = "alsoKnownAs", default, skip_serializing_if = "Vec::is_empty")]
    pub also_known_as: Vec<String>,
    /// Keys.
    #[serde(rename = "verificationMethod")]
    pub verification_method: Vec<VerificationMethod>,
    /// References to keys that authenticate as the DID.
    pub authentication: Vec<String>,
    /// References to keys that issue credentials for the DID.
    #[serde(rename = "assertionMethod")]
    pub assertion_method: Vec<String>,
}

impl DidDocument {
    /// The document of `did` with `key` as `#key-1`, referenced from `authentication` and
    /// `assertionMethod`, and the key's `did:key` in `alsoKnownAs`.
    pub fn for_identity(did: &ZynkDid, key: &Ed25519PublicKey) -> Self {
        let id = did.to_string();
        let key_id = did.url(IDENTITY_KEY_FRAGMENT);
        Self {
            context: vec![DID_CONTEXT_V1.to_owned(), MULTIKEY_CONTEXT_V1.to_owned()],
            id: id.clone(),
            also_known_as: vec![key.to_did_key()],
            verification_method: vec![VerificationMethod {
                id: key_id.clone(),
                kind: "Multikey".to_owned(),
                controller: id,
                public_key_multibase: key.to_multibase(),
            }],
            authentication: vec![key_id.clone()],
            assertion_method: vec![key_id],
        }
    }

    /// Extracts the identity key (`#key-1`) after checking the document's shape: `id` is a
    /// `did:zynk`, the method is a `Multikey` controlled by `id`, and both `authentication` and
    /// `assertionMethod` reference it.
    ///
    /// # Errors
    /// [`DidError::Document`], or the key's own parse errors.
    pub fn identity_key(&self) -> Result<VerifyingKey, DidError> {
        let did: ZynkDid = self.id.parse()?;
        let key_id = did.url(IDENTITY_KEY_FRAGMENT);
        let vm = self
            .verification_method
            .iter()
            .find(|vm| vm.id == key_id)
            .ok_or_else(|| DidError::Document(format!("no verification method {key_id}")))?;
        if vm.kind != "Multikey" && vm.kind != "Ed25519VerificationKey2020" {
            return Err(DidError::Document(format!(
                "unsupported key type {:?}",
                vm.kind
            )));
        }
        if vm.controller != self.id {
            return Err(DidError::Document(format!(
                "controller: expected {}, got {}",
                self.id, vm.controller
            )));
        }
        for (name, refs) in [
            ("authentication", &self.authentication),
            ("assertionMethod", &self.assertion_method),
        ] {
            if !refs.contains(&key_id) {
                return Err(DidError::Document(format!(
                    "{name} does not reference {key_id}"
                )));
            }
        }
        Ed25519PublicKey::from_multibase(&vm.public_key_multibase)?.to_verifying_key()
    }
}
