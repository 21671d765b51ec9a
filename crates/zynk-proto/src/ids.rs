//! Typed identifiers: one type per kind of thing, so a device id cannot be passed where a user
//! id is meant.
//!
//! Each id is a UUID underneath and is serde-transparent (the JSON is the UUID string, exactly as
//! before these types existed). With the `sqlx` feature each id binds and decodes as its UUID on
//! SQLite and PostgreSQL; with `openapi` it is described as a `uuid`-formatted string.
//!
//! Ids are made explicitly: [`UserId::from_uuid`] at the edges where a bare UUID is parsed or
//! read, [`UserId::new_v7`] for new time-ordered ids. There is deliberately no `From<Uuid>`, so
//! converting a UUID into an id is always visible at the call site.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
        pub struct $name(Uuid);

        impl $name {
            /// The id with this UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The id whose UUID has this 128-bit value (fixtures and constants).
            pub const fn from_u128(value: u128) -> Self {
                Self(Uuid::from_u128(value))
            }

            /// The UUID underneath.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// A new time-ordered (UUIDv7) id.
            pub fn new_v7() -> Self {
                Self(Uuid::now_v7())
            }

            /// A new random (UUIDv4) id.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            /// The all-zero id (never names a stored thing).
            pub const fn nil() -> Self {
                Self(Uuid::nil())
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::from_str(s).map(Self)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

typed_id!(
    /// A user (account).
    UserId
);
typed_id!(
    /// One device of a user.
    DeviceId
);
typed_id!(
    /// A login session (one refresh-token family) of a device.
    SessionId
);
typed_id!(
    /// A conversation (1:1 or a group's).
    ConversationId
);
typed_id!(
    /// A message (chosen by the sending client; time-ordered by convention).
    MessageId
);
typed_id!(
    /// A group (1:1 with its conversation).
    GroupId
);
typed_id!(
    /// An encrypted file.
    FileId
);
typed_id!(
    /// A call.
    CallId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_is_the_bare_uuid() {
        let uuid = Uuid::now_v7();
        let id = UserId::from_uuid(uuid);
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            serde_json::to_string(&uuid).unwrap()
        );
        let back: UserId = serde_json::from_str(&format!("\"{uuid}\"")).unwrap();
        assert_eq!(back, id);
        assert_eq!(id.to_string(), uuid.to_string());
        assert_eq!(uuid.to_string().parse::<UserId>().unwrap(), id);
        assert_eq!(Uuid::from(id), uuid);
    }

    #[test]
    fn malformed_ids_are_refused() {
        assert!("not-a-uuid".parse::<DeviceId>().is_err());
        assert!(serde_json::from_str::<MessageId>("\"x\"").is_err());
        assert!(serde_json::from_str::<MessageId>("42").is_err());
    }
}
