//! `zynk-bench`: load generator for `zynkd`. It starts the server as a separate process (so the
//! server's CPU time and memory can be read from /proc), on the embedded default or on
//! PostgreSQL + Redis, and drives it over loopback only.
//!
//! - `http`: authenticated `GET /api/v1/users/me` round trips over keep-alive connections.
//! - `ws`: client pairs exchanging pre-encrypted messages over WebSockets.
//! - `idle`: server memory per idle WebSocket connection.
//! - `pairs`: the one-core workload of issue 15 (throughput, latency, order, memory, growth).

mod group;
mod http;
mod pairs;
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
    /// Pins the server to these CPUs (`taskset -c`), e.g. `1`; pin the generator itself with
    /// `taskset -c 0 zynk-bench …`.
    #[arg(long, global = true)]
    server_cpus: Option<String>,
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
        /// Random (version 4) message ids instead of the time-ordered (version 7) ids the Zynk
        /// client makes; each then lands on a random page of the id indexes.
        #[arg(long)]
        random_ids: bool,
    },
    /// Seals `messages` stored messages into ledger batches with `zynkd ledger anchor` and
    /// verifies the ledger (end-to-end anchoring throughput on the embedded chain); with `--evm`,
    /// also publishes everything to a registry on a local anvil with `zynkd evm publish`.
    Anchor {
        /// Messages to store and anchor.
        #[arg(long, default_value_t = 50_000)]
        messages: usize,
        /// Also anchor on an EVM chain (a local anvil started from tools/node_modules).
        #[arg(long)]
        evm: bool,
        /// With --evm: extra identities registered first, so the publication rate is measured
        /// over many transactions.
        #[arg(long, default_value_t = 200)]
        identities: usize,
    },
    /// One sender into a group whose members are all connected: deliveries per second and
    /// delivery latency.
    Group {
        /// Members, the sender included (2-256).
        #[arg(long, default_value_t = 256)]
        members: usize,
        /// Measured seconds (after a one-second warm-up).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Ciphertext bytes per message.
        #[arg(long, default_value_t = 256)]
        size: usize,
        /// Sends in flight.
        #[arg(long, default_value_t = 64)]
        window: usize,
    },
    /// The one-core workload: sender/receiver pairs with 100-byte messages; closed-loop
    /// throughput (window of undelivered messages), open-loop latency at each rate, order,
    /// memory; with --prefill, on a database already holding that many messages.
    Pairs {
        /// Sender/receiver pairs, one 1:1 conversation each.
        #[arg(long, default_value_t = 100)]
        pairs: usize,
        /// Messages per pair in the throughput run.
        #[arg(long, default_value_t = 1000)]
        per_pair: usize,
        /// Undelivered messages per pair in the throughput run.
        #[arg(long, default_value_t = 10)]
        window: usize,
        /// Open-loop rates (messages per second in total), comma-separated; 0 for none.
        #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
        rates: Vec<u64>,
        /// Seconds of each open-loop run.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Messages stored directly in the database before the runs.
        #[arg(long, default_value_t = 0)]
        prefill: u64,
    },
    /// Server memory per idle WebSocket connection.
    Idle {
        /// Connections to open.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
    },
}

