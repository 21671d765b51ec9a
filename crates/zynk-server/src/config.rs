//! Server configuration: built-in defaults, then a TOML file, then `ZYNK_*` environment
//! variables. Nested keys use `__` in variable names (`ZYNK_AUTH__PBKDF2_ITERATIONS`).
//! [`Config::load`] validates the result and names the offending key on error.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

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
}

/// The chain ledger transactions are anchored on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainKind {
    /// The embedded signed, hash-linked log only.
    #[default]
    Embedded,
    /// The embedded log, published to an EVM registry contract.
    Evm,
}

/// The EVM registry (`docs/evm.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvmSettings {
    /// JSON-RPC endpoint (`http://host:port`).
    pub rpc_url: Option<String>,
    /// The deployed `ZynkRegistry` (`0x…`; `zynkd evm deploy` prints it).
    pub contract: Option<String>,
    /// File holding the signer's secp256k1 private key as hex (the contract's owner). Default:
    /// `evm-signer.key` in the data directory.
    pub key_file: Option<PathBuf>,
    /// The chain id the registry lives on; a node on another chain is refused.
    pub chain_id: Option<u64>,
    /// Blocks a transaction needs (its own included) before it counts as confirmed.
    pub confirmations: u64,
    /// How often the publisher sends queued transactions and reads receipts, in milliseconds.
    pub poll_interval_ms: u64,
}

impl Default for EvmSettings {
    fn default() -> Self {
        Self {
            rpc_url: None,
            contract: None,
            key_file: None,
            chain_id: None,
            confirmations: 1,
            poll_interval_ms: 2000,
        }
    }
}

/// Trust scores (data model 11.5) and verifiable credentials. `docs/trust.md` explains the rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustConfig {
    /// Account ages (days) at which the score rises by `account_age_points`, once each.
    pub account_age_days: Vec<u32>,
    /// Points per account age milestone.
    pub account_age_points: u8,
    /// Messages sent at which the score rises by `message_volume_points`, once each.
    pub message_volumes: Vec<u64>,
    /// Points per message volume threshold.
    pub message_volume_points: u8,
    /// Largest penalty of one spam report (from a reporter with score 100; scaled down with
    /// the reporter's score).
    pub report_max_penalty: u8,
    /// Reporters below this score change nothing (their report is still counted).
    pub report_min_reporter_score: u8,
    /// Largest gain from one vouch (from a voucher with score 100; scaled likewise).
    pub vouch_max_points: u8,
    /// Vouchers below this score change nothing.
    pub vouch_min_voucher_score: u8,
    /// Users below this score get `restricted_percent` of the per-user rate limits.
    pub restricted_below: u8,
    /// Share of the per-user rate limits (percent) for restricted users.
    pub restricted_percent: u8,
    /// Users below this score get `severe_percent` of the per-user rate limits.
    pub severe_below: u8,
    /// Share of the per-user rate limits (percent) for severely restricted users.
    pub severe_percent: u8,
    /// How long a node caches a user's score for rate limiting, in seconds.
    pub score_cache_secs: u64,
    /// How often the milestone job runs, in seconds.
    pub milestone_interval_secs: u64,
    /// Lifetime of an issued credential, in days.
    pub credential_ttl_days: u32,
}

impl Default for TrustConfig {
    fn default() -> Self {
        Self {
            account_age_days: vec![7, 30, 90, 365],
            account_age_points: 5,
            message_volumes: vec![100, 1_000, 10_000],
            message_volume_points: 2,
            report_max_penalty: 10,
            report_min_reporter_score: 20,
            vouch_max_points: 5,
            vouch_min_voucher_score: 40,
            restricted_below: 30,
            restricted_percent: 50,
            severe_below: 10,
            severe_percent: 25,
            score_cache_secs: 60,
            milestone_interval_secs: 3600,
            credential_ttl_days: 30,
        }
    }
}

/// WebSocket gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSocketConfig {
    /// Seconds between heartbeats: a client that sends nothing for 2.5 heartbeats is closed.
    pub heartbeat_secs: u64,
    /// Frames queued per connection; a client that falls this far behind is disconnected.
    pub queue_capacity: usize,
    /// Read and write buffer per connection, in bytes (small buffers keep idle connections
    /// cheap).
    pub buffer_bytes: usize,
}

/// Push wake-ups.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// URL that receives `POST {"push_token", "device_id", "reason"}` for each wake-up (a push
    /// gateway). Unset: no wake-ups are sent.
    pub webhook_url: Option<String>,
}

