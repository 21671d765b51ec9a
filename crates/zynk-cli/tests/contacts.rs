//! `zynk block`, `unblock`, `requests`, `accept`, `decline`, `conversations`,
//! `send --expires-in` and mentions, through the binary against a real server
//! on both backends.

mod common;

use serde_json::Value;
use zynk_testkit::{Backend, TestServer, backend_tests};

use common::{Device, alice_and_bob, username};

backend_tests!(
    requests_wait_are_readable_and_are_accepted_or_declined,
    blocked_users_fail_like_strangers_and_never_reach_the_blocker,
    conversations_show_unread_counts_and_sends_self_destruct,
);

/// `ARGS --json`, one parsed object per line.
async fn json_lines(device: &Device, args: &[&str]) -> Vec<Value> {
    let mut args = args.to_vec();
    args.push("--json");
    device
        .ok(&args)
        .await
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

async fn register(server: &TestServer, stem: &str) -> (String, Device) {
    let name = username(stem);
    let device = Device::new(server);
    device.ok(&["register", &name]).await;
    (name, device)
}

async fn requests_wait_are_readable_and_are_accepted_or_declined(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (alice, bob, alice1, bob1) = alice_and_bob(&server).await;
    let (carol, carol1) = register(&server, "carol").await;

    // A stranger's first message waits in `requests`, with a mention of bob.
    let text = format!("hi @{bob}, it is alice");
    let hello = alice1.send(&["send", &bob, &text]).await;
    let requests = json_lines(&bob1, &["requests"]).await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["username"], alice.as_str());
    assert_eq!(requests[0]["unread"], 1);
    let plain = bob1.ok(&["requests"]).await;
    assert!(plain.starts_with(&format!("{alice}  1 unread")), "{plain}");
    assert!(json_lines(&bob1, &["conversations"]).await.is_empty());

    // Readable, and reading neither accepts nor declines it.
    let items = bob1.messages(&alice).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], hello.as_str());
    assert_eq!(items[0]["text"], text.as_str());
    assert_eq!(items[0]["mentions"], serde_json::json!([bob]));
    let requests = json_lines(&bob1, &["requests"]).await;
    assert_eq!(requests.len(), 1, "still a request after reading");
    assert_eq!(requests[0]["unread"], 0, "but read");

    // Accepting moves it to the conversation list.
    assert_eq!(
        bob1.ok(&["accept", &alice]).await.trim(),
        format!("accepted {alice}")
    );
    assert!(json_lines(&bob1, &["requests"]).await.is_empty());
    let conversations = json_lines(&bob1, &["conversations"]).await;
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0]["with"], serde_json::json!([alice]));

    // Declining: carol's request is hidden and her further sends fail.
    carol1.send(&["send", &bob, "buy now"]).await;
    assert_eq!(json_lines(&bob1, &["requests"]).await.len(), 1);
    assert_eq!(
        bob1.ok(&["decline", &carol]).await.trim(),
        format!("declined {carol}")
    );
    assert!(json_lines(&bob1, &["requests"]).await.is_empty());
    let refused = carol1
        .fails_with(&carol1.password, &["send", &bob, "again"])
        .await;
    assert!(
        refused.contains("does not accept messages from you"),
        "{refused}"
    );
    // Changing his mind, bob accepts the declined request.
    bob1.ok(&["accept", &carol]).await;
    carol1.send(&["send", &bob, "thanks"]).await;

    // Denials: no request from that user, an unknown user, oneself.
    let (dave, dave1) = register(&server, "dave").await;
    let none = bob1.fails_with(&bob1.password, &["accept", &dave]).await;
    assert!(none.contains("no message request from"), "{none}");
    bob1.fails_with(&bob1.password, &["decline", &dave]).await;
    bob1.fails_with(&bob1.password, &["accept", "nobody_here_at_all"])
        .await;
    bob1.fails_with(&bob1.password, &["block", &bob]).await;

    // Replying accepts: alice's reply to a request from dave.
    dave1.send(&["send", &alice, "hello alice"]).await;
    assert_eq!(json_lines(&alice1, &["requests"]).await.len(), 1);
    alice1.send(&["send", &dave, "hello dave"]).await;
    assert!(json_lines(&alice1, &["requests"]).await.is_empty());
    assert_eq!(json_lines(&alice1, &["conversations"]).await.len(), 2);
}

