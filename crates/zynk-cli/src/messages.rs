//! `zynk send`, `edit`, `delete`, `react`, `reply`, `messages` and `verify`:
//! the conversation with another user, and the safety number shared with
//! them.

use zynk_proto::MessageId;
use zynk_sdk::client::SendOptions;

use crate::context::{CliError, Context};
use crate::output::{print_receipt, print_safety_number, print_view, warn};

/// `zynk send USER TEXT [--expires-in SECONDS]`.
pub async fn send(
    context: &mut Context,
    user: &str,
    text: &str,
    expires_in: Option<u64>,
) -> Result<(), CliError> {
    let options = SendOptions {
        expires_in: expires_in.map(std::time::Duration::from_secs),
        ..SendOptions::default()
    };
    let receipt = context
        .with_messenger(async |m| m.send_text_with(user, text, &options).await)
        .await?;
    print_receipt(&receipt);
    Ok(())
}

/// `zynk edit MESSAGE_ID TEXT`.
pub async fn edit(
    context: &mut Context,
    message_id: MessageId,
    text: &str,
) -> Result<(), CliError> {
    let receipt = context
        .with_messenger(async |m| m.edit(message_id, text).await)
        .await?;
    print_receipt(&receipt);
    Ok(())
}

/// `zynk delete MESSAGE_ID`.
pub async fn delete(context: &mut Context, message_id: MessageId) -> Result<(), CliError> {
    let receipt = context
        .with_messenger(async |m| m.delete(message_id).await)
        .await?;
    print_receipt(&receipt);
    Ok(())
}

/// `zynk react MESSAGE_ID EMOJI`.
pub async fn react(
    context: &mut Context,
    message_id: MessageId,
    emoji: &str,
) -> Result<(), CliError> {
    let receipt = context
        .with_messenger(async |m| m.react(message_id, emoji).await)
        .await?;
    print_receipt(&receipt);
    Ok(())
}

/// `zynk reply MESSAGE_ID TEXT`.
pub async fn reply(
    context: &mut Context,
    message_id: MessageId,
    text: &str,
) -> Result<(), CliError> {
    let receipt = context
        .with_messenger(async |m| m.reply(message_id, text).await)
        .await?;
    print_receipt(&receipt);
    Ok(())
}

/// `zynk messages USER [--json]`: catch up, show the conversation and mark
/// it read.
pub async fn messages(context: &mut Context, user: &str, json: bool) -> Result<(), CliError> {
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

/// `zynk verify USER [--confirm SAFETY_NUMBER]`: show the safety number, or
/// with `confirm` (the number the user compared) mark `user` verified if it
/// matches the number of their current key.
pub async fn verify(
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
    print_safety_number(&report, confirm.is_some());
    Ok(())
}
