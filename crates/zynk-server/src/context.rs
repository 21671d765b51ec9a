//! The shared context: the configuration in force and the storage seams. Built once by
//! [`crate::App::build`] and handed to every service and job; the realtime layer
//! ([`crate::realtime`]) does not see it.

use std::sync::Arc;

use zynk_backends::Ephemeral;
use zynk_backends::blob::BlobStore;
use zynk_backends::sql::AnyStore;

use crate::config::Config;

/// What every service needs: configuration and the two storage seams.
pub struct Context {
    /// The configuration in force.
    pub config: Config,
    /// Durable store.
    pub store: Arc<dyn AnyStore>,
    /// Ephemeral state.
    pub ephemeral: Arc<dyn Ephemeral>,
    /// Encrypted file blobs.
    pub blobs: Arc<dyn BlobStore>,
    /// The analytics recorder (does nothing when `analytics.enabled` is false).
    pub analytics: crate::services::analytics::Analytics,
}
