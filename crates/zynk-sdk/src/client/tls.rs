//! TLS for the native transport (HTTP and WebSocket): rustls with the ring
//! provider, certificates checked against the operating system's roots
//! (rustls-platform-verifier) plus, for a server behind a private
//! certificate authority, extra roots from a PEM file given once per process
//! with [`trust_extra_roots`]. `http://` and `ws://` URLs stay plain. In the
//! browser build the browser does TLS.

use std::sync::{Arc, Mutex, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::error::ClientError;

/// Extra roots given before the first connection.
static EXTRA_ROOTS: Mutex<Vec<CertificateDer<'static>>> = Mutex::new(Vec::new());
/// The configuration every connection of the process uses, built on first use.
static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();

/// Trust the certificates in `pem` (one or more `CERTIFICATE` blocks) as
/// roots, besides the system's. Call it before the first connection; later
/// calls are refused, as connections already made would not see them.
pub fn trust_extra_roots(pem: &[u8]) -> Result<usize, ClientError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::Invalid(format!("CA file: {e}")))?;
    if certificates.is_empty() {
        return Err(ClientError::Invalid(
            "CA file: no PEM certificate in it".into(),
        ));
    }
    if CONFIG.get().is_some() {
        return Err(ClientError::Invalid(
            "CA file: given after the first connection".into(),
        ));
    }
    let count = certificates.len();
    EXTRA_ROOTS
        .lock()
        .map_err(|_| ClientError::Invalid("CA file: lock".into()))?
        .extend(certificates);
    Ok(count)
}

/// Makes ring the process's default rustls provider (once; a provider chosen
/// before by the application stays).
fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The process's client configuration.
pub(crate) fn client_config() -> Result<Arc<rustls::ClientConfig>, ClientError> {
    install_provider();
    CONFIG
        .get_or_init(|| build().map(Arc::new))
        .clone()
        .map_err(|e| ClientError::Transport(format!("TLS setup: {e}")))
}

fn build() -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let extra = EXTRA_ROOTS.lock().map_err(|_| "lock")?.clone();
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
            .map_err(|e| e.to_string())?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        // A full certificate check: the platform verifier, not a bypass.
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// An HTTP client speaking TLS with the process's configuration to
/// `https://` URLs (give extra roots first).
pub fn http_client() -> Result<reqwest::Client, ClientError> {
    let config = Arc::unwrap_or_clone(client_config()?);
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()
        .map_err(|e| ClientError::Transport(format!("HTTP client: {e}")))
}
