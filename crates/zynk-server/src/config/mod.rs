//! Server configuration: built-in defaults, then a TOML file, then `ZYNK_*` environment
//! variables. Nested keys use `__` in variable names (`ZYNK_AUTH__PBKDF2_ITERATIONS`).
//! [`Config::load`] validates the result and names the offending key on error.
//!
//! This module holds [`Config`] and its defaults; `sections` the tables below it, `load` the
//! merging of defaults, file and environment, `validate` the checks, and `render` the
//! configuration as TOML (the example file, and the configuration in force with passwords
//! hidden).

mod backup;
mod hardening;
mod load;
mod render;
mod sections;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use backup::BackupConfig;
pub use render::redact_url;
pub use sections::AnalyticsConfig;
pub use sections::PresenceConfig;
pub use sections::ProximityConfig;
pub use sections::WebConfig;
pub use sections::{
    AuthConfig, CallsConfig, ChainKind, ConnectionsConfig, EvmSettings, FilesConfig, LimitsConfig,
    LogFormat, PushConfig, RateLimitConfig, RetentionConfig, TrustConfig, TurnConfig,
    WebSocketConfig,
};

/// Everything `zynkd` can be configured with. Every field has a default; with none set,
/// `zynkd serve` runs on the embedded default (SQLite in `./zynk-data`, in-process state,
/// listening on `127.0.0.1:8080`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for the SQLite database and other local data (`ZYNK_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Address and port to listen on (`ZYNK_LISTEN`).
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DB` (`ZYNK_DATABASE_URL`). Unset means
    /// SQLite at `DATA_DIR/zynk.db`.
    pub database_url: Option<String>,
    /// Largest number of pooled database connections (`ZYNK_DATABASE_MAX_CONNECTIONS`).
    pub database_max_connections: u32,
    /// SQLite page cache in MiB for all connections together (`ZYNK_DATABASE_CACHE_MIB`).
    pub database_cache_mib: u32,
    /// `redis://HOST:PORT/DB` (`ZYNK_REDIS_URL`). Unset means in-process ephemeral state,
    /// which only suits a single node.
    pub redis_url: Option<String>,
    /// Prefix put before every Redis key and channel (`ZYNK_REDIS_KEY_PREFIX`), so several
    /// deployments can share one Redis.
    pub redis_key_prefix: String,
    /// Log output format: `text` or `json` (`ZYNK_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Log filter in `tracing` env-filter syntax (`ZYNK_LOG`), e.g. `info,zynk_server=debug`.
    pub log: String,
    /// Use the last address of `X-Forwarded-For` (the one the proxy appended) as the client
    /// address, for rate limiting (`ZYNK_TRUST_FORWARDED_FOR`). Only enable behind exactly one
    /// trusted reverse proxy.
    pub trust_forwarded_for: bool,
    /// Seconds between message-anchoring batches (`ZYNK_ANCHOR_INTERVAL_SECS`; hourly by
    /// default). `zynkd ledger anchor` seals one at once.
    pub anchor_interval_secs: u64,
    /// Most messages in one anchored batch (`ZYNK_ANCHOR_MAX_BATCH`).
    pub anchor_max_batch: u32,
    /// The ledger validator's Ed25519 key (32-byte seed), created on first start
    /// (`ZYNK_LEDGER_KEY_FILE`; default `DATA_DIR/ledger-validator.key`). Every node of a
    /// deployment must share it: it seals blocks and batches and signs credentials.
    pub ledger_key_file: Option<PathBuf>,
    /// Accounts, passwords and tokens.
    pub auth: AuthConfig,
    /// Request size limits.
    pub limits: LimitsConfig,
    /// Rate limits.
    pub rate_limits: RateLimitConfig,
    /// WebSocket gateway.
    pub websocket: WebSocketConfig,
    /// Push wake-ups for devices that are not connected.
    pub push: PushConfig,
    /// Retention of undelivered and deleted data.
    pub retention: RetentionConfig,
    /// Trust scores and credentials.
    pub trust: TrustConfig,
    /// Where ledger transactions are anchored: `embedded` (the signed log in the database) or
    /// `evm` (also published to the registry contract of `[evm]`).
    pub chain: ChainKind,
    /// The EVM chain (`chain = "evm"`).
    pub evm: EvmSettings,
    /// The listener: timeouts and connection caps.
    pub connections: ConnectionsConfig,
    /// Encrypted files: storage, limits, quota, jobs.
    pub files: FilesConfig,
    /// Presence and typing indicators.
    pub presence: PresenceConfig,
    /// Calls.
    pub calls: CallsConfig,
    /// TURN credentials for calls.
    pub turn: TurnConfig,
    /// The browser client and cross-origin access.
    pub web: WebConfig,
    /// Proximity discovery.
    pub proximity: ProximityConfig,
    /// Scheduled backups.
    pub backup: BackupConfig,
    /// Analytics events and daily aggregates.
    pub analytics: AnalyticsConfig,
}
impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./zynk-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            database_max_connections: 16,
            database_cache_mib: 16,
            redis_url: None,
            redis_key_prefix: String::new(),
            log_format: LogFormat::Text,
            log: "info".into(),
            trust_forwarded_for: false,
            anchor_interval_secs: 3600,
            anchor_max_batch: 100_000,
            ledger_key_file: None,
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            rate_limits: RateLimitConfig::default(),
            websocket: WebSocketConfig::default(),
            push: PushConfig::default(),
            retention: RetentionConfig::default(),
            trust: TrustConfig::default(),
            chain: ChainKind::Embedded,
            evm: EvmSettings::default(),
            connections: ConnectionsConfig::default(),
            files: FilesConfig::default(),
            presence: PresenceConfig::default(),
            calls: CallsConfig::default(),
            turn: TurnConfig::default(),
            web: WebConfig::default(),
            proximity: ProximityConfig::default(),
            backup: BackupConfig::default(),
            analytics: AnalyticsConfig::default(),
        }
    }
}
/// A configuration that could not be loaded; the message names the key and the source.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);
impl Config {
    /// The EVM signer key file in force.
    pub fn effective_evm_key_file(&self) -> PathBuf {
        self.evm
            .key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("evm-signer.key"))
    }

    /// The ledger key file in force.
    pub fn effective_ledger_key_file(&self) -> PathBuf {
        self.ledger_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("ledger-validator.key"))
    }

    /// The blob storage URL in force: the configured one or the directory `DATA_DIR/blobs`.
    pub fn effective_storage_url(&self) -> String {
        self.files.storage_url.clone().unwrap_or_else(|| {
            let dir = self.data_dir.join("blobs");
            let dir = std::path::absolute(&dir).unwrap_or(dir);
            format!("file://{}", dir.display())
        })
    }

    /// The database URL in force: the configured one or SQLite in the data directory.
    pub fn effective_database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("zynk.db").display()))
    }
}
