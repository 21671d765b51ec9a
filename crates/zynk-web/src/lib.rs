//! The Zynk SDK for browsers: [`zynk_sdk::Messenger`] compiled to WebAssembly and exposed to
//! JavaScript with wasm-bindgen (the `Client` class of `web/src/wasm/zynk_web.js`). All
//! cryptography (Olm/Megolm, the password key derivation, the sealed device state, ledger
//! proofs) runs here, in Rust; the TypeScript UI in `web/` only renders, stores the sealed state
//! bytes in IndexedDB and drives WebRTC.
//!
//! Values cross the boundary as JSON strings (see [`views`]), so the shapes are the same as the
//! CLI's `--json` output and are tested natively.

pub mod views;

#[cfg(target_arch = "wasm32")]
mod bindings;
