//! What `zynk` shows the user: every line a command prints. Results go to
//! stdout; notes and warnings go to stderr as `zynk: …` (errors are printed
//! by `main`).
//!
//! Output formats (stdout):
//! - `register`/`login`: `registered USER` / `logged in as USER`, then
//!   `user id: …` and `device id: …`.
//! - `logout`: `logged out USER: …`.
//! - `whoami`: `key: value` lines.
//! - `devices`: `DEVICE_ID  NAME  PLATFORM  created …[  (this device)]`, or
//!   JSON lines.
//! - `send`, `edit`, `delete`, `react`, `reply`: the new message's id.
//! - `messages`/`listen`: one line per message,
//!   `YYYY-MM-DD HH:MM:SS ID SENDER: TEXT (edited) [reply to ID] [EMOJI users]`,
//!   or with `--json` one JSON object per line (see `MessageView`); `listen`
//!   also prints changes of the account's trust score as
//!   `trust score OLD -> NEW (REASON)`, or with `--json` as an object with
//!   `"type": "trust_score_updated"`.
//! - `verify`: the 60-digit safety number as 12 groups on one line, then the
//!   trust state; with `--confirm SAFETY_NUMBER`, only if that number matches.
//! - `proof`: `proof valid: message ID is leaf I of N in batch B, root R,
//!   signed by DID_KEY (SIGNER)` or `proof INVALID: REASON`; with `--json`
//!   one object, the proof's fields plus `"verdict"` and `"reason"`.
//! - `trust`: `did: …`, `trust score: N/100`, `rate limits: P% of the
//!   per-user limits`, then `history (newest first):` and one line per change,
//!   `YYYY-MM-DD HH:MM:SS  OLD -> NEW  REASON  TRANSACTION`; with `--json` one
//!   object (the server's `TrustReport`).
//! - `report`/`vouch`: `reported USER for spam (score change -N)` /
//!   `vouched for USER (score change +N)`.
//! - `credential`: the JWT; with `--json` one object (`jwt`, `id`, `issuer`,
//!   `expires_at`, `transaction_hash`).

use std::io::Write;

use zynk_proto::devices::DeviceView;
use zynk_proto::trust::{CredentialResponse, TrustReport};
use zynk_sdk::client::{
    CiphertextSource, MessageView, ProofCheck, SafetyNumberReport, SendReceipt, TrustAction,
    TrustScoreChange, Whoami,
};
use zynk_sdk::crypto::TrustLevel;

use crate::context::CliError;

/// Print a note on stderr: `zynk: NOTE`.
pub fn note(note: &str) {
    eprintln!("zynk: {note}");
}

/// Print warnings on stderr.
pub fn warn(warnings: &[String]) {
    for warning in warnings {
        eprintln!("zynk: warning: {warning}");
    }
}

/// Print one line on stdout and flush it.
pub fn print_line(line: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) is not an error worth reporting.
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
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

/// Print a change of the account's trust score in the chosen format.
pub fn print_trust_change(change: &TrustScoreChange, json: bool) {
    let line = if json {
        change.to_json_line()
    } else {
        change.to_display_line()
    };
    print_line(&line);
}

/// Print a presence change or a typing event (`zynk listen`).
pub fn print_live_event(event: &zynk_sdk::client::LiveEvent, json: bool) {
    let line = if json {
        event.to_json_line()
    } else {
        event.to_display_line()
    };
    print_line(&line);
}

/// Print a sent message's warnings, then its id.
pub fn print_receipt(receipt: &SendReceipt) {
    warn(&receipt.warnings);
    println!("{}", receipt.message_id);
}

/// Print the account and ids of a device just registered (`register`) or
/// logged in.
pub fn print_new_device(me: &Whoami, register: bool) {
    if register {
        println!("registered {}", me.username);
    } else {
        println!("logged in as {}", me.username);
    }
    println!("user id: {}", me.user_id);
    println!("device id: {}", me.device_id);
}

/// Print that `username`'s device was logged out.
pub fn print_logged_out(username: &str) {
    println!("logged out {username}: this device was removed and its local state erased");
}

