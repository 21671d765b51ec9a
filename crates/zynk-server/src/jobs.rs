//! Background jobs: message-partition upkeep (daily), removing self-destructing messages when
//! their time comes (every second), and retention (hourly): expired sessions, to-device
//! messages undelivered for 30 days, messages soft-deleted 30 days ago; and files (every five
//! minutes: expired, deleted and abandoned files; weekly: orphans). Each job is idempotent and
//! safe to run on several nodes at once (each row is deleted, and announced, by one node).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::context::Context;
use crate::services::files::FileService;
use crate::services::ledger::LedgerService;
use crate::services::messages::MessageService;

/// How often pending ledger transactions (identity registrations) are sealed into a block.
const BLOCK_INTERVAL: Duration = Duration::from_secs(1);
/// How often SQLite's write-ahead log is checkpointed in the background: often enough that each
/// checkpoint is small (its flush to disk briefly delays the commits running beside it).
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);
/// Most expired messages removed per run.
const EXPIRY_BATCH: u32 = 1000;

/// How often partitions are checked: daily is ample, they are made three months ahead.
const PARTITION_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// The running jobs; dropping or [`JobHandles::stop`] aborts them.
pub struct JobHandles(Vec<JoinHandle<()>>);

impl JobHandles {
    /// Adds a task to stop with the jobs.
    pub fn push(&mut self, handle: JoinHandle<()>) {
        self.0.push(handle);
    }

    /// Stops every job.
    pub fn stop(&self) {
        for handle in &self.0 {
            handle.abort();
        }
    }
}

impl Drop for JobHandles {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Removes expired messages and tells their participants; returns how many it removed.
pub async fn expire_messages(context: &Context, messages: &MessageService) -> usize {
    let mut total = 0;
    loop {
        match context
            .store
            .purge_expired_messages(zynk_backends::now(), EXPIRY_BATCH)
            .await
        {
            Ok(expired) => {
                total += expired.len();
                let ids: Vec<_> = expired
                    .iter()
                    .map(|e| (e.conversation_id, e.message_id))
                    .collect();
                messages.announce_expired(&ids).await;
                if expired.len() < EXPIRY_BATCH as usize {
                    return total;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "expiring messages failed");
                return total;
            }
        }
    }
}

/// Runs the retention rules once.
pub async fn run_retention(context: &Context) {
    let now = zynk_backends::now();
    let days = |d: u32| chrono::Duration::days(i64::from(d));
    match context.store.purge_expired_sessions(now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(purged = n, "expired sessions purged"),
        Err(e) => tracing::error!(error = %e, "session purge failed"),
    }
    match context
        .store
        .purge_to_device_before(now - days(context.config.retention.to_device_days))
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(purged = n, "undelivered to-device messages purged"),
        Err(e) => tracing::error!(error = %e, "to-device purge failed"),
    }
    match context
        .store
        .purge_deleted_messages(now - days(context.config.retention.deleted_message_days))
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(purged = n, "deleted messages purged"),
        Err(e) => tracing::error!(error = %e, "deleted-message purge failed"),
    }
}

