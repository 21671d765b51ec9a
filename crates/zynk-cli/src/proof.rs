//! `zynk proof MESSAGE_ID [--json]`: checks a message's ledger inclusion
//! proof offline against this device's own copy of the message.
//!
//! Exit code 0 when valid, 3 when invalid, 1 when the proof cannot be checked
//! (not anchored yet, a changed ledger key, network errors). Output formats
//! are in [`crate::output`].

use std::process::ExitCode;

use zynk_proto::MessageId;

use crate::context::{CliError, Context};
use crate::output::{print_proof, warn};

/// Exit code of a proof that does not hold.
pub const EXIT_INVALID: u8 = 3;

/// Run `zynk proof`.
pub async fn proof(
    context: &mut Context,
    message_id: MessageId,
    json: bool,
) -> Result<ExitCode, CliError> {
    let (check, warnings) = context
        .with_messenger(async |m| {
            let known = m
                .data()
                .conversations
                .values()
                .any(|c| c.entry(message_id).is_some());
            // A message this device has not fetched yet: catch up first, so
            // the check uses the device's own copy.
            let warnings = if known {
                Vec::new()
            } else {
                m.sync().await?.warnings
            };
            Ok((m.verify_message_proof(message_id).await?, warnings))
        })
        .await?;
    warn(&warnings);
    print_proof(&check, json)?;
    Ok(if check.verdict.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INVALID)
    })
}
