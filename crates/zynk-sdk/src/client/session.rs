//! [`Session`]: the tokens of a logged-in device, and [`Secret`], a string
//! that is redacted in `Debug` and zeroized on drop.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;
use zynk_proto::auth::AuthResponse;
use zynk_proto::ids::{DeviceId, SessionId, UserId};

/// A secret string (token, password-derived secret): redacted in `Debug`,
/// zeroized on drop, serialized as a plain JSON string (only ever inside
/// encrypted state).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wrap a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// The logged-in session of this device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The account.
    pub user_id: UserId,
    /// This device.
    pub device_id: DeviceId,
    /// The session (token family).
    pub session_id: SessionId,
    /// Bearer token.
    pub access_token: Secret,
    /// When the access token expires.
    pub access_token_expires_at: DateTime<Utc>,
    /// Single-use refresh token.
    pub refresh_token: Secret,
    /// When the refresh token expires.
    pub refresh_token_expires_at: DateTime<Utc>,
}

impl From<AuthResponse> for Session {
    fn from(response: AuthResponse) -> Self {
        Self {
            user_id: response.user_id,
            device_id: response.device_id,
            session_id: response.session_id,
            access_token: Secret::new(response.access_token),
            access_token_expires_at: response.access_token_expires_at,
            refresh_token: Secret::new(response.refresh_token),
            refresh_token_expires_at: response.refresh_token_expires_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_tokens_and_serde_round_trips() {
        let session = Session {
            user_id: UserId::nil(),
            device_id: DeviceId::nil(),
            session_id: SessionId::nil(),
            access_token: Secret::new("zat_supersecret"),
            access_token_expires_at: DateTime::UNIX_EPOCH,
            refresh_token: Secret::new("zrt_supersecret"),
            refresh_token_expires_at: DateTime::UNIX_EPOCH,
        };
        let debug = format!("{session:?}");
        assert!(!debug.contains("supersecret"));
        assert!(debug.contains("<redacted>"));
        let json = serde_json::to_string(&session).unwrap();
        let back: Session = serde_json::from_str(&json).unwrap();
        assert_eq!(back, session);
        assert_eq!(back.access_token.expose(), "zat_supersecret");
    }
}