/// Starts every job.
pub fn spawn_all(
    context: Arc<Context>,
    messages: MessageService,
    ledger: Option<LedgerService>,
    trust: crate::services::trust::TrustService,
    publisher: Option<crate::services::evm::EvmPublisher>,
) -> JobHandles {
    let publishing = publisher.map(|publisher| {
        let interval = Duration::from_millis(context.config.evm.poll_interval_ms);
        every(interval, move || {
            let publisher = publisher.clone();
            async move {
                match publisher.run_once().await {
                    Ok(run) if run == Default::default() => {}
                    Ok(run) => tracing::info!(
                        sent = run.sent,
                        confirmed = run.confirmed,
                        failed = run.failed,
                        "EVM registry publication"
                    ),
                    Err(e) => tracing::error!(error = %e, "EVM publication failed; retrying"),
                }
            }
        })
    });
    let partitions = {
        let context = context.clone();
        every(PARTITION_INTERVAL, move || {
            let context = context.clone();
            async move {
                match context.store.ensure_partitions().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(created = n, "message partitions created"),
                    Err(e) => tracing::error!(error = %e, "partition upkeep failed"),
                }
            }
        })
    };
    let expiry = {
        let context = context.clone();
        let interval = Duration::from_millis(context.config.retention.expiry_interval_ms);
        every(interval, move || {
            let context = context.clone();
            let messages = messages.clone();
            async move {
                expire_messages(&context, &messages).await;
            }
        })
    };
    let checkpoint = {
        let context = context.clone();
        every(CHECKPOINT_INTERVAL, move || {
            let context = context.clone();
            async move {
                if let Err(e) = context.store.checkpoint().await {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        })
    };
    let blocks = ledger.clone().map(|ledger| {
        every(BLOCK_INTERVAL, move || {
            let ledger = ledger.clone();
            async move {
                if let Err(e) = ledger.seal_pending().await {
                    tracing::error!(error = %e, "sealing pending ledger transactions failed");
                }
            }
        })
    });
    let anchoring = ledger.map(|ledger| {
        let interval = Duration::from_secs(context.config.anchor_interval_secs);
        every_after(interval, move || {
            let ledger = ledger.clone();
            async move {
                if let Err(e) = ledger.anchor_now().await {
                    tracing::error!(error = %e, "anchoring failed");
                }
            }
        })
    });
    let milestones = {
        let interval = Duration::from_secs(context.config.trust.milestone_interval_secs);
        every(interval, move || {
            let trust = trust.clone();
            async move {
                match trust.run_milestones().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(changes = n, "trust milestones credited"),
                    Err(e) => tracing::error!(error = %e, "trust milestone job failed"),
                }
            }
        })
    };
    let files = spawn_file_jobs(&context);
    let backups = crate::backup::spawn_scheduled(&context.config);
    let interval = Duration::from_secs(context.config.retention.interval_secs);
    let retention = every(interval, move || {
        let context = context.clone();
        async move { run_retention(&context).await }
    });
    let mut handles = vec![partitions, expiry, checkpoint, retention, milestones];
    handles.extend(anchoring);
    handles.extend(blocks);
    handles.extend(publishing);
    handles.extend(files);
    handles.extend(backups);
    JobHandles(handles)
}

/// Runs the file cleanup (expired, deleted and abandoned files) once and logs what it did.
pub async fn run_file_cleanup(files: &FileService) {
    match files.cleanup().await {
        Ok(run) if run == Default::default() => {}
        Ok(run) => tracing::info!(
            expired = run.expired,
            deleted = run.deleted,
            abandoned = run.abandoned,
            "files removed"
        ),
        Err(e) => tracing::error!(error = %e, "file cleanup failed"),
    }
}

/// The file jobs: cleanup every `files.cleanup_interval_secs`, the orphan check every
/// `files.orphan_interval_secs` (first after one interval). Both are idempotent on several nodes.
fn spawn_file_jobs(context: &Arc<Context>) -> [JoinHandle<()>; 2] {
    let files = FileService::new(context.clone());
    let cleanup = {
        let files = files.clone();
        every(
            Duration::from_secs(context.config.files.cleanup_interval_secs),
            move || {
                let files = files.clone();
                async move { run_file_cleanup(&files).await }
            },
        )
    };
    let orphans = every_after(
        Duration::from_secs(context.config.files.orphan_interval_secs),
        move || {
            let files = files.clone();
            async move {
                match files.remove_orphans().await {
                    Ok(run) if run == Default::default() => {}
                    Ok(run) => tracing::info!(
                        blobs = run.blobs,
                        rows = run.rows,
                        uploads = run.uploads,
                        "file orphans removed"
                    ),
                    Err(e) => tracing::error!(error = %e, "file orphan check failed"),
                }
            }
        },
    );
    [cleanup, orphans]
}

/// Like [`every`], but the first run comes after one interval (a batch should span it).
fn every_after<F, Fut>(interval: Duration, job: F) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        tokio::time::sleep(interval).await;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            job().await;
        }
    })
}

fn every<F, Fut>(interval: Duration, job: F) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            job().await;
        }
    })
}
