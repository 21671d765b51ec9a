//! `zynk block`, `unblock`, `requests`, `accept`, `decline` and
//! `conversations`: who may message this user, the message requests waiting,
//! and the conversation list with unread counts.
//!
//! Output (stdout):
//! - `block`/`unblock`/`accept`/`decline`: `blocked USER`, `unblocked USER`,
//!   `accepted USER`, `declined USER`.
//! - `requests`: one line per request, `USER  N unread  since YYYY-MM-DD
//!   HH:MM:SS  CONVERSATION_ID`; with `--json` one object per line
//!   (`username`, `user_id`, `conversation_id`, `unread`, `updated_at`).
//! - `conversations`: one line per conversation, `CONVERSATION_ID  TYPE  WITH
//!   N unread`; with `--json` one object per line (`conversation_id`, `type`,
//!   `with`, `unread`, `last_seq`, `request_state`, `updated_at`).

use crate::context::{CliError, Context};
use crate::output::print_line;

/// `zynk block USER`.
pub async fn block(context: &mut Context, user: &str) -> Result<(), CliError> {
    context
        .with_messenger(async |m| m.block(user).await)
        .await?;
    print_line(&format!("blocked {user}"));
    Ok(())
}

/// `zynk unblock USER`.
pub async fn unblock(context: &mut Context, user: &str) -> Result<(), CliError> {
    context
        .with_messenger(async |m| m.unblock(user).await)
        .await?;
    print_line(&format!("unblocked {user}"));
    Ok(())
}

/// `zynk requests [--json]`.
pub async fn requests(context: &mut Context, json: bool) -> Result<(), CliError> {
    let requests = context.with_messenger(async |m| m.requests().await).await?;
    for request in &requests {
        let line = if json {
            serde_json::to_string(request).map_err(|e| CliError(e.to_string()))?
        } else {
            format!(
                "{}  {} unread  since {}  {}",
                request.username,
                request.unread,
                request.updated_at.format("%Y-%m-%d %H:%M:%S"),
                request.conversation_id
            )
        };
        print_line(&line);
    }
    Ok(())
}

/// `zynk accept USER`.
pub async fn accept(context: &mut Context, user: &str) -> Result<(), CliError> {
    context
        .with_messenger(async |m| m.accept_request(user).await)
        .await?;
    print_line(&format!("accepted {user}"));
    Ok(())
}

/// `zynk decline USER`.
pub async fn decline(context: &mut Context, user: &str) -> Result<(), CliError> {
    context
        .with_messenger(async |m| m.decline_request(user).await)
        .await?;
    print_line(&format!("declined {user}"));
    Ok(())
}

/// `zynk conversations [--json]`.
pub async fn conversations(context: &mut Context, json: bool) -> Result<(), CliError> {
    let conversations = context
        .with_messenger(async |m| m.conversations().await)
        .await?;
    for conversation in &conversations {
        let line = if json {
            serde_json::to_string(conversation).map_err(|e| CliError(e.to_string()))?
        } else {
            let with = match &conversation.group {
                Some(group) => format!("{} ({})", group.name, conversation.with.join(", ")),
                None => conversation.with.join(", "),
            };
            format!(
                "{}  {}  {}  {} unread",
                conversation.conversation_id, conversation.kind, with, conversation.unread
            )
        };
        print_line(&line);
    }
    Ok(())
}
