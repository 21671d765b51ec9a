//! The real-time gateway: WebSocket connections ([`ws`]), the per-node connection registry and
//! cross-node fan-out ([`hub`]), and push wake-ups for devices that are not connected
//! ([`push`]).

pub mod hub;
pub mod push;
pub mod ws;

pub use hub::{Closing, Hub, Target};
