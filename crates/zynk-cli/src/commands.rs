//! The commands of `zynk`, and their output.
//!
//! Output formats (stdout; notes and warnings go to stderr as `zynk: …`):
//! - `register`/`login`: `registered USER` / `logged in as USER`, then
//!   `user id: …` and `device id: …`.
//! - `send`, `edit`, `delete`, `react`, `reply`: the new message's id.
//! - `messages`/`listen`: one line per message,
//!   `YYYY-MM-DD HH:MM:SS ID SENDER: TEXT (edited) [reply to ID] [EMOJI users]`,
//!   or with `--json` one JSON object per line (see `MessageView`).
//! - `verify`: the 60-digit safety number as 12 groups on one line, then the
//!   trust state; with `--confirm SAFETY_NUMBER`, only if that number matches.
//! - `devices`: `DEVICE_ID  NAME  PLATFORM  created …[  (this device)]`, or
//!   JSON lines.
//! - `whoami`: `key: value` lines.
//! - `proof`: see [`crate::proof`].
//! - `trust`, `report`, `vouch`, `credential`: see [`crate::trust`].

use std::io::Write;
use std::process::ExitCode;

use zynk_sdk::client::{ApiClient, DeviceDescription, MessageView, Messenger, SendReceipt};
use zynk_sdk::crypto::TrustLevel;

use crate::context::{CliError, Context};
use crate::{Cli, Command};

/// The platform reported for CLI devices: the server accepts only `android`,
/// `ios` and `web`, and the CLI is closest to a web client.
const PLATFORM: &str = "web";

