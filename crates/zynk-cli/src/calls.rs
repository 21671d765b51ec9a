//! `zynk calls`: this account's call history, newest first.
//!
//! Output (stdout): one line per call, `CALL_ID  TYPE  STATUS  WITH  STARTED_AT  DURATION`
//! (`-` where a call never started); with `--json` one object per line (`call_id`,
//! `call_type`, `status`, `with`, `started_at`, `duration_seconds`), `with` being the
//! usernames of the other participants.
//!
//! `zynk listen` prints call events as `call EVENT CALL_ID TYPE STATUS`, or with `--json`
//! `{"type": "call", "event", "call_id", "call_type", "status", "conversation_id",
//! "initiator_id", "started_at", "duration_seconds"}`.

use zynk_proto::UserId;
use zynk_proto::calls::Call;

use crate::context::{CliError, Context};
use crate::output::print_line;

/// Calls fetched per request.
const PAGE: u32 = 100;

/// One call with the usernames of the other participants.
struct CallLine {
    call: Call,
    with: Vec<String>,
}

/// `zynk calls [--json]`.
pub async fn calls(context: &mut Context, json: bool) -> Result<(), CliError> {
    let lines = context
        .with_messenger(async |m| {
            let me: UserId = m.whoami()?.user_id;
            let mut lines = Vec::new();
            let mut before = None;
            loop {
                let page = m.calls(before, PAGE).await?;
                for call in page.calls {
                    let mut with = Vec::new();
                    for p in call.participants.iter().filter(|p| p.user_id != me) {
                        with.push(m.username_of(p.user_id).await);
                    }
                    lines.push(CallLine { call, with });
                }
                match page.next_before {
                    Some(next) => before = Some(next),
                    None => break,
                }
            }
            Ok(lines)
        })
        .await?;
    for line in &lines {
        let call = &line.call;
        let text = if json {
            serde_json::json!({
                "call_id": call.call_id,
                "call_type": call.call_type,
                "status": call.status,
                "with": line.with,
                "started_at": call.started_at,
                "duration_seconds": call.duration_seconds,
            })
            .to_string()
        } else {
            format!(
                "{}  {}  {}  {}  {}  {}",
                call.call_id,
                call.call_type.as_str(),
                call.status.as_str(),
                line.with.join(","),
                call.started_at.map_or("-".to_owned(), |t| t
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()),
                call.duration_seconds
                    .map_or("-".to_owned(), |d| format!("{d}s")),
            )
        };
        print_line(&text);
    }
    Ok(())
}

/// Prints one call event of `zynk listen`.
pub fn print_call_event(event: &str, call: &Call, json: bool) {
    let line = if json {
        serde_json::json!({
            "type": "call",
            "event": event,
            "call_id": call.call_id,
            "call_type": call.call_type,
            "status": call.status,
            "conversation_id": call.conversation_id,
            "initiator_id": call.initiator_id,
            "started_at": call.started_at,
            "duration_seconds": call.duration_seconds,
        })
        .to_string()
    } else {
        format!(
            "call {event} {} {} {}",
            call.call_id,
            call.call_type.as_str(),
            call.status.as_str()
        )
    };
    print_line(&line);
}
