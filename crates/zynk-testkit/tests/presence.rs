//! Presence and typing, on both backends (and across two nodes on PostgreSQL + Redis): users
//! who share a conversation (1:1 or group) see each other come online, go away and go offline
//! live; typing shows and expires after 5 s; a hidden status stays hidden; strangers get 404,
//! typing in a foreign conversation is refused, blocked users get nothing, typing is
//! rate-limited.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zynk_testkit::{Api, Backend, Registered, TestServer, WsClient, backend_tests, code};

backend_tests!(
    contacts_see_each_other_come_online_and_go_offline,
    away_after_idle_time_or_when_the_client_says_so,
    typing_shows_and_expires,
    a_hidden_status_stays_hidden,
    strangers_and_blocked_users_get_nothing,
    typing_in_a_foreign_conversation_is_refused_and_rate_limited,
);

async fn presence_of(api: &Api, viewer: &Registered, user: &Registered) -> (StatusCode, Value) {
    api.get(
        &format!("/api/v1/users/{}/presence", user.user_id),
        &viewer.access_token,
    )
    .await
}

/// Connects and reads the `hello` frame.
async fn connect(base_url: &str, user: &Registered) -> WsClient {
    let mut ws = WsClient::connect(base_url, &user.access_token).await;
    ws.next_of("hello").await;
    ws
}

/// The next `presence` frame about `user`.
async fn next_presence_of(ws: &mut WsClient, user: &Registered) -> Value {
    loop {
        let frame = ws.next_of("presence").await;
        if frame["user_id"] == user.user_id.as_str() {
            return frame;
        }
    }
}

/// Asserts that nothing about presence or typing is queued for `ws`: a `ping` is answered after
/// every frame queued before it, so any such frame would arrive before the `pong`.
async fn assert_quiet(ws: &mut WsClient) {
    ws.send(json!({"type": "ping"})).await;
    loop {
        let frame = ws.next().await.expect("connection open");
        match frame["type"].as_str() {
            Some("pong") => return,
            Some("presence" | "typing") => panic!("unexpected frame {frame}"),
            _ => {}
        }
    }
}

/// `a` opens the 1:1 conversation with `b` and `b` accepts it: the two are contacts.
async fn contacts(api: &Api, a: &Registered, b: &Registered) -> String {
    let conversation = api.open_conversation(&a.access_token, &b.user_id).await;
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/accept"),
            Some(&b.access_token),
            None,
        )
        .await;
    assert!(status.is_success(), "{body}");
    conversation
}