/// Print `zynk whoami`.
pub fn print_whoami(me: &Whoami) {
    println!("username: {}", me.username);
    println!("user id: {}", me.user_id);
    println!("device id: {}", me.device_id);
    println!("server: {}", me.server_url);
    println!("identity key: {}", me.identity_key);
    println!("device key: {}", me.device_key);
}

/// Print the account's devices, one per line or one JSON object per line.
pub fn print_devices(devices: &[DeviceView], json: bool) -> Result<(), CliError> {
    for device in devices {
        if json {
            println!(
                "{}",
                serde_json::to_string(device).map_err(|e| CliError(e.to_string()))?
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

/// Print a safety number and the contact's trust state; `confirmed` when the
/// user just confirmed the number (`verify --confirm`).
pub fn print_safety_number(report: &SafetyNumberReport, confirmed: bool) {
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
    if confirmed {
        eprintln!("zynk: {} is now verified", report.username);
    } else if report.level != Some(TrustLevel::Verified) || report.replaced_account {
        eprintln!(
            "zynk: compare this number with {} over a trusted channel, then run `zynk verify {} --confirm SAFETY_NUMBER` with the number you compared",
            report.username, report.username
        );
    }
}

/// Print a proof check: what the user should know besides the verdict on
/// stderr, then the verdict in the chosen format.
pub fn print_proof(check: &ProofCheck, json: bool) -> Result<(), CliError> {
    if check.newly_pinned {
        eprintln!(
            "zynk: pinned the ledger key {} of this server (first use); a different key will be refused",
            check.ledger.validator_did
        );
    }
    if check.ciphertext_source == CiphertextSource::Server {
        eprintln!(
            "zynk: this device received message {} before it kept ciphertexts: the server's copy of the ciphertext was checked",
            check.message_id
        );
    }
    let line = if json {
        serde_json::to_string(&check.to_json()).map_err(|e| CliError(e.to_string()))?
    } else {
        check.to_display_line()
    };
    print_line(&line);
    Ok(())
}

/// Print `zynk trust`: the score, its share of the rate limits and its
/// history, or the report as one JSON object.
pub fn print_trust_report(report: &TrustReport, json: bool) -> Result<(), CliError> {
    if json {
        print_line(&serde_json::to_string(report).map_err(|e| CliError(e.to_string()))?);
        return Ok(());
    }
    print_line(&format!("did: {}", report.did));
    print_line(&format!("trust score: {}/100", report.trust_score));
    print_line(&format!(
        "rate limits: {}% of the per-user limits",
        report.rate_limit_percent
    ));
    if report.history.is_empty() {
        print_line("history: no changes yet");
    } else {
        print_line("history (newest first):");
        for change in &report.history {
            print_line(&format!(
                "{}  {} -> {}  {}  {}",
                change.created_at.format("%Y-%m-%d %H:%M:%S"),
                change.old_score,
                change.new_score,
                change.reason,
                change.transaction_hash.as_deref().unwrap_or("-"),
            ));
        }
    }
    Ok(())
}

/// Print what a spam report did.
pub fn print_reported(action: &TrustAction) {
    print_line(&format!(
        "reported {} for spam (score change {})",
        action.username,
        signed(action.change)
    ));
}

/// Print what a vouch did, with a note when the contact is not verified on
/// this device.
pub fn print_vouched(action: &TrustAction) {
    print_line(&format!(
        "vouched for {} (score change {})",
        action.username,
        signed(action.change)
    ));
    if action.level != Some(TrustLevel::Verified) {
        eprintln!(
            "zynk: note: {} is not verified on this device; vouch only for people whose safety number you compared (`zynk verify {}`)",
            action.username, action.username
        );
    }
}

/// Print an issued credential: the JWT (and a note on stderr), or one JSON
/// object.
pub fn print_credential(credential: &CredentialResponse, json: bool) -> Result<(), CliError> {
    if json {
        print_line(&serde_json::to_string(credential).map_err(|e| CliError(e.to_string()))?);
    } else {
        print_line(&credential.jwt);
        eprintln!(
            "zynk: credential {} issued by {}, valid until {}",
            credential.id,
            credential.issuer,
            credential.expires_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
    Ok(())
}

/// A score change with its sign: `+5`, `0`, `-3`.
fn signed(change: i32) -> String {
    if change > 0 {
        format!("+{change}")
    } else {
        change.to_string()
    }
}
