//! The Zynk server as a library: configuration, the HTTP API, services and background jobs.
//! The `zynkd` binary is a thin command line over [`App`].

pub mod backup;
pub mod config;
pub mod context;
pub mod data_dir;
pub mod error;
pub mod http;
pub mod jobs;
pub mod realtime;
pub mod serve;
pub mod services;
pub mod state;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use zynk_backends::Ephemeral;
use zynk_backends::ephemeral::EphemeralTtls;
use zynk_backends::ephemeral::memory::MemoryEphemeral;
use zynk_backends::ephemeral::redis::RedisEphemeral;
use zynk_backends::sql::{self, AnyStore, PoolSettings};

pub use config::Config;
use context::Context;
use services::Services;
use state::AppState;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Database(#[from] zynk_backends::StoreError),
    /// Redis could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] zynk_backends::ephemeral::EphemeralError),
    /// The ledger validator key could not be read or created.
    #[error("ledger: {0}")]
    Ledger(String),
    /// The EVM publisher could not be set up.
    #[error("evm: {0}")]
    Evm(String),
    /// The blob storage could not be opened.
    #[error("file storage: {0}")]
    Blobs(#[from] zynk_backends::blob::BlobError),
    /// The push sender could not be built.
    #[error("push: {0}")]
    Push(String),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// Opens the durable store named by the configuration (creating the data directory for SQLite).
pub async fn open_store(config: &Config) -> Result<Arc<dyn AnyStore>, StartError> {
    let url = config.effective_database_url();
    if url.starts_with("sqlite:") {
        let database = data_dir::sqlite_path(&url);
        data_dir::secure(&config.data_dir, database.as_deref()).map_err(|source| {
            StartError::DataDir {
                path: config.data_dir.display().to_string(),
                source,
            }
        })?;
    }
    let settings = PoolSettings {
        max_connections: config.database_max_connections,
        cache_kib: config.database_cache_mib.saturating_mul(1024),
        ..PoolSettings::default()
    };
    Ok(sql::connect(&url, &settings).await?)
}

/// Opens the ephemeral store: Redis when configured, in-process otherwise.
pub async fn open_ephemeral(config: &Config) -> Result<Arc<dyn Ephemeral>, StartError> {
    let ttls = EphemeralTtls::default();
    Ok(match &config.redis_url {
        Some(url) => Arc::new(RedisEphemeral::connect(url, &config.redis_key_prefix, ttls).await?),
        None => {
            let memory = Arc::new(MemoryEphemeral::new(ttls));
            memory.spawn_sweeper(Duration::from_secs(30));
            memory
        }
    })
}

/// Opens the blob storage named by the configuration (creating the local directory).
pub async fn open_blobs(
    config: &Config,
) -> Result<Arc<dyn zynk_backends::blob::BlobStore>, StartError> {
    Ok(zynk_backends::blob::open(&config.effective_storage_url()).await?)
}

/// A ready-to-serve server: storage opened and migrated, services built, jobs started.
pub struct App {
    state: AppState,
    jobs: jobs::JobHandles,
}

impl App {
    /// Opens storage, applies migrations and builds the services.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        // The data directory holds the ledger key and local blobs on every engine: private.
        data_dir::secure(&config.data_dir, None).map_err(|source| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let store = open_store(&config).await?;
        store.migrate_up().await?;
        store.ensure_partitions().await?;
        let ephemeral = open_ephemeral(&config).await?;
        let blobs = open_blobs(&config).await?;
        let relay = config.redis_url.is_some();
        let pusher: Option<Arc<dyn realtime::PushSender>> = match &config.push.webhook_url {
            Some(url) => Some(Arc::new(
                realtime::WebhookPush::new(url).map_err(StartError::Push)?,
            )),
            None => None,
        };
        let hub = Arc::new(realtime::Hub::new(
            ephemeral.clone(),
            relay,
            config.websocket.queue_capacity,
        ));
        let (analytics, analytics_writer) =
            services::analytics::Analytics::start(&config.analytics, store.clone());
        let context = Arc::new(Context {
            config,
            store,
            ephemeral,
            blobs,
            analytics,
        });
        let relay_task = tokio::spawn(hub.clone().run_relay());
        let ledger_key =
            services::ledger::load_or_create_key(&context.config.effective_ledger_key_file())
                .map_err(|e| StartError::Ledger(e.to_string()))?;
        let mut services = Services::start(context.clone(), hub, pusher, ledger_key);
        let validator = services
            .ledger
            .claim_validator()
            .await
            .map_err(|e| StartError::Ledger(e.to_string()))?;
        // Only the node that seals publishes to the EVM registry, so only it needs the signer.
        if validator && context.config.chain == config::ChainKind::Evm {
            services.evm = Some(
                services::evm::EvmPublisher::new(context.clone())
                    .map_err(|e| StartError::Evm(e.to_string()))?,
            );
        }
        if !validator {
            tracing::warn!(
                "the ledger was started with another validator key: this node will not seal batches"
            );
        }
        let openapi_json = http::openapi()
            .to_pretty_json()
            .unwrap_or_else(|_| "{}".to_owned());
        let state = AppState {
            context: context.clone(),
            services,
            metrics: telemetry::metrics_handle(),
            openapi_json: Arc::new(openapi_json),
        };
        let ledger = validator.then(|| state.services.ledger.clone());
        let publisher = state.services.evm.clone();
        let mut jobs = jobs::spawn_all(
            context,
            state.services.messages.clone(),
            ledger,
            state.services.trust.clone(),
            publisher,
        );
        jobs.push(relay_task);
        if let Some(writer) = analytics_writer {
            jobs.push(writer);
        }
        jobs.push(state.services.calls.spawn_sweep());
        jobs.push(tokio::spawn(state.services.contacts.clone().run_relay()));
        Ok(Self { state, jobs })
    }

    /// The application router (for in-process tests with `oneshot`).
    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone())
    }

    /// The services (for admin commands run in-process).
    pub fn services(&self) -> &Services {
        &self.state.services
    }

    /// The shared context (configuration, storage seams, analytics recorder).
    pub fn context(&self) -> &Arc<Context> {
        &self.state.context
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.state.context.config
    }

    /// Binds the configured address, with a listen backlog of [`serve::LISTEN_BACKLOG`] (the
    /// kernel may lower it to `net.core.somaxconn`) so a burst of connections does not crowd
    /// others out before the accept loop refuses them.
    pub async fn bind(&self) -> Result<TcpListener, StartError> {
        let addr = self.state.context.config.listen;
        serve::bind(addr).map_err(|source| StartError::Listen { addr, source })
    }

    /// Serves on `listener` until `shutdown` resolves, then stops the jobs and closes storage.
    /// Raises the open-files limit first and keeps connections under the configured caps
    /// ([`serve::serve`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self.router();
        let descriptors = serve::raise_descriptor_limit();
        let config = self.state.context.config.connections.clone();
        let caps = serve::ConnectionCaps::from_config(&config, descriptors);
        let result = serve::serve(listener, router, config, caps, shutdown).await;
        // Events recorded before the listener closed are written before the jobs stop.
        self.state.context.analytics.flush().await;
        self.jobs.stop();
        result
    }
}