/// Retention of undelivered and deleted data (data model section 6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Undelivered to-device messages are deleted after this many days.
    pub to_device_days: u32,
    /// Soft-deleted messages are purged after this many days.
    pub deleted_message_days: u32,
    /// How often self-destructing messages are checked, in milliseconds.
    pub expiry_interval_ms: u64,
    /// How often the retention jobs run, in seconds.
    pub interval_secs: u64,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            heartbeat_secs: 30,
            queue_capacity: 256,
            buffer_bytes: 4096,
        }
    }
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            to_device_days: 30,
            deleted_message_days: 30,
            expiry_interval_ms: 1000,
            interval_secs: 3600,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Accounts, passwords and tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// PBKDF2-HMAC-SHA256 iterations for new password hashes (OWASP 2023: 600,000; at least
    /// 1,000). Stored hashes with fewer iterations are upgraded at the next login.
    pub pbkdf2_iterations: u32,
    /// Access token lifetime in seconds (30 days).
    pub access_token_ttl_secs: u64,
    /// Refresh token lifetime in seconds (90 days); every refresh starts a new one.
    pub refresh_token_ttl_secs: u64,
    /// Shortest password accepted, in characters.
    pub min_password_chars: usize,
}

/// Request size limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest JSON request body in bytes.
    pub max_body_bytes: usize,
    /// Deepest JSON nesting accepted.
    pub max_json_depth: usize,
}

/// Fixed-window rate limits. Every `/api/v1` request counts against
/// `ratelimit:{ip}:{endpoint}` and, when authenticated, `ratelimit:user:{user_id}:{endpoint}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Turns all rate limiting off (for benchmarks only).
    pub enabled: bool,
    /// Window length in seconds (the data model's one hour).
    pub window_secs: u64,
    /// Requests per client address and endpoint per window.
    pub per_ip: u64,
    /// Requests per user and endpoint per window.
    pub per_user: u64,
    /// Login attempts per username per window, against password guessing.
    pub login_per_username: u64,
    /// Tighter per-address limits for particular endpoints (route template → limit).
    pub per_ip_endpoints: BTreeMap<String, u64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./zynk-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            database_max_connections: 16,
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
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            pbkdf2_iterations: 600_000,
            access_token_ttl_secs: 30 * 24 * 3600,
            refresh_token_ttl_secs: 90 * 24 * 3600,
            min_password_chars: 8,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        // A 64 KiB ciphertext is about 87 KiB as base64 inside JSON.
        Self {
            max_body_bytes: 128 * 1024,
            max_json_depth: 32,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        let per_ip_endpoints = [
            ("/api/v1/auth/register".to_owned(), 30),
            ("/api/v1/auth/login".to_owned(), 120),
            ("/api/v1/auth/refresh".to_owned(), 600),
        ]
        .into_iter()
        .collect();
        Self {
            enabled: true,
            window_secs: 3600,
            per_ip: 20_000,
            per_user: 20_000,
            login_per_username: 30,
            per_ip_endpoints,
        }
    }
}

