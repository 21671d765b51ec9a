//! The SQL store: one implementation, compiled for SQLite ([`sqlite`]) and PostgreSQL
//! ([`postgres`]).
//!
//! The shared code lives in `impl_*.rs` files included into both engine modules, each of which
//! first defines `Db` (the sqlx driver) and `DIALECT`. SQL text is shared where the engines agree
//! (`$N` placeholders, `ON CONFLICT`, `RETURNING`); where they differ the code matches on
//! `DIALECT`, so engine differences stay inside this one implementation.

use std::time::Duration;

/// The SQL engine an implementation is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (embedded default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Connection settings shared by both engines.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Largest number of pooled connections (readers, for SQLite; SQLite has one writer).
    pub max_connections: u32,
    /// How long to wait for a connection before failing.
    pub acquire_timeout: Duration,
    /// SQLite page cache in KiB for all connections together: half for the writer, the rest
    /// shared by the readers (at least 256 KiB each). PostgreSQL caches on its side and
    /// ignores it.
    pub cache_kib: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            cache_kib: 16 * 1024,
        }
    }
}

/// One applied or pending migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// Version number.
    pub version: i64,
    /// Description from the file name.
    pub description: String,
    /// Whether it is applied to the database.
    pub applied: bool,
}

/// The SQLite implementation (embedded default): WAL journal, foreign keys on,
/// `synchronous=FULL`, one writer connection and a pool of readers.
pub mod sqlite {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    use std::str::FromStr;

    /// The sqlx driver of this module.
    pub type Db = sqlx::Sqlite;
    const DIALECT: super::Dialect = super::Dialect::Sqlite;
    static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

    include!("impl_common.rs");
    include!("impl_accounts.rs");
    include!("impl_devices.rs");
    include!("impl_sessions.rs");
    include!("impl_keys.rs");
    include!("impl_messaging.rs");
    include!("impl_ledger.rs");
    include!("impl_trust.rs");
    include!("impl_evm.rs");
    include!("impl_contacts.rs");
    include!("impl_groups.rs");
    include!("impl_files.rs");
    include!("impl_calls.rs");
    include!("impl_operations.rs");

    impl SqlStore {
        /// Opens (creating if missing) the SQLite database at `url` (`sqlite://path`).
        pub async fn connect(
            url: &str,
            settings: &super::PoolSettings,
        ) -> Result<Self, StoreError> {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(std::time::Duration::from_secs(10))
                // Statement journals in memory: fewer writes per commit without weakening
                // durability. Checkpoints do not run inside commits (they would stall every
                // waiting send); a background task runs them instead.
                .pragma("temp_store", "MEMORY")
                .pragma("wal_autocheckpoint", "0")
                // A log that grew under a burst is cut back to 64 MiB when it restarts.
                .pragma("journal_size_limit", "67108864");
            // The page cache (`cache_kib`): half for the writer, which touches the indexes'
            // right-hand pages on every commit; readers share the rest. Every page a
            // connection caches stays resident, so this bounds the memory the database takes.
            let readers = settings.max_connections.max(1);
            let writer_kib = (settings.cache_kib / 2).max(256);
            let reader_kib = (settings.cache_kib / 2 / readers).max(256);
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(settings.acquire_timeout * 2)
                .connect_with(
                    options
                        .clone()
                        .pragma("cache_size", format!("-{writer_kib}")),
                )
                .await?;
            let locks = std::sync::Arc::new(crate::job_lock::JobLocks::Local(
                options.get_filename().display().to_string(),
            ));
            let read = SqlitePoolOptions::new()
                .max_connections(readers)
                .acquire_timeout(settings.acquire_timeout)
                .connect_with(options.pragma("cache_size", format!("-{reader_kib}")))
                .await?;
            Ok(Self { read, write, locks })
        }
    }

    #[cfg(test)]
    mod vocabulary_tests {
        use super::*;
        use zynk_proto::MessageType;

        #[test]
        fn a_stored_value_outside_the_vocabulary_names_its_column() {
            let parsed: MessageType =
                parse_vocabulary("image", "messages", "message_type").unwrap();
            assert_eq!(parsed, MessageType::Image);
            let err =
                parse_vocabulary::<PublicationStatus>("lost", "evm_outbox", "status").unwrap_err();
            assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
            assert_eq!(
                err.to_string(),
                "stored data is invalid: evm_outbox.status: unknown publication status: \"lost\""
            );
        }
    }
}

/// The PostgreSQL implementation: native UUID, TIMESTAMPTZ, JSONB and BYTEA, messages
/// partitioned by month.
pub mod postgres {
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    use std::str::FromStr;

    /// The sqlx driver of this module.
    pub type Db = sqlx::Postgres;
    const DIALECT: super::Dialect = super::Dialect::Postgres;
    static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

    include!("impl_common.rs");
    include!("impl_accounts.rs");
    include!("impl_devices.rs");
    include!("impl_sessions.rs");
    include!("impl_keys.rs");
    include!("impl_messaging.rs");
    include!("impl_ledger.rs");
    include!("impl_trust.rs");
    include!("impl_evm.rs");
    include!("impl_contacts.rs");
    include!("impl_groups.rs");
    include!("impl_files.rs");
    include!("impl_calls.rs");
    include!("impl_operations.rs");

    impl SqlStore {
        /// Connects to the PostgreSQL database at `url` (`postgres://…`).
        pub async fn connect(
            url: &str,
            settings: &super::PoolSettings,
        ) -> Result<Self, StoreError> {
            let options = PgConnectOptions::from_str(url)?.application_name("zynkd");
            let locks = std::sync::Arc::new(crate::job_lock::JobLocks::postgres(options.clone()));
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections.max(2))
                .acquire_timeout(settings.acquire_timeout)
                .connect_with(options)
                .await?;
            Ok(Self {
                read: pool.clone(),
                write: pool,
                locks,
            })
        }
    }
}

/// Opens the store named by `url`: `sqlite://…` or `postgres://…` (`postgresql://` too).
pub async fn connect(
    url: &str,
    settings: &PoolSettings,
) -> Result<std::sync::Arc<dyn AnyStore>, crate::StoreError> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(
            sqlite::SqlStore::connect(url, settings).await?,
        ))
    } else {
        Ok(std::sync::Arc::new(
            postgres::SqlStore::connect(url, settings).await?,
        ))
    }
}

/// A store plus its migration controls: what [`connect`] returns.
#[async_trait::async_trait]
pub trait AnyStore: crate::Store {
    /// Applies all pending migrations.
    async fn migrate_up(&self) -> Result<(), crate::StoreError>;
    /// Reverts migrations down to (and keeping) `target` (0 reverts all).
    async fn migrate_down(&self, target: i64) -> Result<(), crate::StoreError>;
    /// Every known migration and whether it is applied.
    async fn migration_status(&self) -> Result<Vec<MigrationState>, crate::StoreError>;
}
