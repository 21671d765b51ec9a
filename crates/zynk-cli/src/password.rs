//! `zynk password`: change the account password. The current password comes as for every
//! command (`ZYNK_PASSWORD`, or the first line of standard input with `--password-stdin`); the
//! new one from `ZYNK_NEW_PASSWORD` or, with `--password-stdin`, the second line. The SDK
//! re-derives the secrets, re-seals the identity backup and changes both on the server; this
//! device's state is then saved under the new password.

use std::io::BufRead;

use zynk_sdk::client::Secret;

use crate::context::{CliError, Context};

fn read_new_password(from_stdin: bool) -> Result<Secret, CliError> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError(format!("cannot read the new password from stdin: {e}")))?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        std::env::var("ZYNK_NEW_PASSWORD").map_err(|_| {
            CliError(
                "no new password: set ZYNK_NEW_PASSWORD or give it as the second line of \
                 --password-stdin"
                    .into(),
            )
        })?
    };
    if password.is_empty() {
        return Err(CliError("the new password is empty".into()));
    }
    Ok(Secret::new(password))
}

/// `zynk password [--keep-sessions]`.
pub async fn password(
    context: &mut Context,
    from_stdin: bool,
    keep_sessions: bool,
) -> Result<(), CliError> {
    let new_password = read_new_password(from_stdin)?;
    let lock = context.lock()?;
    let mut messenger = context.load(&lock)?;
    let old_password = context.password().to_owned();
    let changed = messenger
        .change_password(&old_password, new_password.expose(), keep_sessions)
        .await;
    if changed.is_ok() {
        context.replace_password(new_password);
    }
    // Saved either way: under the new password after a change, under the old one otherwise.
    context.save(&lock, &messenger)?;
    changed?;
    println!(
        "password changed for {}{}",
        messenger.username(),
        if keep_sessions {
            ""
        } else {
            "; the account's other sessions were ended (log in again on other devices)"
        }
    );
    Ok(())
}
