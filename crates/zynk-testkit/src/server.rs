//! A real Zynk server on `127.0.0.1:0`, on the chosen backend.

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use zynk_server::{App, Config};

/// Which storage a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite + in-process state (the embedded default).
    Embedded,
    /// PostgreSQL + Redis (the at-scale shape).
    Scale,
}

/// Where a test server keeps file blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blobs {
    /// The local directory `DATA_DIR/blobs` (the embedded default).
    Local,
    /// A fresh bucket on the test S3-compatible server (s3s-fs, started by `scripts/test.sh`).
    S3,
}

impl Blobs {
    /// The storage a backend uses unless told otherwise: local blobs with the embedded
    /// default, S3 with PostgreSQL + Redis.
    pub fn default_for(backend: Backend) -> Self {
        match backend {
            Backend::Embedded => Blobs::Local,
            Backend::Scale => Blobs::S3,
        }
    }
}

/// The URL of the test S3-compatible server, without a bucket (`ZYNK_TEST_S3_URL`).
pub fn s3_url() -> String {
    std::env::var("ZYNK_TEST_S3_URL")
        .unwrap_or_else(|_| "s3+http://zynktest:zynktestsecret@127.0.0.1:58014".into())
}

/// The data directory of the test S3 server, where each bucket is a directory
/// (`ZYNK_TEST_S3_ROOT`; default `target/test-services/s3`).
pub fn s3_root() -> PathBuf {
    std::env::var_os("ZYNK_TEST_S3_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-services/s3")
        })
}

