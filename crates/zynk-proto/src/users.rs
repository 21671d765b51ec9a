//! The caller's account, profile and privacy settings.

use crate::WhoCanMessage;
use crate::ids::{DeviceId, SessionId, UserId};
use serde::{Deserialize, Serialize};

/// `GET /api/v1/users/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    /// The account id.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub user_id: UserId,
    /// The username as registered (original case).
    pub username: String,
    /// The user's identity public key.
    pub identity_key: String,
    /// The device of the calling session.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub device_id: DeviceId,
    /// The calling session.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub session_id: SessionId,
    /// When the account was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The privacy settings: the data model's four flags (all `true` by default) and who may start a
/// conversation (`everyone` by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrivacySettings {
    /// Others may see whether the user is online.
    pub show_online_status: bool,
    /// Others may see when the user was last seen.
    pub show_last_seen: bool,
    /// Read receipts are sent for this user.
    pub allow_read_receipts: bool,
    /// The user can be found by proximity discovery.
    pub allow_proximity_discovery: bool,
    /// Who may start a 1:1 conversation with the user: `everyone` (strangers' first messages
    /// land as message requests) or `contacts` (strangers are refused).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(example = "everyone"))]
    pub who_can_message: WhoCanMessage,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            show_online_status: true,
            show_last_seen: true,
            allow_read_receipts: true,
            allow_proximity_discovery: true,
            who_can_message: WhoCanMessage::Everyone,
        }
    }
}

/// `PATCH /api/v1/users/me/privacy`: only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PrivacyUpdate {
    /// New value of `show_online_status`.
    pub show_online_status: Option<bool>,
    /// New value of `show_last_seen`.
    pub show_last_seen: Option<bool>,
    /// New value of `allow_read_receipts`.
    pub allow_read_receipts: Option<bool>,
    /// New value of `allow_proximity_discovery`.
    pub allow_proximity_discovery: Option<bool>,
    /// New value of `who_can_message`: `everyone` or `contacts`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(example = "contacts"))]
    pub who_can_message: Option<WhoCanMessage>,
}

/// The caller's own profile: `GET /api/v1/users/me/profile`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Profile {
    /// The account id.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub user_id: UserId,
    /// The username.
    pub username: String,
    /// Display name, at most 255 characters.
    pub display_name: Option<String>,
    /// Avatar URL (`https://` or `http://`), at most 2048 characters.
    pub avatar_url: Option<String>,
    /// Biography, at most 500 characters.
    pub bio: Option<String>,
    /// Last activity.
    pub last_seen_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Privacy settings.
    pub privacy: PrivacySettings,
    /// Last profile change.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// Another user's profile as the caller may see it: `GET /api/v1/users/{user_id}` and
/// `GET /api/v1/users/by-username/{username}`. `last_seen_at` is present only when that user's
/// privacy settings allow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicProfile {
    /// The account id.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub user_id: UserId,
    /// The username.
    pub username: String,
    /// The user's identity public key (to be checked against the ledger by clients).
    pub identity_key: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Biography.
    pub bio: Option<String>,
    /// Last activity, if the user shows it.
    pub last_seen_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// `PATCH /api/v1/users/me/profile`: absent fields stay, `null` clears a field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// New display name (`null` clears it).
    #[serde(default, with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub display_name: Option<Option<String>>,
    /// New avatar URL (`null` clears it).
    #[serde(default, with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub avatar_url: Option<Option<String>>,
    /// New biography (`null` clears it).
    #[serde(default, with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub bio: Option<Option<String>>,
}

/// `DELETE /api/v1/users/me`: the password confirms the deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    /// The account password.
    pub password: String,
}

/// Largest identity backup, in bytes (decoded).
pub const MAX_IDENTITY_BACKUP_BYTES: usize = 4096;

/// `PUT` and `GET /api/v1/users/me/identity-backup`: the user's identity key, encrypted by the
/// client with a key the server never sees, so that a new device can sign its keys. Opaque to
/// the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IdentityBackup {
    /// The encrypted backup, standard base64, at most 4 KiB decoded.
    pub ciphertext: String,
}

/// `POST /api/v1/users/me/password`: changes the account password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The current password.
    pub old_password: String,
    /// The new password (8 to 1024 characters by default).
    pub new_password: String,
    /// The identity backup sealed under the new password, stored in the same transaction as
    /// the new password (clients that derive the backup key from the password send it, so the
    /// backup and the password never disagree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_backup: Option<IdentityBackup>,
    /// Keep the account's other sessions; by default every session but the caller's ends.
    #[serde(default)]
    pub keep_other_sessions: bool,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_update_distinguishes_absent_from_null() {
        let update: ProfileUpdate =
            serde_json::from_str(r#"{"display_name": null, "bio": "hi"}"#).unwrap();
        assert_eq!(update.display_name, Some(None));
        assert_eq!(update.avatar_url, None);
        assert_eq!(update.bio, Some(Some("hi".into())));
    }
}
