//! Groups through the `zynk` CLI, on both backends (issue 10, "done means"): alice creates a
//! group with bob and carol (two devices each); everyone reads everyone's messages on every
//! device; alice removes carol and sends again: bob's devices read it, carol's devices neither
//! receive it nor hold the key it needs (the sender's session was rotated); the server's
//! database holds none of the plaintexts; a 257th member is refused. The group is in
//! `conversations` by name, a block between members does not stop group messages, and a file
//! sent to the group by name arrives intact.

mod common;

use serde_json::Value;
use zynk_testkit::{Api, Backend, TestServer, backend_tests};

use common::{Device, contains, group_messages, texts, username, with_state};

backend_tests!(a_group_through_the_cli);

/// The Megolm session id of a stored message, read from the server's database.
async fn session_of(server: &TestServer, message_id: &str) -> String {
    let id = server.sql_uuid(message_id.parse().unwrap());
    let query = match server.backend {
        Backend::Embedded => {
            format!("SELECT CAST(encrypted_content AS TEXT) FROM messages WHERE id = {id}")
        }
        Backend::Scale => {
            format!("SELECT convert_from(encrypted_content, 'UTF8') FROM messages WHERE id = {id}")
        }
    };
    let envelope = server.sql_text(&query).await.expect("the stored message");
    let envelope: Value = serde_json::from_str(&envelope).expect("an envelope");
    envelope["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned()
}

async fn database_bytes(server: &TestServer) -> Vec<u8> {
    match server.backend {
        Backend::Embedded => {
            let mut bytes = Vec::new();
            for name in ["zynk.db", "zynk.db-wal"] {
                if let Ok(b) = std::fs::read(server.storage.data_dir().join(name)) {
                    bytes.extend(b);
                }
            }
            bytes
        }
        Backend::Scale => {
            let dump = std::process::Command::new("pg_dump")
                .arg("--data-only")
                .arg("--dbname")
                .arg(server.storage.database_url())
                .output()
                .expect("pg_dump runs");
            assert!(dump.status.success());
            dump.stdout
        }
    }
}

async fn a_group_through_the_cli(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.rate_limits.enabled = false).await;
    let (alice, bob, carol) = (username("alice"), username("bob"), username("carol"));
    let mut devices = Vec::new();
    for name in [&alice, &bob, &carol] {
        let first = Device::new(&server);
        first.ok(&["register", name]).await;
        let second = Device::new(&server);
        second.ok(&["login", name]).await;
        devices.push((first, second));
    }
    let [(alice1, alice2), (bob1, bob2), (carol1, carol2)] =
        <[(Device, Device); 3]>::try_from(devices)
            .ok()
            .expect("three users");
    let name = format!(
        "friends-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let group = alice1
        .ok(&[
            "group", "create", &name, "--member", &bob, "--member", &carol,
        ])
        .await
        .trim()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&group).is_ok(), "a group id: {group}");
    // The group by name and by id.
    let members = bob2.ok(&["group", "members", &name, "--json"]).await;
    let members: Vec<Value> = members
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let pairs: Vec<(String, String)> = members
        .iter()
        .map(|m| {
            (
                m["username"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        vec![
            (alice.clone(), "admin".into()),
            (bob.clone(), "member".into()),
            (carol.clone(), "member".into())
        ]
    );
    let listed = carol2.ok(&["group", "list"]).await;
    assert!(
        listed.contains(&group) && listed.contains(&name),
        "{listed}"
    );

    // The group in the conversation list, by name.
    let listed = bob1.ok(&["conversations", "--json"]).await;
    let listed: Vec<Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let entry = listed
        .iter()
        .find(|c| c["type"] == "group")
        .expect("the group's conversation");
    assert_eq!(entry["group"]["name"], name.as_str(), "{listed:?}");
    assert_eq!(entry["group"]["group_id"], group.as_str(), "{listed:?}");
    // A block does not stop group messages: bob blocks carol, and still reads her in the group.
    bob1.ok(&["block", &carol]).await;

    let canary = |n: u32| format!("zynk-group-canary-{n}-{}", uuid::Uuid::new_v4().simple());
    let plaintexts: Vec<String> = (0..6).map(canary).collect();
    let first = alice1.send(&["group", "send", &name, &plaintexts[0]]).await;
    bob2.send(&["group", "send", &group, &plaintexts[1]]).await;
    carol1.send(&["group", "send", &name, &plaintexts[2]]).await;
    // Replies, reactions and edits work on group message ids.
    bob1.send(&["reply", &first, &plaintexts[3]]).await;
    carol2.send(&["react", &first, "👍"]).await;
    alice2.send(&["edit", &first, &plaintexts[4]]).await;
    for device in [&alice1, &alice2, &bob1, &bob2, &carol1, &carol2] {
        let messages = group_messages(device, &name).await;
        let seen = texts(&messages);
        for expected in [
            &plaintexts[1],
            &plaintexts[2],
            &plaintexts[3],
            &plaintexts[4],
        ] {
            assert!(
                seen.contains(expected),
                "{expected} missing from {messages:?}"
            );
        }
        let edited = messages.iter().find(|m| m["id"] == first.as_str()).unwrap();
        assert_eq!(edited["edited"], true);
        assert_eq!(edited["reactions"]["👍"][0], carol.as_str());
        // Membership events are in the timeline with an `event` field.
        let added: Vec<&Value> = messages
            .iter()
            .filter(|m| m["event"]["action"] == "added")
            .collect();
        assert_eq!(added.len(), 3, "{messages:?}");
        assert!(
            messages.iter().all(|m| m["undecryptable"].is_null()),
            "{messages:?}"
        );
    }
    // A file sent to the group by its name reaches another member intact.
    let dir = std::env::temp_dir().join(format!("zynk-group-file-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("notes.txt");
    let content: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(&source, &content).unwrap();
    let sent_file = alice1
        .send(&["file", "send", "--group", &name, source.to_str().unwrap()])
        .await;
    let fetched = dir.join("fetched.txt");
    bob2.ok(&["file", "get", &sent_file, "-o", fetched.to_str().unwrap()])
        .await;
    assert_eq!(std::fs::read(&fetched).unwrap(), content);
    let _ = std::fs::remove_dir_all(&dir);

    let before_session = session_of(&server, &first).await;

    // Alice (on her other device) removes carol, then sends.
    alice2.ok(&["group", "remove", &name, &carol]).await;
    let after = alice1.send(&["group", "send", &name, &plaintexts[5]]).await;
    let after_session = session_of(&server, &after).await;
    assert_ne!(
        before_session, after_session,
        "the sender's session was rotated"
    );
    for device in [&bob1, &bob2] {
        let messages = group_messages(device, &group).await;
        assert!(texts(&messages).contains(&plaintexts[5]), "{messages:?}");
        let removal = messages
            .iter()
            .find(|m| m["event"]["action"] == "removed")
            .expect("the removal");
        assert_eq!(removal["event"]["user"], carol.as_str());
        assert_eq!(removal["event"]["by"], alice.as_str());
    }
    // Carol's devices: the group is gone for them, nothing after the removal reached them, and
    // they hold no key for the new session even after reading their whole to-device inbox.
    let refused = carol1
        .fails_with(&carol1.password, &["group", "messages", &group])
        .await;
    assert!(refused.contains("not found"), "{refused}");
    for device in [&carol1, &carol2] {
        let (timeline, sessions) = with_state(device, async |m| {
            let _ = m.sync().await;
            let conversation = m
                .data()
                .conversations
                .values()
                .find(|c| c.entry(first.parse().unwrap()).is_some())
                .map(|c| c.id)
                .expect("the group's conversation");
            let timeline = m.timeline(conversation).await;
            let sessions: Vec<String> = m
                .machine()
                .inbound_sessions()
                .into_iter()
                .map(|s| s.session.session_id)
                .collect();
            (timeline, sessions)
        })
        .await;
        assert!(
            timeline
                .iter()
                .all(|v| v.text.as_deref() != Some(plaintexts[5].as_str()))
        );
        assert!(timeline.iter().all(|v| v.id.to_string() != after));
        assert!(
            sessions.contains(&before_session),
            "carol read the group before"
        );
        assert!(
            !sessions.contains(&after_session),
            "carol holds the new session key"
        );
    }
    let out = carol2.run(&["group", "send", &group, "still here?"]).await;
    assert!(!out.success, "{out:?}");

    // The server holds no plaintext.
    let bytes = database_bytes(&server).await;
    assert!(
        contains(&bytes, alice.as_bytes()),
        "the search can find things"
    );
    for plaintext in &plaintexts {
        assert!(
            !contains(&bytes, plaintext.as_bytes()),
            "{plaintext} in the database"
        );
    }

    // A 257th member is refused.
    let api: Api = server.api();
    let mut others = Vec::new();
    for i in 0..256 {
        others.push(
            api.register(&Api::username(&format!("m{i}")))
                .await
                .username,
        );
    }
    let mut args: Vec<String> = vec!["group".into(), "create".into(), "big".into()];
    for other in &others[..255] {
        args.push("--member".into());
        args.push(other.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let big = alice1.ok(&args).await.trim().to_owned();
    let count = alice1.ok(&["group", "members", &big]).await.lines().count();
    assert_eq!(count, 256);
    let refused = alice1
        .fails_with(&alice1.password, &["group", "add", &big, &others[255]])
        .await;
    assert!(refused.contains("max_members"), "{refused}");
    let count = alice1.ok(&["group", "members", &big]).await.lines().count();
    assert_eq!(count, 256);
}
