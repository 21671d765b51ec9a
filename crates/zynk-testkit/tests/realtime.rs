//! The WebSocket gateway on both backends: authentication, pushed messages, to-device
//! payloads, receipts, expiries and key alerts, sends over the socket, acknowledgements,
//! revocation; and two nodes sharing PostgreSQL + Redis delivering to each other's clients.

use reqwest::{Method, StatusCode};
use serde_json::json;
use zynk_testkit::{Api, Backend, Device, TestServer, WsClient, backend_tests, message_body};

backend_tests!(
    socket_requires_a_valid_token,
    messages_receipts_and_to_device_are_pushed,
    sending_and_acknowledging_over_the_socket,
    expiry_and_key_alerts_are_pushed,
    revoking_a_device_closes_its_socket,
    logout_replay_and_account_deletion_close_sockets,
);

async fn socket_requires_a_valid_token(backend: Backend) {
    let server = TestServer::start(backend).await;
    assert_eq!(
        WsClient::try_connect(&server.base_url, "zat_nope")
            .await
            .err(),
        Some(401)
    );
    let ann = server.api().register(&Api::username("ann")).await;
    let mut ws = WsClient::connect(&server.base_url, &ann.access_token).await;
    let hello = ws.next_of("hello").await;
    assert_eq!(hello["user_id"], ann.user_id.as_str());
    assert_eq!(hello["device_id"], ann.device_id.as_str());
    assert_eq!(hello["heartbeat_secs"], 30);
    ws.send(json!({"type": "ping"})).await;
    ws.next_of("pong").await;
    ws.send(json!({"type": "launch_missiles"})).await;
    let error = ws.next_of("error").await;
    assert_eq!(error["code"], "invalid_json");
    // After logout the token no longer opens a socket.
    server
        .api()
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&ann.access_token),
            None,
        )
        .await;
    assert_eq!(
        WsClient::try_connect(&server.base_url, &ann.access_token)
            .await
            .err(),
        Some(401)
    );
}

async fn messages_receipts_and_to_device_are_pushed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann_name = Api::username("ann");
    let ann = api.register(&ann_name).await;
    let ann_phone = api
        .login_ok(&ann_name, &ann.password, Device::random("ios"))
        .await;
    let bob = api.register(&Api::username("bob")).await;
    let eve = api.register(&Api::username("eve")).await;
    let mut ann_ws = WsClient::connect(&server.base_url, &ann.access_token).await;
    let mut phone_ws = WsClient::connect(&server.base_url, &ann_phone.access_token).await;
    let mut bob_ws = WsClient::connect(&server.base_url, &bob.access_token).await;
    let mut eve_ws = WsClient::connect(&server.base_url, &eve.access_token).await;
    for ws in [&mut ann_ws, &mut phone_ws, &mut bob_ws, &mut eve_ws] {
        ws.next_of("hello").await;
    }
    let conversation = api.open_conversation(&bob.access_token, &ann.user_id).await;
    let sent = api
        .send_message(&bob.access_token, &conversation, message_body("hi ann"))
        .await;
    // Every device of every participant gets it, the sender's included; outsiders do not.
    for ws in [&mut ann_ws, &mut phone_ws, &mut bob_ws] {
        let frame = ws.next_of("message").await;
        assert_eq!(frame["message"], sent);
    }
    // Receipts are pushed to the participants.
    let receipts = format!("/api/v1/conversations/{conversation}/receipts");
    api.call(
        Method::POST,
        &receipts,
        Some(&ann.access_token),
        Some(&json!({"read_up_to": 1})),
    )
    .await;
    let receipt = bob_ws.next_of("receipt").await;
    assert_eq!(receipt["user_id"], ann.user_id.as_str());
    assert_eq!(receipt["last_read_seq"], 1);
    // To-device payloads reach exactly the addressed device.
    let send = json!({"txn_id": "k1", "event_type": "m.room_key", "messages": [
        {"user_id": ann.user_id, "device_id": ann_phone.device_id, "content": {"ciphertext": "for-phone"}}]});
    api.call(
        Method::POST,
        "/api/v1/to-device",
        Some(&bob.access_token),
        Some(&send),
    )
    .await;
    let frame = phone_ws.next_of("to_device").await;
    assert_eq!(frame["message"]["content"]["ciphertext"], "for-phone");
    // Eve saw none of it: the next frame she gets is the answer to her own ping.
    eve_ws.send(json!({"type": "ping"})).await;
    assert_eq!(eve_ws.next().await.unwrap()["type"], "pong");
    // Ann's laptop did not get the phone's payload either.
    ann_ws.send(json!({"type": "ping"})).await;
    loop {
        let frame = ann_ws.next().await.unwrap();
        assert_ne!(frame["type"], "to_device");
        if frame["type"] == "pong" {
            break;
        }
    }
}

