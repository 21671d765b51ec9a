//! Per-job locks, so that several nodes never run the same background job at once.
//!
//! On PostgreSQL a job's lock is a session-level advisory lock (`pg_try_advisory_lock`) taken on
//! one connection of the node's own, kept apart from the pool: a node that dies loses its
//! connection and with it its locks. On SQLite (the embedded default, one node) the lock is
//! in-process, keyed by the database file, so that two servers of one process on one database
//! (as in tests) also exclude each other.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use crate::error::StoreError;

/// Where a store's job locks live.
pub(crate) enum JobLocks {
    /// In this process, under this key (the database file).
    Local(String),
    /// PostgreSQL advisory locks on a dedicated connection.
    Postgres {
        options: Box<PgConnectOptions>,
        conn: tokio::sync::Mutex<Option<PgConnection>>,
        /// Keys this store holds (advisory locks are re-entrant within one session, so a
        /// second taker in this process is turned away here).
        held: Mutex<HashSet<i64>>,
    },
}

fn local_locks() -> &'static Mutex<HashSet<String>> {
    static LOCKS: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    LOCKS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// The advisory-lock key of a job: FNV-1a (64 bits) of `zynk.job.NAME`, stable across builds
/// and nodes.
pub fn advisory_key(job: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in b"zynk.job.".iter().chain(job.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

impl JobLocks {
    /// Locks for the PostgreSQL database of `options`.
    pub(crate) fn postgres(options: PgConnectOptions) -> Self {
        JobLocks::Postgres {
            options: Box::new(options.application_name("zynkd-jobs")),
            conn: tokio::sync::Mutex::new(None),
            held: Mutex::new(HashSet::new()),
        }
    }

    /// Takes `job`'s lock if no one holds it.
    pub(crate) async fn try_lock(
        self: &Arc<Self>,
        job: &str,
    ) -> Result<Option<JobLock>, StoreError> {
        match &**self {
            JobLocks::Local(key) => {
                let name = format!("{key}\u{0}{job}");
                let mut held = local_locks().lock().unwrap_or_else(|e| e.into_inner());
                if !held.insert(name.clone()) {
                    return Ok(None);
                }
                Ok(Some(JobLock {
                    release: Some(Release::Local(name)),
                }))
            }
            JobLocks::Postgres {
                options,
                conn,
                held,
            } => {
                let key = advisory_key(job);
                let mut guard = conn.lock().await;
                if held
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains(&key)
                {
                    return Ok(None);
                }
                if guard.is_none() {
                    *guard = Some(PgConnection::connect_with(options).await?);
                }
                let Some(c) = guard.as_mut() else {
                    return Ok(None);
                };
                let taken: Result<bool, sqlx::Error> =
                    sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                        .bind(key)
                        .fetch_one(&mut *c)
                        .await;
                match taken {
                    Ok(true) => {
                        held.lock().unwrap_or_else(|e| e.into_inner()).insert(key);
                        Ok(Some(JobLock {
                            release: Some(Release::Postgres(self.clone(), key)),
                        }))
                    }
                    Ok(false) => Ok(None),
                    Err(e) => {
                        // A broken connection held no lock worth keeping: start afresh.
                        *guard = None;
                        held.lock().unwrap_or_else(|e| e.into_inner()).clear();
                        Err(e.into())
                    }
                }
            }
        }
    }

    async fn unlock(&self, key: i64) {
        if let JobLocks::Postgres { conn, held, .. } = self {
            let mut guard = conn.lock().await;
            held.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
            if let Some(c) = guard.as_mut() {
                let released: Result<bool, sqlx::Error> =
                    sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
                        .bind(key)
                        .fetch_one(&mut *c)
                        .await;
                if released.is_err() {
                    // The session, and every lock it held, goes with the connection.
                    *guard = None;
                }
            }
        }
    }
}

enum Release {
    Local(String),
    Postgres(Arc<JobLocks>, i64),
}

/// A held job lock. Release it with [`JobLock::release`]; dropping it releases it too (on
/// PostgreSQL from a spawned task).
#[must_use = "the lock is released when dropped"]
pub struct JobLock {
    release: Option<Release>,
}

impl std::fmt::Debug for JobLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobLock")
    }
}

impl JobLock {
    /// Releases the lock.
    pub async fn release(mut self) {
        match self.release.take() {
            Some(Release::Local(name)) => release_local(&name),
            Some(Release::Postgres(locks, key)) => locks.unlock(key).await,
            None => {}
        }
    }
}

fn release_local(name: &str) {
    local_locks()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(name);
}

impl Drop for JobLock {
    fn drop(&mut self) {
        match self.release.take() {
            Some(Release::Local(name)) => release_local(&name),
            Some(Release::Postgres(locks, key)) => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move { locks.unlock(key).await });
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advisory_keys_are_stable_and_distinct() {
        assert_eq!(advisory_key("retention"), advisory_key("retention"));
        assert_ne!(advisory_key("retention"), advisory_key("analytics"));
    }
}
