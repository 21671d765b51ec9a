//! Zynk wire types: the JSON bodies of the HTTP API, shared by the server and the clients.
//!
//! This crate holds data only (serde types and the error-code catalogue); it does no I/O and
//! builds for `wasm32-unknown-unknown`. With the `openapi` feature every type also derives
//! `utoipa::ToSchema`, which the server uses to generate `/api/v1/openapi.json`; with `sqlx` the
//! typed ids ([`ids`]) bind and decode as UUIDs in the server's store.

pub mod auth;
pub mod calls;
pub mod contacts;
pub mod conversations;
pub mod devices;
pub mod error;
pub mod files;
pub mod groups;
pub mod ids;
pub mod keys;
pub mod kinds;
pub mod ledger;
pub mod messages;
pub mod possession;
pub mod presence;
pub mod proximity;
pub mod sessions;
pub mod to_device;
pub mod trust;
pub mod users;
pub mod ws;

pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use ids::{CallId, ConversationId, DeviceId, FileId, GroupId, MessageId, SessionId, UserId};
pub use kinds::{ConversationKind, MessageType, PublicationStatus, RequestState, WhoCanMessage};
