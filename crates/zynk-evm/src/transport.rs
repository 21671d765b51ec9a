//! The JSON-RPC transport: the TLS provider, the HTTP provider and URLs as they are shown.

use std::time::Duration;

use alloy::providers::{ProviderBuilder, RootProvider};
use alloy::transports::http::reqwest;

use crate::error::EvmError;

/// Makes ring rustls' process-wide default provider (a provider installed before stays).
/// reqwest is built on rustls without a provider of its own in this workspace (the client SDK
/// brings ring; aws-lc, reqwest's default, needs cmake), so every process that builds a reqwest
/// client, here or through alloy, calls this first: `zynkd`, the push sender, the EVM client and
/// the test harness do.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Keeps scheme, host and port: paths and user info of hosted endpoints often carry API keys.
pub(crate) fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}", u.scheme()),
            (Some(host), None) => format!("{}://{host}", u.scheme()),
            _ => u.scheme().to_string(),
        },
        Err(_) => "<unparsable>".to_string(),
    }
}

pub(crate) fn connect_provider(
    rpc_url: &str,
    timeout: Duration,
) -> Result<(RootProvider, String), EvmError> {
    let shown = redact_url(rpc_url);
    let invalid = |reason: String| EvmError::InvalidUrl {
        url: shown.clone(),
        reason,
    };
    let url = reqwest::Url::parse(rpc_url).map_err(|e| invalid(e.to_string()))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(invalid(
                "https is not supported by this build (no TLS stack): use a local node or a \
                 local TLS-terminating proxy"
                    .to_string(),
            ));
        }
        other => {
            return Err(invalid(format!(
                "unsupported scheme {other:?}, expected http"
            )));
        }
    }
    install_tls_provider();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| invalid(format!("HTTP client: {e}")))?;
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_reqwest(client, url);
    Ok((provider, shown))
}