async fn sending_and_acknowledging_over_the_socket(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    let mut ann_ws = WsClient::connect(&server.base_url, &ann.access_token).await;
    let mut bob_ws = WsClient::connect(&server.base_url, &bob.access_token).await;
    ann_ws.next_of("hello").await;
    bob_ws.next_of("hello").await;
    let body = message_body("over the socket");
    let frame = json!({"type": "send", "request_id": "r1", "conversation_id": conversation, "message": body});
    ann_ws.send(frame.clone()).await;
    let sent = ann_ws.next_of("sent").await;
    assert_eq!(sent["request_id"], "r1");
    assert_eq!(sent["created"], true);
    assert_eq!(sent["message"]["seq"], 1);
    let got = bob_ws.next_of("message").await;
    assert_eq!(got["message"]["message_id"], body["message_id"]);
    // A retried send frame is idempotent.
    ann_ws.send(frame).await;
    let again = ann_ws.next_of("sent").await;
    assert_eq!(
        (again["created"].clone(), again["message"]["seq"].clone()),
        (json!(false), json!(1))
    );
    // Errors answer with the request id.
    let mut bad = message_body("x");
    bad["content_hash"] = json!("0".repeat(64));
    ann_ws.send(json!({"type": "send", "request_id": "r2", "conversation_id": conversation, "message": bad})).await;
    let error = ann_ws.next_of("error").await;
    assert_eq!(
        (error["request_id"].clone(), error["code"].clone()),
        (json!("r2"), json!("content_hash_mismatch"))
    );
    // Bob acknowledges; Ann sees the delivered cursor move.
    bob_ws
        .send(json!({"type": "ack", "conversation_id": conversation, "seq": 1}))
        .await;
    let receipt = ann_ws.next_of("receipt").await;
    assert_eq!(receipt["user_id"], bob.user_id.as_str());
    assert_eq!(receipt["last_delivered_seq"], 1);
    let (_, view) = api
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &ann.access_token,
        )
        .await;
    let bob_cursor = view["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user_id"] == bob.user_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(bob_cursor["last_delivered_seq"], 1);
    // To-device acknowledgements over the socket delete from the inbox.
    let send = json!({"txn_id": "t", "event_type": "m", "messages": [{"user_id": bob.user_id, "device_id": bob.device_id, "content": {"a": 1}}]});
    api.call(
        Method::POST,
        "/api/v1/to-device",
        Some(&ann.access_token),
        Some(&send),
    )
    .await;
    let td = bob_ws.next_of("to_device").await;
    bob_ws
        .send(json!({"type": "ack_to_device", "up_to": td["message"]["id"]}))
        .await;
    bob_ws.send(json!({"type": "ping"})).await;
    bob_ws.next_of("pong").await;
    let (_, inbox) = api.get("/api/v1/to-device", &bob.access_token).await;
    assert_eq!(inbox["messages"].as_array().unwrap().len(), 0);
}

