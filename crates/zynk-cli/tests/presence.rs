//! `zynk presence USER [--json]` and the presence and typing events of
//! `zynk listen`, through the binary against a real server on both backends.

mod common;

use serde_json::{Value, json};
use zynk_testkit::{Backend, TestServer, WsClient, backend_tests};

use common::{Device, alice_and_bob, username, with_state};

backend_tests!(presence_and_typing_reach_the_command_line);

/// The device's access token and its conversations' ids.
async fn token_and_conversation(device: &Device) -> (String, String) {
    with_state(device, async |m| {
        let conversations = m.api().conversations().await.expect("conversations");
        let token = m
            .session()
            .expect("logged in")
            .access_token
            .expose()
            .to_owned();
        (token, conversations[0].conversation_id.to_string())
    })
    .await
}

async fn presence_and_typing_reach_the_command_line(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (alice, bob, alice1, bob1) = alice_and_bob(&server).await;
    alice1.send(&["send", &bob, "hi bob"]).await;
    bob1.send(&["send", &alice, "hi alice"]).await;

    let seen: Value = serde_json::from_str(alice1.ok(&["presence", &bob, "--json"]).await.trim())
        .expect("one JSON object");
    assert_eq!(seen["username"], bob.as_str());
    assert_eq!(seen["status"], "offline");
    assert!(seen["last_seen_at"].is_string(), "{seen}");

    let mut listener = alice1.spawn(&["listen", "--json"]);
    listener.stderr_line("listening").await;
    let (token, conversation) = token_and_conversation(&bob1).await;
    let mut bob_ws = WsClient::connect(&server.base_url, &token).await;
    bob_ws.next_of("hello").await;
    let online = listener
        .json_line("bob online", |v| v["type"] == "presence")
        .await;
    assert_eq!(online["username"], bob.as_str());
    assert_eq!(online["status"], "online");
    let plain = alice1.ok(&["presence", &bob]).await;
    assert!(
        plain.starts_with(&format!("{bob} online (last seen ")),
        "{plain}"
    );

    bob_ws
        .send(json!({"type": "typing", "conversation_id": conversation, "typing": true}))
        .await;
    let typing = listener
        .json_line("bob typing", |v| v["type"] == "typing")
        .await;
    assert_eq!(typing["username"], bob.as_str());
    assert_eq!(typing["conversation_id"], conversation.as_str());
    assert_eq!(typing["typing"], true);
    let stopped = listener
        .json_line("bob stopped typing", |v| v["type"] == "typing")
        .await;
    assert_eq!(stopped["typing"], false);

    bob_ws.close().await;
    let offline = listener
        .json_line("bob offline", |v| v["type"] == "presence")
        .await;
    assert_eq!(offline["status"], "offline");
    listener.stop().await;

    // A stranger is told the user is not found.
    let carol = Device::new(&server);
    carol.ok(&["register", &username("carol")]).await;
    let line = carol
        .fails_with(&carol.password, &["presence", &alice])
        .await;
    assert!(line.contains("not found"), "{line}");
}
