//! Background jobs: message-partition upkeep (daily) and purging expired sessions (hourly).
//! Each job is idempotent, so several nodes may run it at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::services::Context;

/// How often partitions are checked: daily is ample, they are made three months ahead.
const PARTITION_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// How often expired sessions are purged.
const SESSION_PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// The running jobs; dropping or [`JobHandles::stop`] aborts them.
pub struct JobHandles(Vec<JoinHandle<()>>);

impl JobHandles {
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

/// Starts every job.
pub fn spawn_all(context: Arc<Context>) -> JobHandles {
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
    let sessions = every(SESSION_PURGE_INTERVAL, move || {
        let context = context.clone();
        async move {
            match context
                .store
                .purge_expired_sessions(zynk_backends::now())
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "expired sessions purged"),
                Err(e) => tracing::error!(error = %e, "session purge failed"),
            }
        }
    });
    JobHandles(vec![partitions, sessions])
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
