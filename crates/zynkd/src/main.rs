//! `zynkd`: the Zynk server.

mod backup;
mod doctor;
mod files;
mod ops;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zynk_server::{App, Config};

/// The Zynk server: end-to-end-encrypted messaging that stores and routes ciphertext only.
///
/// Configuration comes from built-in defaults, then the file given with --config, then ZYNK_*
/// environment variables (see docs/configuration.md).
#[derive(Debug, Parser)]
#[command(name = "zynkd", version, about, long_about)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the server (applies pending migrations first).
    Serve,
    /// Manages the database schema.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// The embedded ledger.
    Ledger {
        #[command(subcommand)]
        action: LedgerAction,
    },
    /// The EVM registry (`chain = "evm"`).
    Evm {
        #[command(subcommand)]
        action: EvmAction,
    },
    /// Trust scores (administrators).
    Trust {
        #[command(subcommand)]
        action: TrustAction,
    },
    /// Encrypted files.
    Files {
        #[command(subcommand)]
        action: files::FilesAction,
    },
    /// Backups: create, verify and restore archives.
    Backup {
        #[command(subcommand)]
        action: backup::BackupAction,
    },
    /// Checks the configuration and its environment (storage, permissions, limits, TURN, S3,
    /// clock) and says what to fix; exits non-zero when a check fails.
    Doctor {
        /// Prints the checks as one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Prints the daily analytics totals per event type (`--json`: one object per line).
    Stats(ops::StatsArgs),
    /// Prints each background job's last run, duration and outcome (`--json`: one object per
    /// line).
    Jobs(ops::JobsArgs),
    /// Prints configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// Applies all pending migrations.
    Up,
    /// Reverts migrations: the newest one, or down to (keeping) --to VERSION; --to 0 reverts all.
    Down {
        /// Keep migrations up to this version.
        #[arg(long)]
        to: Option<i64>,
    },
    /// Lists migrations and whether each is applied.
    Status,
}

#[derive(Debug, Subcommand)]
enum LedgerAction {
    /// Seals a batch of the messages not anchored yet, now (instead of waiting for the
    /// hourly batch).
    Anchor,
    /// Walks the whole ledger (blocks, transactions, batch headers, batch trees) and checks every
    /// hash link and signature against this node's validator key; fails on any altered byte.
    /// Run it with the same configuration as `zynkd serve`, with the server stopped.
    Verify,
}

#[derive(Debug, Subcommand)]
enum EvmAction {
    /// Deploys the ZynkRegistry contract with the signer key (`evm.key_file`) to `evm.rpc_url`
    /// and prints its address for `evm.contract`. The signer becomes its owner for good.
    Deploy,
    /// Shows the chain, the registry, the signer and the publication queue.
    Status,
    /// Publishes what is queued now and waits for the receipts (the server does this on its
    /// own every `evm.poll_interval_ms`).
    Publish,
}