/// Run the command; the exit code is 0 unless a command decides otherwise
/// (`proof`).
pub async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let mut context = Context::new(&cli)?;
    let context = &mut context;
    let done = match cli.command {
        Command::Proof { message_id, json } => {
            return crate::proof::proof(context, message_id, json).await;
        }
        Command::Register {
            username,
            device_name,
        } => new_device(context, &username, device_name, true).await,
        Command::Login {
            username,
            device_name,
        } => new_device(context, &username, device_name, false).await,
        Command::Logout => logout(context).await,
        Command::Whoami => {
            let me = context.with_messenger(async |m| m.whoami()).await?;
            println!("username: {}", me.username);
            println!("user id: {}", me.user_id);
            println!("device id: {}", me.device_id);
            println!("server: {}", me.server_url);
            println!("identity key: {}", me.identity_key);
            println!("device key: {}", me.device_key);
            Ok(())
        }
        Command::Devices { json } => devices(context, json).await,
        Command::Send { user, text } => {
            let receipt = context
                .with_messenger(async |m| m.send_text(&user, &text).await)
                .await?;
            print_receipt(&receipt);
            Ok(())
        }
        Command::Messages { user, json } => messages(context, &user, json).await,
        Command::Listen { json } => crate::listen::listen(context, json).await,
        Command::Edit { message_id, text } => {
            let receipt = context
                .with_messenger(async |m| m.edit(message_id, &text).await)
                .await?;
            print_receipt(&receipt);
            Ok(())
        }
        Command::Delete { message_id } => {
            let receipt = context
                .with_messenger(async |m| m.delete(message_id).await)
                .await?;
            print_receipt(&receipt);
            Ok(())
        }
        Command::React { message_id, emoji } => {
            let receipt = context
                .with_messenger(async |m| m.react(message_id, &emoji).await)
                .await?;
            print_receipt(&receipt);
            Ok(())
        }
        Command::Reply { message_id, text } => {
            let receipt = context
                .with_messenger(async |m| m.reply(message_id, &text).await)
                .await?;
            print_receipt(&receipt);
            Ok(())
        }
        Command::Verify { user, confirm } => {
            verify(context, &user, confirm.map(|groups| groups.join(" "))).await
        }
        Command::Trust { json } => crate::trust::trust(context, json).await,
        Command::Report { user } => crate::trust::report(context, &user).await,
        Command::Vouch { user } => crate::trust::vouch(context, &user).await,
        Command::Credential { json } => crate::trust::credential(context, json).await,
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// Print warnings on stderr.
pub fn warn(warnings: &[String]) {
    for warning in warnings {
        eprintln!("zynk: warning: {warning}");
    }
}

/// Print one message in the chosen format.
pub fn print_view(view: &MessageView, json: bool) {
    let line = if json {
        view.to_json_line()
    } else {
        view.to_display_line()
    };
    print_line(&line);
}

/// Print one line on stdout and flush it.
pub fn print_line(line: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) is not an error worth reporting.
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

fn print_receipt(receipt: &SendReceipt) {
    warn(&receipt.warnings);
    println!("{}", receipt.message_id);
}

async fn new_device(
    context: &mut Context,
    username: &str,
    device_name: Option<String>,
    register: bool,
) -> Result<(), CliError> {
    let lock = context.lock()?;
    context.ensure_empty(&lock)?;
    let api = ApiClient::with_http(&context.server_for_new_device(), context.http());
    let device = DeviceDescription::new(
        device_name.unwrap_or_else(|| "zynk command-line client".to_owned()),
        PLATFORM,
    )?;
    let mut messenger = if register {
        Messenger::register(api, username, context.password(), &device).await?
    } else {
        Messenger::login(api, username, context.password(), &device).await?
    };
    // The identity exists only here until the setup uploads its backup.
    context.save(&lock, &messenger)?;
    let setup = messenger.complete_setup().await;
    context.save(&lock, &messenger)?;
    setup?;
    let me = messenger.whoami()?;
    if register {
        println!("registered {}", me.username);
    } else {
        println!("logged in as {}", me.username);
    }
    println!("user id: {}", me.user_id);
    println!("device id: {}", me.device_id);
    Ok(())
}

async fn logout(context: &mut Context) -> Result<(), CliError> {
    let lock = context.lock()?;
    let mut messenger = context.load(&lock)?;
    let username = messenger.username().to_owned();
    messenger.logout().await?;
    context.home.erase_state(&lock)?;
    println!("logged out {username}: this device was removed and its local state erased");
    Ok(())
}

async fn devices(context: &mut Context, json: bool) -> Result<(), CliError> {
    let devices = context.with_messenger(async |m| m.devices().await).await?;
    for device in devices {
        if json {
            println!(
                "{}",
                serde_json::to_string(&device).map_err(|e| CliError(e.to_string()))?
            );
        } else {
            println!(
                "{}  {}  {}  created {}{}",
                device.device_id,
                device.name.as_deref().unwrap_or("-"),
                device.platform,
                device.created_at.format("%Y-%m-%d %H:%M:%S"),
                if device.current {
                    "  (this device)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}

async fn messages(context: &mut Context, user: &str, json: bool) -> Result<(), CliError> {
    let (views, warnings) = context
        .with_messenger(async |m| {
            let report = m.sync().await?;
            let conversation = m.conversation_with(user).await?;
            let views = m.timeline(conversation).await;
            let mut warnings = report.warnings;
            if let Err(error) = m.mark_read(conversation).await {
                warnings.push(format!("read receipt: {error}"));
            }
            Ok((views, warnings))
        })
        .await?;
    warn(&warnings);
    for view in &views {
        print_view(view, json);
    }
    Ok(())
}

/// Show the safety number, or with `confirm` (the number the user compared)
/// mark `user` verified if it matches the number of their current key.
async fn verify(
    context: &mut Context,
    user: &str,
    confirm: Option<String>,
) -> Result<(), CliError> {
    let report = context
        .with_messenger(async |m| match &confirm {
            Some(compared) => m.verify(user, compared).await,
            None => m.safety_number(user).await,
        })
        .await?;
    println!("{}", report.number);
    let state = match report.level {
        Some(TrustLevel::Verified) => "verified".to_owned(),
        Some(TrustLevel::Unverified) | None => "not verified".to_owned(),
        Some(TrustLevel::Changed) => format!(
            "IDENTITY KEY CHANGED: this number uses {}'s new key",
            report.username
        ),
        Some(TrustLevel::Blocked) => format!(
            "IDENTITY KEY CHANGED after verification: {} is blocked until verified again",
            report.username
        ),
    };
    println!("{}: {state}", report.username);
    if report.replaced_account {
        println!(
            "{}: NEW ACCOUNT: this name belonged to another account you knew, which was deleted; this number is the new account's",
            report.username
        );
    }
    if confirm.is_some() {
        eprintln!("zynk: {} is now verified", report.username);
    } else if report.level != Some(TrustLevel::Verified) || report.replaced_account {
        eprintln!(
            "zynk: compare this number with {} over a trusted channel, then run `zynk verify {} --confirm SAFETY_NUMBER` with the number you compared",
            report.username, report.username
        );
    }
    Ok(())
}