/// Stores `count` messages over HTTP (32 concurrent senders), then times anchoring and
/// verification.
async fn anchor(
    server: &server::ServerProcess,
    zynkd: &std::path::Path,
    count: usize,
    evm: Option<(usize, &zynk_testkit::EvmChain)>,
) -> anyhow::Result<()> {
    let api = zynk_testkit::Api::new(&server.base_url);
    if let Some((identities, _)) = evm {
        for i in 0..identities {
            api.register(&zynk_testkit::Api::username(&format!("id{i}")))
                .await;
        }
        println!("registered {identities} identities");
    }
    let a = api.register(&zynk_testkit::Api::username("anchor_a")).await;
    let b = api.register(&zynk_testkit::Api::username("anchor_b")).await;
    let conversation = api.open_conversation(&a.access_token, &b.user_id).await;
    let started = std::time::Instant::now();
    let per_task = count.div_ceil(32);
    let tasks: Vec<_> = (0..32)
        .map(|t| {
            let (api, token, conversation) =
                (api.clone(), a.access_token.clone(), conversation.clone());
            tokio::spawn(async move {
                for i in 0..per_task {
                    api.send_message(
                        &token,
                        &conversation,
                        zynk_testkit::message_body(&format!("{t}-{i}")),
                    )
                    .await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    let stored = per_task * 32;
    println!(
        "stored {stored} messages in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let (ok, out, secs) = server.ledger(zynkd, "anchor")?;
    anyhow::ensure!(ok, "anchor failed: {out}");
    println!(
        "anchor: {} in {secs:.2}s = {:.0} messages/s anchored (tree, signed header and block, {stored} proofs stored)",
        out.trim(),
        stored as f64 / secs
    );
    let anchor_secs = secs;
    if let Some((_, chain)) = evm {
        let (ok, out, secs) = server.admin(zynkd, &["evm", "publish"])?;
        anyhow::ensure!(ok, "evm publish failed: {out}");
        // "published: N sent, M confirmed, F failed": M receipts recorded by this command
        // (its background pass included).
        let sent: f64 = out
            .split(", ")
            .find_map(|part| part.strip_suffix(" confirmed"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0.0);
        println!(
            "evm publish (anvil, chain {}): {} in {secs:.2}s = {:.0} transactions/s confirmed",
            chain.chain_id(),
            out.trim(),
            sent / secs
        );
        println!(
            "end to end on the EVM chain: {stored} messages anchored and confirmed in {:.2}s = {:.0} messages/s",
            anchor_secs + secs,
            stored as f64 / (anchor_secs + secs)
        );
    }
    let (ok, out, secs) = server.ledger(zynkd, "verify")?;
    anyhow::ensure!(ok, "verify failed: {out}");
    println!("verify: {} in {secs:.2}s", out.trim());
    Ok(())
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
        let chain = match &cli.command {
            Command::Anchor { evm: true, .. } => Some(zynk_testkit::EvmChain::start().await),
            _ => None,
        };
        let env = match &chain {
            // The server publishes at most once an hour here, so that `zynkd evm publish` is
            // what the measurement times.
            Some(chain) => {
                let mut config = zynk_testkit::server::Storage::create(backend)
                    .await
                    .config();
                chain.configure(&mut config);
                vec![
                    ("ZYNK_CHAIN".to_owned(), "evm".to_owned()),
                    ("ZYNK_EVM__RPC_URL".to_owned(), chain.rpc_url()),
                    ("ZYNK_EVM__CONTRACT".to_owned(), chain.contract.to_string()),
                    (
                        "ZYNK_EVM__KEY_FILE".to_owned(),
                        config
                            .evm
                            .key_file
                            .clone()
                            .unwrap_or_default()
                            .display()
                            .to_string(),
                    ),
                    (
                        "ZYNK_EVM__CHAIN_ID".to_owned(),
                        chain.chain_id().to_string(),
                    ),
                    (
                        "ZYNK_EVM__POLL_INTERVAL_MS".to_owned(),
                        "3600000".to_owned(),
                    ),
                ]
            }
            None => Vec::new(),
        };
        let server =
            server::ServerProcess::start(&zynkd, backend, env, cli.server_cpus.as_deref()).await?;
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
                random_ids,
            } => ws::run(&server, pairs, seconds, rate, size, window, random_ids).await,
            Command::Idle { connections } => ws::idle(&server, connections).await,
            Command::Pairs {
                pairs,
                per_pair,
                window,
                rates,
                seconds,
                prefill,
            } => {
                pairs::run(
                    &server,
                    pairs::Options {
                        pairs,
                        per_pair,
                        window,
                        rates,
                        seconds,
                        prefill,
                    },
                )
                .await
            }
            Command::Group {
                members,
                seconds,
                size,
                window,
            } => group::run(&server, members, seconds, size, window).await,
            Command::Anchor {
                messages,
                evm,
                identities,
            } => {
                let evm = if evm {
                    chain.as_ref().map(|c| (identities, c))
                } else {
                    None
                };
                anchor(&server, &zynkd, messages, evm).await
            }
        }
    })
}
