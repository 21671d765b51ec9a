//! The checks of the listener's timeouts and caps and of the abuse limits, each naming its key.

use super::{Config, ConfigError};

impl Config {
    pub(super) fn validate_hardening(&self) -> Result<(), ConfigError> {
        let fail = |key: &str, why: &str| Err(ConfigError(format!("key `{key}`: {why}")));
        let c = &self.connections;
        for (key, value) in [
            (
                "connections.header_read_timeout_secs",
                c.header_read_timeout_secs,
            ),
            ("connections.idle_timeout_secs", c.idle_timeout_secs),
            ("connections.request_timeout_secs", c.request_timeout_secs),
        ] {
            if !(1..=86_400).contains(&value) {
                return fail(key, "must be between 1 and 86400");
            }
        }
        if c.max_connections == 0 {
            return fail("connections.max_connections", "must be at least 1");
        }
        if c.max_connections_per_address == 0 {
            return fail(
                "connections.max_connections_per_address",
                "must be at least 1",
            );
        }
        if self.auth.password_checks_per_account == 0 {
            return fail("auth.password_checks_per_account", "must be at least 1");
        }
        if self.auth.password_checks_per_address == 0 {
            return fail("auth.password_checks_per_address", "must be at least 1");
        }
        if self.websocket.max_sockets_per_device == 0 {
            return fail("websocket.max_sockets_per_device", "must be at least 1");
        }
        if self.websocket.frames_per_second == 0 {
            return fail("websocket.frames_per_second", "must be at least 1");
        }
        if self.websocket.frame_burst == 0 {
            return fail("websocket.frame_burst", "must be at least 1");
        }
        if !(1..=zynk_proto::keys::MAX_DEVICES_PER_CLAIM).contains(&self.limits.max_claim_devices) {
            return fail("limits.max_claim_devices", "must be between 1 and 1024");
        }
        if self.limits.max_inbox_messages == 0 {
            return fail("limits.max_inbox_messages", "must be at least 1");
        }
        if self.rate_limits.password_slowdown_ms > 60_000 {
            return fail("rate_limits.password_slowdown_ms", "must be at most 60000");
        }
        Ok(())
    }
}
