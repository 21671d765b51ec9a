//! One conformance suite for the durable store: every test is written once against the
//! [`zynk_backends::Store`] traits and runs on SQLite and on PostgreSQL, each time on a fresh,
//! migrated database (see `harness.rs`). A module per aggregate; `LedgerStore` is not covered
//! here.
//!
//! Run one engine with a nextest filter on the test name's last segment, e.g.
//! `cargo nextest run -p zynk-backends --test store -E 'test(/::sqlite$/)'`.

/// Turns each listed `async fn name(db: &TestDb)` into a module `name` with one test per engine:
/// `name::sqlite` and `name::postgres`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = crate::harness::TestDb::open(crate::harness::Engine::Sqlite).await;
                    super::$name(&db).await;
                    db.close().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let db = crate::harness::TestDb::open(crate::harness::Engine::Postgres).await;
                    super::$name(&db).await;
                    db.close().await;
                }
            }
        )*
    };
}

mod fixtures;
mod harness;

mod accounts;
mod calls;
mod contacts;
mod conversations;
mod devices;
mod evm;
mod files;
mod groups;
mod keys;
mod maintenance;
mod messages;
mod operations;
mod sessions;
mod to_device;
mod trust;