/// Waits until `user`'s own presence reads `status` (a closed socket is noticed shortly after).
async fn wait_for_own_status(api: &Api, user: &Registered, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, own) = presence_of(api, user, user).await;
        if own["status"] == status {
            return;
        }
        assert!(Instant::now() < deadline, "still {own}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn set_privacy(api: &Api, user: &Registered, settings: Value) {
    let (status, body) = api
        .call(
            Method::PATCH,
            "/api/v1/users/me/privacy",
            Some(&user.access_token),
            Some(&settings),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn contacts_see_each_other_come_online_and_go_offline(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let dan = api.register(&Api::username("dan")).await;
    let eve = api.register(&Api::username("eve")).await;
    contacts(&api, &ann, &bob).await;
    // Dan shares only a group with Bob.
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/groups",
            Some(&dan.access_token),
            Some(&json!({"name": "g", "members": [bob.user_id]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let mut ann_ws = connect(&server.base_url, &ann).await;
    let mut dan_ws = connect(&server.base_url, &dan).await;
    let mut eve_ws = connect(&server.base_url, &eve).await;
    // Bob sees Ann, already online, by asking.
    let (status, seen) = presence_of(&api, &bob, &ann).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["status"], "online");
    assert!(seen["last_seen_at"].is_string(), "{seen}");

    let before = chrono::Utc::now() - chrono::Duration::seconds(2);
    let bob_ws = connect(&server.base_url, &bob).await;
    let online = next_presence_of(&mut ann_ws, &bob).await;
    assert_eq!(online["status"], "online", "{online}");
    assert_eq!(
        next_presence_of(&mut dan_ws, &bob).await["status"],
        "online"
    );
    let (status, seen) = presence_of(&api, &ann, &bob).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["status"], "online");
    let (status, seen) = presence_of(&api, &dan, &bob).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["status"], "online");
    // Eve shares nothing with Bob: no frame.
    assert_quiet(&mut eve_ws).await;

    bob_ws.close().await;
    let offline = next_presence_of(&mut ann_ws, &bob).await;
    assert_eq!(offline["status"], "offline", "{offline}");
    let last_seen: chrono::DateTime<chrono::Utc> = offline["last_seen_at"]
        .as_str()
        .expect("last seen shown")
        .parse()
        .unwrap();
    assert!(last_seen >= before, "{last_seen} < {before}");
    assert_eq!(
        next_presence_of(&mut dan_ws, &bob).await["status"],
        "offline"
    );
    let (_, seen) = presence_of(&api, &ann, &bob).await;
    assert_eq!(seen["status"], "offline");
    assert!(seen["last_seen_at"].is_string(), "{seen}");
    assert_quiet(&mut eve_ws).await;

    // Two devices: closing one keeps the user online.
    let bob_tablet = api
        .login_ok(
            &bob.username,
            &bob.password,
            zynk_testkit::Device::random("ios"),
        )
        .await;
    let bob_ws = connect(&server.base_url, &bob).await;
    assert_eq!(
        next_presence_of(&mut ann_ws, &bob).await["status"],
        "online"
    );
    let tablet_ws = connect(&server.base_url, &bob_tablet).await;
    bob_ws.close().await;
    assert_quiet(&mut ann_ws).await;
    let (_, seen) = presence_of(&api, &ann, &bob).await;
    assert_eq!(seen["status"], "online");
    tablet_ws.close().await;
    assert_eq!(
        next_presence_of(&mut ann_ws, &bob).await["status"],
        "offline"
    );
}

async fn away_after_idle_time_or_when_the_client_says_so(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.websocket.heartbeat_secs = 2;
        c.presence.idle_secs = 1;
    })
    .await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    contacts(&api, &ann, &bob).await;
    let mut ann_ws = connect(&server.base_url, &ann).await;
    let mut bob_ws = connect(&server.base_url, &bob).await;
    assert_eq!(
        next_presence_of(&mut ann_ws, &bob).await["status"],
        "online"
    );
    // Pings keep the connection, not the user, active: Bob goes away at a heartbeat.
    bob_ws.send(json!({"type": "ping"})).await;
    ann_ws.send(json!({"type": "ping"})).await;
    assert_eq!(next_presence_of(&mut ann_ws, &bob).await["status"], "away");
    let (_, seen) = presence_of(&api, &ann, &bob).await;
    assert_eq!(seen["status"], "away");
    // Saying `away` while idle changes nothing (no flap through `online`).
    bob_ws
        .send(json!({"type": "presence", "status": "away"}))
        .await;
    assert_quiet(&mut bob_ws).await;
    assert_quiet(&mut ann_ws).await;
    // Any other frame makes him active again.
    bob_ws
        .send(json!({"type": "ack_to_device", "up_to": 0}))
        .await;
    assert_eq!(
        next_presence_of(&mut ann_ws, &bob).await["status"],
        "online"
    );

    // The client says so (with a long idle time, so only the frames decide).
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    contacts(&api, &ann, &bob).await;
    let mut ann_ws = connect(&server.base_url, &ann).await;
    let mut bob_ws = connect(&server.base_url, &bob).await;
    assert_eq!(
        next_presence_of(&mut ann_ws, &bob).await["status"],
        "online"
    );
    bob_ws
        .send(json!({"type": "presence", "status": "away"}))
        .await;
    assert_eq!(next_presence_of(&mut ann_ws, &bob).await["status"], "away");
    bob_ws
        .send(json!({"type": "presence", "status": "online"}))
        .await;
    assert_eq!(
        next_presence_of(&mut ann_ws, &bob).await["status"],
        "online"
    );
    // `offline` is not something a client says.
    bob_ws
        .send(json!({"type": "presence", "status": "offline"}))
        .await;
    let error = bob_ws.next_of("error").await;
    assert_eq!(error["code"], "invalid_field", "{error}");
    bob_ws
        .send(json!({"type": "presence", "status": "asleep"}))
        .await;
    assert_eq!(bob_ws.next_of("error").await["code"], "invalid_json");
    assert_quiet(&mut ann_ws).await;
}

