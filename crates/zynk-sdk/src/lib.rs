//! Zynk client SDK. [`crypto`] holds the end-to-end encryption core (Olm and
//! Megolm via vodozemac, identity keys, trust store, encrypted state); it is
//! sans-I/O and builds natively and for `wasm32-unknown-unknown`.

#![warn(missing_docs)]

pub mod crypto;

pub use crypto::{CryptoError, CryptoMachine, IdentityKey, UserIdentity};
