//! `zynk trust`, `report`, `vouch` and `credential`: the account's trust
//! score, spam reports and vouches for contacts, and verified-identity
//! credentials. Output formats are in [`crate::output`].

use zynk_proto::ErrorCode;
use zynk_sdk::client::ClientError;

use crate::context::{CliError, Context};
use crate::output::{print_credential, print_reported, print_trust_report, print_vouched};

/// `zynk trust [--json]`.
pub async fn trust(context: &mut Context, json: bool) -> Result<(), CliError> {
    let report = context
        .with_messenger(async |m| m.trust_report().await)
        .await?;
    print_trust_report(&report, json)
}

/// `zynk report USER`.
pub async fn report(context: &mut Context, user: &str) -> Result<(), CliError> {
    let action = context
        .with_messenger_raw(async |m| m.report_spam(user).await)
        .await?
        .map_err(|e| refused(e, user, "report"))?;
    print_reported(&action);
    Ok(())
}

/// `zynk vouch USER`.
pub async fn vouch(context: &mut Context, user: &str) -> Result<(), CliError> {
    let action = context
        .with_messenger_raw(async |m| m.vouch(user).await)
        .await?
        .map_err(|e| refused(e, user, "vouch"))?;
    print_vouched(&action);
    Ok(())
}

/// `zynk credential [--json]`.
pub async fn credential(context: &mut Context, json: bool) -> Result<(), CliError> {
    let credential = context
        .with_messenger(async |m| m.issue_credential().await)
        .await?;
    print_credential(&credential, json)
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
