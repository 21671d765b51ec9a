//! Analytics: events (sent, delivered, read, files, calls, group changes, registrations,
//! logins) with no content and nothing a client encrypted, counted in Prometheus at once and
//! written to `message_events` in batches by a background writer, off the request path. The
//! daily aggregates are maintained by the `analytics` job ([`crate::jobs`]).
//!
//! Recording never waits: an event goes into a bounded queue; when the queue is full the event
//! is dropped and counted (`zynk_analytics_dropped_total`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use zynk_backends::model::AnalyticsEvent;
use zynk_backends::sql::AnyStore;
use zynk_proto::UserId;

use crate::config::AnalyticsConfig;

/// Most events written in one batch.
const BATCH: usize = 1000;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A message was stored (its sender).
    MessageSent,
    /// A participant's delivered cursor moved (that participant).
    MessageDelivered,
    /// A participant's read cursor moved (that participant).
    MessageRead,
    /// A file upload was completed (its uploader).
    FileUploaded,
    /// A call was started (its caller).
    CallStarted,
    /// A group was created, changed, or its membership changed (the actor).
    GroupChanged,
    /// An account was registered.
    UserRegistered,
    /// A device logged in.
    UserLogin,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 8] = [
        EventKind::MessageSent,
        EventKind::MessageDelivered,
        EventKind::MessageRead,
        EventKind::FileUploaded,
        EventKind::CallStarted,
        EventKind::GroupChanged,
        EventKind::UserRegistered,
        EventKind::UserLogin,
    ];

    /// The stored `event_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageSent => "message_sent",
            EventKind::MessageDelivered => "message_delivered",
            EventKind::MessageRead => "message_read",
            EventKind::FileUploaded => "file_uploaded",
            EventKind::CallStarted => "call_started",
            EventKind::GroupChanged => "group_changed",
            EventKind::UserRegistered => "user_registered",
            EventKind::UserLogin => "user_login",
        }
    }
}

enum Command {
    Event(AnalyticsEvent),
    Flush(oneshot::Sender<()>),
}

/// The recorder handed to the services; cheap to clone. Disabled, it does nothing.
#[derive(Clone)]
pub struct Analytics {
    queue: Option<mpsc::Sender<Command>>,
}

impl Analytics {
    /// A recorder that records nothing (`analytics.enabled = false`).
    pub fn disabled() -> Self {
        Self { queue: None }
    }

    /// Starts the writer over `store` (when enabled); returns the recorder and the writer task.
    pub fn start(
        config: &AnalyticsConfig,
        store: Arc<dyn AnyStore>,
    ) -> (Self, Option<JoinHandle<()>>) {
        if !config.enabled {
            return (Self::disabled(), None);
        }
        let (tx, rx) = mpsc::channel(config.buffer_capacity);
        let interval = Duration::from_millis(config.flush_interval_ms);
        let task = tokio::spawn(write_events(rx, store, interval));
        (Self { queue: Some(tx) }, Some(task))
    }

    /// Whether events are recorded.
    pub fn enabled(&self) -> bool {
        self.queue.is_some()
    }

    /// Records an event for `user_id` now, without waiting.
    pub fn record(&self, user_id: UserId, kind: EventKind) {
        self.record_with(user_id, kind, None);
    }

    /// Records an event with plain, non-secret details.
    pub fn record_with(
        &self,
        user_id: UserId,
        kind: EventKind,
        metadata: Option<serde_json::Value>,
    ) {
        let Some(queue) = &self.queue else { return };
        metrics::counter!("zynk_analytics_events_total", "event_type" => kind.as_str())
            .increment(1);
        let event = AnalyticsEvent {
            time: zynk_backends::now(),
            user_id,
            event_type: kind.as_str(),
            metadata,
        };
        if queue.try_send(Command::Event(event)).is_err() {
            metrics::counter!("zynk_analytics_dropped_total").increment(1);
        }
    }

    /// Writes every event recorded so far (at shutdown, and in tests).
    pub async fn flush(&self) {
        let Some(queue) = &self.queue else { return };
        let (tx, rx) = oneshot::channel();
        if queue.send(Command::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// The writer: collects events and writes them every `interval`, or as soon as a batch is full.
async fn write_events(
    mut rx: mpsc::Receiver<Command>,
    store: Arc<dyn AnyStore>,
    interval: Duration,
) {
    let mut buffer: Vec<AnalyticsEvent> = Vec::with_capacity(BATCH);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            command = rx.recv() => match command {
                Some(Command::Event(event)) => {
                    buffer.push(event);
                    if buffer.len() >= BATCH {
                        write(&*store, &mut buffer).await;
                    }
                }
                Some(Command::Flush(done)) => {
                    while let Ok(command) = rx.try_recv() {
                        match command {
                            Command::Event(event) => buffer.push(event),
                            Command::Flush(other) => { let _ = other.send(()); }
                        }
                    }
                    write(&*store, &mut buffer).await;
                    let _ = done.send(());
                }
                None => {
                    write(&*store, &mut buffer).await;
                    return;
                }
            },
            _ = tick.tick() => write(&*store, &mut buffer).await,
        }
    }
}

async fn write(store: &dyn AnyStore, buffer: &mut Vec<AnalyticsEvent>) {
    if buffer.is_empty() {
        return;
    }
    match store.record_events(buffer).await {
        Ok(n) => {
            metrics::counter!("zynk_analytics_events_written_total").increment(n);
            buffer.clear();
        }
        Err(e) => {
            metrics::counter!("zynk_analytics_write_failures_total").increment(1);
            tracing::error!(error = %e, events = buffer.len(), "writing analytics events failed");
            // Kept for the next attempt, up to ten batches; older events beyond that are lost.
            if buffer.len() > 10 * BATCH {
                let excess = buffer.len() - 10 * BATCH;
                metrics::counter!("zynk_analytics_dropped_total").increment(excess as u64);
                buffer.drain(..excess);
            }
        }
    }
}
