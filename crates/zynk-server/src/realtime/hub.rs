//! The connection registry of one node and fan-out across nodes.
//!
//! Every event is serialised once into a [`Frame`] and offered to each matching connection's
//! bounded queue; the queues share the frame's bytes. A connection whose queue is full is a slow
//! consumer: it is dropped from the registry and told to close, so it never slows the others.
//! With Redis configured, every event is also published on the `events` channel; other nodes
//! deliver it to their own connections (each node ignores its own echoes).
//!
//! `message` frames go out through [`Hub::publish_messages`]: on every node, including the
//! ones they are relayed to, they pass through the conversation's lane ([`super::order`]), so
//! every connection gets one conversation's messages in `seq` order whichever node stored them.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;
use zynk_backends::Ephemeral;
use zynk_proto::messages::Message;
use zynk_proto::ws::ServerFrame;
use zynk_proto::{ConversationId, DeviceId, SessionId, UserId};

use super::Frame;
use super::order::Lanes;

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
        /// For a `message` frame: its conversation and `seq`, to deliver it in order.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        order: Option<(ConversationId, i64)>,
    },
    /// Close connections.
    Close(Closing),
}

/// A connection's id in its node's registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionId(u64);

/// One registered connection.
pub(super) struct Connection {
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

/// The connections of one node, by user.
pub(super) type Users = DashMap<UserId, Vec<Connection>>;

/// The registry of one node.
pub struct Hub {
    node_id: Uuid,
    next_id: AtomicU64,
    users: Arc<Users>,
    lanes: Lanes,
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
            users: Arc::default(),
            lanes: Lanes::default(),
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
        unregister(&self.users, user_id, id);
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
        deliver(&self.users, targets, &frame, except);
        if self.relay {
            self.relay(Action::Deliver {
                targets: Cow::Borrowed(targets),
                frame: Cow::Borrowed(frame.as_str()),
                order: None,
            })
            .await;
        }
    }

    /// Sends stored messages of conversations as `message` frames to their targets on every
    /// node, each except to its local connection `except` (the one it came in on). Every node
    /// delivers one conversation's messages in `seq` order (see [`super::order`]); give them
    /// in `seq` order per conversation, as stored, so none waits for another.
    pub async fn publish_messages(
        &self,
        messages: Vec<(Vec<Target>, Message, Option<ConnectionId>)>,
    ) {
        let mut relayed = Vec::new();
        for (targets, message, except) in messages {
            let order = (message.conversation_id, message.seq);
            let frame = match Frame::encode(&ServerFrame::Message { message }) {
                Ok(frame) => frame,
                Err(err) => {
                    tracing::error!(error = %err, "cannot serialise a frame");
                    continue;
                }
            };
            self.lanes
                .offer(&self.users, order.0, order.1, &targets, &frame, except);
            if self.relay {
                relayed.push((targets, frame, order));
            }
        }
        // Published one after another on one connection, so other nodes mostly get them in
        // order too; their lanes put right whatever does not.
        for (targets, frame, order) in &relayed {
            self.relay(Action::Deliver {
                targets: Cow::Borrowed(targets),
                frame: Cow::Borrowed(frame.as_str()),
                order: Some(*order),
            })
            .await;
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
                    Action::Deliver {
                        targets,
                        frame,
                        order,
                    } => {
                        let frame = Frame::from(frame.into_owned());
                        match order {
                            Some((conversation_id, seq)) => self.lanes.offer(
                                &self.users,
                                conversation_id,
                                seq,
                                &targets,
                                &frame,
                                None,
                            ),
                            None => deliver(&self.users, &targets, &frame, None),
                        }
                    }
                    Action::Close(closing) => self.close_local(closing),
                },
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "malformed cross-node event"),
            }
        }
    }
}

/// Offers a serialised frame to the matching connections in `users`; drops slow consumers.
pub(super) fn deliver(
    users: &Users,
    targets: &[Target],
    frame: &Frame,
    except: Option<ConnectionId>,
) {
    for target in targets {
        let user_id = target.user_id();
        let mut slow = Vec::new();
        if let Some(conns) = users.get(&user_id) {
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
            unregister(users, user_id, id);
        }
    }
}