/// A configuration that could not be loaded; the message names the key and the source.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Loads defaults, then `file` (if given; it must exist), then `ZYNK_*` variables from
    /// `env`, and validates the result.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "config file {} not found",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // Only ZYNK_* variables naming a configuration key are read (`ZYNK_LOG` is the log
        // filter); others, such as the test suite's ZYNK_TEST_*, are not configuration.
        let known = Config::top_level_keys();
        let vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| {
                k.strip_prefix("ZYNK_").is_some_and(|rest| {
                    let top = rest.split("__").next().unwrap_or("").to_ascii_lowercase();
                    known.contains(&top)
                })
            })
            .collect();
        figment = figment.merge(EnvSnapshot { vars });
        let config: Config = figment.extract().map_err(|e| ConfigError(describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// The names of the top-level keys (from the defaults, so they never drift from the struct).
    fn top_level_keys() -> Vec<String> {
        let mut keys: Vec<String> = match figment::value::Value::serialize(Config::default()) {
            Ok(figment::value::Value::Dict(_, dict)) => dict.keys().cloned().collect(),
            _ => Vec::new(),
        };
        // Optional keys whose default is unset are absent from the serialised defaults.
        keys.extend(["database_url", "redis_url", "ledger_key_file"].map(str::to_owned));
        keys
    }

    /// The configuration as TOML with passwords in URLs replaced by `***`.
    pub fn to_redacted_toml(&self) -> Result<String, toml::ser::Error> {
        let mut shown = self.clone();
        shown.database_url = shown.database_url.as_deref().map(redact_url);
        shown.redis_url = shown.redis_url.as_deref().map(redact_url);
        shown.push.webhook_url = shown.push.webhook_url.as_deref().map(redact_url);
        shown.evm.rpc_url = shown.evm.rpc_url.as_deref().map(redact_url);
        toml::to_string_pretty(&shown)
    }

    /// Loads from the process environment.
    pub fn from_process_env(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(file, std::env::vars())
    }

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

    /// The database URL in force: the configured one or SQLite in the data directory.
    pub fn effective_database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("zynk.db").display()))
    }

    /// Checks values that deserialise but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |key: &str, why: &str| Err(ConfigError(format!("key `{key}`: {why}")));
        if let Some(url) = &self.database_url {
            let ok = ["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|p| url.starts_with(p));
            if !ok {
                return fail(
                    "database_url",
                    "must start with sqlite:, postgres:// or postgresql://",
                );
            }
        }
        let wants_tls = |mode: &str| {
            let mode = mode.to_ascii_lowercase();
            mode == "require" || mode.starts_with("verify")
        };
        if let Some(url) = &self.database_url
            && (url
                .to_ascii_lowercase()
                .split(['?', '&'])
                .any(|p| p.strip_prefix("sslmode=").is_some_and(wants_tls))
                || std::env::var("PGSSLMODE").is_ok_and(|m| wants_tls(&m)))
        {
            return fail(
                "database_url",
                "TLS to PostgreSQL is not built into zynkd; connect over a local socket, a private \
                 network or a TLS-terminating proxy",
            );
        }
        if let Some(url) = &self.redis_url {
            if url.starts_with("rediss://") {
                return fail(
                    "redis_url",
                    "TLS to Redis (rediss://) is not built into zynkd; use redis:// on a private network",
                );
            }
            if !url.starts_with("redis://") {
                return fail("redis_url", "must start with redis://");
            }
        }
        if self.chain == ChainKind::Evm {
            match &self.evm.rpc_url {
                None => return fail("evm.rpc_url", "is required when chain = \"evm\""),
                Some(url) if !url.starts_with("http://") => {
                    return fail(
                        "evm.rpc_url",
                        "must be an http:// URL (reach https endpoints through a local node or proxy)",
                    );
                }
                Some(_) => {}
            }
            match &self.evm.contract {
                None => {
                    return fail(
                        "evm.contract",
                        "is required when chain = \"evm\" (deploy one with `zynkd evm deploy`)",
                    );
                }
                Some(address) if address.parse::<zynk_evm::Address>().is_err() => {
                    return fail("evm.contract", "must be a 0x-prefixed 20-byte address");
                }
                Some(_) => {}
            }
            if self.evm.chain_id.is_none() {
                return fail(
                    "evm.chain_id",
                    "is required when chain = \"evm\" (the publisher refuses a node on another chain)",
                );
            }
        }
        if self.evm.poll_interval_ms == 0 {
            return fail("evm.poll_interval_ms", "must be at least 1");
        }
        let trust = &self.trust;
        for (key, value) in [
            ("trust.report_max_penalty", trust.report_max_penalty),
            (
                "trust.report_min_reporter_score",
                trust.report_min_reporter_score,
            ),
            ("trust.vouch_max_points", trust.vouch_max_points),
            (
                "trust.vouch_min_voucher_score",
                trust.vouch_min_voucher_score,
            ),
            ("trust.restricted_below", trust.restricted_below),
            ("trust.restricted_percent", trust.restricted_percent),
            ("trust.severe_below", trust.severe_below),
            ("trust.severe_percent", trust.severe_percent),
            ("trust.account_age_points", trust.account_age_points),
            ("trust.message_volume_points", trust.message_volume_points),
        ] {
            if value > 100 {
                return fail(key, "must be between 0 and 100");
            }
        }
        if trust.severe_below > trust.restricted_below {
            return fail(
                "trust.severe_below",
                "must not exceed trust.restricted_below",
            );
        }
        if !trust.account_age_days.windows(2).all(|w| w[0] < w[1]) {
            return fail(
                "trust.account_age_days",
                "milestones must be in strictly ascending order",
            );
        }
        if !trust.message_volumes.windows(2).all(|w| w[0] < w[1]) {
            return fail(
                "trust.message_volumes",
                "milestones must be in strictly ascending order",
            );
        }
        if trust.milestone_interval_secs == 0 {
            return fail("trust.milestone_interval_secs", "must be at least 1");
        }
        if trust.credential_ttl_days == 0 || trust.credential_ttl_days > 3650 {
            return fail("trust.credential_ttl_days", "must be between 1 and 3650");
        }
        if self.anchor_interval_secs == 0 {
            return fail("anchor_interval_secs", "must be at least 1");
        }
        if self.anchor_max_batch == 0 || self.anchor_max_batch > 1_000_000 {
            return fail("anchor_max_batch", "must be between 1 and 1000000");
        }
        if self.database_max_connections == 0 {
            return fail("database_max_connections", "must be at least 1");
        }
        if self.auth.pbkdf2_iterations < 1_000 {
            return fail("auth.pbkdf2_iterations", "must be at least 1000");
        }
        if self.auth.access_token_ttl_secs == 0 {
            return fail("auth.access_token_ttl_secs", "must be positive");
        }
        if self.auth.refresh_token_ttl_secs == 0 {
            return fail("auth.refresh_token_ttl_secs", "must be positive");
        }
        if self.auth.min_password_chars == 0 || self.auth.min_password_chars > 1024 {
            return fail("auth.min_password_chars", "must be between 1 and 1024");
        }
        if self.limits.max_body_bytes < 1024 {
            return fail("limits.max_body_bytes", "must be at least 1024");
        }
        if !(2..=256).contains(&self.limits.max_json_depth) {
            return fail("limits.max_json_depth", "must be between 2 and 256");
        }
        if self.rate_limits.window_secs == 0 {
            return fail("rate_limits.window_secs", "must be positive");
        }
        if self.websocket.heartbeat_secs == 0 || self.websocket.heartbeat_secs > 3600 {
            return fail("websocket.heartbeat_secs", "must be between 1 and 3600");
        }
        if self.websocket.queue_capacity == 0 {
            return fail("websocket.queue_capacity", "must be at least 1");
        }
        if !(1024..=1 << 20).contains(&self.websocket.buffer_bytes) {
            return fail("websocket.buffer_bytes", "must be between 1024 and 1048576");
        }
        if let Some(url) = &self.push.webhook_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return fail("push.webhook_url", "must be an http(s) URL");
        }
        if self.retention.to_device_days == 0 {
            return fail("retention.to_device_days", "must be at least 1");
        }
        if self.retention.deleted_message_days == 0 {
            return fail("retention.deleted_message_days", "must be at least 1");
        }
        if self.retention.expiry_interval_ms < 10 {
            return fail("retention.expiry_interval_ms", "must be at least 10");
        }
        if self.retention.interval_secs == 0 {
            return fail("retention.interval_secs", "must be at least 1");
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log) {
            return fail("log", &e.to_string());
        }
        Ok(())
    }

    /// The example configuration file: every key with its default and its documentation.
    pub fn example_toml() -> String {
        include_str!("../../../docs/zynk.example.toml").to_owned()
    }
}

