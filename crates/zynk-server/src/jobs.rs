//! Background jobs: message-partition upkeep (daily), removing self-destructing messages when
//! their time comes (every second), and retention (hourly): expired sessions, to-device
//! messages undelivered for 30 days, messages soft-deleted 30 days ago, conversation messages
//! no recipient received within `retention.undelivered_message_days`; analytics (daily
//! aggregates, old raw events); and files (every five minutes: expired, deleted and abandoned
//! files; weekly: orphans).
//!
//! Every job runs through the [`JobRunner`]: under a per-job lock (a PostgreSQL advisory lock on
//! the scale engine, in-process on the embedded default), so that two nodes never run the same
//! job at once, and only when it is due (a job whose interval is a second or more does not run
//! again on another node before its interval has passed since the last run started). Each run's
//! start, duration and outcome go to Prometheus (`zynk_job_*`), to the log and to the
//! `job_runs` table, which `zynkd jobs` prints.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use zynk_backends::model::{JobOutcome, JobRun};
use zynk_proto::MessageId;

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
/// Most undelivered messages removed per statement.
const UNDELIVERED_BATCH: u32 = 1000;

/// How often partitions are checked: daily is ample, they are made three months ahead.
const PARTITION_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// Jobs that run at least this far apart are recorded (and checked for being due) on every run;
/// more frequent ones are recorded at most every [`FREQUENT_RECORD_INTERVAL`] (and at once when
/// they fail).
const RECORD_EVERY_RUN: Duration = Duration::from_secs(1);
/// How often the runs of a sub-second job are written to `job_runs`.
const FREQUENT_RECORD_INTERVAL: Duration = Duration::from_secs(10);

/// What a job run reports: `Ok` with an optional note of what it did, or why it failed.
pub type JobResult = Result<Option<String>, String>;

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

/// Runs jobs under their per-job locks and records each run.
#[derive(Clone)]
pub struct JobRunner {
    context: Arc<Context>,
    node: Arc<str>,
}

/// Runs of a frequent job not yet written to `job_runs`.
#[derive(Default)]
struct Unrecorded {
    runs: i64,
    failures: i64,
    since: Option<Instant>,
}