async fn expiry_and_key_alerts_are_pushed(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.retention.expiry_interval_ms = 50).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    let mut bob_ws = WsClient::connect(&server.base_url, &bob.access_token).await;
    bob_ws.next_of("hello").await;
    let mut body = message_body("ephemeral");
    body["expires_at"] =
        json!((chrono::Utc::now() + chrono::Duration::milliseconds(800)).to_rfc3339());
    let sent = api
        .send_message(&ann.access_token, &conversation, body)
        .await;
    let expired = bob_ws.next_of("message_expired").await;
    assert_eq!(expired["message_id"], sent["message_id"]);
    assert_eq!(expired["conversation_id"], conversation.as_str());
    assert_eq!(expired["reason"], "self_destruct");
    // Claiming Bob's last one-time keys tells Bob's device to upload more.
    let key = |id: &str| json!({"key_id": id, "key": "A".repeat(43), "fallback": false, "signature": "A".repeat(86)});
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/keys/upload",
            Some(&bob.access_token),
            Some(&json!({"one_time_keys": [key("1"), key("2")]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let claim = json!({"devices": [{"user_id": bob.user_id, "device_id": bob.device_id}]});
    api.call(
        Method::POST,
        "/api/v1/keys/claim",
        Some(&ann.access_token),
        Some(&claim),
    )
    .await;
    let low = bob_ws.next_of("keys_low").await;
    assert_eq!(low["one_time_key_count"], 1);
}

async fn revoking_a_device_closes_its_socket(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let name = Api::username("ann");
    let ann = api.register(&name).await;
    let tablet = api
        .login_ok(&name, &ann.password, Device::random("android"))
        .await;
    let mut tablet_ws = WsClient::connect(&server.base_url, &tablet.access_token).await;
    tablet_ws.next_of("hello").await;
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/v1/devices/{}", tablet.device_id),
            Some(&ann.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The socket closes (after any frame already queued).
    while tablet_ws.next().await.is_some() {}
    assert_eq!(
        WsClient::try_connect(&server.base_url, &tablet.access_token)
            .await
            .err(),
        Some(401)
    );
}

async fn logout_replay_and_account_deletion_close_sockets(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let name = Api::username("ann");
    let ann = api.register(&name).await;
    let laptop = api
        .login_ok(&name, &ann.password, Device::random("web"))
        .await;
    let phone = api
        .login_ok(&name, &ann.password, Device::random("ios"))
        .await;
    let mut sockets = Vec::new();
    for token in [&ann.access_token, &laptop.access_token, &phone.access_token] {
        let mut ws = WsClient::connect(&server.base_url, token).await;
        ws.next_of("hello").await;
        sockets.push(ws);
    }
    let mut phone_ws = sockets.pop().unwrap();
    let mut laptop_ws = sockets.pop().unwrap();
    let mut first_ws = sockets.pop().unwrap();
    // Logout closes the sockets of that session only.
    api.call(
        Method::POST,
        "/api/v1/auth/logout",
        Some(&laptop.access_token),
        None,
    )
    .await;
    while laptop_ws.next().await.is_some() {}
    first_ws.send(json!({"type": "ping"})).await;
    first_ws.next_of("pong").await;
    // A replayed refresh token revokes its family and closes its sockets.
    let (_, rotated) = api
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": phone.refresh_token}),
        )
        .await;
    assert!(rotated["access_token"].is_string());
    let (status, _) = api
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": phone.refresh_token}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    while phone_ws.next().await.is_some() {}
    // Deleting the account closes every remaining socket.
    let (status, _) = api
        .call(
            Method::DELETE,
            "/api/v1/users/me",
            Some(&ann.access_token),
            Some(&json!({"password": ann.password})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    while first_ws.next().await.is_some() {}
}

/// Two nodes sharing one PostgreSQL and one Redis: a client on node A gets, in real time, what a
/// client on node B sends, and to-device payloads and receipts cross too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_deliver_to_each_others_clients() {
    let node_a = TestServer::start(Backend::Scale).await;
    let node_b = node_a.extra_node().await;
    let (api_a, api_b) = (node_a.api(), node_b.api());
    let ann = api_a.register(&Api::username("ann")).await;
    let bob = api_b.register(&Api::username("bob")).await;
    let mut ann_ws = WsClient::connect(&node_a.base_url, &ann.access_token).await;
    let mut bob_ws = WsClient::connect(&node_b.base_url, &bob.access_token).await;
    ann_ws.next_of("hello").await;
    bob_ws.next_of("hello").await;
    let conversation = api_b
        .open_conversation(&bob.access_token, &ann.user_id)
        .await;
    for i in 0..20 {
        let sent = api_b
            .send_message(
                &bob.access_token,
                &conversation,
                message_body(&format!("b{i}")),
            )
            .await;
        let got = ann_ws.next_of("message").await;
        assert_eq!(got["message"], sent);
    }
    let sent = api_a
        .send_message(&ann.access_token, &conversation, message_body("from a"))
        .await;
    // Bob's socket first replays his own 20 messages (a sender's devices get them too).
    for i in 0..20 {
        assert_eq!(bob_ws.next_of("message").await["message"]["seq"], i + 1);
    }
    let got = bob_ws.next_of("message").await;
    assert_eq!(got["message"]["message_id"], sent["message_id"]);
    let send = json!({"txn_id": "x", "event_type": "m", "messages": [{"user_id": bob.user_id, "device_id": bob.device_id, "content": {"k": "v"}}]});
    api_a
        .call(
            Method::POST,
            "/api/v1/to-device",
            Some(&ann.access_token),
            Some(&send),
        )
        .await;
    assert_eq!(
        bob_ws.next_of("to_device").await["message"]["content"]["k"],
        "v"
    );
    ann_ws
        .send(json!({"type": "ack", "conversation_id": conversation, "seq": 21}))
        .await;
    let receipt = bob_ws.next_of("receipt").await;
    assert_eq!(receipt["last_delivered_seq"], 21);
}
