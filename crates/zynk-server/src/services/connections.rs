//! Device connections: what a realtime connection of a device means to the rest of Zynk.
//!
//! Opening one registers it with this node's [`Hub`] (so events reach it), marks the device
//! online in the ephemeral store for a few heartbeats (push wake-ups skip online devices) and
//! gives the `hello` frame with the device's one-time key stock. While it is open, each
//! heartbeat renews the online mark and every [`REVALIDATE_EVERY`] heartbeats the session is
//! checked again. Closing it unregisters it and clears the online mark once the device has no
//! connection left on this node. The transport (the WebSocket edge in `http::ws`) owns the
//! socket, the heartbeat timer and the frames' way to the client.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use zynk_proto::ws::ServerFrame;
use zynk_proto::{DeviceId, SessionId, UserId};

use super::auth::AuthContext;
use crate::context::Context;
use crate::realtime::{ConnectionId, Frame, Hub};

/// Every this many heartbeats a connection checks that its session still exists (a safety net
/// behind the immediate close that revocations send through the hub).
pub const REVALIDATE_EVERY: u32 = 10;
/// Heartbeats an online mark outlives its last renewal.
const ONLINE_HEARTBEATS: u32 = 3;

/// Device connections of this node.
#[derive(Clone)]
pub struct ConnectionService {
    context: Arc<Context>,
    hub: Arc<Hub>,
}

/// One open device connection, owned by its transport.
pub struct DeviceConnection {
    user_id: UserId,
    device_id: DeviceId,
    session_id: SessionId,
    id: ConnectionId,
    heartbeats: u32,
    /// Frames to send, already serialised, in order.
    pub frames: mpsc::Receiver<Frame>,
    /// Queues answers to this connection and tells it to close.
    pub outbox: Outbox,
}

impl DeviceConnection {
    /// Its id in this node's hub (a send that came in on it is not echoed back to it).
    pub fn id(&self) -> ConnectionId {
        self.id
    }
}

/// A handle on a connection's queue, for answers produced off the connection's own task.
#[derive(Clone)]
pub struct Outbox {
    queue: mpsc::Sender<Frame>,
    close: Arc<Notify>,
}

impl Outbox {
    /// Queues a frame behind those already waiting. A full queue means a slow consumer: the
    /// connection is told to close instead.
    pub fn send(&self, frame: &ServerFrame) {
        match Frame::encode(frame) {
            Ok(frame) => {
                if self.queue.try_send(frame).is_err() {
                    self.close.notify_one();
                }
            }
            Err(err) => tracing::error!(error = %err, "cannot serialise a frame"),
        }
    }

    /// Resolves when the connection must close: a slow consumer, or its session, device or
    /// account ended (on any node).
    pub async fn closing(&self) {
        self.close.notified().await;
    }
}

impl ConnectionService {
    /// A service over the shared context and this node's hub.
    pub fn new(context: Arc<Context>, hub: Arc<Hub>) -> Self {
        Self { context, hub }
    }

    /// The interval at which connections are expected to show signs of life and at which
    /// [`ConnectionService::heartbeat`] is called.
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs(self.context.config.websocket.heartbeat_secs)
    }

    fn online_ttl(&self) -> Duration {
        self.heartbeat_interval() * ONLINE_HEARTBEATS
    }

    /// The WebSockets `caller`'s device holds open on this node.
    pub fn device_sockets(&self, caller: &AuthContext) -> usize {
        self.hub
            .device_connection_count(caller.user_id, caller.device_id)
    }

    /// Opens a connection of the caller's device: registers it, marks the device online and
    /// returns it with the `hello` frame to send first. Failures of the online mark or of
    /// reading the key stock are not fatal (the mark is renewed at the next heartbeat; the
    /// stock then reads 0).
    pub async fn open(&self, caller: &AuthContext) -> (DeviceConnection, ServerFrame) {
        let user_id = caller.user_id;
        let device_id = caller.device_id;
        let session_id = caller.session_id;
        let registration = self.hub.register(user_id, device_id, session_id);
        self.mark_online(device_id).await;
        let one_time_key_count = match self.context.store.key_stock(device_id).await {
            Ok(stock) => stock.one_time_keys,
            Err(err) => {
                tracing::debug!(error = %err, "cannot read the key stock for hello");
                0
            }
        };
        let hello = ServerFrame::Hello {
            user_id,
            device_id,
            one_time_key_count,
            heartbeat_secs: self.heartbeat_interval().as_secs(),
        };
        let connection = DeviceConnection {
            user_id,
            device_id,
            session_id,
            id: registration.id,
            heartbeats: 0,
            frames: registration.frames,
            outbox: Outbox {
                queue: registration.queue,
                close: registration.close,
            },
        };
        (connection, hello)
    }

    /// One heartbeat of an open connection: renews the device's online mark and, every
    /// [`REVALIDATE_EVERY`] heartbeats, checks that the session still exists. `false` when the
    /// session is gone and the connection must close. A store that cannot be reached does not
    /// close it (the revocation itself closes connections through the hub).
    pub async fn heartbeat(&self, connection: &mut DeviceConnection) -> bool {
        self.mark_online(connection.device_id).await;
        connection.heartbeats += 1;
        if !connection.heartbeats.is_multiple_of(REVALIDATE_EVERY) {
            return true;
        }
        !matches!(
            self.context
                .store
                .session_exists(connection.session_id)
                .await,
            Ok(false)
        )
    }

    /// Closes a connection: unregisters it and, when it was the device's last on this node,
    /// clears the device's online mark.
    pub async fn close(&self, connection: DeviceConnection) {
        self.hub.unregister(connection.user_id, connection.id);
        if !self
            .hub
            .is_connected(connection.user_id, connection.device_id)
            && let Err(err) = self
                .context
                .ephemeral
                .device_offline(connection.device_id)
                .await
        {
            tracing::debug!(error = %err, "cannot clear a device's online mark");
        }
    }

    async fn mark_online(&self, device_id: DeviceId) {
        if let Err(err) = self
            .context
            .ephemeral
            .device_online(device_id, self.online_ttl())
            .await
        {
            tracing::debug!(error = %err, "cannot mark a device online");
        }
    }
}
