//! The state every handler receives.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::context::Context;
use crate::services::Services;

/// Shared by all handlers; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Configuration and storage seams.
    pub context: Arc<Context>,
    /// The services.
    pub services: Services,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// The OpenAPI document, rendered once at start.
    pub openapi_json: Arc<String>,
}
