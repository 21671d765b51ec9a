//! Zynk's storage seams and their implementations.
//!
//! - [`store`]: durable relational data behind the [`Store`] traits, implemented once in
//!   [`sql`] and compiled for SQLite (the embedded default) and PostgreSQL.
//! - [`ledger`]: the records of the embedded ledger that [`store::LedgerStore`] reads and writes
//!   (its key layout and JSON encoding stay inside this crate).
//! - [`blob`]: encrypted file blobs behind [`blob::BlobStore`], in a local directory or on
//!   S3-compatible storage, with resumable uploads.
//! - [`ephemeral`]: short-lived state (session cache, rate limits, presence, typing, locations,
//!   group-member cache, cross-node publish/subscribe) behind [`Ephemeral`], implemented
//!   in-process and on Redis.
//!
//! Only this crate sees sqlx and redis; the services above it see the traits.

pub mod blob;
pub mod ephemeral;
pub mod error;
pub mod files;
pub mod job_lock;
pub mod ledger;
pub mod model;
pub mod sql;
pub mod store;

pub use ephemeral::Ephemeral;

pub use error::StoreError;
pub use store::Store;

/// The current time truncated to microseconds, the precision both engines store, so that a value
/// written and read back compares equal.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    to_micros(chrono::Utc::now())
}

/// `t` truncated to microseconds, the precision both engines store.
pub(crate) fn to_micros(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}
