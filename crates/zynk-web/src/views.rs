//! The JSON shapes the browser client receives. Target-independent, so they are built and
//! tested natively; the wasm bindings only call these.

use serde_json::{Value, json};
use zynk_proto::ws::ServerFrame;
use zynk_sdk::ClientError;
use zynk_sdk::client::{
    FrameOutcome, ProofCheck, ProofVerdict, ReceivedCallSignal, SafetyNumberReport, SendReceipt,
    SyncReport, Whoami,
};

/// An error as the UI shows it: a stable `code` and a sentence.
pub fn error(error: &ClientError) -> Value {
    let code = match error {
        ClientError::Api { code, .. } => code.as_str(),
        ClientError::Transport(_) => "transport",
        ClientError::Protocol(_) => "protocol",
        ClientError::SessionEnded(_) => "session_ended",
        ClientError::InvalidCredentials => "invalid_credentials",
        ClientError::Backup(_) => "backup",
        ClientError::Vault(_) => "wrong_password_or_tampered",
        ClientError::IdentityChanged { .. } => "identity_changed",
        ClientError::AccountReplaced { .. } => "account_replaced",
        ClientError::KeyTransparency { .. } => "key_transparency",
        ClientError::NoReadableDevice { .. } => "no_readable_device",
        ClientError::SafetyNumberMismatch => "safety_number_mismatch",
        ClientError::Crypto(_) => "crypto",
        ClientError::UnknownUser(_) => "unknown_user",
        ClientError::UnknownMessage(_) => "unknown_message",
        ClientError::NotAnchored(_) => "not_anchored",
        ClientError::LedgerKeyChanged { .. } => "ledger_key_changed",
        ClientError::Storage(_) => "storage",
        ClientError::Invalid(_) => "invalid",
        ClientError::NoGroupKey { .. } => "no_group_key",
        ClientError::SharedSecret(_) => "group_encryption",
    };
    json!({ "code": code, "message": error.to_string() })
}

/// Who this device is.
pub fn whoami(who: &Whoami) -> Value {
    json!({
        "username": who.username,
        "user_id": who.user_id,
        "device_id": who.device_id,
        "server_url": who.server_url,
        "identity_key": who.identity_key,
        "device_key": who.device_key,
    })
}

/// What a sync brought.
pub fn sync_report(report: &SyncReport) -> Value {
    json!({ "updates": report.updates, "warnings": report.warnings })
}

/// A sent message.
pub fn send_receipt(receipt: &SendReceipt) -> Value {
    json!({
        "message_id": receipt.message_id,
        "conversation_id": receipt.conversation_id,
        "seq": receipt.seq,
        "warnings": receipt.warnings,
    })
}

/// A safety number with the contact's trust state.
pub fn safety_number(report: &SafetyNumberReport) -> Value {
    json!({
        "username": report.username,
        "user_id": report.user_id,
        "number": report.number.digits(),
        "groups": report.number.groups(),
        "level": report.level,
        "replaced_account": report.replaced_account,
    })
}

/// A ledger proof checked in the browser.
pub fn proof_check(check: &ProofCheck) -> Value {
    let verdict = match &check.verdict {
        ProofVerdict::Valid {
            batch_id,
            leaf_index,
            tree_size,
            root,
            signer,
        } => json!({
            "valid": true,
            "batch_id": batch_id,
            "leaf_index": leaf_index,
            "tree_size": tree_size,
            "root": root.to_string(),
            "signer": signer,
        }),
        ProofVerdict::Invalid { reason } => json!({ "valid": false, "reason": reason }),
    };
    json!({
        "message_id": check.message_id,
        "conversation_id": check.conversation_id,
        "verdict": verdict,
        "ciphertext_source": check.ciphertext_source,
        "ledger": check.ledger,
        "newly_pinned": check.newly_pinned,
    })
}

