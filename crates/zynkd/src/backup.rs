//! `zynkd backup …`: archives of the database, the ledger key, the configuration and local
//! blobs, their check, and their restore.

use std::path::PathBuf;

use clap::Subcommand;
use zynk_server::Config;
use zynk_server::backup::{self, BlobsMode};

/// `zynkd backup` actions.
#[derive(Debug, Subcommand)]
pub enum BackupAction {
    /// Writes a consistent backup to PATH (a new file) while the server runs: the database
    /// (SQLite's online copy, or pg_dump's custom format), the ledger key, the configuration and
    /// the local blob directory (blobs in S3 stay there), with a manifest of SHA-256 checksums.
    Create {
        /// The archive to write (`.tar.gz`); it must not exist.
        path: PathBuf,
    },
    /// Restores the archive PATH into the configured data directory and database, which must be
    /// empty (or --force), then applies pending migrations and verifies the ledger. Stop the
    /// server first.
    Restore {
        /// The archive.
        path: PathBuf,
        /// Replace data that is there (the database, the ledger key, local blobs).
        #[arg(long)]
        force: bool,
    },
    /// Checks an archive without restoring it: every file against its checksum.
    Verify {
        /// The archive.
        path: PathBuf,
    },
}

fn describe(manifest: &backup::Manifest) -> String {
    let blobs = match manifest.blobs {
        BlobsMode::Local => format!("{} blobs", manifest.blob_count()),
        BlobsMode::External => format!(
            "blobs stay in {}",
            manifest
                .external_storage
                .as_deref()
                .unwrap_or("external storage")
        ),
    };
    let engine = match manifest.engine {
        backup::Engine::Sqlite => "SQLite",
        backup::Engine::Postgres => "PostgreSQL",
    };
    format!(
        "{engine} database at schema version {}, ledger key, configuration, {blobs}; {} files, \
         {} bytes, taken {}",
        manifest.schema_version,
        manifest.files.len(),
        manifest.total_bytes(),
        manifest.created_at.to_rfc3339()
    )
}

/// Runs a `zynkd backup` action.
pub async fn run(action: BackupAction, config: Config) -> anyhow::Result<()> {
    match action {
        BackupAction::Create { path } => {
            let manifest = backup::create(&config, &path).await?;
            println!("backup written to {}", path.display());
            println!("{}", describe(&manifest));
            if manifest.blobs == BlobsMode::External {
                println!(
                    "file blobs are not in the archive: back up the bucket with the storage's own \
                     tools"
                );
            }
            Ok(())
        }
        BackupAction::Verify { path } => {
            let manifest = backup::verify(&path).await?;
            println!("backup verified: {}", path.display());
            println!("{}", describe(&manifest));
            Ok(())
        }
        BackupAction::Restore { path, force } => {
            let restored = backup::restore(&config, &path, force).await?;
            println!("restored {}", path.display());
            println!("{}", describe(&restored.manifest));
            if restored.manifest.blobs == BlobsMode::External {
                println!(
                    "file blobs were not in the archive: files.storage_url must reach the same \
                     bucket ({})",
                    restored
                        .manifest
                        .external_storage
                        .as_deref()
                        .unwrap_or("external storage")
                );
            } else {
                println!("{} blobs restored", restored.blobs);
            }
            println!(
                "the archived configuration is in {} (compare it with yours)",
                restored.configuration.display()
            );
            println!(
                "ledger verified: {} blocks, {} batches",
                restored.ledger.0, restored.ledger.1
            );
            Ok(())
        }
    }
}
