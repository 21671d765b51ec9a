//! Test harness for Zynk: starts a real server in-process on an ephemeral port, on either
//! backend, and drives it over HTTP.
//!
//! - [`Backend::Embedded`]: SQLite in a temporary directory, in-process ephemeral state.
//! - [`Backend::Scale`]: a fresh PostgreSQL database and a private Redis key prefix, both
//!   dropped afterwards. The services are found through `ZYNK_TEST_POSTGRES_URL` (an admin
//!   connection, default `postgres://postgres@127.0.0.1:5432/postgres`) and
//!   `ZYNK_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`). If they cannot be reached the
//!   test fails: it never skips.
//!
//! File blobs live in the data directory with the embedded default and, with PostgreSQL +
//! Redis, in a fresh bucket of the test S3-compatible server (`ZYNK_TEST_S3_URL`, data in
//! `ZYNK_TEST_S3_ROOT`; s3s-fs, started by `scripts/test.sh`); [`Blobs`] picks another pairing.
//!
//! [`backend_tests!`] turns one async test function into one test per backend;
//! [`storage_tests!`] into one per backend and blob storage.

pub mod client;
pub mod evm;
pub mod server;
pub mod tls;
pub mod wait;
pub mod ws;

pub use client::{
    Api, Device, Identity, Registered, ciphertext, code, login_json, message_body, random_key,
    register_json,
};
pub use evm::EvmChain;
pub use server::{Backend, Blobs, Node, TestServer};
pub use tls::TlsProxy;
pub use wait::{eventually, eventually_within};
pub use ws::WsClient;

/// Declares, for each named `async fn name(backend: Backend)`, a module `name` with two tests:
/// `embedded` and `postgres_redis`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn embedded() {
                    super::$name($crate::Backend::Embedded).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_redis() {
                    super::$name($crate::Backend::Scale).await
                }
            }
        )*
    };
}

/// Declares, for each named `async fn name(backend: Backend, blobs: Blobs)`, a module `name`
/// with four tests: `embedded_local`, `embedded_s3`, `postgres_redis_local` and
/// `postgres_redis_s3`.
#[macro_export]
macro_rules! storage_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn embedded_local() {
                    super::$name($crate::Backend::Embedded, $crate::Blobs::Local).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn embedded_s3() {
                    super::$name($crate::Backend::Embedded, $crate::Blobs::S3).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_redis_local() {
                    super::$name($crate::Backend::Scale, $crate::Blobs::Local).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_redis_s3() {
                    super::$name($crate::Backend::Scale, $crate::Blobs::S3).await
                }
            }
        )*
    };
}