/// `url` with the password of its user-info part replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `ZYNK_*` variables captured once, so loading is deterministic and testable.
struct EnvSnapshot {
    vars: Vec<(String, String)>,
}

impl figment::Provider for EnvSnapshot {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("ZYNK_ environment variable(s)")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let mut dict = figment::value::Dict::new();
        for (name, value) in &self.vars {
            let Some(rest) = name.strip_prefix("ZYNK_") else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            let parsed = value
                .parse::<figment::value::Value>()
                .unwrap_or_else(|_| figment::value::Value::from(value.clone()));
            insert_path(&mut dict, &path, parsed);
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

fn insert_path(dict: &mut figment::value::Dict, path: &[String], value: figment::value::Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| figment::value::Value::from(figment::value::Dict::new()));
            if let figment::value::Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

fn describe(err: figment::Error) -> String {
    err.into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                "<root>".to_owned()
            } else {
                e.path.join(".")
            };
            let source = e
                .metadata
                .as_ref()
                .map(
                    |m| match &e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                        Some(src) => format!(" (from {} {src})", m.name),
                        None => format!(" (from {})", m.name),
                    },
                )
                .unwrap_or_default();
            format!("key `{key}`: {}{source}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_are_the_embedded_default() {
        let config = Config::load(None, vars(&[])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("./zynk-data"));
        assert_eq!(
            config.effective_database_url(),
            "sqlite://./zynk-data/zynk.db"
        );
        assert!(config.redis_url.is_none());
        assert_eq!(config.auth.pbkdf2_iterations, 600_000);
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("zynk.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\n[auth]\npbkdf2_iterations = 700000\n",
        )
        .unwrap();
        let config = Config::load(
            Some(&file),
            vars(&[
                ("ZYNK_LISTEN", "0.0.0.0:9999"),
                ("ZYNK_DATA_DIR", "/var/lib/zynk"),
                ("ZYNK_DATABASE_URL", "postgres://zynk@localhost/zynk"),
                ("ZYNK_REDIS_URL", "redis://127.0.0.1:6379"),
                ("ZYNK_RATE_LIMITS__PER_IP", "7"),
                ("OTHER", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:9999");
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/zynk"));
        assert_eq!(
            config.database_url.as_deref(),
            Some("postgres://zynk@localhost/zynk")
        );
        assert_eq!(config.redis_url.as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(config.auth.pbkdf2_iterations, 700_000);
        assert_eq!(config.rate_limits.per_ip, 7);
    }

    #[test]
    fn invalid_values_name_the_key() {
        let err = Config::load(None, vars(&[("ZYNK_LISTEN", "not-an-address")])).unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
        let err = Config::load(None, vars(&[("ZYNK_DATABASE_URL", "mysql://x")])).unwrap_err();
        assert!(err.to_string().contains("database_url"), "{err}");
        let err = Config::load(None, vars(&[("ZYNK_AUTH__PBKDF2_ITERATIONS", "10")])).unwrap_err();
        assert!(err.to_string().contains("auth.pbkdf2_iterations"), "{err}");
        let err = Config::load(None, vars(&[("ZYNK_AUTH__NO_SUCH_KEY", "1")])).unwrap_err();
        assert!(err.to_string().contains("no_such_key"), "{err}");
        let err = Config::load(None, vars(&[("ZYNK_REDIS_URL", "rediss://h")])).unwrap_err();
        assert!(err.to_string().contains("redis_url"), "{err}");
        let err = Config::load(None, vars(&[("ZYNK_RETENTION__INTERVAL_SECS", "0")])).unwrap_err();
        assert!(err.to_string().contains("retention.interval_secs"), "{err}");
    }

    #[test]
    fn unrelated_zynk_variables_are_ignored() {
        let config = Config::load(
            None,
            vars(&[
                ("ZYNK_TEST_POSTGRES_URL", "postgres://x"),
                ("ZYNK_KILL_SEED", "5"),
            ]),
        )
        .unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn shown_configuration_hides_passwords() {
        let config = Config {
            database_url: Some("postgres://zynk:s3cret@db:5432/zynk".into()),
            ..Config::default()
        };
        let shown = config.to_redacted_toml().unwrap();
        assert!(
            shown.contains("postgres://zynk:***@db:5432/zynk"),
            "{shown}"
        );
        assert!(!shown.contains("s3cret"));
    }

    #[test]
    fn example_config_documents_every_key() {
        fn keys(prefix: &str, value: &toml::Value, out: &mut Vec<String>) {
            if let toml::Value::Table(table) = value {
                for (k, v) in table {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    match v {
                        toml::Value::Table(_) if k != "per_ip_endpoints" => keys(&path, v, out),
                        _ => out.push(path),
                    }
                }
            }
        }
        let mut all = Vec::new();
        let defaults = toml::Value::try_from(Config::default()).unwrap();
        keys("", &defaults, &mut all);
        all.extend(
            [
                "database_url",
                "redis_url",
                "ledger_key_file",
                "push.webhook_url",
            ]
            .map(str::to_owned),
        );
        let example = Config::example_toml();
        for key in all {
            let name = key.rsplit('.').next().unwrap();
            let present = example.lines().any(|l| {
                let l = l.trim_start_matches('#').trim();
                l.starts_with(&format!("{name} =")) || l == format!("[{key}]")
            });
            assert!(present, "docs/zynk.example.toml does not document `{key}`");
        }
    }

    #[test]
    fn example_config_parses_to_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("zynk.toml");
        std::fs::write(&file, Config::example_toml()).unwrap();
        let config = Config::load(Some(&file), vars(&[])).unwrap();
        assert_eq!(config, Config::default());
    }
}