impl JobRunner {
    /// A runner for this node (named `HOST/PID/RANDOM` in the records).
    pub fn new(context: Arc<Context>) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
        let node = format!("{host}/{}/{tag}", std::process::id());
        Self {
            context,
            node: node.into(),
        }
    }

    /// This node's name in the records.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Runs `job` now if no other runner holds its lock and it is due (its last recorded run,
    /// on any node, started at least nine tenths of `interval` ago); returns whether it ran.
    pub async fn run_once<F, Fut>(&self, name: &'static str, interval: Duration, job: F) -> bool
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = JobResult>,
    {
        let mut unrecorded = Unrecorded::default();
        self.run_locked(name, interval, job, &mut unrecorded).await
    }

    async fn run_locked<F, Fut>(
        &self,
        name: &'static str,
        interval: Duration,
        job: F,
        unrecorded: &mut Unrecorded,
    ) -> bool
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = JobResult>,
    {
        let store = &self.context.store;
        let lock = match store.try_lock_job(name).await {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                metrics::counter!("zynk_job_skipped_total", "job" => name, "reason" => "locked")
                    .increment(1);
                return false;
            }
            Err(e) => {
                metrics::counter!("zynk_job_skipped_total", "job" => name, "reason" => "lock_failed")
                    .increment(1);
                tracing::error!(job = name, error = %e, "cannot take the job lock");
                return false;
            }
        };
        let every_run = interval >= RECORD_EVERY_RUN;
        if every_run {
            match store.job_last_started(name).await {
                Ok(Some(last)) => {
                    let since = zynk_backends::now() - last;
                    let due = chrono::Duration::from_std(interval.mul_f64(0.9))
                        .unwrap_or(chrono::Duration::MAX);
                    if since >= chrono::Duration::zero() && since < due {
                        metrics::counter!("zynk_job_skipped_total", "job" => name, "reason" => "not_due")
                            .increment(1);
                        lock.release().await;
                        return false;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(job = name, error = %e, "cannot read the job's last run"),
            }
        }
        let started_at = zynk_backends::now();
        let clock = Instant::now();
        let result = job().await;
        let elapsed = clock.elapsed();
        let finished_at = zynk_backends::now();
        let (outcome, detail) = match &result {
            Ok(note) => (JobOutcome::Ok, note.clone()),
            Err(reason) => (JobOutcome::Failed, Some(reason.clone())),
        };
        metrics::counter!("zynk_job_runs_total", "job" => name, "outcome" => outcome.as_str())
            .increment(1);
        metrics::gauge!("zynk_job_last_run_timestamp_seconds", "job" => name)
            .set(finished_at.timestamp_millis() as f64 / 1000.0);
        metrics::gauge!("zynk_job_last_duration_seconds", "job" => name).set(elapsed.as_secs_f64());
        metrics::gauge!("zynk_job_last_success", "job" => name).set(if outcome == JobOutcome::Ok {
            1.0
        } else {
            0.0
        });
        let duration_ms = elapsed.as_millis() as u64;
        match (&result, every_run) {
            (Err(reason), _) => {
                tracing::error!(job = name, duration_ms, outcome = "failed", error = %reason, "job run")
            }
            (Ok(note), true) => tracing::info!(
                job = name,
                duration_ms,
                outcome = "ok",
                detail = note.as_deref().unwrap_or(""),
                "job run"
            ),
            (Ok(note), false) => tracing::debug!(
                job = name,
                duration_ms,
                outcome = "ok",
                detail = note.as_deref().unwrap_or(""),
                "job run"
            ),
        }
        unrecorded.runs += 1;
        if outcome == JobOutcome::Failed {
            unrecorded.failures += 1;
        }
        let record_now = every_run
            || outcome == JobOutcome::Failed
            || unrecorded
                .since
                .is_none_or(|since| since.elapsed() >= FREQUENT_RECORD_INTERVAL);
        if record_now {
            let run = JobRun {
                job: name.to_owned(),
                node: self.node.to_string(),
                started_at,
                finished_at,
                outcome,
                detail: detail.map(|d| d.chars().take(500).collect()),
                runs: unrecorded.runs,
                failures: unrecorded.failures,
            };
            match store.record_job_run(&run).await {
                Ok(()) => {
                    *unrecorded = Unrecorded {
                        since: Some(Instant::now()),
                        ..Unrecorded::default()
                    }
                }
                Err(e) => tracing::warn!(job = name, error = %e, "cannot record the job run"),
            }
        }
        lock.release().await;
        true
    }

    /// Runs `job` every `interval` (the first run at once) under the runner.
    pub fn every<F, Fut>(&self, name: &'static str, interval: Duration, job: F) -> JoinHandle<()>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = JobResult> + Send,
    {
        self.spawn(name, interval, false, job)
    }

    /// Like [`JobRunner::every`], but the first run comes after one interval.
    pub fn every_after<F, Fut>(
        &self,
        name: &'static str,
        interval: Duration,
        job: F,
    ) -> JoinHandle<()>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = JobResult> + Send,
    {
        self.spawn(name, interval, true, job)
    }

    fn spawn<F, Fut>(
        &self,
        name: &'static str,
        interval: Duration,
        delayed: bool,
        job: F,
    ) -> JoinHandle<()>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = JobResult> + Send,
    {
        let runner = self.clone();
        let job = Arc::new(job);
        let unrecorded = Arc::new(tokio::sync::Mutex::new(Unrecorded::default()));
        let tick = move || {
            let runner = runner.clone();
            let job = job.clone();
            let unrecorded = unrecorded.clone();
            async move {
                let mut unrecorded = unrecorded.lock().await;
                runner
                    .run_locked(name, interval, || job(), &mut unrecorded)
                    .await;
            }
        };
        if delayed {
            every_after(interval, tick)
        } else {
            every(interval, tick)
        }
    }
}

/// Removes expired messages and tells their participants; returns how many it removed.
pub async fn expire_messages(context: &Context, messages: &MessageService) -> usize {
    try_expire_messages(context, messages).await.unwrap_or(0)
}

async fn try_expire_messages(
    context: &Context,
    messages: &MessageService,
) -> Result<usize, String> {
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
                    return Ok(total);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "expiring messages failed");
                return Err(format!("expiring messages failed: {e}"));
            }
        }
    }
}

