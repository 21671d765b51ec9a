//! Tests of timeline folding and the message view formats.

use chrono::TimeZone;
use serde_json::Value;

use super::*;
use zynk_proto::ids::{ConversationId, MessageId, UserId};

fn uid(n: u128) -> UserId {
    UserId::from_u128(n)
}

fn mid(n: u128) -> MessageId {
    MessageId::from_u128(n)
}

fn cid(n: u128) -> ConversationId {
    ConversationId::from_u128(n)
}

const ALICE: u128 = 0xa;
const BOB: u128 = 0xb;

fn content(kind: RoomEventKind, body: Option<&str>, relates_to: Option<u128>) -> RoomEventContent {
    RoomEventContent {
        kind,
        body: body.map(str::to_owned),
        relates_to: relates_to.map(|t| mid(t).to_string()),
        mentions: Vec::new(),
        extra: None,
    }
}

fn entry(seq: i64, sender: u128, body: EntryBody) -> Entry {
    Entry {
        seq,
        message_id: mid(1000 + seq as u128),
        sender_id: uid(sender),
        created_at: Utc.timestamp_opt(1_700_000_000 + seq, 0).unwrap(),
        body,
        ciphertext: None,
        expires_at: None,
    }
}

fn event(
    seq: i64,
    sender: u128,
    kind: RoomEventKind,
    body: Option<&str>,
    target: Option<i64>,
) -> Entry {
    entry(
        seq,
        sender,
        EntryBody::Decrypted {
            content: content(kind, body, target.map(|t| 1000 + t as u128)),
            sender_device: "D".into(),
            sent_at_ms: 1,
        },
    )
}

fn text(seq: i64, sender: u128, body: &str) -> Entry {
    event(seq, sender, RoomEventKind::Text, Some(body), None)
}

#[test]
fn edits_apply_in_order_only_from_the_sender() {
    let entries = vec![
        text(1, ALICE, "helo"),
        event(2, ALICE, RoomEventKind::Edit, Some("hello"), Some(1)),
        event(3, BOB, RoomEventKind::Edit, Some("hijacked"), Some(1)),
        event(4, ALICE, RoomEventKind::Edit, Some("hello!"), Some(1)),
        event(5, ALICE, RoomEventKind::Edit, Some("nowhere"), Some(99)),
    ];
    let items = fold(&entries);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].text.as_deref(), Some("hello!"));
    assert!(items[0].edited);
    assert!(!items[0].deleted);
}

#[test]
fn deletes_blank_the_target_and_stop_later_changes() {
    let entries = vec![
        text(1, ALICE, "secret"),
        event(2, BOB, RoomEventKind::Reaction, Some("👍"), Some(1)),
        event(3, BOB, RoomEventKind::Delete, None, Some(1)),
        event(4, ALICE, RoomEventKind::Delete, None, Some(1)),
        event(5, ALICE, RoomEventKind::Edit, Some("back"), Some(1)),
        event(6, BOB, RoomEventKind::Reaction, Some("😮"), Some(1)),
        text(7, BOB, "still here"),
    ];
    let items = fold(&entries);
    assert_eq!(items.len(), 2);
    assert!(items[0].deleted);
    assert_eq!(items[0].text, None);
    assert!(items[0].reactions.is_empty());
    assert!(!items[0].edited);
    assert_eq!(items[1].text.as_deref(), Some("still here"));
}

#[test]
fn reactions_dedupe_per_sender_and_can_be_withdrawn() {
    let entries = vec![
        text(1, ALICE, "lunch?"),
        event(2, BOB, RoomEventKind::Reaction, Some("👍"), Some(1)),
        event(3, BOB, RoomEventKind::Reaction, Some("👍"), Some(1)),
        event(4, ALICE, RoomEventKind::Reaction, Some("👍"), Some(1)),
        event(5, BOB, RoomEventKind::Reaction, Some("🍕"), Some(1)),
        event(6, BOB, RoomEventKind::Reaction, Some(""), Some(1)),
        // Alice cannot withdraw Bob's reaction; Bob can.
        event(7, ALICE, RoomEventKind::Delete, None, Some(5)),
        event(8, BOB, RoomEventKind::Delete, None, Some(2)),
    ];
    let items = fold(&entries);
    assert_eq!(items.len(), 1);
    let got: Vec<(&str, UserId)> = items[0]
        .reactions
        .iter()
        .map(|r| (r.emoji.as_str(), r.sender_id))
        .collect();
    assert_eq!(got, vec![("👍", uid(ALICE)), ("🍕", uid(BOB))]);
}

