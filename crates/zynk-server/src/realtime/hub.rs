//! The connection registry of one node and fan-out across nodes.
//!
//! Every event is serialised once into a [`Frame`] and offered to each matching connection's
//! bounded queue; the queues share the frame's bytes. A connection whose queue is full is a slow
//! consumer: it is dropped from the registry and told to close, so it never slows the others.
//! With Redis configured, every event is also published on the `events` channel; other nodes
//! deliver it to their own connections (each node ignores its own echoes).

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;
use zynk_backends::Ephemeral;
use zynk_proto::ws::ServerFrame;
use zynk_proto::{DeviceId, SessionId, UserId};

use super::Frame;

/// The pub/sub channel events travel on between nodes.
const EVENTS_CHANNEL: &str = "events";

/// Who an event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "TargetWire", into = "TargetWire")]
pub enum Target {
    /// Every device of a user.
    User {
        /// The user.
        user_id: UserId,
    },
    /// One device of a user.
    Device {
        /// The device's owner.
        user_id: UserId,
        /// The device.
        device_id: DeviceId,
    },
}

impl Target {
    fn user_id(&self) -> UserId {
        match self {
            Target::User { user_id } | Target::Device { user_id, .. } => *user_id,
        }
    }

    fn matches(&self, connection: &Connection) -> bool {
        match self {
            Target::User { .. } => true,
            Target::Device { device_id, .. } => connection.device_id == *device_id,
        }
    }
}

/// Connections to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ClosingWire", into = "ClosingWire")]
pub enum Closing {
    /// Every connection of a user (account deleted).
    User {
        /// The user.
        user_id: UserId,
    },
    /// Every connection of a device (device revoked).
    Device {
        /// The device's owner.
        user_id: UserId,
        /// The device.
        device_id: DeviceId,
    },
    /// Every connection opened with a session (logout, session revoked, token replay).
    Session {
        /// The session's owner.
        user_id: UserId,
        /// The session.
        session_id: SessionId,
    },
}

impl Closing {
    fn user_id(&self) -> UserId {
        match self {
            Closing::User { user_id }
            | Closing::Device { user_id, .. }
            | Closing::Session { user_id, .. } => *user_id,
        }
    }

    fn matches(&self, connection: &Connection) -> bool {
        match self {
            Closing::User { .. } => true,
            Closing::Device { device_id, .. } => connection.device_id == *device_id,
            Closing::Session { session_id, .. } => connection.session_id == *session_id,
        }
    }
}

/// [`Target`] as it travels between nodes: `{"User": id}` or `{"Device": [user, device]}`.
#[derive(Clone, Copy, Serialize, Deserialize)]
enum TargetWire {
    User(UserId),
    Device(UserId, DeviceId),
}

impl From<TargetWire> for Target {
    fn from(wire: TargetWire) -> Self {
        match wire {
            TargetWire::User(user_id) => Target::User { user_id },
            TargetWire::Device(user_id, device_id) => Target::Device { user_id, device_id },
        }
    }
}

impl From<Target> for TargetWire {
    fn from(target: Target) -> Self {
        match target {
            Target::User { user_id } => TargetWire::User(user_id),
            Target::Device { user_id, device_id } => TargetWire::Device(user_id, device_id),
        }
    }
}

/// [`Closing`] as it travels between nodes: `{"User": id}`, `{"Device": [user, device]}` or
/// `{"Session": [user, session]}`.
#[derive(Clone, Copy, Serialize, Deserialize)]
enum ClosingWire {
    User(UserId),
    Device(UserId, DeviceId),
    Session(UserId, SessionId),
}

impl From<ClosingWire> for Closing {
    fn from(wire: ClosingWire) -> Self {
        match wire {
            ClosingWire::User(user_id) => Closing::User { user_id },
            ClosingWire::Device(user_id, device_id) => Closing::Device { user_id, device_id },
            ClosingWire::Session(user_id, session_id) => Closing::Session {
                user_id,
                session_id,
            },
        }
    }
}

impl From<Closing> for ClosingWire {
    fn from(closing: Closing) -> Self {
        match closing {
            Closing::User { user_id } => ClosingWire::User(user_id),
            Closing::Device { user_id, device_id } => ClosingWire::Device(user_id, device_id),
            Closing::Session {
                user_id,
                session_id,
            } => ClosingWire::Session(user_id, session_id),
        }
    }
}

