//! History on devices added later, through the `zynk` binary on both
//! backends: a user's own device forwards the room keys it holds to the
//! user's new device (at its next sync, or while `listen` runs), so the new
//! device reads the older messages; another user's device added later never
//! gets them, and neither does a third user's device.

mod common;

use std::time::Duration;

use serde_json::{Value, json};
use zynk_testkit::{Backend, TestServer, backend_tests};

use common::{Device, username, with_state};

backend_tests!(
    a_new_device_reads_older_history_after_a_sibling_syncs,
    history_never_reaches_another_users_new_device,
    a_listening_sibling_answers_a_new_devices_key_request,
);

fn by_id<'a>(items: &'a [Value], id: &str) -> &'a Value {
    items
        .iter()
        .find(|item| item["id"] == id)
        .unwrap_or_else(|| panic!("message {id} in {items:#?}"))
}

/// The text of message `id` as `items` show it, or `None` if undecryptable.
fn text<'a>(items: &'a [Value], id: &str) -> Option<&'a str> {
    let item = by_id(items, id);
    match item["undecryptable"] {
        Value::Null => item["text"].as_str(),
        _ => None,
    }
}

/// `messages USER --json` with its standard error.
async fn messages_with_stderr(device: &Device, user: &str) -> (Vec<Value>, String) {
    let output = device.run(&["messages", user, "--json"]).await;
    assert!(output.success, "{output:?}");
    let items = output
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    (items, output.stderr)
}

/// Words that show that key forwarding between accounts was attempted.
fn assert_no_cross_account_forwarding(stderr: &str, who: &str) {
    for needle in [
        "another account",
        "refused a key",
        "could not give",
        "key request",
    ] {
        assert!(!stderr.contains(needle), "{who}: {stderr}");
    }
}

/// Group sessions of `conversation` the device holds: (first known index,
/// forwarded by).
async fn sessions_of(device: &Device, conversation: &str) -> Vec<(u32, Option<String>)> {
    with_state(device, async |m| {
        m.machine()
            .inbound_sessions()
            .into_iter()
            .filter(|s| s.session.conversation_id == conversation)
            .map(|s| (s.first_known_index, s.forwarded_by))
            .collect()
    })
    .await
}

async fn a_new_device_reads_older_history_after_a_sibling_syncs(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (alice, bob, eve) = (username("alice"), username("bob"), username("eve"));
    let (alice1, bob1) = (Device::new(&server), Device::new(&server));
    alice1.ok(&["register", &alice]).await;
    bob1.ok(&["register", &bob]).await;

    // History from before Alice's second device.
    let hello = alice1.send(&["send", &bob, "hello bob"]).await;
    let reply = bob1.send(&["reply", &hello, "hi alice"]).await;
    alice1.send(&["edit", &hello, "hello bob!"]).await;
    bob1.send(&["react", &hello, "👍"]).await;
    let second = bob1.send(&["send", &alice, "second from bob"]).await;

    let alice2 = Device::new(&server);
    alice2.ok(&["login", &alice]).await;
    let items = alice2.messages(&bob).await;
    // The edit and the reaction cannot be folded in either: five items.
    assert_eq!(items.len(), 5, "{items:#?}");
    for item in &items {
        assert!(
            item["undecryptable"].is_string(),
            "not readable yet: {item}"
        );
    }
    // Bob writes again: his current key reaches alice2 directly, but only
    // from this message on.
    let third = bob1.send(&["send", &alice, "third from bob"]).await;
    let items = alice2.messages(&bob).await;
    assert_eq!(text(&items, &third), Some("third from bob"));
    assert_eq!(text(&items, &second), None);
    assert!(
        by_id(&items, &second)["undecryptable"]
            .as_str()
            .is_some_and(|r| r.contains("precedes the first known index")),
        "{items:#?}"
    );

    // Alice's first device syncs once: it sees her new device and forwards.
    let (_, stderr) = messages_with_stderr(&alice1, &bob).await;
    assert!(!stderr.contains("warning"), "{stderr}");
    let (items, stderr) = messages_with_stderr(&alice2, &bob).await;
    assert!(!stderr.contains("warning"), "{stderr}");
    let ids: Vec<&str> = items.iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(ids, vec![&*hello, &*reply, &*second, &*third], "{items:#?}");
    for item in &items {
        assert_eq!(item["undecryptable"], Value::Null, "{item}");
    }
    let first = by_id(&items, &hello);
    assert_eq!(first["text"], "hello bob!");
    assert_eq!(first["edited"], true);
    assert_eq!(first["reactions"], json!({"👍": [bob]}));
    assert_eq!(by_id(&items, &reply)["text"], "hi alice");
    assert_eq!(by_id(&items, &reply)["reply_to"], hello.as_str());
    assert_eq!(by_id(&items, &second)["text"], "second from bob");
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();
    let held = sessions_of(&alice2, &conversation).await;
    assert_eq!(held.len(), 2, "Alice's and Bob's sessions: {held:?}");
    assert!(held.iter().all(|(index, _)| *index == 0), "{held:?}");
    assert!(held.iter().all(|(_, by)| by.is_some()), "{held:?}");

    // Bob's device added later reads it too, through Bob's own device.
    let bob2 = Device::new(&server);
    bob2.ok(&["login", &bob]).await;
    bob1.ok(&["messages", &alice]).await;
    let items = bob2.messages(&alice).await;
    assert_eq!(items.len(), 4, "{items:#?}");
    for item in &items {
        assert_eq!(item["undecryptable"], Value::Null, "{item}");
    }
    assert_eq!(by_id(&items, &hello)["text"], "hello bob!");

    // A third user's device, known to Alice's devices, gets none of it.
    let eve1 = Device::new(&server);
    eve1.ok(&["register", &eve]).await;
    let to_eve = alice1.send(&["send", &eve, "hi eve"]).await;
    let (_, stderr) = messages_with_stderr(&alice1, &bob).await;
    assert_no_cross_account_forwarding(&stderr, "alice1");
    let (items, stderr) = messages_with_stderr(&eve1, &alice).await;
    assert_no_cross_account_forwarding(&stderr, "eve1");
    assert_eq!(items.len(), 1);
    assert_eq!(text(&items, &to_eve), Some("hi eve"));
    assert!(sessions_of(&eve1, &conversation).await.is_empty());
}

