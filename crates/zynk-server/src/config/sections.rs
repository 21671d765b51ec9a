//! The tables of the configuration (`[auth]`, `[limits]`, `[rate_limits]`, …) and the
//! top-level enums, with their defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
    /// Most WebSockets one device may hold open on a node; more upgrades get 429.
    pub max_sockets_per_device: usize,
    /// Client frames (of any kind) one connection may send per second, on average.
    pub frames_per_second: u32,
    /// Client frames one connection may send in a burst above `frames_per_second`; frames
    /// beyond get an `error` frame `rate_limited`, and a connection that sends this many more
    /// without slowing down is closed (1008).
    pub frame_burst: u32,
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
    /// Conversation messages that no recipient's device received are deleted after this many
    /// days, and their senders told (`message_expired` with reason `undelivered`).
    pub undelivered_message_days: u32,
}

/// Analytics events (no content, nothing a client encrypted) and their daily aggregates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsConfig {
    /// Records events, keeps the daily aggregates and exports the event counters; false turns
    /// all of it off.
    pub enabled: bool,
    /// Raw events are deleted after this many days (the daily aggregates are kept).
    pub raw_days: u32,
    /// How often the daily aggregates are brought up to date (and old raw events removed), in
    /// seconds.
    pub interval_secs: u64,
    /// How often buffered events are written, in milliseconds.
    pub flush_interval_ms: u64,
    /// Most events waiting to be written; beyond it events are dropped (and counted).
    pub buffer_capacity: usize,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            raw_days: 30,
            interval_secs: 300,
            flush_interval_ms: 1000,
            buffer_capacity: 65_536,
        }
    }
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            heartbeat_secs: 30,
            queue_capacity: 256,
            buffer_bytes: 4096,
            max_sockets_per_device: 4,
            frames_per_second: 50,
            frame_burst: 200,
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
            undelivered_message_days: 30,
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
    /// Password checks and hashes one account may have running or waiting at once; more are
    /// answered 429 with `Retry-After: 1` (so one account cannot hold the hashing pool).
    pub password_checks_per_account: usize,
    /// Password checks and hashes one client address may have running or waiting at once.
    pub password_checks_per_address: usize,
}

/// Request size limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest JSON request body in bytes.
    pub max_body_bytes: usize,
    /// Deepest JSON nesting accepted.
    pub max_json_depth: usize,
    /// Most devices in one `POST /keys/claim`.
    pub max_claim_devices: usize,
    /// Most to-device payloads waiting in one device's inbox; sends beyond are refused for
    /// that device (reported in `full_devices`).
    pub max_inbox_messages: u64,
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
    /// Failed password checks (login, account deletion, password change) of one account per
    /// window after which its checks are refused from addresses that failed on it and slowed
    /// down by `password_slowdown_ms` from the others (so a stranger cannot lock the owner
    /// out).
    pub login_per_username: u64,
    /// Failed password checks of one account from one address per window; more are refused.
    pub password_failures_per_address: u64,
    /// Password checks (of any account) from one address per window.
    pub password_per_address: u64,
    /// Delay before a password check of an account over `login_per_username`, from an address
    /// that has not failed on it, in milliseconds.
    pub password_slowdown_ms: u64,
    /// Tighter per-address limits for particular endpoints (route template → limit).
    pub per_ip_endpoints: BTreeMap<String, u64>,
    /// One-time keys one user may claim per window, over all devices.
    pub key_claims_per_user: u64,
    /// One-time keys one user may claim from one device per window.
    pub key_claims_per_device: u64,
    /// To-device payloads one user may send per window.
    pub to_device_per_sender: u64,
    /// To-device payloads one user may send to one device per window.
    pub to_device_per_target: u64,
    /// Verifiable credentials one user may be issued per day.
    pub credentials_per_day: u64,
}
impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            pbkdf2_iterations: 600_000,
            access_token_ttl_secs: 30 * 24 * 3600,
            refresh_token_ttl_secs: 90 * 24 * 3600,
            min_password_chars: 8,
            password_checks_per_account: 1,
            password_checks_per_address: 2,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        // A 64 KiB ciphertext is about 87 KiB as base64 inside JSON.
        Self {
            max_body_bytes: 128 * 1024,
            max_json_depth: 32,
            max_claim_devices: 256,
            max_inbox_messages: 10_000,
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
            password_failures_per_address: 10,
            password_per_address: 300,
            password_slowdown_ms: 2000,
            key_claims_per_user: 2_000,
            key_claims_per_device: 20,
            to_device_per_sender: 20_000,
            to_device_per_target: 2_000,
            credentials_per_day: 10,
            per_ip_endpoints,
        }
    }
}