#[derive(Debug, Subcommand)]
enum TrustAction {
    /// Sets a user's trust score (a `manual_adjustment`: a history row, a ledger transaction and
    /// an event to the user).
    Set {
        /// Username.
        username: String,
        /// New score, 0-100.
        score: u8,
    },
    /// Prints a user's trust score and its recent history.
    Show {
        /// Username.
        username: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Prints the example configuration file with every key, its default and documentation.
    Example,
    /// Prints the configuration in force (defaults, file and environment merged) as TOML.
    Show,
}

fn main() -> ExitCode {
    zynk_evm::install_tls_provider();
    let cli = Cli::parse();
    let config = match Config::from_process_env(cli.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("zynkd: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("zynkd: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config, cli.config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("zynkd: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config, file: Option<PathBuf>) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve(config).await,
        Command::Migrate { action } => migrate(action, config).await,
        Command::Ledger { action } => ledger(action, config).await,
        Command::Trust { action } => trust(action, config).await,
        Command::Evm { action } => evm(action, config).await,
        Command::Files { action } => files::run(action, config).await,
        Command::Backup { action } => backup::run(action, config).await,
        Command::Doctor { json } => doctor::run(config, file.as_deref(), json).await,
        Command::Stats(args) => ops::stats(args, config).await,
        Command::Jobs(args) => ops::jobs(args, config).await,
        Command::Config {
            action: ConfigAction::Example,
        } => {
            print!("{}", Config::example_toml());
            Ok(())
        }
        Command::Config {
            action: ConfigAction::Show,
        } => {
            print!("{}", config.to_redacted_toml()?);
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    zynk_server::telemetry::init_logging(&config);
    let app = App::build(config).await?;
    let listener = app.bind().await?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        database = %zynk_server::config::redact_url(&app.config().effective_database_url()),
        ephemeral = if app.config().redis_url.is_some() { "redis" } else { "memory" },
        "zynkd listening"
    );
    app.serve(listener, shutdown_signal()).await?;
    tracing::info!("zynkd stopped");
    Ok(())
}

async fn evm(action: EvmAction, config: Config) -> anyhow::Result<()> {
    let rpc_url = config
        .evm
        .rpc_url
        .clone()
        .ok_or_else(|| anyhow::anyhow!("set evm.rpc_url (ZYNK_EVM__RPC_URL) first"))?;
    match action {
        EvmAction::Deploy => {
            let key =
                zynk_server::services::evm::read_signer_key(&config.effective_evm_key_file())?;
            let address = zynk_evm::EvmRegistry::deploy(&rpc_url, &key).await?;
            println!("ZynkRegistry deployed at {address}");
            println!("set evm.contract = \"{address}\" (ZYNK_EVM__CONTRACT) and chain = \"evm\"");
            Ok(())
        }
        EvmAction::Status => {
            let evm = zynk_server::services::evm::evm_config(&config)?;
            anyhow::ensure!(
                evm.contract.is_some(),
                "set evm.contract (ZYNK_EVM__CONTRACT) first"
            );
            let registry = zynk_evm::EvmRegistry::connect(&evm).await?;
            println!("chain eip155:{}", registry.chain_id());
            println!("registry {}", registry.contract());
            println!(
                "signer {} (owner {})",
                registry.from(),
                registry.owner().await?
            );
            let store = zynk_server::open_store(&config).await?;
            for (status, count) in store.evm_outbox_counts().await? {
                println!("outbox {status}: {count}");
            }
            Ok(())
        }
        EvmAction::Publish => {
            anyhow::ensure!(
                config.chain == zynk_server::config::ChainKind::Evm,
                "chain is not \"evm\": nothing is queued for the registry"
            );
            let app = App::build(config).await?;
            let publisher = app
                .services()
                .evm
                .clone()
                .ok_or_else(|| anyhow::anyhow!("no EVM publisher"))?;
            let run = publisher.drain(100).await?;
            println!(
                "published: {} sent, {} confirmed, {} failed",
                run.sent, run.confirmed, run.failed
            );
            Ok(())
        }
    }
}

async fn trust(action: TrustAction, config: Config) -> anyhow::Result<()> {
    let store = zynk_server::open_store(&config).await?;
    let find = |username: String| {
        let store = store.clone();
        async move {
            store
                .find_user_by_username(&username)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user named {username}"))
        }
    };
    match action {
        TrustAction::Set { username, score } => {
            anyhow::ensure!(score <= 100, "the score must be between 0 and 100");
            // Building the app applies pending migrations first.
            let app = App::build(config).await?;
            let user = find(username).await?;
            let change = app.services().trust.set_score(user.id, score).await?;
            // Seal it now, so the ledger holds it before this command returns.
            app.services().ledger.seal_pending().await?;
            println!(
                "{}: trust score {} -> {} ({})",
                user.username,
                change.old_score,
                change.new_score,
                change.transaction_hash.as_deref().unwrap_or("unchanged")
            );
            Ok(())
        }
        TrustAction::Show { username } => {
            let user = find(username).await?;
            let identity = store
                .identity_by_user(user.id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("{} has no ledger identity", user.username))?;
            println!(
                "{} {} trust score {}",
                user.username, identity.did, identity.trust_score
            );
            for change in store.trust_history(&identity.did, 20).await? {
                println!(
                    "  {} {} -> {} {} {}",
                    change.created_at.to_rfc3339(),
                    change.old_score,
                    change.new_score,
                    change.reason,
                    change.transaction_hash.unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}

async fn ledger(action: LedgerAction, config: Config) -> anyhow::Result<()> {
    match action {
        LedgerAction::Anchor => {
            let app = App::build(config).await?;
            let sealed = app.services().ledger.anchor_now().await?;
            if sealed.is_empty() {
                println!("no message to anchor");
            }
            for batch in sealed {
                println!(
                    "sealed batch {}: {} messages, root {}",
                    batch.height, batch.size, batch.root
                );
            }
            Ok(())
        }
        LedgerAction::Verify => {
            let key_file = config.effective_ledger_key_file();
            let key = zynk_server::services::ledger::load_existing_key(&key_file)?;
            let store = zynk_server::open_store(&config).await?;
            match zynk_server::services::ledger::verify_ledger(store.as_ref(), &key.verifying_key())
                .await
            {
                Ok((blocks, batches)) => {
                    println!("ledger verified: {blocks} blocks, {batches} batches");
                    Ok(())
                }
                Err(reason) => anyhow::bail!("ledger verification FAILED: {reason}"),
            }
        }
    }
}

async fn migrate(action: MigrateAction, config: Config) -> anyhow::Result<()> {
    let store = zynk_server::open_store(&config).await?;
    match action {
        MigrateAction::Up => {
            store.migrate_up().await?;
            store.ensure_partitions().await?;
            println!("migrations applied");
        }
        MigrateAction::Down { to } => {
            let target = match to {
                Some(version) => version,
                None => {
                    // Revert only the newest applied migration.
                    let applied: Vec<i64> = store
                        .migration_status()
                        .await?
                        .into_iter()
                        .filter(|m| m.applied)
                        .map(|m| m.version)
                        .collect();
                    match applied.as_slice() {
                        [] => {
                            println!("no migration is applied");
                            return Ok(());
                        }
                        [.., previous, _newest] => *previous,
                        [_only] => 0,
                    }
                }
            };
            store.migrate_down(target).await?;
            println!("migrated down to version {target}");
        }
        MigrateAction::Status => {
            for m in store.migration_status().await? {
                let state = if m.applied { "applied" } else { "pending" };
                println!("{:>4}  {state:<8} {}", m.version, m.description);
            }
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