async fn typing_shows_and_expires(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = contacts(&api, &ann, &bob).await;
    let mut ann_ws = connect(&server.base_url, &ann).await;
    let mut bob_ws = connect(&server.base_url, &bob).await;
    next_presence_of(&mut ann_ws, &bob).await;

    let typing =
        |on: bool| json!({"type": "typing", "conversation_id": conversation, "typing": on});
    ann_ws.send(typing(true)).await;
    let started = Instant::now();
    let shown = bob_ws.next_of("typing").await;
    assert_eq!(shown["conversation_id"], conversation.as_str());
    assert_eq!(shown["user_id"], ann.user_id.as_str());
    assert_eq!(shown["typing"], true);
    // Not renewed: it expires by itself after 5 s.
    let expired = bob_ws.next_of("typing").await;
    assert_eq!(expired["typing"], false, "{expired}");
    assert_eq!(expired["user_id"], ann.user_id.as_str());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(4500) && waited < Duration::from_secs(9),
        "{waited:?}"
    );

    // Renewed within 5 s: no expiry in between; a stop is relayed at once, once.
    ann_ws.send(typing(true)).await;
    assert_eq!(bob_ws.next_of("typing").await["typing"], true);
    tokio::time::sleep(Duration::from_secs(3)).await;
    ann_ws.send(typing(true)).await;
    assert_eq!(bob_ws.next_of("typing").await["typing"], true);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_quiet(&mut bob_ws).await;
    ann_ws.send(typing(false)).await;
    assert_eq!(bob_ws.next_of("typing").await["typing"], false);
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_quiet(&mut bob_ws).await;
    // The typist's own connection gets no echo.
    assert_quiet(&mut ann_ws).await;
}

async fn a_hidden_status_stays_hidden(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    contacts(&api, &ann, &bob).await;
    set_privacy(
        &api,
        &bob,
        json!({"show_online_status": false, "show_last_seen": false}),
    )
    .await;
    let mut ann_ws = connect(&server.base_url, &ann).await;
    let bob_ws = connect(&server.base_url, &bob).await;
    let (status, seen) = presence_of(&api, &ann, &bob).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen, json!({"status": null, "last_seen_at": null}));
    // Bob himself sees his own.
    let (_, own) = presence_of(&api, &bob, &bob).await;
    assert_eq!(own["status"], "online");
    assert!(own["last_seen_at"].is_string());
    bob_ws.close().await;
    wait_for_own_status(&api, &bob, "offline").await;
    assert_quiet(&mut ann_ws).await;
    let (_, seen) = presence_of(&api, &ann, &bob).await;
    assert_eq!(seen, json!({"status": null, "last_seen_at": null}));

    // Status shown, last seen hidden: frames carry no time.
    set_privacy(&api, &bob, json!({"show_online_status": true})).await;
    // Showing it again tells contacts the real status at once.
    let shown = next_presence_of(&mut ann_ws, &bob).await;
    assert_eq!(shown["status"], "offline");
    assert!(shown["last_seen_at"].is_null(), "{shown}");
    let bob_ws = connect(&server.base_url, &bob).await;
    let online = next_presence_of(&mut ann_ws, &bob).await;
    assert_eq!(online["status"], "online");
    assert!(online["last_seen_at"].is_null(), "{online}");
    // Hiding it while online makes Bob appear offline at once, with no time.
    set_privacy(&api, &bob, json!({"show_online_status": false})).await;
    let hidden = next_presence_of(&mut ann_ws, &bob).await;
    assert_eq!(
        hidden,
        json!({"type": "presence", "user_id": bob.user_id, "status": "offline", "last_seen_at": null})
    );
    let (_, seen) = presence_of(&api, &ann, &bob).await;
    assert_eq!(seen, json!({"status": null, "last_seen_at": null}));
    bob_ws.close().await;
    wait_for_own_status(&api, &bob, "offline").await;
    assert_quiet(&mut ann_ws).await;
    set_privacy(&api, &bob, json!({"show_online_status": true})).await;
    let offline = next_presence_of(&mut ann_ws, &bob).await;
    assert_eq!(offline["status"], "offline");
    assert!(offline["last_seen_at"].is_null(), "{offline}");
    let (_, seen) = presence_of(&api, &ann, &bob).await;
    assert_eq!(seen, json!({"status": "offline", "last_seen_at": null}));
}