/// A call signal received from another device.
pub fn call_signal(signal: &ReceivedCallSignal) -> Value {
    json!({
        "sender_user_id": signal.sender_user_id,
        "sender_device_id": signal.sender_device_id,
        "signal": signal.signal,
    })
}

/// The events of one WebSocket frame for the UI, in order: read/delivered cursors (which the
/// SDK does not keep), new or changed messages, presence and typing, calls, call signals and
/// warnings. `frame` is the frame before the SDK handled it, `outcome` what handling it gave.
pub fn frame_events(
    frame: &ServerFrame,
    outcome: &FrameOutcome,
    signals: &[ReceivedCallSignal],
) -> Vec<Value> {
    let mut events = Vec::new();
    if let ServerFrame::Receipt {
        conversation_id,
        user_id,
        last_delivered_seq,
        last_read_seq,
    } = frame
    {
        events.push(json!({
            "type": "receipt",
            "conversation_id": conversation_id,
            "user_id": user_id,
            "last_delivered_seq": last_delivered_seq,
            "last_read_seq": last_read_seq,
        }));
    }
    if let ServerFrame::MessageExpired {
        conversation_id,
        message_id,
        reason,
    } = frame
    {
        events.push(json!({
            "type": "expired",
            "conversation_id": conversation_id,
            "message_id": message_id,
            "reason": reason,
        }));
    }
    if !outcome.updates.is_empty() {
        events.push(json!({ "type": "messages", "updates": outcome.updates }));
    }
    for live in &outcome.live {
        // Tagged `presence` or `typing`.
        events.push(serde_json::to_value(live).unwrap_or(Value::Null));
    }
    for (event, call) in &outcome.call_events {
        events.push(json!({ "type": "call", "event": event, "call": call }));
    }
    if !signals.is_empty() {
        let signals: Vec<Value> = signals.iter().map(call_signal).collect();
        events.push(json!({ "type": "call_signals", "signals": signals }));
    }
    for warning in &outcome.warnings {
        events.push(json!({ "type": "warning", "message": warning }));
    }
    events.retain(|event| !event.is_null());
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use zynk_proto::ids::{ConversationId, UserId};

    #[test]
    fn receipts_are_reported_even_though_the_sdk_ignores_them() {
        let frame = ServerFrame::Receipt {
            conversation_id: ConversationId::from_u128(1),
            user_id: UserId::from_u128(2),
            last_delivered_seq: 5,
            last_read_seq: Some(4),
        };
        let events = frame_events(&frame, &FrameOutcome::default(), &[]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["type"], "receipt");
        assert_eq!(events[0]["last_read_seq"], 4);
        assert_eq!(events[0]["last_delivered_seq"], 5);
        assert_eq!(events[0]["user_id"], UserId::from_u128(2).to_string());
    }

    #[test]
    fn outcomes_become_tagged_events_in_order() {
        let outcome = FrameOutcome {
            live: vec![zynk_sdk::client::LiveEvent::Typing {
                conversation_id: ConversationId::from_u128(1),
                username: "ann".into(),
                user_id: UserId::from_u128(2),
                typing: true,
            }],
            warnings: vec!["a note".into()],
            ..FrameOutcome::default()
        };
        let events = frame_events(&ServerFrame::Pong, &outcome, &[]);
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["typing", "warning"]);
        assert_eq!(events[0]["username"], "ann");
        assert_eq!(events[0]["typing"], true);
    }

    #[test]
    fn errors_carry_a_stable_code() {
        let api = ClientError::Api {
            status: 404,
            code: "user_not_found".into(),
            message: "no such user".into(),
        };
        assert_eq!(error(&api)["code"], "user_not_found");
        assert_eq!(
            error(&ClientError::InvalidCredentials)["code"],
            "invalid_credentials"
        );
        let short = ClientError::Invalid("the password must be at least 10 characters".into());
        assert_eq!(error(&short)["code"], "invalid");
        assert_eq!(
            error(&short)["message"],
            "the password must be at least 10 characters"
        );
    }
}
