//! Zynk client SDK.
//!
//! - [`crypto`]: the end-to-end encryption core (Olm and Megolm via
//!   vodozemac, identity keys, trust store, encrypted state); sans-I/O.
//! - [`client`]: the networking and messaging layer: typed HTTP client,
//!   WebSocket events, password-derived credentials, identity backup, and
//!   the high-level [`Messenger`].
//!
//! Builds natively and for `wasm32-unknown-unknown`.

#![warn(missing_docs)]

pub mod client;
pub mod crypto;

pub use client::{ClientError, Messenger};
pub use crypto::{CryptoError, CryptoMachine, IdentityKey, UserIdentity};