async fn strangers_and_blocked_users_get_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let eve = api.register(&Api::username("eve")).await;
    // A message request: its recipient sees the sender, the sender not the recipient until
    // it is accepted.
    let mut bob_ws = connect(&server.base_url, &bob).await;
    api.open_conversation(&eve.access_token, &bob.user_id).await;
    let (status, body) = presence_of(&api, &eve, &bob).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = presence_of(&api, &bob, &eve).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let eve_ws = connect(&server.base_url, &eve).await;
    assert_eq!(
        next_presence_of(&mut bob_ws, &eve).await["status"],
        "online"
    );
    bob_ws.close().await;
    eve_ws.close().await;
    let eve = api.register(&Api::username("eve")).await;
    let conversation = contacts(&api, &ann, &bob).await;

    // A stranger: 404, like a user who does not exist.
    let (status, body) = presence_of(&api, &eve, &bob).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(code(&body), "not_found");
    let (status, body) = api
        .get(
            &format!("/api/v1/users/{}/presence", uuid::Uuid::new_v4()),
            &eve.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = api
        .get("/api/v1/users/not-a-uuid/presence", &eve.access_token)
        .await;
    // Like every path id that names no user.
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = api
        .get(&format!("/api/v1/users/{}/presence", bob.user_id), "nope")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Ann blocks Bob: neither sees the other any more, live or by asking, nor typing.
    let (status, body) = api
        .call(
            Method::PUT,
            &format!("/api/v1/users/{}/block", bob.user_id),
            Some(&ann.access_token),
            None,
        )
        .await;
    assert!(status.is_success(), "{body}");
    let mut ann_ws = connect(&server.base_url, &ann).await;
    let mut bob_ws = connect(&server.base_url, &bob).await;
    bob_ws
        .send(json!({"type": "typing", "conversation_id": conversation, "typing": true}))
        .await;
    ann_ws
        .send(json!({"type": "typing", "conversation_id": conversation, "typing": true}))
        .await;
    bob_ws
        .send(json!({"type": "presence", "status": "away"}))
        .await;
    assert_quiet(&mut ann_ws).await;
    assert_quiet(&mut bob_ws).await;
    for (viewer, user) in [(&ann, &bob), (&bob, &ann)] {
        let (status, body) = presence_of(&api, viewer, user).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    bob_ws.close().await;
    wait_for_own_status(&api, &bob, "offline").await;
    assert_quiet(&mut ann_ws).await;
    // Unblocked: they see each other again.
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{}/block", bob.user_id),
            Some(&ann.access_token),
            None,
        )
        .await;
    assert!(status.is_success());
    let (status, _) = presence_of(&api, &bob, &ann).await;
    assert_eq!(status, StatusCode::OK);
    let _bob_ws = connect(&server.base_url, &bob).await;
    assert_eq!(
        next_presence_of(&mut ann_ws, &bob).await["status"],
        "online"
    );

    // The route is in the OpenAPI document with its answers.
    let (status, doc) = api
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let route = &doc["paths"]["/api/v1/users/{user_id}/presence"]["get"];
    for answer in ["200", "401", "404"] {
        assert!(route["responses"][answer].is_object(), "{answer}: {route}");
    }
    assert!(doc["components"]["schemas"]["UserPresence"].is_object());
}