/// An event between nodes. Borrowed when published, owned when received.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope<'a> {
    /// The publishing node.
    origin: Uuid,
    /// What to do.
    action: Action<'a>,
}

#[derive(Debug, Serialize, Deserialize)]
enum Action<'a> {
    /// Deliver a serialised frame to the targets.
    Deliver {
        /// Recipients.
        targets: Cow<'a, [Target]>,
        /// The serialised frame.
        frame: Cow<'a, str>,
    },
    /// Close connections.
    Close(Closing),
}

/// A connection's id in its node's registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionId(u64);

/// One registered connection.
struct Connection {
    id: ConnectionId,
    device_id: DeviceId,
    session_id: SessionId,
    queue: mpsc::Sender<Frame>,
    close: Arc<Notify>,
}

/// What a connection gets when it registers.
pub struct Registration {
    /// Its id in the registry.
    pub id: ConnectionId,
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
    users: DashMap<UserId, Vec<Connection>>,
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
    pub fn register(
        &self,
        user_id: UserId,
        device_id: DeviceId,
        session_id: SessionId,
    ) -> Registration {
        let id = ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed));
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
    pub fn unregister(&self, user_id: UserId, id: ConnectionId) {
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
        if let Some(conns) = self.users.get(&closing.user_id()) {
            for c in conns.iter().filter(|c| closing.matches(c)) {
                c.close.notify_one();
            }
        }
    }

    async fn relay(&self, action: Action<'_>) {
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
    pub fn is_connected(&self, user_id: UserId, device_id: DeviceId) -> bool {
        self.users
            .get(&user_id)
            .is_some_and(|c| c.iter().any(|c| c.device_id == device_id))
    }

    /// Connections of one device on this node.
    pub fn device_connection_count(&self, user_id: UserId, device_id: DeviceId) -> usize {
        self.users
            .get(&user_id)
            .map_or(0, |c| c.iter().filter(|c| c.device_id == device_id).count())
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
        except: Option<ConnectionId>,
    ) {
        let frame = match Frame::encode(frame) {
            Ok(frame) => frame,
            Err(err) => {
                tracing::error!(error = %err, "cannot serialise a frame");
                return;
            }
        };
        self.deliver_local(targets, &frame, except);
        if self.relay {
            self.relay(Action::Deliver {
                targets: Cow::Borrowed(targets),
                frame: Cow::Borrowed(frame.as_str()),
            })
            .await;
        }
    }

    /// Offers a serialised frame to the matching local connections; drops slow consumers.
    fn deliver_local(&self, targets: &[Target], frame: &Frame, except: Option<ConnectionId>) {
        for target in targets {
            let user_id = target.user_id();
            let mut slow = Vec::new();
            if let Some(conns) = self.users.get(&user_id) {
                let matching = conns
                    .iter()
                    .filter(|c| target.matches(c) && Some(c.id) != except);
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
                self.unregister(user_id, id);
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
                        self.deliver_local(&targets, &Frame::from(frame.into_owned()), None);
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
    use super::*;
    use zynk_backends::ephemeral::memory::MemoryEphemeral;

    fn hub(capacity: usize) -> Hub {
        Hub::new(Arc::new(MemoryEphemeral::default()), false, capacity)
    }

    fn user() -> UserId {
        UserId::new_random()
    }

    fn device() -> DeviceId {
        DeviceId::new_random()
    }

    fn session() -> SessionId {
        SessionId::new_random()
    }

    #[tokio::test]
    async fn closing_matches_user_device_and_session() {
        let hub = hub(8);
        let (user_id, device_id, session_id) = (user(), device(), session());
        let by_session = hub.register(user_id, device_id, session_id);
        let other = hub.register(user_id, device(), session());
        hub.close(Closing::Session {
            user_id,
            session_id,
        })
        .await;
        by_session.close.notified().await;
        hub.close(Closing::Device { user_id, device_id }).await;
        hub.close(Closing::User { user_id }).await;
        other.close.notified().await;
    }

    #[tokio::test]
    async fn delivers_to_user_and_device_targets() {
        let hub = hub(8);
        let (user_id, d1, d2) = (user(), device(), device());
        let mut a = hub.register(user_id, d1, session());
        let mut b = hub.register(user_id, d2, session());
        hub.publish(&[Target::User { user_id }], &ServerFrame::Pong)
            .await;
        hub.publish(
            &[Target::Device {
                user_id,
                device_id: d2,
            }],
            &ServerFrame::KeysLow {
                one_time_key_count: 1,
            },
        )
        .await;
        let to_a = a.frames.recv().await.unwrap();
        let to_b = b.frames.recv().await.unwrap();
        assert_eq!(to_a.as_str(), r#"{"type":"pong"}"#);
        assert_eq!(to_b.as_str(), r#"{"type":"pong"}"#);
        // Serialised once: both connections hold the same bytes.
        assert_eq!(to_a.as_bytes().as_ptr(), to_b.as_bytes().as_ptr());
        assert!(b.frames.recv().await.unwrap().as_str().contains("keys_low"));
        assert!(a.frames.try_recv().is_err());
        assert_eq!(hub.connection_count(), 2);
        hub.unregister(user_id, a.id);
        assert_eq!(hub.connection_count(), 1);
    }

    #[tokio::test]
    async fn publish_except_skips_only_that_connection() {
        let hub = hub(8);
        let (user_id, device_id) = (user(), device());
        let mut origin = hub.register(user_id, device_id, session());
        let mut same_device = hub.register(user_id, device_id, session());
        hub.publish_except(
            &[Target::User { user_id }],
            &ServerFrame::Pong,
            Some(origin.id),
        )
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
        let (slow_user, fast_user) = (user(), user());
        let slow_device = device();
        let slow = hub.register(slow_user, slow_device, session());
        let mut fast = hub.register(fast_user, device(), session());
        for _ in 0..3 {
            hub.publish(
                &[
                    Target::User { user_id: slow_user },
                    Target::User { user_id: fast_user },
                ],
                &ServerFrame::Pong,
            )
            .await;
            assert!(fast.frames.recv().await.is_some());
        }
        // The third frame overflowed the slow queue: closed and unregistered.
        slow.close.notified().await;
        assert!(!hub.is_connected(slow_user, slow_device));
        assert_eq!(hub.connection_count(), 1);
    }

    #[test]
    fn envelopes_keep_their_json_shape() {
        let (u, d, s) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let (user_id, device_id, session_id) = (
            UserId::from_uuid(u),
            DeviceId::from_uuid(d),
            SessionId::from_uuid(s),
        );
        let origin = Uuid::from_u128(9);
        let deliver = Envelope {
            origin,
            action: Action::Deliver {
                targets: Cow::Owned(vec![
                    Target::User { user_id },
                    Target::Device { user_id, device_id },
                ]),
                frame: Cow::Borrowed(r#"{"type":"pong"}"#),
            },
        };
        let json = serde_json::to_value(&deliver).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"origin": origin, "action": {"Deliver": {
                "targets": [{"User": u}, {"Device": [u, d]}],
                "frame": r#"{"type":"pong"}"#}}})
        );
        let back: Envelope = serde_json::from_value(json).unwrap();
        match back.action {
            Action::Deliver { targets, frame } => {
                assert_eq!(
                    targets.as_ref(),
                    [
                        Target::User { user_id },
                        Target::Device { user_id, device_id }
                    ]
                );
                assert_eq!(frame, r#"{"type":"pong"}"#);
            }
            Action::Close(_) => panic!("expected a delivery"),
        }
        for (closing, shape) in [
            (Closing::User { user_id }, serde_json::json!({"User": u})),
            (
                Closing::Device { user_id, device_id },
                serde_json::json!({"Device": [u, d]}),
            ),
            (
                Closing::Session {
                    user_id,
                    session_id,
                },
                serde_json::json!({"Session": [u, s]}),
            ),
        ] {
            let envelope = Envelope {
                origin,
                action: Action::Close(closing),
            };
            let json = serde_json::to_value(&envelope).unwrap();
            assert_eq!(json["action"]["Close"], shape);
            let back: Envelope = serde_json::from_value(json).unwrap();
            assert!(matches!(back.action, Action::Close(c) if c == closing));
        }
    }
}