/// Removes conversation messages that no recipient's device received within
/// `retention.undelivered_message_days` (as of `now`) and tells their senders' devices
/// (`message_expired`, reason `undelivered`); returns how many it removed.
pub async fn expire_undelivered(
    context: &Context,
    messages: &MessageService,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, String> {
    let days = i64::from(context.config.retention.undelivered_message_days);
    let cutoff = now - chrono::Duration::days(days);
    let mut after = MessageId::from_uuid(uuid::Uuid::nil());
    let mut total = 0;
    loop {
        let gone = context
            .store
            .purge_undelivered_messages(cutoff, after, UNDELIVERED_BATCH)
            .await
            .map_err(|e| format!("removing undelivered messages failed: {e}"))?;
        total += gone.len();
        messages.announce_undelivered(&gone).await;
        metrics::counter!("zynk_messages_undelivered_expired_total").increment(gone.len() as u64);
        match gone.last() {
            Some(last) if gone.len() == UNDELIVERED_BATCH as usize => after = last.message_id,
            _ => break,
        }
    }
    if total > 0 {
        tracing::info!(removed = total, days, "undelivered messages removed");
    }
    Ok(total)
}

/// Brings the daily analytics aggregates up to date, then deletes raw events older than
/// `analytics.raw_days` (never ones not aggregated yet); returns a note of what it did.
pub async fn run_analytics(
    context: &Context,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, String> {
    let store = &context.store;
    let latest = store
        .rollup_analytics()
        .await
        .map_err(|e| format!("analytics rollup failed: {e}"))?;
    let Some(latest) = latest else {
        return Ok("no events".into());
    };
    let keep = chrono::Duration::days(i64::from(context.config.analytics.raw_days));
    let cutoff_day = (now - keep).date_naive().min(latest);
    let cutoff = cutoff_day.and_time(chrono::NaiveTime::MIN).and_utc();
    let purged = store
        .purge_events_before(cutoff)
        .await
        .map_err(|e| format!("analytics purge failed: {e}"))?;
    Ok(format!(
        "aggregated up to {latest}; {purged} raw events (or partitions) removed"
    ))
}

/// Runs the retention rules once.
pub async fn run_retention(context: &Context) {
    let _ = retention(context).await;
}

async fn retention(context: &Context) -> JobResult {
    let now = zynk_backends::now();
    let days = |d: u32| chrono::Duration::days(i64::from(d));
    let mut failures = Vec::new();
    let mut done = Vec::new();
    match context.store.purge_expired_sessions(now).await {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(purged = n, "expired sessions purged");
            done.push(format!("{n} sessions"));
        }
        Err(e) => {
            tracing::error!(error = %e, "session purge failed");
            failures.push(format!("session purge: {e}"));
        }
    }
    match context
        .store
        .purge_to_device_before(now - days(context.config.retention.to_device_days))
        .await
    {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(purged = n, "undelivered to-device messages purged");
            done.push(format!("{n} to-device messages"));
        }
        Err(e) => {
            tracing::error!(error = %e, "to-device purge failed");
            failures.push(format!("to-device purge: {e}"));
        }
    }
    match context
        .store
        .purge_deleted_messages(now - days(context.config.retention.deleted_message_days))
        .await
    {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(purged = n, "deleted messages purged");
            done.push(format!("{n} deleted messages"));
        }
        Err(e) => {
            tracing::error!(error = %e, "deleted-message purge failed");
            failures.push(format!("deleted-message purge: {e}"));
        }
    }
    if failures.is_empty() {
        Ok((!done.is_empty()).then(|| format!("purged {}", done.join(", "))))
    } else {
        Err(failures.join("; "))
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
    let runner = JobRunner::new(context.clone());
    let publishing = publisher.map(|publisher| {
        let interval = Duration::from_millis(context.config.evm.poll_interval_ms);
        runner.every("evm_publish", interval, move || {
            let publisher = publisher.clone();
            async move {
                match publisher.run_once().await {
                    Ok(run) if run == Default::default() => Ok(None),
                    Ok(run) => {
                        tracing::info!(
                            sent = run.sent,
                            confirmed = run.confirmed,
                            failed = run.failed,
                            "EVM registry publication"
                        );
                        Ok(Some(format!(
                            "{} sent, {} confirmed, {} failed",
                            run.sent, run.confirmed, run.failed
                        )))
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "EVM publication failed; retrying");
                        Err(format!("EVM publication failed: {e}"))
                    }
                }
            }
        })
    });
    let partitions = {
        let context = context.clone();
        runner.every("partitions", PARTITION_INTERVAL, move || {
            let context = context.clone();
            async move {
                match context.store.ensure_partitions().await {
                    Ok(0) => Ok(None),
                    Ok(n) => {
                        tracing::info!(created = n, "message partitions created");
                        Ok(Some(format!("{n} partitions created")))
                    }
                    Err(e) => Err(format!("partition upkeep failed: {e}")),
                }
            }
        })
    };
    let expiry = {
        let context = context.clone();
        let messages = messages.clone();
        let interval = Duration::from_millis(context.config.retention.expiry_interval_ms);
        runner.every("message_expiry", interval, move || {
            let context = context.clone();
            let messages = messages.clone();
            async move {
                let n = try_expire_messages(&context, &messages).await?;
                Ok((n > 0).then(|| format!("{n} expired messages removed")))
            }
        })
    };
    let checkpoint = {
        let context = context.clone();
        runner.every("checkpoint", CHECKPOINT_INTERVAL, move || {
            let context = context.clone();
            async move {
                context
                    .store
                    .checkpoint()
                    .await
                    .map(|()| None)
                    .map_err(|e| {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                        format!("WAL checkpoint failed: {e}")
                    })
            }
        })
    };
    let blocks = ledger.clone().map(|ledger| {
        runner.every("ledger_blocks", BLOCK_INTERVAL, move || {
            let ledger = ledger.clone();
            async move {
                match ledger.seal_pending().await {
                    Ok(0) => Ok(None),
                    Ok(n) => Ok(Some(format!("{n} blocks sealed"))),
                    Err(e) => Err(format!("sealing pending ledger transactions failed: {e}")),
                }
            }
        })
    });
    let anchoring = ledger.map(|ledger| {
        let interval = Duration::from_secs(context.config.anchor_interval_secs);
        runner.every_after("ledger_anchor", interval, move || {
            let ledger = ledger.clone();
            async move {
                match ledger.anchor_now().await {
                    Ok(sealed) if sealed.is_empty() => Ok(None),
                    Ok(sealed) => Ok(Some(format!("{} batches sealed", sealed.len()))),
                    Err(e) => Err(format!("anchoring failed: {e}")),
                }
            }
        })
    });
    let milestones = {
        let interval = Duration::from_secs(context.config.trust.milestone_interval_secs);
        runner.every("trust_milestones", interval, move || {
            let trust = trust.clone();
            async move {
                match trust.run_milestones().await {
                    Ok(0) => Ok(None),
                    Ok(n) => {
                        tracing::info!(changes = n, "trust milestones credited");
                        Ok(Some(format!("{n} changes")))
                    }
                    Err(e) => Err(format!("trust milestone job failed: {e}")),
                }
            }
        })
    };
    let backups = crate::backup::scheduled_interval(&context.config).map(|interval| {
        let config = context.config.clone();
        runner.every_after("backup", interval, move || {
            let config = config.clone();
            async move {
                crate::backup::run_scheduled(&config)
                    .await
                    .map(|path| Some(path.display().to_string()))
                    .map_err(|e| format!("scheduled backup failed: {e:#}"))
            }
        })
    });
    let files = spawn_file_jobs(&runner, &context);
    let undelivered = {
        let context = context.clone();
        let interval = Duration::from_secs(context.config.retention.interval_secs);
        runner.every("undelivered_messages", interval, move || {
            let context = context.clone();
            let messages = messages.clone();
            async move {
                let n = expire_undelivered(&context, &messages, zynk_backends::now()).await?;
                Ok((n > 0).then(|| format!("{n} undelivered messages removed")))
            }
        })
    };
    let analytics = context.config.analytics.enabled.then(|| {
        let context = context.clone();
        let interval = Duration::from_secs(context.config.analytics.interval_secs);
        runner.every("analytics", interval, move || {
            let context = context.clone();
            async move {
                run_analytics(&context, zynk_backends::now())
                    .await
                    .map(Some)
            }
        })
    });
    let interval = Duration::from_secs(context.config.retention.interval_secs);
    let retention = runner.every("retention", interval, move || {
        let context = context.clone();
        async move { retention(&context).await }
    });
    let mut handles = vec![
        partitions,
        expiry,
        checkpoint,
        retention,
        milestones,
        undelivered,
    ];
    handles.extend(anchoring);
    handles.extend(blocks);
    handles.extend(publishing);
    handles.extend(files);
    handles.extend(backups);
    handles.extend(analytics);
    JobHandles(handles)
}

