//! The checks of values that deserialise but make no sense, each naming its key.

use super::{ChainKind, Config, ConfigError};

impl Config {
    /// Checks values that deserialise but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |key: &str, why: &str| Err(ConfigError(format!("key `{key}`: {why}")));
        if let Err(why) = self.backup.interval() {
            return fail("backup.schedule", &why);
        }
        if self.backup.keep == 0 {
            return fail("backup.keep", "keep at least one archive");
        }
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
        if !(1..=65536).contains(&self.database_cache_mib) {
            return fail("database_cache_mib", "must be 1 to 65536");
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
        if !(1..=3600).contains(&self.calls.ring_timeout_secs) {
            return fail("calls.ring_timeout_secs", "must be between 1 and 3600");
        }
        if self.calls.sweep_interval_ms < 10 {
            return fail("calls.sweep_interval_ms", "must be at least 10");
        }
        if self
            .turn
            .shared_secret
            .as_deref()
            .is_some_and(str::is_empty)
        {
            return fail("turn.shared_secret", "must not be empty");
        }
        if self.turn.ttl_secs == 0 {
            return fail("turn.ttl_secs", "must be at least 1");
        }
        if let Some(url) = self.turn.urls.iter().find(|u| {
            !(u.starts_with("turn:") || u.starts_with("turns:") || u.starts_with("stun:"))
        }) {
            return fail(
                "turn.urls",
                &format!("{url:?} is not a turn:, turns: or stun: URL"),
            );
        }
        if let Some(origin) = self
            .web
            .cors_allowed_origins
            .iter()
            .find(|o| !valid_origin(o))
        {
            return fail(
                "web.cors_allowed_origins",
                &format!("{origin:?} is not an origin like https://host or http://host:port"),
            );
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
        if self.retention.undelivered_message_days == 0 {
            return fail("retention.undelivered_message_days", "must be at least 1");
        }
        if self.analytics.raw_days == 0 {
            return fail("analytics.raw_days", "must be at least 1");
        }
        if self.analytics.interval_secs == 0 {
            return fail("analytics.interval_secs", "must be at least 1");
        }
        if self.analytics.flush_interval_ms < 10 {
            return fail("analytics.flush_interval_ms", "must be at least 10");
        }
        if self.analytics.buffer_capacity == 0 {
            return fail("analytics.buffer_capacity", "must be at least 1");
        }
        if let Err(why) = self.validate_files() {
            return fail(why.0, &why.1);
        }
        if !(1..=86_400).contains(&self.presence.idle_secs) {
            return fail("presence.idle_secs", "must be between 1 and 86400");
        }
        if self.presence.typing_per_minute == 0 {
            return fail("presence.typing_per_minute", "must be at least 1");
        }
        if !(500..=5000).contains(&self.proximity.grid_metres) {
            return fail("proximity.grid_metres", "must be between 500 and 5000");
        }
        if self.proximity.moves_per_window == 0 {
            return fail("proximity.moves_per_window", "must be at least 1");
        }
        if self.proximity.move_window_secs == 0 {
            return fail("proximity.move_window_secs", "must be at least 1");
        }
        if !(1..=500).contains(&self.proximity.max_results) {
            return fail("proximity.max_results", "must be between 1 and 500");
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log) {
            return fail("log", &e.to_string());
        }
        self.validate_hardening()?;
        Ok(())
    }
}

impl Config {
    /// Checks `[files]`: the key at fault and why.
    fn validate_files(&self) -> Result<(), (&'static str, String)> {
        let files = &self.files;
        if let Some(url) = &files.storage_url {
            let known = ["file:///", "s3://", "s3+http://"];
            if !known.iter().any(|scheme| url.starts_with(scheme)) {
                return Err((
                    "files.storage_url",
                    "must be file:///PATH, s3://KEY:SECRET@HOST/BUCKET or s3+http://…".into(),
                ));
            }
        }
        if files.max_file_bytes == 0 || files.max_file_bytes > 2_148_007_936 {
            return Err((
                "files.max_file_bytes",
                "must be between 1 and 2148007936 (a 2 GiB file once encrypted)".into(),
            ));
        }
        if files.quota_bytes == 0 {
            return Err(("files.quota_bytes", "must be at least 1".into()));
        }
        if !(5 * 1024 * 1024..=256 * 1024 * 1024).contains(&files.part_bytes) {
            return Err((
                "files.part_bytes",
                "must be between 5242880 (5 MiB) and 268435456".into(),
            ));
        }
        if files.unfinished_upload_secs == 0 {
            return Err(("files.unfinished_upload_secs", "must be at least 1".into()));
        }
        if files.cleanup_interval_secs == 0 {
            return Err(("files.cleanup_interval_secs", "must be at least 1".into()));
        }
        if files.orphan_interval_secs == 0 {
            return Err(("files.orphan_interval_secs", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// Whether `origin` is a browser origin: `http(s)://host[:port]`, no path, no wildcard.
fn valid_origin(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match rest {
        Some(host) => {
            !host.is_empty()
                && !host.contains(['/', '*', ' ', '?', '#', '@'])
                && axum::http::HeaderValue::from_str(origin).is_ok()
        }
        None => false,
    }
}
