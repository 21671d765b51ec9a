//! The message pipeline behind [`MessageService`]: the group-commit writers, the fan-out task of
//! each writer (committed messages published in storage order), push wake-ups and the batched
//! acknowledgement flusher.

use super::*;

/// Starts a group-commit writer on a thread of its own. A writer goes back and forth with the
/// database several times per batch; on the shared runtime each of those steps would wait its
/// turn behind every connection's task, and the database would sit idle meanwhile. The writer
/// stops when every sender is gone.
pub(super) fn spawn_writer(
    index: usize,
    context: Arc<Context>,
    queue: mpsc::Receiver<Submission>,
    fan_out: mpsc::Sender<FanOutBatch>,
) {
    let shared = tokio::runtime::Handle::current();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::warn!(error = %err, "no thread of its own for a message writer");
            shared.spawn(run_writer(context, queue, fan_out, shared.clone()));
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name(format!("zynk-writer-{index}"))
        .spawn({
            let shared = shared.clone();
            move || runtime.block_on(run_writer(context, queue, fan_out, shared))
        });
    if let Err(err) = spawned {
        tracing::error!(error = %err, "cannot start a message writer thread");
    }
}

/// One group-commit writer: stores every waiting send in one transaction, then answers and
/// hands the new messages, in order, to its fan-out task. Follow-up work goes to the `shared`
/// runtime.
async fn run_writer(
    context: Arc<Context>,
    mut queue: mpsc::Receiver<Submission>,
    fan_out: mpsc::Sender<FanOutBatch>,
    shared: tokio::runtime::Handle,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (messages, rest): (Vec<NewMessage>, Vec<(Reply, FanOut)>) = batch
            .drain(..)
            .map(|s: Submission| (s.message, (s.reply, s.fan_out)))
            .unzip();
        metrics::counter!("zynk_message_batches_total").increment(1);
        match context
            .store
            .insert_messages(&messages, zynk_backends::now())
            .await
        {
            Ok(outcomes) => {
                let hashes: Vec<String> = outcomes
                    .iter()
                    .filter_map(|o| match o {
                        InsertOutcome::Created(record) if record.expires_at.is_none() => {
                            Some(record.content_hash.clone())
                        }
                        _ => None,
                    })
                    .collect();
                let mut created = Vec::with_capacity(outcomes.len());
                for ((reply, fan), outcome) in rest.into_iter().zip(outcomes) {
                    if let InsertOutcome::Created(record) = &outcome {
                        created.push((record.clone(), fan));
                    }
                    let _ = reply.send(Ok(outcome));
                }
                if !created.is_empty() && fan_out.send(created).await.is_err() {
                    tracing::error!("message fan-out stopped");
                }
                // The ledger cache's mirror of what awaits anchoring (data model 11.7), off the
                // send path.
                if !hashes.is_empty() {
                    let ephemeral = context.ephemeral.clone();
                    shared.spawn(async move {
                        if let Err(e) = ephemeral.chain_unanchored_push(&hashes).await {
                            tracing::warn!(error = %e, "ledger cache update failed");
                        }
                    });
                }
            }
            Err(err) => {
                let error = ApiError::from(err);
                for (reply, _) in rest {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}

/// Committed batches waiting per fan-out task before their writer waits.
pub(super) const FAN_OUT_QUEUE: usize = 64;

/// Publishes one writer's committed messages, batch after batch, in the order they were stored,
/// to the participants as they are after the commit (a group member removed meanwhile gets
/// nothing of what follows the removal), and queues push wake-ups.
pub(super) async fn run_fan_out(
    analytics: crate::services::analytics::Analytics,
    hub: Arc<Hub>,
    conversations: ConversationService,
    push: mpsc::Sender<(Arc<[UserId]>, DeviceId)>,
    mut batches: mpsc::Receiver<FanOutBatch>,
) {
    while let Some(batch) = batches.recv().await {
        let mut frames = Vec::with_capacity(batch.len());
        for (record, fan) in batch {
            metrics::counter!("zynk_messages_stored_total").increment(1);
            analytics.record_with(
                record.sender_id,
                crate::services::analytics::EventKind::MessageSent,
                Some(serde_json::json!({"message_type": record.message_type.as_str()})),
            );
            let message = to_wire(record);
            let participants = conversations
                .participants(message.conversation_id)
                .await
                .unwrap_or(fan.participants);
            // Best effort: a full queue drops the wake-up, never the message.
            let _ = push.try_send((
                wake_up_users(&participants, &fan.push_to),
                fan.sender_device,
            ));
            frames.push((user_targets(&participants), message, fan.origin));
        }
        hub.publish_messages(frames).await;
    }
}

impl MessageService {
    /// Queues content-free push wake-ups for these users' devices that are not connected
    /// anywhere (except `sender_device`); used for incoming calls. Never waits: when the queue
    /// is full the wake-up is dropped.
    pub fn wake_up(&self, users: Arc<[UserId]>, sender_device: DeviceId) {
        let _ = self.push.try_send((users, sender_device));
    }
}

/// The participants (as they are after the write) that get push wake-ups: those chosen at submit
/// (a message request wakes nobody) who are still participants (a removed member gets nothing).
fn wake_up_users(participants: &[UserId], push_to: &[UserId]) -> Arc<[UserId]> {
    participants
        .iter()
        .copied()
        .filter(|u| push_to.contains(u))
        .collect()
}

/// Sends content-free wake-ups to participants' devices that are not connected anywhere.
pub(super) async fn run_pusher(
    context: Arc<Context>,
    pusher: Option<Arc<dyn PushSender>>,
    mut queue: mpsc::Receiver<(Arc<[UserId]>, DeviceId)>,
) {
    let Some(pusher) = pusher else {
        // No push sender configured: drain so senders never wait.
        while queue.recv().await.is_some() {}
        return;
    };
    let mut last_woken: HashMap<DeviceId, Instant> = HashMap::new();
    while let Some((users, sender_device)) = queue.recv().await {
        let targets = match context.store.push_targets(&users).await {
            Ok(t) => t,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read push targets");
                continue;
            }
        };
        let candidates: Vec<(DeviceId, String)> = targets
            .into_iter()
            .filter(|(_, device, _)| *device != sender_device)
            .filter(|(_, device, _)| {
                last_woken
                    .get(device)
                    .is_none_or(|t| t.elapsed() >= PUSH_INTERVAL)
            })
            .map(|(_, device, token)| (device, token))
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let ids: Vec<DeviceId> = candidates.iter().map(|(d, _)| *d).collect();
        let online = context
            .ephemeral
            .devices_online(&ids)
            .await
            .unwrap_or_else(|_| vec![false; ids.len()]);
        for ((device, token), online) in candidates.into_iter().zip(online) {
            if online {
                continue;
            }
            last_woken.insert(device, Instant::now());
            match pusher.wake(device, &token).await {
                Ok(()) => metrics::counter!("zynk_push_wakeups_total").increment(1),
                Err(err) => {
                    tracing::warn!(device_id = %device, error = %err, "push wake-up failed")
                }
            }
        }
        if last_woken.len() > 100_000 {
            last_woken.retain(|_, t| t.elapsed() < PUSH_INTERVAL);
        }
    }
}

/// Writes coalesced delivery acknowledgements four times a second.
pub(super) async fn run_ack_flusher(service: MessageService) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        if Arc::strong_count(&service.acks) <= 1 {
            // Every other handle to the service is gone: the server stopped.
            return;
        }
        service.flush_acks().await;
    }
}