async fn typing_in_a_foreign_conversation_is_refused_and_rate_limited(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.presence.typing_per_minute = 3).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let eve = api.register(&Api::username("eve")).await;
    let conversation = contacts(&api, &ann, &bob).await;
    let mut ann_ws = connect(&server.base_url, &ann).await;
    let mut bob_ws = connect(&server.base_url, &bob).await;
    next_presence_of(&mut ann_ws, &bob).await;
    let mut eve_ws = connect(&server.base_url, &eve).await;

    eve_ws
        .send(json!({"type": "typing", "conversation_id": conversation, "typing": true}))
        .await;
    let error = eve_ws.next_of("error").await;
    assert_eq!(error["code"], "not_found", "{error}");
    eve_ws
        .send(json!({"type": "typing", "conversation_id": "x", "typing": true}))
        .await;
    assert_eq!(eve_ws.next_of("error").await["code"], "invalid_json");
    eve_ws
        .send(json!({"type": "typing", "conversation_id": conversation}))
        .await;
    assert_eq!(eve_ws.next_of("error").await["code"], "invalid_json");
    assert_quiet(&mut ann_ws).await;
    assert_quiet(&mut bob_ws).await;

    // Three per minute here: the fourth is refused and not relayed.
    let typing = json!({"type": "typing", "conversation_id": conversation, "typing": true});
    for _ in 0..3 {
        ann_ws.send(typing.clone()).await;
        assert_eq!(bob_ws.next_of("typing").await["typing"], true);
    }
    ann_ws.send(typing.clone()).await;
    let error = ann_ws.next_of("error").await;
    assert_eq!(error["code"], "rate_limited", "{error}");
    assert_quiet(&mut bob_ws).await;
}

/// Two nodes on one PostgreSQL and Redis: presence and typing reach connections on the other
/// node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_and_typing_cross_nodes() {
    let node_a = TestServer::start(Backend::Scale).await;
    let node_b = node_a.extra_node().await;
    let api = node_a.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = contacts(&api, &ann, &bob).await;
    let mut ann_ws = connect(&node_a.base_url, &ann).await;
    let mut bob_ws = connect(&node_b.base_url, &bob).await;
    assert_eq!(
        next_presence_of(&mut ann_ws, &bob).await["status"],
        "online"
    );
    let (_, seen) = presence_of(&node_b.api(), &bob, &ann).await;
    assert_eq!(seen["status"], "online");
    bob_ws
        .send(json!({"type": "typing", "conversation_id": conversation, "typing": true}))
        .await;
    let shown = ann_ws.next_of("typing").await;
    assert_eq!(shown["user_id"], bob.user_id.as_str());
    assert_eq!(shown["typing"], true);
    assert_eq!(ann_ws.next_of("typing").await["typing"], false);
    // Ann's second device on node B keeps her online when her node A socket closes.
    let ann_phone = api
        .login_ok(
            &ann.username,
            &ann.password,
            zynk_testkit::Device::random("ios"),
        )
        .await;
    let _phone_ws = connect(&node_b.base_url, &ann_phone).await;
    ann_ws.close().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_quiet(&mut bob_ws).await;
    let (_, seen) = presence_of(&node_b.api(), &bob, &ann).await;
    assert_eq!(seen["status"], "online");
    drop(_phone_ws);
    assert_eq!(
        next_presence_of(&mut bob_ws, &ann).await["status"],
        "offline"
    );
}
