//! `zynk trust`, `report`, `vouch` and `credential`: the account's trust
//! score, spam reports and vouches for contacts, and verified-identity
//! credentials.
//!
//! Output (stdout):
//! - `trust`: `did: …`, `trust score: N/100`, `rate limits: P% of the
//!   per-user limits`, then `history (newest first):` and one line per change,
//!   `YYYY-MM-DD HH:MM:SS  OLD -> NEW  REASON  TRANSACTION`; with `--json` one
//!   object (the server's `TrustReport`).
//! - `report`/`vouch`: `reported USER for spam (score change -N)` /
//!   `vouched for USER (score change +N)`.
//! - `credential`: the JWT; with `--json` one object (`jwt`, `id`, `issuer`,
//!   `expires_at`, `transaction_hash`).

use zynk_proto::ErrorCode;
use zynk_sdk::client::{ClientError, TrustAction};
use zynk_sdk::crypto::TrustLevel;

use crate::commands::print_line;
use crate::context::{CliError, Context};

/// `zynk trust [--json]`.
pub async fn trust(context: &mut Context, json: bool) -> Result<(), CliError> {
    let report = context
        .with_messenger(async |m| m.trust_report().await)
        .await?;
    if json {
        print_line(&serde_json::to_string(&report).map_err(|e| CliError(e.to_string()))?);
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

/// `zynk report USER`.
pub async fn report(context: &mut Context, user: &str) -> Result<(), CliError> {
    let action = context
        .with_messenger_raw(async |m| m.report_spam(user).await)
        .await?
        .map_err(|e| refused(e, user, "report"))?;
    print_line(&format!(
        "reported {} for spam (score change {})",
        action.username,
        signed(action.change)
    ));
    Ok(())
}

/// `zynk vouch USER`.
pub async fn vouch(context: &mut Context, user: &str) -> Result<(), CliError> {
    let action: TrustAction = context
        .with_messenger_raw(async |m| m.vouch(user).await)
        .await?
        .map_err(|e| refused(e, user, "vouch"))?;
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
    Ok(())
}

/// `zynk credential [--json]`.
pub async fn credential(context: &mut Context, json: bool) -> Result<(), CliError> {
    let credential = context
        .with_messenger(async |m| m.issue_credential().await)
        .await?;
    if json {
        print_line(&serde_json::to_string(&credential).map_err(|e| CliError(e.to_string()))?);
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

fn signed(change: i32) -> String {
    if change > 0 {
        format!("+{change}")
    } else {
        change.to_string()
    }
}

/// The server's refusals of a report or vouch, in words; other errors as
/// usual. `what` is `report` or `vouch`.
fn refused(error: ClientError, user: &str, what: &str) -> CliError {
    if error.is(ErrorCode::AlreadyReported) {
        return CliError(if what == "report" {
            format!(
                "you already reported {user} today; a user can be reported once a day (already_reported)"
            )
        } else {
            format!("you already vouched for {user}; a vouch counts once (already_reported)")
        });
    }
    if error.is(ErrorCode::NoSharedConversation) {
        return CliError(format!(
            "you can {what} only users you have a conversation with, and you have none with {user} (no_shared_conversation)"
        ));
    }
    if error.is(ErrorCode::NoMessageFromUser) {
        return CliError(format!(
            "you can report only users who sent you a message, and {user} has sent you none (no_message_from_user)"
        ));
    }
    error.into()
}