async fn history_never_reaches_another_users_new_device(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (alice, bob) = (username("alice"), username("bob"));
    let (alice1, bob1) = (Device::new(&server), Device::new(&server));
    alice1.ok(&["register", &alice]).await;
    bob1.ok(&["register", &bob]).await;
    let old_a = alice1.send(&["send", &bob, "old from alice"]).await;
    let old_b = bob1.send(&["send", &alice, "old from bob"]).await;

    // Bob's only device goes; his new one has no sibling to forward history.
    bob1.ok(&["logout"]).await;
    let bob2 = Device::new(&server);
    bob2.ok(&["login", &bob]).await;
    // Alice's device learns Bob's new device (and opens a channel to it).
    let new = alice1.send(&["send", &bob, "after bob's new device"]).await;
    for _ in 0..2 {
        let (_, stderr) = messages_with_stderr(&alice1, &bob).await;
        assert_no_cross_account_forwarding(&stderr, "alice1");
    }
    let (items, stderr) = messages_with_stderr(&bob2, &alice).await;
    assert_no_cross_account_forwarding(&stderr, "bob2");
    assert_eq!(text(&items, &new), Some("after bob's new device"));
    assert_eq!(text(&items, &old_a), None, "{items:#?}");
    assert_eq!(text(&items, &old_b), None, "{items:#?}");
    // Once more after Alice synced again: still nothing.
    alice1.ok(&["messages", &bob]).await;
    let (items, stderr) = messages_with_stderr(&bob2, &alice).await;
    assert_no_cross_account_forwarding(&stderr, "bob2");
    assert_eq!(text(&items, &old_a), None, "{items:#?}");
    let conversation = by_id(&items, &new)["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let held = sessions_of(&bob2, &conversation).await;
    assert!(held.iter().all(|(_, by)| by.is_none()), "{held:?}");
}

async fn a_listening_sibling_answers_a_new_devices_key_request(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (alice, bob) = (username("alice"), username("bob"));
    let (alice1, bob1) = (Device::new(&server), Device::new(&server));
    alice1.ok(&["register", &alice]).await;
    bob1.ok(&["register", &bob]).await;
    let first = alice1.send(&["send", &bob, "first"]).await;
    let answer = bob1.send(&["send", &alice, "answer"]).await;

    let mut listener = alice1.spawn(&["listen", "--json"]);
    listener.stderr_line("listening").await;
    let alice2 = Device::new(&server);
    alice2.ok(&["login", &alice]).await;
    // alice2's first sync finds the messages undecryptable and asks its
    // sibling; the listening alice1 forwards. Poll, bounded.
    let mut items = Vec::new();
    for _ in 0..40 {
        items = alice2.messages(&bob).await;
        if text(&items, &first).is_some() && text(&items, &answer).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    listener.stop().await;
    assert_eq!(text(&items, &first), Some("first"), "{items:#?}");
    assert_eq!(text(&items, &answer), Some("answer"), "{items:#?}");
}
