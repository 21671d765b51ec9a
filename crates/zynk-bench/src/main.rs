//! `zynk-bench`: load generator for `zynkd`. It starts the server as a separate process (so the
//! server's CPU time and memory can be read from /proc), on the embedded default or on
//! PostgreSQL + Redis, and drives it over loopback only.
//!
//! - `http`: authenticated `GET /api/v1/users/me` round trips over keep-alive connections.
//! - `ws`: client pairs exchanging pre-encrypted messages over WebSockets.
//! - `idle`: server memory per idle WebSocket connection.

mod http;
mod server;
mod stats;
mod ws;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Benchmarks for zynkd (loopback only; every run is bounded in time and count).
#[derive(Debug, Parser)]
#[command(name = "zynk-bench", version, about)]
struct Cli {
    /// The zynkd binary to benchmark (default: next to this binary).
    #[arg(long, global = true)]
    zynkd: Option<PathBuf>,
    /// Storage backend of the server.
    #[arg(long, global = true, value_enum, default_value_t = BackendArg::Embedded)]
    backend: BackendArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BackendArg {
    /// SQLite + in-process state.
    Embedded,
    /// PostgreSQL + Redis (ZYNK_TEST_POSTGRES_URL, ZYNK_TEST_REDIS_URL).
    Scale,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Authenticated GET /api/v1/users/me with concurrent keep-alive clients.
    Http {
        /// Concurrent connections.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Measured seconds (after a one-second warm-up).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Total requests per second to offer (0: as fast as possible).
        #[arg(long, default_value_t = 0)]
        rate: u64,
    },
    /// Client pairs exchanging messages over WebSockets.
    Ws {
        /// Sender/receiver pairs.
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        /// Measured seconds (after a one-second warm-up).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Total messages per second to offer (0: as fast as possible).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// Ciphertext bytes per message.
        #[arg(long, default_value_t = 256)]
        size: usize,
        /// Sends in flight per sender when not rate-limited.
        #[arg(long, default_value_t = 8)]
        window: usize,
    },
    /// Server memory per idle WebSocket connection.
    Idle {
        /// Connections to open.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let zynkd = match cli.zynkd {
            Some(path) => path,
            None => std::env::current_exe()?.with_file_name("zynkd"),
        };
        let backend = match cli.backend {
            BackendArg::Embedded => zynk_testkit::Backend::Embedded,
            BackendArg::Scale => zynk_testkit::Backend::Scale,
        };
        let server = server::ServerProcess::start(&zynkd, backend).await?;
        println!(
            "zynkd {} on {:?}, pid {}",
            zynkd.display(),
            backend,
            server.pid()
        );
        match cli.command {
            Command::Http {
                connections,
                seconds,
                rate,
            } => http::run(&server, connections, seconds, rate).await,
            Command::Ws {
                pairs,
                seconds,
                rate,
                size,
                window,
            } => ws::run(&server, pairs, seconds, rate, size, window).await,
            Command::Idle { connections } => ws::idle(&server, connections).await,
        }
    })
}