/// The admin URL of the test PostgreSQL.
pub fn postgres_admin_url() -> String {
    std::env::var("ZYNK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The URL of the test Redis.
pub fn redis_url() -> String {
    std::env::var("ZYNK_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Storage owned by one test: removed when dropped.
pub struct Storage {
    /// Temporary data directory (SQLite file and local data).
    pub dir: tempfile::TempDir,
    /// The PostgreSQL database created for the test, if any.
    pub pg_database: Option<String>,
    /// The Redis key prefix of the test, if any.
    pub redis_prefix: Option<String>,
    /// The S3 bucket of the test, if its blobs are on S3.
    pub s3_bucket: Option<String>,
}

impl Storage {
    /// Creates fresh storage for `backend`. Panics (failing the test) when a service of the
    /// scale backend cannot be reached.
    pub async fn create(backend: Backend) -> Self {
        Self::create_with(backend, Blobs::default_for(backend)).await
    }

    /// Creates fresh storage for `backend` with its blobs in `blobs`.
    pub async fn create_with(backend: Backend, blobs: Blobs) -> Self {
        let mut storage = Self::create_databases(backend).await;
        if blobs == Blobs::S3 {
            let bucket = format!("zt-{}", uuid::Uuid::new_v4().simple());
            let dir = s3_root().join(&bucket);
            std::fs::create_dir_all(&dir).unwrap_or_else(|e| {
                panic!(
                    "cannot create the test bucket {} (ZYNK_TEST_S3_ROOT): {e}",
                    dir.display()
                )
            });
            storage.s3_bucket = Some(bucket);
        }
        storage
    }

    /// Where the blob bytes of this storage land on disk: the local blob directory, or the
    /// bucket's directory under the S3 server's data directory.
    pub fn blob_dir(&self) -> PathBuf {
        match &self.s3_bucket {
            Some(bucket) => s3_root().join(bucket),
            None => self.dir.path().join("blobs"),
        }
    }

    async fn create_databases(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend {
            Backend::Embedded => Self {
                dir,
                pg_database: None,
                redis_prefix: None,
                s3_bucket: None,
            },
            Backend::Scale => {
                let name = format!("zynk_test_{}", uuid::Uuid::new_v4().simple());
                let admin = postgres_admin_url();
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required: {e}"));
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let redis = redis_url();
                let client = redis::Client::open(redis.as_str()).expect("redis url");
                let mut rc = client
                    .get_multiplexed_async_connection()
                    .await
                    .unwrap_or_else(|e| panic!("Redis at {redis} is required: {e}"));
                let _: String = redis::cmd("PING")
                    .query_async(&mut rc)
                    .await
                    .expect("redis ping");
                let prefix = format!("zt:{}:", uuid::Uuid::new_v4().simple());
                Self {
                    dir,
                    pg_database: Some(name),
                    redis_prefix: Some(prefix),
                    s3_bucket: None,
                }
            }
        }
    }

    /// The database URL of this storage.
    pub fn database_url(&self) -> String {
        match &self.pg_database {
            Some(name) => {
                let admin = postgres_admin_url();
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                format!("{base}/{name}")
            }
            None => format!("sqlite://{}", self.dir.path().join("zynk.db").display()),
        }
    }

    /// A test configuration on this storage: fast password hashing, rate limits on.
    pub fn config(&self) -> Config {
        let mut config = Config {
            data_dir: self.dir.path().to_path_buf(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: Some(self.database_url()),
            database_max_connections: 8,
            ..Config::default()
        };
        if let Some(prefix) = &self.redis_prefix {
            config.redis_url = Some(redis_url());
            config.redis_key_prefix = prefix.clone();
        }
        if let Some(bucket) = &self.s3_bucket {
            config.files.storage_url = Some(format!("{}/{bucket}", s3_url()));
        }
        // The minimum PBKDF2 cost keeps the suite fast; the default (600,000) is tested apart.
        config.auth.pbkdf2_iterations = 1_000;
        config
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Some(bucket) = self.s3_bucket.take() {
            let _ = std::fs::remove_dir_all(s3_root().join(bucket));
        }
        let database = self.pg_database.take();
        let prefix = self.redis_prefix.take();
        if database.is_none() && prefix.is_none() {
            return;
        }
        // Clean up on a separate thread with its own runtime: Drop cannot await.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Some(name) = database
                    && let Ok(mut conn) =
                        <sqlx::PgConnection as sqlx::Connection>::connect(&postgres_admin_url())
                            .await
                {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                }
                if let Some(prefix) = prefix
                    && let Ok(client) = redis::Client::open(redis_url())
                    && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                {
                    let keys: Vec<String> = redis::cmd("KEYS")
                        .arg(format!("{prefix}*"))
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        let _: Result<(), _> =
                            redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A running server.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The backend.
    pub backend: Backend,
    /// The configuration it runs with.
    pub config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    /// Its storage (kept alive across restarts, removed when the server is dropped).
    pub storage: Storage,
}

impl TestServer {
    /// Starts a server on fresh storage with the test configuration.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts a server on fresh storage with the test configuration changed by `adjust`.
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_on(backend, Blobs::default_for(backend), adjust).await
    }

    /// Starts a server on fresh storage with its blobs in `blobs`, with the test configuration
    /// changed by `adjust`.
    pub async fn start_on(
        backend: Backend,
        blobs: Blobs,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        zynk_evm::install_tls_provider();
        let storage = Storage::create_with(backend, blobs).await;
        let mut config = storage.config();
        adjust(&mut config);
        let (base_url, shutdown, task) = launch(config.clone()).await;
        Self {
            base_url,
            backend,
            config,
            shutdown: Some(shutdown),
            task: Some(task),
            storage,
        }
    }

    /// Stops the server and starts a new one on the same storage, with the configuration changed
    /// by `adjust`.
    pub async fn restart_with(&mut self, adjust: impl FnOnce(&mut Config)) {
        self.stop().await;
        adjust(&mut self.config);
        let (base_url, shutdown, task) = launch(self.config.clone()).await;
        self.base_url = base_url;
        self.shutdown = Some(shutdown);
        self.task = Some(task);
    }

    /// Stops the server gracefully.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// An API client for this server.
    pub fn api(&self) -> crate::Api {
        crate::Api::new(&self.base_url)
    }

    /// A direct database connection to this server's storage (for checks and for arranging
    /// states such as expired tokens that the API cannot produce).
    pub async fn sql(&self, statement: &str) {
        let url = self.storage.database_url();
        if url.starts_with("sqlite:") {
            let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
                .await
                .expect("sqlite connect");
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                .execute(&mut conn)
                .await
                .expect("sql statement");
        } else {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                .await
                .expect("pg connect");
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                .execute(&mut conn)
                .await
                .expect("sql statement");
        }
    }

    /// Runs a scalar query returning text (both engines).
    pub async fn sql_text(&self, query: &str) -> Option<String> {
        let url = self.storage.database_url();
        if url.starts_with("sqlite:") {
            let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
                .await
                .expect("sqlite connect");
            sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
                .fetch_optional(&mut conn)
                .await
                .expect("sql query")
        } else {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                .await
                .expect("pg connect");
            sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
                .fetch_optional(&mut conn)
                .await
                .expect("sql query")
        }
    }

    /// An SQL literal for a time `seconds` from now, in the engine's format.
    pub fn sql_time_from_now(&self, seconds: i64) -> String {
        let t = chrono::Utc::now() + chrono::Duration::seconds(seconds);
        match self.backend {
            Backend::Embedded => {
                format!(
                    "'{}'",
                    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
                )
            }
            Backend::Scale => format!("'{}'::timestamptz", t.to_rfc3339()),
        }
    }

    /// An SQL literal for a UUID, in the engine's format.
    pub fn sql_uuid(&self, id: uuid::Uuid) -> String {
        match self.backend {
            Backend::Embedded => format!("X'{}'", id.simple()),
            Backend::Scale => format!("'{id}'::uuid"),
        }
    }
}

/// Another node of the same deployment (same storage), for multi-node tests.
pub struct Node {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Node {
    /// An API client for this node.
    pub fn api(&self) -> crate::Api {
        crate::Api::new(&self.base_url)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl TestServer {
    /// Starts another node on the same storage and configuration.
    pub async fn extra_node(&self) -> Node {
        self.extra_node_with(self.config.clone()).await
    }

    /// Starts another node on the same storage with its own configuration (which must point at
    /// the same storage, e.g. a changed copy of [`TestServer::config`]).
    pub async fn extra_node_with(&self, config: Config) -> Node {
        let (base_url, shutdown, task) = launch(config).await;
        Node {
            base_url,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn launch(
    mut config: Config,
) -> (String, oneshot::Sender<()>, JoinHandle<std::io::Result<()>>) {
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let app = App::build(config).await.expect("server builds");
    let listener = app.bind().await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.serve(listener, async move {
        let _ = rx.await;
    }));
    (format!("http://{addr}"), tx, task)
}
