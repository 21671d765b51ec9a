// Shared by the engine modules of `sql/mod.rs` (included, so no module docs here).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Pool, Row, Transaction};
use uuid::Uuid;
use zynk_ledger::{BatchHeader, Block, Ed25519PublicKey, Hash32, ZynkDid};
use zynk_proto::{
    ConversationId, DeviceId, MessageId, PublicationStatus, RequestState, SessionId, UserId,
};

use crate::error::{StoreError, violated_unique};
use crate::ledger::{
    AnchorWrite, BlockWrite, Head, IdentityState, MerkleEntry, PendingTx, ProofRecord, TxEntry,
    UnanchoredMessage, entries,
};
use crate::model::*;
use crate::store::*;

type DbRow = <Db as sqlx::Database>::Row;

/// The SQL store for this engine.
#[derive(Clone)]
pub struct SqlStore {
    /// Connections for reads.
    read: Pool<Db>,
    /// Connections for writes (a single connection on SQLite).
    write: Pool<Db>,
    /// The job runner's locks.
    locks: std::sync::Arc<crate::job_lock::JobLocks>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore").field("engine", &self.engine()).finish()
    }
}

impl SqlStore {
    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite, so a transaction that reads then
    /// writes never has to upgrade its lock).
    async fn begin(&self) -> Result<Transaction<'static, Db>, StoreError> {
        Ok(match DIALECT {
            super::Dialect::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await?,
            super::Dialect::Postgres => self.write.begin().await?,
        })
    }

    /// Closes all connections.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

#[async_trait]
impl MaintenanceStore for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn ensure_partitions(&self) -> Result<u32, StoreError> {
        match DIALECT {
            super::Dialect::Sqlite => Ok(0),
            super::Dialect::Postgres => {
                let created: i32 = sqlx::query_scalar(
                    "SELECT zynk_ensure_message_partitions(1, 3) + zynk_ensure_event_partitions(1, 3)",
                )
                    .fetch_one(&self.write)
                    .await?;
                Ok(u32::try_from(created).unwrap_or(0))
            }
        }
    }

    async fn checkpoint(&self) -> Result<(), StoreError> {
        if DIALECT == super::Dialect::Sqlite {
            // PASSIVE on a reader connection: copies the bulk of the log into the database
            // while sends go on. Under a steady stream of writes that alone never catches up
            // with the end of the log, and SQLite only restarts the log from its beginning once
            // every frame has been copied: the log would grow without bound (and each append
            // would land in new, zero-filled file blocks). So the writer connection then copies
            // the few frames appended meanwhile, between two write transactions; the next
            // write restarts the log.
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&self.read).await?;
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&self.write).await?;
        }
        Ok(())
    }

    fn engine(&self) -> &'static str {
        match DIALECT {
            super::Dialect::Sqlite => "sqlite",
            super::Dialect::Postgres => "postgres",
        }
    }
}

#[async_trait]
impl super::AnyStore for SqlStore {
    async fn migrate_up(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.write).await?;
        Ok(())
    }

    async fn migrate_down(&self, target: i64) -> Result<(), StoreError> {
        MIGRATOR.undo(&self.write, target).await?;
        Ok(())
    }

    async fn migration_status(&self) -> Result<Vec<super::MigrationState>, StoreError> {
        let table_exists: bool = match DIALECT {
            super::Dialect::Sqlite => sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
            ),
            super::Dialect::Postgres => {
                sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            }
        }
        .fetch_one(&self.read)
        .await?;
        let applied: Vec<i64> = if table_exists {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(&self.read)
                .await?
        } else {
            Vec::new()
        };
        let mut states: Vec<super::MigrationState> = MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| super::MigrationState {
                version: m.version,
                description: m.description.to_string(),
                applied: applied.contains(&m.version),
            })
            .collect();
        states.sort_by_key(|s| s.version);
        Ok(states)
    }
}

fn corrupt(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {err}"))
}

/// Reads a text column that holds a member of a closed vocabulary (a conversation kind, a
/// message type, a publication status); a value outside it is [`StoreError::Corrupt`] naming
/// `table.column`.
fn vocabulary_column<T>(row: &DbRow, table: &str, column: &str) -> Result<T, StoreError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text: String = row.try_get(column)?;
    parse_vocabulary(&text, table, column)
}

/// Parses a stored member of a closed vocabulary read from `table.column`.
fn parse_vocabulary<T>(text: &str, table: &str, column: &str) -> Result<T, StoreError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| corrupt(&format!("{table}.{column}"), e))
}