async fn blocked_users_fail_like_strangers_and_never_reach_the_blocker(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (alice, bob, alice1, bob1) = alice_and_bob(&server).await;
    let (carol, carol1) = register(&server, "carol").await;

    bob1.send(&["send", &alice, "hi alice"]).await;
    alice1.send(&["send", &bob, "hi bob"]).await;
    assert_eq!(
        bob1.ok(&["block", &alice]).await.trim(),
        format!("blocked {alice}")
    );
    let blocked = alice1
        .fails_with(&alice1.password, &["send", &bob, "let me in"])
        .await;

    // The same line as a send to someone who declined (alice is not told).
    carol1.send(&["send", &alice, "hello"]).await;
    alice1.ok(&["decline", &carol]).await;
    let declined = carol1
        .fails_with(&carol1.password, &["send", &alice, "again"])
        .await;
    assert_eq!(blocked, declined);

    // Nothing of it reached bob.
    let items = bob1.messages(&alice).await;
    let texts: Vec<&str> = items.iter().filter_map(|i| i["text"].as_str()).collect();
    assert_eq!(texts, vec!["hi alice", "hi bob"]);

    // The blocker is told; unblocking lets messages through again.
    let own = bob1
        .fails_with(&bob1.password, &["send", &alice, "x"])
        .await;
    assert!(own.contains("you blocked this user"), "{own}");
    assert_eq!(
        bob1.ok(&["unblock", &alice]).await.trim(),
        format!("unblocked {alice}")
    );
    alice1.send(&["send", &bob, "back again"]).await;
    let items = bob1.messages(&alice).await;
    assert_eq!(items.last().unwrap()["text"], "back again");
}

async fn conversations_show_unread_counts_and_sends_self_destruct(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.retention.expiry_interval_ms = 100).await;
    let (alice, bob, alice1, bob1) = alice_and_bob(&server).await;
    bob1.send(&["send", &alice, "hello"]).await;
    alice1.ok(&["accept", &bob]).await;
    alice1.messages(&bob).await;
    for text in ["one", "two", "three"] {
        bob1.send(&["send", &alice, text]).await;
    }
    let conversations = json_lines(&alice1, &["conversations"]).await;
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0]["type"], "one_to_one");
    assert_eq!(conversations[0]["with"], serde_json::json!([bob]));
    assert_eq!(conversations[0]["unread"], 3);
    assert_eq!(conversations[0]["last_seq"], 4);
    assert_eq!(conversations[0]["request_state"], "accepted");
    let plain = alice1.ok(&["conversations"]).await;
    assert!(
        plain.contains(&format!("one_to_one  {bob}  3 unread")),
        "{plain}"
    );
    alice1.messages(&bob).await;
    assert_eq!(
        json_lines(&alice1, &["conversations"]).await[0]["unread"],
        0
    );
    assert_eq!(json_lines(&bob1, &["conversations"]).await[0]["unread"], 0);

    // A self-destructing message: shown with its expiry, then gone everywhere.
    let doomed = alice1
        .send(&["send", &bob, "burn after reading", "--expires-in", "2"])
        .await;
    let items = bob1.messages(&alice).await;
    let item = items
        .iter()
        .find(|i| i["id"] == doomed.as_str())
        .expect("delivered");
    assert_eq!(item["text"], "burn after reading");
    assert!(item["expires_at"].is_string(), "{item}");
    assert!(bob1.ok(&["messages", &alice]).await.contains("[expires "));
    tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
    for (device, peer) in [(&bob1, &alice), (&alice1, &bob)] {
        let items = device.messages(peer).await;
        assert!(
            items.iter().all(|i| i["id"] != doomed.as_str()),
            "{items:?}"
        );
    }
    // Bad delays are refused before anything is sent.
    for bad in ["0", "31536001"] {
        let line = alice1
            .fails_with(&alice1.password, &["send", &bob, "x", "--expires-in", bad])
            .await;
        assert!(line.contains("self-destruct delay"), "{line}");
    }
    let output = alice1
        .run(&["send", &bob, "x", "--expires-in", "soon"])
        .await;
    assert!(!output.success);
    let items = bob1.messages(&alice).await;
    assert!(items.iter().all(|i| i["text"] != "x"));
}
