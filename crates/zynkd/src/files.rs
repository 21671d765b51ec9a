//! `zynkd files …`: the file lifecycle jobs on demand.

use clap::Subcommand;
use zynk_server::{App, Config};

/// `zynkd files` actions.
#[derive(Debug, Subcommand)]
pub enum FilesAction {
    /// Runs the file jobs now: removes expired, deleted and abandoned files from storage and
    /// database, then orphans (blobs without a row, rows without a blob, staging files of
    /// uploads without a row). Safe while servers run.
    Gc,
}

/// Runs a `zynkd files` action.
pub async fn run(action: FilesAction, config: Config) -> anyhow::Result<()> {
    match action {
        FilesAction::Gc => {
            let app = App::build(config).await?;
            let files = &app.services().files;
            let cleanup = files.cleanup().await?;
            println!(
                "removed {} expired, {} deleted and {} abandoned files",
                cleanup.expired, cleanup.deleted, cleanup.abandoned
            );
            let orphans = files.remove_orphans().await?;
            println!(
                "removed {} blobs without a row, {} rows without a blob, {} orphaned uploads",
                orphans.blobs, orphans.rows, orphans.uploads
            );
            Ok(())
        }
    }
}
