//! The connection registry of one node and fan-out across nodes.
//!
//! Every event is serialised once and offered to each matching connection's bounded queue. A
//! connection whose queue is full is a slow consumer: it is dropped from the registry and told
//! to close, so it never slows the others. With Redis configured, every event is also published
//! on the `events` channel; other nodes deliver it to their own connections (each node ignores
//! its own echoes).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;
use zynk_backends::Ephemeral;
use zynk_proto::ws::ServerFrame;

/// A serialised frame, shared by every connection it is queued for.
pub type Frame = axum::extract::ws::Utf8Bytes;

/// The pub/sub channel events travel on between nodes.
const EVENTS_CHANNEL: &str = "events";

/// Who an event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// Every device of a user.
    User(Uuid),
    /// One device of a user.
    Device(Uuid, Uuid),
}

impl Target {
    fn user(&self) -> Uuid {
        match self {
            Target::User(u) | Target::Device(u, _) => *u,
        }
    }

    fn matches(&self, device_id: Uuid) -> bool {
        match self {
            Target::User(_) => true,
            Target::Device(_, d) => *d == device_id,
        }
    }
}

/// Connections to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Closing {
    /// Every connection of a user (account deleted).
    User(Uuid),
    /// Every connection of a device (device revoked).
    Device(Uuid, Uuid),
    /// Every connection opened with a session (logout, session revoked, token replay).
    Session(Uuid, Uuid),
}

impl Closing {
    fn user(&self) -> Uuid {
        match self {
            Closing::User(u) | Closing::Device(u, _) | Closing::Session(u, _) => *u,
        }
    }
}

/// An event between nodes.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    /// The publishing node.
    origin: Uuid,
    /// What to do.
    action: Action,
}

#[derive(Debug, Serialize, Deserialize)]
enum Action {
    /// Deliver a serialised frame to the targets.
    Deliver {
        /// Recipients.
        targets: Vec<Target>,
        /// The serialised frame.
        frame: String,
    },
    /// Close connections.
    Close(Closing),
}

/// One registered connection.
struct Connection {
    id: u64,
    device_id: Uuid,
    session_id: Uuid,
    queue: mpsc::Sender<Frame>,
    close: Arc<Notify>,
}

/// What a connection gets when it registers.
pub struct Registration {
    /// Its id in the registry.
    pub id: u64,
    /// Frames to send, already serialised.
    pub frames: mpsc::Receiver<Frame>,
    /// The sending side of the same queue, for answers produced off the connection's task.
    pub queue: mpsc::Sender<Frame>,
    /// Notified when the connection must close (slow consumer, revoked session).
    pub close: Arc<Notify>,
}

/// The registry of one node.
pub struct Hub {
    node_id: Uuid,
    next_id: AtomicU64,
    users: DashMap<Uuid, Vec<Connection>>,
    ephemeral: Arc<dyn Ephemeral>,
    relay: bool,
    queue_capacity: usize,
}

impl Hub {
    /// A registry; with `relay`, events also travel to other nodes through `ephemeral`.
    pub fn new(ephemeral: Arc<dyn Ephemeral>, relay: bool, queue_capacity: usize) -> Self {
        Self {
            node_id: Uuid::new_v4(),
            next_id: AtomicU64::new(1),
            users: DashMap::new(),
            ephemeral,
            relay,
            queue_capacity: queue_capacity.max(1),
        }
    }