/// Removes a connection from `users`.
fn unregister(users: &Users, user_id: UserId, id: ConnectionId) {
    let mut removed = false;
    if let Some(mut conns) = users.get_mut(&user_id) {
        let before = conns.len();
        conns.retain(|c| c.id != id);
        removed = conns.len() < before;
    }
    users.remove_if(&user_id, |_, conns| conns.is_empty());
    if removed {
        metrics::gauge!("zynk_ws_connections").decrement(1.0);
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

    fn numbered(seq: i64) -> Frame {
        Frame::from(format!("{{\"seq\":{seq}}}"))
    }

    /// The frames queued for `registration` so far.
    fn queued(registration: &mut Registration) -> Vec<String> {
        std::iter::from_fn(|| registration.frames.try_recv().ok())
            .map(|f| f.as_str().to_owned())
            .collect()
    }

    fn seqs(seqs: &[i64]) -> Vec<String> {
        seqs.iter()
            .map(|s| numbered(*s).as_str().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn a_conversations_frames_go_out_in_seq_order() {
        let hub = hub(64);
        let user_id = user();
        let mut connection = hub.register(user_id, device(), session());
        let targets = [Target::User { user_id }];
        let conversation = ConversationId::new_random();
        let offer = |seq| {
            hub.lanes.offer(
                &hub.users,
                conversation,
                seq,
                &targets,
                &numbered(seq),
                None,
            )
        };
        // A lane starts at the first frame it sees; frames beyond a gap wait for it.
        offer(5);
        offer(7);
        offer(8);
        assert_eq!(queued(&mut connection), seqs(&[5]));
        offer(6);
        assert_eq!(queued(&mut connection), seqs(&[6, 7, 8]));
        // A frame behind its lane is still delivered (never lost live).
        offer(4);
        assert_eq!(queued(&mut connection), seqs(&[4]));
        // A gap that never fills is skipped after the wait, in order.
        offer(11);
        offer(10);
        tokio::time::sleep(super::super::order::GAP_WAIT / 2).await;
        assert_eq!(queued(&mut connection), Vec::<String>::new());
        tokio::time::sleep(super::super::order::GAP_WAIT * 2).await;
        assert_eq!(queued(&mut connection), seqs(&[10, 11]));
        offer(12);
        assert_eq!(queued(&mut connection), seqs(&[12]));
        // Other conversations have lanes of their own.
        let other = ConversationId::new_random();
        hub.lanes
            .offer(&hub.users, other, 40, &targets, &numbered(40), None);
        assert_eq!(queued(&mut connection), seqs(&[40]));
        assert_eq!(hub.lanes.len(), 2);
    }

    fn message(conversation_id: ConversationId, seq: i64) -> Message {
        Message {
            message_id: zynk_proto::MessageId::new_v7(),
            conversation_id,
            seq,
            sender_id: user(),
            sender_device_id: None,
            encrypted_content: "AA==".into(),
            content_hash: String::new(),
            message_type: zynk_proto::MessageType::Text,
            metadata: Default::default(),
            created_at: chrono::Utc::now(),
            edited_at: None,
            deleted_at: None,
            expires_at: None,
        }
    }

    fn frame_seq(frame: &Frame) -> i64 {
        let value: serde_json::Value = serde_json::from_str(frame.as_str()).unwrap();
        value["message"]["seq"].as_i64().unwrap()
    }

    #[tokio::test]
    async fn relayed_messages_wait_for_earlier_local_ones_and_the_reverse() {
        let ephemeral: Arc<dyn Ephemeral> = Arc::new(MemoryEphemeral::default());
        let a = Arc::new(Hub::new(ephemeral.clone(), true, 64));
        let b = Arc::new(Hub::new(ephemeral, true, 64));
        for hub in [&a, &b] {
            tokio::spawn(hub.clone().run_relay());
        }
        // Let both subscribe.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let user_id = user();
        let mut on_b = b.register(user_id, device(), session());
        let mut on_a = a.register(user_id, device(), session());
        let targets = vec![Target::User { user_id }];
        let conversation = ConversationId::new_random();
        let publish = |hub: &Arc<Hub>, seq| {
            let hub = hub.clone();
            let targets = targets.clone();
            async move {
                hub.publish_messages(vec![(targets, message(conversation, seq), None)])
                    .await
            }
        };
        async fn next(connection: &mut Registration, count: usize) -> Vec<i64> {
            let mut got = Vec::new();
            while got.len() < count {
                let frame = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    connection.frames.recv(),
                )
                .await
                .expect("frames arrive")
                .unwrap();
                got.push(frame_seq(&frame));
            }
            got
        }
        // Both nodes see the conversation's first message.
        publish(&b, 1).await;
        assert_eq!(next(&mut on_b, 1).await, [1]);
        assert_eq!(next(&mut on_a, 1).await, [1]);
        // Seq 3 is published through node B before seq 2 (stored through node A) reached it.
        publish(&b, 3).await;
        publish(&a, 2).await;
        publish(&a, 4).await;
        assert_eq!(next(&mut on_b, 3).await, [2, 3, 4]);
        assert_eq!(next(&mut on_a, 3).await, [2, 3, 4]);
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
                order: None,
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
            Action::Deliver { targets, frame, .. } => {
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