#[test]
fn replies_undecryptable_and_removed_messages_are_items() {
    let envelope = EncryptedRoomMessage {
        algorithm: "x".into(),
        sender_key: "k".into(),
        session_id: "s".into(),
        ciphertext: "c".into(),
    };
    let entries = vec![
        text(1, ALICE, "question"),
        event(2, BOB, RoomEventKind::Reply, Some("answer"), Some(1)),
        entry(
            3,
            BOB,
            EntryBody::Pending {
                reason: "room key not received".into(),
                envelope,
                sender_device_id: None,
            },
        ),
        entry(
            4,
            BOB,
            EntryBody::Failed {
                reason: "replay".into(),
            },
        ),
        entry(5, ALICE, EntryBody::Removed),
        event(
            6,
            ALICE,
            RoomEventKind::Other("poll".into()),
            Some("?"),
            None,
        ),
    ];
    let items = fold(&entries);
    assert_eq!(items.len(), 6);
    assert_eq!(items[1].reply_to, Some(mid(1001)));
    assert_eq!(items[1].text.as_deref(), Some("answer"));
    assert_eq!(
        items[2].undecryptable.as_deref(),
        Some("room key not received")
    );
    assert_eq!(items[3].undecryptable.as_deref(), Some("replay"));
    assert_eq!(items[2].text, None);
    assert!(items[4].deleted);
    assert_eq!(items[5].text.as_deref(), Some("?"));
    // An edit cannot turn an undecryptable message into text.
    let mut more = entries.clone();
    more.push(event(7, BOB, RoomEventKind::Edit, Some("forged"), Some(4)));
    assert_eq!(fold(&more)[3].text, None);
}

#[test]
fn affected_ids_include_relation_targets_but_not_reply_targets() {
    let entries = [
        event(2, ALICE, RoomEventKind::Edit, Some("x"), Some(1)),
        event(3, BOB, RoomEventKind::Reply, Some("y"), Some(1)),
    ];
    let ids = affected_ids(&entries);
    assert!(ids.contains(&mid(1001)));
    assert!(ids.contains(&mid(1002)));
    assert!(ids.contains(&mid(1003)));
    assert_eq!(ids.len(), 3);
}

#[test]
fn json_line_has_the_documented_shape() {
    let entries = vec![
        text(1, ALICE, "hi \"there\"\n"),
        event(2, ALICE, RoomEventKind::Edit, Some("hi"), Some(1)),
        event(3, BOB, RoomEventKind::Reaction, Some("👍"), Some(1)),
    ];
    let item = &fold(&entries)[0];
    let names = |user: UserId| {
        if user == uid(ALICE) {
            "alice".to_owned()
        } else {
            "bob".to_owned()
        }
    };
    let view = MessageView::new(cid(77), item, names);
    let line = view.to_json_line();
    assert!(!line.contains('\n'));
    let json: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(json["id"], mid(1001).to_string());
    assert_eq!(json["conversation_id"], cid(77).to_string());
    assert_eq!(json["sender"], "alice");
    assert_eq!(json["text"], "hi");
    assert_eq!(json["sent_at"], "2023-11-14T22:13:21.000Z");
    assert_eq!(json["edited"], true);
    assert_eq!(json["deleted"], false);
    assert_eq!(json["reactions"]["👍"][0], "bob");
    assert_eq!(json["reply_to"], Value::Null);
    assert_eq!(json["undecryptable"], Value::Null);
    assert_eq!(json["seq"], 1);
    let back: MessageView = serde_json::from_str(&line).unwrap();
    assert_eq!(back, view);
    let display = view.to_display_line();
    assert!(display.contains("alice: hi"));
    assert!(display.contains("(edited)"));
    assert!(display.contains("[👍 bob]"));
}

#[test]
fn display_line_reports_undecryptable_and_deleted() {
    let failed = entry(
        1,
        BOB,
        EntryBody::Failed {
            reason: "bad MAC".into(),
        },
    );
    let removed = entry(2, BOB, EntryBody::Removed);
    let items = fold(&[failed, removed]);
    let view = |item| MessageView::new(cid(1), item, |_| "bob".to_owned());
    assert!(
        view(&items[0])
            .to_display_line()
            .ends_with("bob: [undecryptable: bad MAC]")
    );
    assert!(
        view(&items[1])
            .to_display_line()
            .ends_with("bob: [deleted]")
    );
    let json: Value = serde_json::from_str(&view(&items[0]).to_json_line()).unwrap();
    assert_eq!(json["undecryptable"], "bad MAC");
    assert_eq!(json["text"], Value::Null);
}