    /// Registers a connection of `device_id` of `user_id`, opened with `session_id`.
    pub fn register(&self, user_id: Uuid, device_id: Uuid, session_id: Uuid) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (queue, frames) = mpsc::channel(self.queue_capacity);
        let close = Arc::new(Notify::new());
        let answers = queue.clone();
        self.users.entry(user_id).or_default().push(Connection {
            id,
            device_id,
            session_id,
            queue,
            close: close.clone(),
        });
        metrics::gauge!("zynk_ws_connections").increment(1.0);
        Registration {
            id,
            frames,
            queue: answers,
            close,
        }
    }

    /// Removes a connection.
    pub fn unregister(&self, user_id: Uuid, id: u64) {
        let mut removed = false;
        if let Some(mut conns) = self.users.get_mut(&user_id) {
            let before = conns.len();
            conns.retain(|c| c.id != id);
            removed = conns.len() < before;
        }
        self.users.remove_if(&user_id, |_, conns| conns.is_empty());
        if removed {
            metrics::gauge!("zynk_ws_connections").decrement(1.0);
        }
    }

    /// Closes connections on this node and, through the relay, on the others.
    pub async fn close(&self, closing: Closing) {
        self.close_local(closing);
        self.relay(Action::Close(closing)).await;
    }

    fn close_local(&self, closing: Closing) {
        if let Some(conns) = self.users.get(&closing.user()) {
            for c in conns.iter() {
                let matches = match closing {
                    Closing::User(_) => true,
                    Closing::Device(_, d) => c.device_id == d,
                    Closing::Session(_, s) => c.session_id == s,
                };
                if matches {
                    c.close.notify_one();
                }
            }
        }
    }

    async fn relay(&self, action: Action) {
        if !self.relay {
            return;
        }
        let envelope = Envelope {
            origin: self.node_id,
            action,
        };
        match serde_json::to_vec(&envelope) {
            Ok(bytes) => {
                if let Err(err) = self.ephemeral.publish(EVENTS_CHANNEL, &bytes).await {
                    tracing::warn!(error = %err, "cross-node publish failed");
                }
            }
            Err(err) => tracing::error!(error = %err, "cannot serialise an envelope"),
        }
    }

    /// Whether a device has a connection on this node.
    pub fn is_connected(&self, user_id: Uuid, device_id: Uuid) -> bool {
        self.users
            .get(&user_id)
            .is_some_and(|c| c.iter().any(|c| c.device_id == device_id))
    }

    /// Connections on this node.
    pub fn connection_count(&self) -> usize {
        self.users.iter().map(|e| e.len()).sum()
    }

    /// Sends `frame` to the targets on every node.
    pub async fn publish(&self, targets: &[Target], frame: &ServerFrame) {
        self.publish_except(targets, frame, None).await;
    }

    /// Sends `frame` to the targets on every node, except to the local connection `except`
    /// (the one a message came in on: it is answered separately).
    pub async fn publish_except(
        &self,
        targets: &[Target],
        frame: &ServerFrame,
        except: Option<u64>,
    ) {
        let text = match serde_json::to_string(frame) {
            Ok(text) => text,
            Err(err) => {
                tracing::error!(error = %err, "cannot serialise a frame");
                return;
            }
        };
        let frame = Frame::from(text);
        self.deliver_local(targets, frame.clone(), except);
        if self.relay {
            self.relay(Action::Deliver {
                targets: targets.to_vec(),
                frame: frame.as_str().to_owned(),
            })
            .await;
        }
    }

    /// Offers a serialised frame to the matching local connections; drops slow consumers.
    fn deliver_local(&self, targets: &[Target], frame: Frame, except: Option<u64>) {
        for target in targets {
            let mut slow = Vec::new();
            if let Some(conns) = self.users.get(&target.user()) {
                let matching = conns
                    .iter()
                    .filter(|c| target.matches(c.device_id) && Some(c.id) != except);
                for c in matching {
                    match c.queue.try_send(frame.clone()) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            c.close.notify_one();
                            slow.push(c.id);
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => slow.push(c.id),
                    }
                }
            }
            for id in slow {
                metrics::counter!("zynk_ws_slow_consumers_total").increment(1);
                self.unregister(target.user(), id);
            }
        }
    }

    /// Delivers events published by other nodes, until the subscription ends.
    pub async fn run_relay(self: Arc<Self>) {
        if !self.relay {
            return;
        }
        let mut events = match self.ephemeral.subscribe(EVENTS_CHANNEL).await {
            Ok(events) => events,
            Err(err) => {
                tracing::error!(error = %err, "cannot subscribe to cross-node events");
                return;
            }
        };
        while let Some(bytes) = events.next().await {
            match serde_json::from_slice::<Envelope>(&bytes) {
                Ok(envelope) if envelope.origin != self.node_id => match envelope.action {
                    Action::Deliver { targets, frame } => {
                        self.deliver_local(&targets, Frame::from(frame), None);
                    }
                    Action::Close(closing) => self.close_local(closing),
                },
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "malformed cross-node event"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn closing_matches_user_device_and_session() {
        let hub = hub(8);
        let (user, device, session) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let by_session = hub.register(user, device, session);
        let other = hub.register(user, Uuid::new_v4(), Uuid::new_v4());
        hub.close(Closing::Session(user, session)).await;
        by_session.close.notified().await;
        hub.close(Closing::Device(user, device)).await;
        hub.close(Closing::User(user)).await;
        other.close.notified().await;
    }

    use super::*;
    use zynk_backends::ephemeral::memory::MemoryEphemeral;

    fn hub(capacity: usize) -> Hub {
        Hub::new(Arc::new(MemoryEphemeral::default()), false, capacity)
    }

    #[tokio::test]
    async fn delivers_to_user_and_device_targets() {
        let hub = hub(8);
        let (user, d1, d2) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut a = hub.register(user, d1, Uuid::new_v4());
        let mut b = hub.register(user, d2, Uuid::new_v4());
        hub.publish(&[Target::User(user)], &ServerFrame::Pong).await;
        hub.publish(
            &[Target::Device(user, d2)],
            &ServerFrame::KeysLow {
                one_time_key_count: 1,
            },
        )
        .await;
        assert_eq!(
            a.frames.recv().await.unwrap().as_str(),
            r#"{"type":"pong"}"#
        );
        assert_eq!(
            b.frames.recv().await.unwrap().as_str(),
            r#"{"type":"pong"}"#
        );
        assert!(b.frames.recv().await.unwrap().contains("keys_low"));
        assert!(a.frames.try_recv().is_err());
        assert_eq!(hub.connection_count(), 2);
        hub.unregister(user, a.id);
        assert_eq!(hub.connection_count(), 1);
    }

    #[tokio::test]
    async fn publish_except_skips_only_that_connection() {
        let hub = hub(8);
        let (user, device) = (Uuid::new_v4(), Uuid::new_v4());
        let mut origin = hub.register(user, device, Uuid::new_v4());
        let mut same_device = hub.register(user, device, Uuid::new_v4());
        hub.publish_except(&[Target::User(user)], &ServerFrame::Pong, Some(origin.id))
            .await;
        assert_eq!(
            same_device.frames.recv().await.unwrap().as_str(),
            r#"{"type":"pong"}"#
        );
        assert!(origin.frames.try_recv().is_err());
    }

    #[tokio::test]
    async fn slow_consumer_is_dropped_without_blocking_others() {
        let hub = hub(2);
        let (slow_user, fast_user) = (Uuid::new_v4(), Uuid::new_v4());
        let slow = hub.register(slow_user, Uuid::new_v4(), Uuid::new_v4());
        let mut fast = hub.register(fast_user, Uuid::new_v4(), Uuid::new_v4());
        for _ in 0..3 {
            hub.publish(
                &[Target::User(slow_user), Target::User(fast_user)],
                &ServerFrame::Pong,
            )
            .await;
            assert!(fast.frames.recv().await.is_some());
        }
        // The third frame overflowed the slow queue: closed and unregistered.
        slow.close.notified().await;
        assert!(!hub.is_connected(slow_user, Uuid::nil()));
        assert_eq!(hub.connection_count(), 1);
    }
}