/// The listener: timeouts and caps on open connections (`docs/operations.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionsConfig {
    /// Seconds a client has to send a request's complete headers (also the longest wait for
    /// the next request on a kept-alive connection); slower connections are closed.
    pub header_read_timeout_secs: u64,
    /// Seconds without a byte read or written after which an HTTP connection is closed
    /// (WebSockets have their own heartbeat timeout).
    pub idle_timeout_secs: u64,
    /// Seconds a request may take from its headers to its answer before it is answered with
    /// 503 `request_timeout`.
    pub request_timeout_secs: u64,
    /// Most open connections (HTTP and WebSocket) at once; lowered at start to the descriptor
    /// limit minus `reserved_descriptors`. Connections beyond it are answered with 503
    /// `too_many_connections` and closed.
    pub max_connections: usize,
    /// Most open connections (HTTP and WebSocket) from one client address.
    pub max_connections_per_address: usize,
    /// File descriptors kept free of connections for the database, Redis and files.
    pub reserved_descriptors: usize,
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10,
            idle_timeout_secs: 120,
            request_timeout_secs: 30,
            max_connections: 50_000,
            max_connections_per_address: 512,
            reserved_descriptors: 512,
        }
    }
}

/// Calls (issue 12).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallsConfig {
    /// Seconds a call may ring unanswered before it becomes `missed`.
    pub ring_timeout_secs: u64,
    /// How often the missed-call sweep runs, in milliseconds.
    pub sweep_interval_ms: u64,
}

impl Default for CallsConfig {
    fn default() -> Self {
        Self {
            ring_timeout_secs: 45,
            sweep_interval_ms: 1000,
        }
    }
}

/// Encrypted files (`docs/configuration.md`, section `[files]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// Where file blobs (ciphertext only) live: unset for the local directory `DATA_DIR/blobs`,
    /// `file:///PATH` for another directory, `s3://ACCESS_KEY:SECRET_KEY@HOST[:PORT]/BUCKET`
    /// (HTTPS) or `s3+http://…` (plain HTTP) for S3-compatible storage, with an optional
    /// `?region=NAME`.
    pub storage_url: Option<String>,
    /// Largest file accepted, in bytes of ciphertext (default: a 2 GiB file once encrypted).
    pub max_file_bytes: u64,
    /// Bytes of files (not deleted, unfinished uploads at their declared size) one user may
    /// keep.
    pub quota_bytes: u64,
    /// Size of an upload part: every `PATCH` body but the last must be a whole number of parts
    /// (at least 5 MiB, S3's smallest part).
    pub part_bytes: u64,
    /// Uploads not continued for this many seconds are removed.
    pub unfinished_upload_secs: u64,
    /// How often expired, deleted and abandoned files are removed, in seconds.
    pub cleanup_interval_secs: u64,
    /// How often blobs without a row and rows without a blob are looked for, in seconds
    /// (weekly).
    pub orphan_interval_secs: u64,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            storage_url: None,
            max_file_bytes: 2_148_007_936,
            quota_bytes: 10 * 1024 * 1024 * 1024,
            part_bytes: 8 * 1024 * 1024,
            unfinished_upload_secs: 24 * 3600,
            cleanup_interval_secs: 300,
            orphan_interval_secs: 7 * 24 * 3600,
        }
    }
}

/// Presence and typing indicators (`[presence]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PresenceConfig {
    /// Seconds without a frame from any of a user's connected devices after which the user is
    /// `away` (`ZYNK_PRESENCE__IDLE_SECS`).
    pub idle_secs: u64,
    /// Most `typing` frames a user may send per minute; more are refused with `rate_limited`
    /// and not relayed.
    pub typing_per_minute: u64,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self {
            idle_secs: 300,
            typing_per_minute: 60,
        }
    }
}

/// TURN credentials handed to clients (coturn's REST scheme, `use-auth-secret`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TurnConfig {
    /// The secret shared with coturn (`static-auth-secret`). Unset: `GET /api/v1/turn` answers
    /// 503 `turn_not_configured`.
    pub shared_secret: Option<String>,
    /// TURN/STUN URLs given to clients, e.g. `turn:turn.example.org:3478?transport=udp`.
    pub urls: Vec<String>,
    /// Seconds the credentials stay valid.
    pub ttl_secs: u64,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self {
            shared_secret: None,
            urls: Vec::new(),
            ttl_secs: 86_400,
        }
    }
}

/// The browser client (`[web]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Serve the embedded browser client at `/` (`ZYNK_WEB__ENABLED`).
    pub enabled: bool,
    /// Origins (`https://host[:port]`) whose pages may call the API from the browser (CORS).
    /// Empty (the default): no cross-origin access; the client served by this server needs
    /// none.
    pub cors_allowed_origins: Vec<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            cors_allowed_origins: Vec::new(),
        }
    }
}

/// Proximity discovery (`[proximity]`, issue 12): who is near, as distance buckets only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProximityConfig {
    /// Whether `PUT /api/v1/location` and `GET /api/v1/nearby` are offered at all; off, they
    /// answer 403 `proximity_disabled`.
    pub enabled: bool,
    /// Side of the grid cells positions are snapped to before they are kept, in metres: nobody
    /// can locate another user more finely than one cell.
    pub grid_metres: u32,
    /// Most times a user may move their shared position to another grid cell per
    /// `move_window_secs` (sharing again from the same cell does not count).
    pub moves_per_window: u64,
    /// The window of `moves_per_window`, in seconds.
    pub move_window_secs: u64,
    /// Most users one `GET /api/v1/nearby` lists.
    pub max_results: usize,
}

impl Default for ProximityConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            grid_metres: 1000,
            moves_per_window: 12,
            move_window_secs: 3600,
            max_results: 50,
        }
    }
}
