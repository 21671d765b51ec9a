//! `zynk file send` and `zynk file get`: encrypted files. A send reads the file once to hash it
//! (and make a thumbnail of an image), uploads its ciphertext and announces it in an encrypted
//! message; its state is kept in the home's `transfers/` directory until the announcement is
//! sent, so running the same command again continues the upload where the server's copy ends.
//! A get writes the verified plaintext to a hidden partial file beside the target and renames
//! it when the whole file verified; running it again continues from the partial file. Progress
//! bars appear only when stderr is a terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;
use sha2::{Digest, Sha256};
use zynk_proto::MessageId;
use zynk_sdk::client::ClientError;
use zynk_sdk::client::files::{DownloadError, PendingUpload, Progress};

use crate::context::{CliError, Context};
use crate::output::print_receipt;

/// `zynk file …`.
#[derive(Debug, Subcommand)]
pub enum FileCommand {
    /// Encrypts and uploads a file and sends it: `zynk file send USER PATH` or `zynk file send
    /// --group GROUP PATH`; prints the message id. Run again after an interruption to continue.
    Send {
        /// The recipient's username (or, with --group, the file's path).
        target: String,
        /// The file (when a user is named).
        path: Option<PathBuf>,
        /// Send to a group (its conversation id) instead of a user.
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// The file expires after this many seconds (3600 to 2592000); default: never.
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<u64>,
    },
    /// Downloads, decrypts and verifies the file a message announces. Run again after an
    /// interruption to continue.
    Get {
        /// The file message.
        message_id: MessageId,
        /// Where to write it (default: its name in the current directory).
        #[arg(short = 'o', long = "output", value_name = "PATH")]
        output: Option<PathBuf>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// Runs a `zynk file` command.
pub async fn run(context: &mut Context, command: FileCommand) -> Result<(), CliError> {
    match command {
        FileCommand::Send {
            target,
            path,
            group,
            expires_in,
        } => {
            let (recipient, path) = match (group, path) {
                (Some(group), None) => (Recipient::Group(group), PathBuf::from(target)),
                (None, Some(path)) => (Recipient::User(target), path),
                (Some(_), Some(_)) => {
                    return Err(CliError(
                        "with --group give only the file: zynk file send --group GROUP PATH".into(),
                    ));
                }
                (None, None) => {
                    return Err(CliError("usage: zynk file send USER PATH".into()));
                }
            };
            send(context, recipient, &path, expires_in).await
        }
        FileCommand::Get {
            message_id,
            output,
            force,
        } => get(context, message_id, output, force).await,
    }
}

enum Recipient {
    User(String),
    Group(String),
}

impl Recipient {
    fn label(&self) -> String {
        match self {
            Recipient::User(user) => format!("user:{user}"),
            Recipient::Group(group) => format!("group:{group}"),
        }
    }
}

/// A progress bar on a terminal; nothing otherwise.
fn progress_bar(total: u64, what: &str) -> (Progress, Option<indicatif::ProgressBar>) {
    if !std::io::stderr().is_terminal() {
        return (Arc::new(|_| {}), None);
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {eta} left",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    let handle = bar.clone();
    (Arc::new(move |done| handle.set_position(done)), Some(bar))
}

/// Where the state of an unfinished send lives: one file per (file, recipient, expiry).
fn transfer_state(
    context: &Context,
    path: &Path,
    recipient: &Recipient,
    expires_in: Option<u64>,
) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut hasher = Sha256::new();
    hasher.update(absolute.to_string_lossy().as_bytes());
    hasher.update([0]);
    hasher.update(recipient.label().as_bytes());
    hasher.update([0]);
    hasher.update(expires_in.unwrap_or(0).to_be_bytes());
    context
        .home
        .dir()
        .join("transfers")
        .join(format!("{}.json", &hex::encode(hasher.finalize())[..32]))
}

fn write_state(state: &Path, pending: &PendingUpload) -> Result<(), ClientError> {
    let dir = state.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| ClientError::Storage(format!("{}: {e}", dir.display())))?;
    let json = serde_json::to_vec(pending)
        .map_err(|e| ClientError::Storage(format!("cannot encode the transfer state: {e}")))?;
    let tmp = state.with_extension("tmp");
    std::fs::write(&tmp, json)
        .and_then(|()| std::fs::rename(&tmp, state))
        .map_err(|e| ClientError::Storage(format!("{}: {e}", state.display())))
}

async fn send(
    context: &mut Context,
    recipient: Recipient,
    path: &Path,
    expires_in: Option<u64>,
) -> Result<(), CliError> {
    let state = transfer_state(context, path, &recipient, expires_in);
    let resumed = std::fs::read(&state)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<PendingUpload>(&bytes).ok())
        .filter(|p| p.matches_disk());
    let mut pending = match resumed {
        Some(pending) => pending,
        None => {
            let path = path.to_path_buf();
            tokio::task::spawn_blocking(move || PendingUpload::prepare(&path, expires_in))
                .await
                .map_err(|e| CliError(format!("reading the file failed: {e}")))??
        }
    };
    // Three steps, each saving this device's state: keys set up and the upload started; the
    // transfer (long; a killed run continues it); the thumbnail and the announcement.
    context
        .with_messenger(async |m| {
            if pending.conversation_id.is_none() {
                pending.conversation_id = Some(match &recipient {
                    Recipient::User(user) => m.conversation_with(user).await?,
                    Recipient::Group(group) => m.group_conversation(group).await?,
                });
            }
            m.start_file_upload(&mut pending).await?;
            write_state(&state, &pending)
        })
        .await?;
    let (progress, bar) = progress_bar(pending.ciphertext_len(), &pending.name);
    let uploaded = context
        .with_messenger(async |m| m.upload_file(&pending, progress).await)
        .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    uploaded?;
    let receipt = context
        .with_messenger(async |m| m.finish_file_send(&pending).await)
        .await?;
    let _ = std::fs::remove_file(&state);
    print_receipt(&receipt);
    Ok(())
}

/// A file name safe to create in the current directory.
fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.is_empty() || base == "." || base == ".." || base.starts_with('.') {
        format!(
            "download{}",
            if base.starts_with('.') && base.len() > 1 {
                base
            } else {
                ""
            }
        )
    } else {
        base.to_owned()
    }
}

async fn get(
    context: &mut Context,
    message_id: MessageId,
    output: Option<PathBuf>,
    force: bool,
) -> Result<(), CliError> {
    // The announcement is found (and this device's state, with any room key that came with
    // it, saved) before the long transfer.
    let descriptor = context
        .with_messenger(async |m| m.file_of(message_id).await)
        .await?;
    let target = output.unwrap_or_else(|| PathBuf::from(safe_name(&descriptor.name)));
    if target.exists() && !force {
        return Err(CliError(format!(
            "{} exists; pass --force to replace it or -o PATH to write elsewhere",
            target.display()
        )));
    }
    let outcome = context
        .with_messenger_raw(async |m| {
            let (progress, bar) = progress_bar(descriptor.blob.ciphertext_len(), &descriptor.name);
            let result = m.download_file(&descriptor, &target, progress).await;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            Ok(match result {
                Ok(()) => Ok(target.clone()),
                Err(DownloadError::Other(e)) => Err(CliError::from(e)),
                Err(e @ DownloadError::Verification(_)) => Err(CliError(e.to_string())),
            })
        })
        .await?;
    let target = outcome??;
    println!("{}", target.display());
    Ok(())
}