/// Runs the file cleanup (expired, deleted and abandoned files) once and logs what it did.
pub async fn run_file_cleanup(files: &FileService) {
    let _ = file_cleanup(files).await;
}

async fn file_cleanup(files: &FileService) -> JobResult {
    match files.cleanup().await {
        Ok(run) if run == Default::default() => Ok(None),
        Ok(run) => {
            tracing::info!(
                expired = run.expired,
                deleted = run.deleted,
                abandoned = run.abandoned,
                "files removed"
            );
            Ok(Some(format!(
                "{} expired, {} deleted, {} abandoned files removed",
                run.expired, run.deleted, run.abandoned
            )))
        }
        Err(e) => {
            tracing::error!(error = %e, "file cleanup failed");
            Err(format!("file cleanup failed: {e}"))
        }
    }
}

/// The file jobs: cleanup every `files.cleanup_interval_secs`, the orphan check every
/// `files.orphan_interval_secs` (first after one interval).
fn spawn_file_jobs(runner: &JobRunner, context: &Arc<Context>) -> [JoinHandle<()>; 2] {
    let files = FileService::new(context.clone());
    let cleanup = {
        let files = files.clone();
        runner.every(
            "file_cleanup",
            Duration::from_secs(context.config.files.cleanup_interval_secs),
            move || {
                let files = files.clone();
                async move { file_cleanup(&files).await }
            },
        )
    };
    let orphans = runner.every_after(
        "file_orphans",
        Duration::from_secs(context.config.files.orphan_interval_secs),
        move || {
            let files = files.clone();
            async move {
                match files.remove_orphans().await {
                    Ok(run) if run == Default::default() => Ok(None),
                    Ok(run) => {
                        tracing::info!(
                            blobs = run.blobs,
                            rows = run.rows,
                            uploads = run.uploads,
                            "file orphans removed"
                        );
                        Ok(Some(format!(
                            "{} blobs, {} rows, {} uploads removed",
                            run.blobs, run.rows, run.uploads
                        )))
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "file orphan check failed");
                        Err(format!("file orphan check failed: {e}"))
                    }
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
