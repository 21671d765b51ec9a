//! A fresh, migrated database per test, on either engine: a SQLite file in a temporary directory,
//! or a PostgreSQL database `zynk_test_<uuid>` created through `ZYNK_TEST_POSTGRES_URL` (the
//! admin connection, as in `tests/migrations.rs` and the testkit) and dropped when the test ends,
//! even when it fails. A test that cannot reach PostgreSQL fails; none is skipped.

use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use zynk_backends::sql::{self, AnyStore, PoolSettings};

/// The SQL engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// SQLite, the embedded default.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

fn postgres_admin_url() -> String {
    std::env::var("ZYNK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A value bound to a `$N` placeholder of [`TestDb::count`] or [`TestDb::execute`].
#[derive(Debug, Clone)]
pub enum Arg {
    /// Text.
    Text(String),
    /// A UUID (any typed id converts into one).
    Uuid(Uuid),
    /// An optional UUID.
    OptUuid(Option<Uuid>),
    /// An optional integer.
    OptInt(Option<i64>),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A point in time.
    Time(DateTime<Utc>),
}

impl Arg {
    /// Text.
    pub fn text(s: impl Into<String>) -> Self {
        Arg::Text(s.into())
    }

    /// An id.
    pub fn id(id: impl Into<Uuid>) -> Self {
        Arg::Uuid(id.into())
    }

    /// An optional id.
    pub fn opt_id(id: Option<impl Into<Uuid>>) -> Self {
        Arg::OptUuid(id.map(Into::into))
    }
}

/// Direct connections to the test database, for arranging rows no store method writes (an EVM
/// outbox row) and for checking rows no store method reads (a pending ledger transaction).
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Binds every [`Arg`] to a query of either engine.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg.clone() {
                Arg::Text(v) => query.bind(v),
                Arg::Uuid(v) => query.bind(v),
                Arg::OptUuid(v) => query.bind(v),
                Arg::OptInt(v) => query.bind(v),
                Arg::Bytes(v) => query.bind(v),
                Arg::Time(v) => query.bind(v),
            };
        }
        query
    }};
}

/// One test's database: the store under test (reached through `Deref`) and direct connections.
pub struct TestDb {
    engine: Engine,
    store: Arc<dyn AnyStore>,
    raw: Raw,
    _dir: Option<tempfile::TempDir>,
    _drop: DropDatabase,
}

impl TestDb {
    /// Creates and migrates a fresh database on `engine`.
    pub async fn open(engine: Engine) -> Self {
        let settings = PoolSettings::default();
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}", dir.path().join("zynk.db").display());
                let store = sql::connect(&url, &settings).await.expect("open SQLite");
                store.migrate_up().await.expect("migrate SQLite");
                let raw = sqlx::SqlitePool::connect(&url)
                    .await
                    .expect("raw SQLite pool");
                Self {
                    engine,
                    store,
                    raw: Raw::Sqlite(raw),
                    _dir: Some(dir),
                    _drop: DropDatabase(None),
                }
            }
            Engine::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("zynk_test_{}", Uuid::new_v4().simple());
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required: {e}"));
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create the test database");
                let guard = DropDatabase(Some(name.clone()));
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                let url = format!("{base}/{name}");
                let store = sql::connect(&url, &settings)
                    .await
                    .expect("open PostgreSQL");
                store.migrate_up().await.expect("migrate PostgreSQL");
                let raw = sqlx::PgPool::connect(&url)
                    .await
                    .expect("raw PostgreSQL pool");
                Self {
                    engine,
                    store,
                    raw: Raw::Postgres(raw),
                    _dir: None,
                    _drop: guard,
                }
            }
        }
    }

    /// The engine under test.
    pub fn engine_under_test(&self) -> Engine {
        self.engine
    }

    /// The store, to move into concurrent tasks.
    pub fn shared(&self) -> Arc<dyn AnyStore> {
        Arc::clone(&self.store)
    }

    /// Runs a `SELECT COUNT(*) …` (SQL both engines accept) and returns the count.
    pub async fn count(&self, sql: &'static str, args: &[Arg]) -> i64 {
        match &self.raw {
            Raw::Sqlite(pool) => bind_args!(sqlx::query_scalar(sql), args)
                .fetch_one(pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            Raw::Postgres(pool) => bind_args!(sqlx::query_scalar(sql), args)
                .fetch_one(pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// Runs a statement (SQL both engines accept) and returns the rows it affected.
    pub async fn execute(&self, sql: &'static str, args: &[Arg]) -> u64 {
        match &self.raw {
            Raw::Sqlite(pool) => bind_args!(sqlx::query(sql), args)
                .execute(pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .rows_affected(),
            Raw::Postgres(pool) => bind_args!(sqlx::query(sql), args)
                .execute(pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .rows_affected(),
        }
    }

    /// Runs a statement that may fail (a constraint or trigger under test); the error as text.
    pub async fn try_execute(&self, sql: &'static str, args: &[Arg]) -> Result<u64, String> {
        match &self.raw {
            Raw::Sqlite(pool) => bind_args!(sqlx::query(sql), args)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| e.to_string()),
            Raw::Postgres(pool) => bind_args!(sqlx::query(sql), args)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| e.to_string()),
        }
    }

    /// Closes every connection (the database itself goes when the value is dropped).
    pub async fn close(self) {
        match &self.raw {
            Raw::Sqlite(pool) => pool.close().await,
            Raw::Postgres(pool) => pool.close().await,
        }
        drop(self);
    }
}

impl Deref for TestDb {
    type Target = dyn AnyStore;

    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

/// Drops the PostgreSQL test database, if any, when the test ends (passed or failed).
struct DropDatabase(Option<String>);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let Some(name) = self.0.take() else { return };
        // Drop cannot await: a thread of its own with its own runtime does the work.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&postgres_admin_url()).await
                {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                }
            });
        });
        let _ = cleanup.join();
    }
}
