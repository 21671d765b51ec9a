//! The realtime layer, below the services: this node's registry of device connections and the
//! fan-out of events to them, here and on other nodes ([`hub`]), the serialised frames they
//! carry ([`Frame`]), and push wake-ups for devices that are not connected ([`push`]).
//!
//! The layering is `http` (the WebSocket edge `http::ws` among the handlers) → `services` →
//! `realtime` → storage seams. Services publish events and close connections through the
//! [`Hub`]; the connection service (`services::connections`) registers and unregisters device
//! connections; the WebSocket edge only moves [`Frame`]s between a registration's queue and
//! its socket. Nothing here knows HTTP, WebSocket libraries or the durable store: frames are
//! plain bytes, and the relay to other nodes goes through the ephemeral store's
//! publish/subscribe.

mod frame;
pub mod hub;
mod order;
pub mod push;

pub use frame::Frame;
pub use hub::{Closing, ConnectionId, Hub, Registration, Target};
pub use push::{PushSender, WebhookPush};
