//! `zynk`: the command-line client of Zynk. Every command unlocks this
//! device's encrypted state in the home directory with the account password
//! (`ZYNK_PASSWORD` or `--password-stdin`), talks to the server, and saves the
//! state again. Errors are one `zynk: …` line on stderr and exit code 1
//! (`zynk proof` exits with 3 when a proof does not hold).
//!
//! One module per group of commands (`account`, `messages`, `listen`,
//! `password`, `proof`, `trust`, `contacts`, `group`), none using another; `context` is what
//! they all need and `output` prints their results. [`run`] dispatches a parsed command.

mod account;
mod calls;
mod contacts;
mod context;
mod file;
mod group;
mod listen;
mod messages;
mod output;
mod password;
mod presence;
mod proof;
mod proximity;
mod trust;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zynk_proto::MessageId;

use crate::context::{CliError, Context};

/// The server used when none is given or remembered.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// Command-line client of the Zynk end-to-end-encrypted messenger.
///
/// The password comes from the ZYNK_PASSWORD environment variable or, with
/// --password-stdin, from the first line of standard input.
#[derive(Debug, Parser)]
#[command(name = "zynk", version, about)]
pub struct Cli {
    /// Directory holding this device's encrypted state [default: the user's
    /// config directory + /zynk].
    #[arg(long, global = true, env = "ZYNK_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Server URL [default: http://127.0.0.1:8080, or the one remembered by
    /// register/login].
    #[arg(long, global = true, env = "ZYNK_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Also trust the certificate authorities in this PEM file for
    /// https:// and wss:// (for a server with a private CA; the system's
    /// roots are always trusted).
    #[arg(long, global = true, env = "ZYNK_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Read the password from the first line of standard input.
    #[arg(long, global = true)]
    pub password_stdin: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an account and make this home its first device.
    Register {
        /// Username: 3-64 letters, digits or _.
        username: String,
        /// Name of this device in device lists.
        #[arg(long)]
        device_name: Option<String>,
    },
    /// Log in to an existing account as a new device of it.
    Login {
        /// Username.
        username: String,
        /// Name of this device in device lists.
        #[arg(long)]
        device_name: Option<String>,
    },
    /// Remove this device from the account and erase its local state.
    Logout,
    /// Show the account, device and server of this home.
    Whoami,
    /// List the account's devices.
    Devices {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Send a message; prints its id. An `@username` of the recipient in the
    /// text becomes a mention.
    Send {
        /// Recipient's username.
        user: String,
        /// The text.
        #[arg(allow_hyphen_values = true)]
        text: String,
        /// Self-destruct: the message is removed everywhere this many seconds
        /// after sending (1 to 31536000).
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<u64>,
    },
    /// Show the conversation with a user (and mark it read).
    Messages {
        /// The other user's username.
        user: String,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Print incoming messages as they arrive, until interrupted.
    Listen {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Replace the text of one of your messages; prints the edit's id.
    Edit {
        /// The message to edit.
        message_id: MessageId,
        /// The new text.
        #[arg(allow_hyphen_values = true)]
        text: String,
    },
    /// Delete one of your messages; prints the deletion's id.
    Delete {
        /// The message to delete.
        message_id: MessageId,
    },
    /// React to a message; prints the reaction's id.
    React {
        /// The message to react to.
        message_id: MessageId,
        /// The emoji.
        emoji: String,
    },
    /// Reply to a message; prints the reply's id.
    Reply {
        /// The message to reply to.
        message_id: MessageId,
        /// The text.
        #[arg(allow_hyphen_values = true)]
        text: String,
    },
    /// Check that a message is in the server's signed ledger: its inclusion
    /// proof, verified offline against this device's copy of the message and
    /// the ledger key pinned on first use. Exit code 3 when the proof does not
    /// hold.
    Proof {
        /// The message to check.
        message_id: MessageId,
        /// One JSON object: the proof's fields plus "verdict" and "reason".
        #[arg(long)]
        json: bool,
    },
    /// Show the safety number shared with a user; --confirm SAFETY_NUMBER
    /// marks them verified if it is the number for their current key.
    Verify {
        /// The other user's username.
        user: String,
        /// Mark the user verified: the 60-digit safety number you compared
        /// with them (spaces are ignored; the 12 groups may be quoted or
        /// not). Nothing is marked unless it matches their current key.
        #[arg(long, value_name = "SAFETY_NUMBER", num_args = 1..)]
        confirm: Option<Vec<String>>,
    },
    /// Show your trust score, the share of the per-user rate limits it gives
    /// you, and its history (who reported or vouched is not shown).
    Trust {
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Report a user you have a conversation with for spam: lowers their
    /// trust score (weighted by yours). Once per user and day.
    Report {
        /// The user's username.
        user: String,
    },
    /// Vouch for a user you have a conversation with: raises their trust
    /// score (weighted by yours). Once per user, and it cannot be withdrawn:
    /// vouch only after comparing safety numbers with `zynk verify USER`
    /// (verifying does not vouch by itself).
    Vouch {
        /// The user's username.
        user: String,
    },
    /// Block a user: they can no longer open a conversation with you or send
    /// to you (they are not told). Group conversations are not affected.
    Block {
        /// The user's username.
        user: String,
    },
    /// Lift a block.
    Unblock {
        /// The user's username.
        user: String,
    },
    /// List message requests: first messages from people you have not
    /// accepted (read them with `zynk messages USER`; reading does not
    /// accept).
    Requests {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Accept a user's message request (replying accepts it too).
    Accept {
        /// The user's username.
        user: String,
    },
    /// Decline a user's message request: it is hidden and their further
    /// messages are refused (they are not told).
    Decline {
        /// The user's username.
        user: String,
    },
    /// List your calls, newest first: id, type, status, with whom, start and duration.
    Calls {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// List your conversations (1:1 and groups) with unread counts.
    Conversations {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Groups of up to 256 members: create, list, members, add, remove, promote, leave, rename,
    /// send, messages.
    Group {
        /// The group command.
        #[command(subcommand)]
        command: group::GroupCommand,
    },
    /// Show a contact's presence (online, away, offline, or hidden) and when
    /// they were last seen, as far as they show it. Only for users you share a
    /// conversation with.
    Presence {
        /// The user's username.
        user: String,
        /// One JSON object: username, user_id, status, last_seen_at.
        #[arg(long)]
        json: bool,
    },
    /// Get a verifiable credential for your identity: a W3C VC-JWT, signed
    /// by the server, whose subject is your did:zynk. Prints the JWT.
    Credential {
        /// One JSON object: jwt, id, issuer, expires_at, transaction_hash.
        #[arg(long)]
        json: bool,
    },
    /// Change the account password: the new one comes from ZYNK_NEW_PASSWORD or, with
    /// --password-stdin, the second line of standard input. The identity backup is re-sealed
    /// and this device's state re-encrypted under it; the account's other sessions end.
    Password {
        /// Keep the account's other sessions.
        #[arg(long)]
        keep_sessions: bool,
    },
    /// Encrypted files: `file send USER PATH`, `file send --group GROUP PATH`,
    /// `file get MESSAGE_ID`.
    File {
        #[command(subcommand)]
        command: file::FileCommand,
    },
    /// Share your position for proximity discovery (`location set LAT LON`, for five minutes)
    /// or stop sharing it (`location clear`).
    Location {
        #[command(subcommand)]
        command: proximity::LocationCommand,
    },
    /// List users who share their position near yours (share yours first with
    /// `zynk location set`), as distance buckets: <1km, 1-5km, 5-20km.
    Nearby {
        /// One JSON object per line: user_id, username, distance.
        #[arg(long)]
        json: bool,
    },
}

/// Run the command; the exit code is 0 unless a command decides otherwise
/// (`proof`).
async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let mut context = Context::new(&cli)?;
    let context = &mut context;
    let done = match cli.command {
        Command::Proof { message_id, json } => {
            return proof::proof(context, message_id, json).await;
        }
        Command::Register {
            username,
            device_name,
        } => account::new_device(context, &username, device_name, true).await,
        Command::Login {
            username,
            device_name,
        } => account::new_device(context, &username, device_name, false).await,
        Command::Logout => account::logout(context).await,
        Command::Whoami => account::whoami(context).await,
        Command::Devices { json } => account::devices(context, json).await,
        Command::Send {
            user,
            text,
            expires_in,
        } => messages::send(context, &user, &text, expires_in).await,
        Command::Messages { user, json } => messages::messages(context, &user, json).await,
        Command::Listen { json } => listen::listen(context, json).await,
        Command::Edit { message_id, text } => messages::edit(context, message_id, &text).await,
        Command::Delete { message_id } => messages::delete(context, message_id).await,
        Command::React { message_id, emoji } => messages::react(context, message_id, &emoji).await,
        Command::Reply { message_id, text } => messages::reply(context, message_id, &text).await,
        Command::Verify { user, confirm } => {
            messages::verify(context, &user, confirm.map(|groups| groups.join(" "))).await
        }
        Command::Trust { json } => trust::trust(context, json).await,
        Command::Report { user } => trust::report(context, &user).await,
        Command::Vouch { user } => trust::vouch(context, &user).await,
        Command::Credential { json } => trust::credential(context, json).await,
        Command::Block { user } => contacts::block(context, &user).await,
        Command::Unblock { user } => contacts::unblock(context, &user).await,
        Command::Requests { json } => contacts::requests(context, json).await,
        Command::Accept { user } => contacts::accept(context, &user).await,
        Command::Decline { user } => contacts::decline(context, &user).await,
        Command::Conversations { json } => contacts::conversations(context, json).await,
        Command::Calls { json } => calls::calls(context, json).await,
        Command::Group { command } => group::run(context, command).await,
        Command::Password { keep_sessions } => {
            password::password(context, cli.password_stdin, keep_sessions).await
        }
        Command::File { command } => file::run(context, command).await,
        Command::Presence { user, json } => presence::presence(context, &user, json).await,
        Command::Location { command } => proximity::location(context, command).await,
        Command::Nearby { json } => proximity::nearby(context, json).await,
    };
    done.map(|()| ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    // A bug must still end in one line, never a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("zynk: internal error{location}");
    }));
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("zynk: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("zynk: {error}");
            ExitCode::FAILURE
        }
    }
}
