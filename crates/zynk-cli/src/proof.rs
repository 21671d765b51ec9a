//! `zynk proof MESSAGE_ID [--json]`: checks a message's ledger inclusion
//! proof offline against this device's own copy of the message.
//!
//! Output (stdout): `proof valid: message ID is leaf I of N in batch B, root
//! R, signed by DID_KEY (SIGNER)` or `proof INVALID: REASON`; with `--json`
//! one object, the proof's fields plus `"verdict"` and `"reason"`. Exit code
//! 0 when valid, 3 when invalid, 1 when the proof cannot be checked (not
//! anchored yet, a changed ledger key, network errors).

use std::io::Write;
use std::process::ExitCode;

use uuid::Uuid;
use zynk_sdk::client::{CiphertextSource, ProofCheck};

use crate::commands::warn;
use crate::context::{CliError, Context};

/// Exit code of a proof that does not hold.
pub const EXIT_INVALID: u8 = 3;

/// Run `zynk proof`.
pub async fn proof(
    context: &mut Context,
    message_id: Uuid,
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
    notes(&check);
    let line = if json {
        serde_json::to_string(&check.to_json()).map_err(|e| CliError(e.to_string()))?
    } else {
        check.to_display_line()
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
    Ok(if check.verdict.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INVALID)
    })
}

/// What the user should know besides the verdict, on stderr.
fn notes(check: &ProofCheck) {
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
}
