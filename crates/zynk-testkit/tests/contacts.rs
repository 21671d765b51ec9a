//! Blocking, message requests, `who_can_message` and unread counts, on both backends: a blocked
//! user's messages never reach the blocker (not live, not in history, not pushed) and fail
//! exactly like sends to someone who does not accept strangers; a stranger's first message is a
//! request (readable, not pushed, accepted, declined, accepted by replying); `contacts` refuses
//! strangers; reports keep working on requests.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use zynk_testkit::{
    Api, Backend, Device, Registered, TestServer, WsClient, backend_tests, code, message_body,
};

backend_tests!(
    blocked_users_messages_never_reach_the_blocker,
    block_routes_and_their_denials,
    a_strangers_first_message_is_a_request,
    declined_requests_are_hidden_and_refuse_further_sends,
    the_contacts_setting_refuses_strangers,
    unread_counts_follow_the_read_cursor,
    openapi_documents_blocks_and_requests,
);

/// A webhook receiver on loopback that forwards every JSON body it gets.
async fn webhook() -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/push",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/push"), rx)
}

/// Gives `user`'s device a push token (so it is woken while not connected).
async fn push_token(api: &Api, user: &Registered, token: &str) {
    let (status, _) = api
        .call(
            Method::PUT,
            &format!("/api/v1/devices/{}/push-token", user.device_id),
            Some(&user.access_token),
            Some(&json!({ "push_token": token })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

/// The next wake-up's push token.
async fn next_wakeup(wakeups: &mut mpsc::UnboundedReceiver<Value>) -> String {
    let wakeup = tokio::time::timeout(Duration::from_secs(15), wakeups.recv())
        .await
        .expect("a wake-up arrives")
        .expect("webhook running");
    wakeup["push_token"].as_str().unwrap().to_owned()
}

/// POSTs a send; returns status and body.
async fn try_send(api: &Api, token: &str, conversation: &str, text: &str) -> (StatusCode, Value) {
    api.call(
        Method::POST,
        &format!("/api/v1/conversations/{conversation}/messages"),
        Some(token),
        Some(&message_body(text)),
    )
    .await
}

/// POSTs an open of the 1:1 conversation with `other`; returns status and body.
async fn try_open(api: &Api, token: &str, other: &str) -> (StatusCode, Value) {
    api.call(
        Method::POST,
        "/api/v1/conversations",
        Some(token),
        Some(&json!({"type": "one_to_one", "participant": other})),
    )
    .await
}

async fn post(api: &Api, token: &str, path: &str) -> (StatusCode, Value) {
    api.call(Method::POST, path, Some(token), None).await
}

async fn put(api: &Api, token: &str, path: &str) -> (StatusCode, Value) {
    api.call(Method::PUT, path, Some(token), None).await
}

async fn delete(api: &Api, token: &str, path: &str) -> (StatusCode, Value) {
    api.call(Method::DELETE, path, Some(token), None).await
}

/// Ids of a list of conversations.
fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The texts (fake ciphertexts) of a conversation's history as `token`'s user reads it.
async fn history(api: &Api, token: &str, conversation: &str) -> Vec<String> {
    let (status, page) = api
        .get(
            &format!("/api/v1/conversations/{conversation}/messages"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["encrypted_content"].as_str().unwrap().to_owned())
        .collect()
}

fn content_of(text: &str) -> String {
    zynk_testkit::ciphertext(text).0
}

/// The refusal of a recipient who does not accept the sender, as `(status, body)`.
fn is_not_accepting(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::FORBIDDEN && code(body) == "recipient_not_accepting"
}

async fn blocked_users_messages_never_reach_the_blocker(backend: Backend) {
    let (url, mut wakeups) = webhook().await;
    let server = TestServer::start_with(backend, |c| c.push.webhook_url = Some(url)).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob_name = Api::username("bob");
    let bob = api.register(&bob_name).await;
    let bob_tablet = api
        .login_ok(&bob_name, &bob.password, Device::random("android"))
        .await;
    let carol = api.register(&Api::username("carol")).await;
    let dave = api.register(&Api::username("dave")).await;
    push_token(&api, &bob_tablet, "fcm:bob-tablet").await;
    push_token(&api, &dave, "fcm:dave").await;
    let mut bob_ws = WsClient::connect(&server.base_url, &bob.access_token).await;
    bob_ws.next_of("hello").await;
    let mut ann_ws = WsClient::connect(&server.base_url, &ann.access_token).await;
    ann_ws.next_of("hello").await;

    // Ann writes, bob accepts (without writing, so his tablet has never been woken: any
    // message stored for him from now on would wake it).
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    api.send_message(&ann.access_token, &conversation, message_body("hi bob"))
        .await;
    bob_ws.next_of("message").await;
    let (status, _) = post(
        &api,
        &bob.access_token,
        &format!("/api/v1/conversations/{conversation}/accept"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Bob blocks ann.
    let (status, _) = put(
        &api,
        &bob.access_token,
        &format!("/api/v1/users/{}/block", ann.user_id),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, blocked) = try_send(&api, &ann.access_token, &conversation, "blocked 1").await;
    assert!(is_not_accepting(status, &blocked), "{status} {blocked}");
    // Over the WebSocket too, with the same code and message.
    let body = message_body("blocked 2");
    ann_ws
        .send(json!({"type": "send", "request_id": "b1", "conversation_id": conversation, "message": body}))
        .await;
    let error = ann_ws.next_of("error").await;
    assert_eq!(error["request_id"], "b1");
    assert_eq!(error["code"], blocked["error"]["code"]);
    assert_eq!(error["message"], blocked["error"]["message"]);

    // The same refusal as a user who accepts only contacts, and as a blocker of a stranger.
    let (status, _) = api
        .call(
            Method::PATCH,
            "/api/v1/users/me/privacy",
            Some(&carol.access_token),
            Some(&json!({"who_can_message": "contacts"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, contacts_only) = try_open(&api, &ann.access_token, &carol.user_id).await;
    assert_eq!((status, &contacts_only), (StatusCode::FORBIDDEN, &blocked));
    put(
        &api,
        &dave.access_token,
        &format!("/api/v1/users/{}/block", ann.user_id),
    )
    .await;
    let (status, blocked_open) = try_open(&api, &ann.access_token, &dave.user_id).await;
    assert_eq!((status, &blocked_open), (StatusCode::FORBIDDEN, &blocked));

    // Nothing reached bob: not live (his next frame is dave's message), not in history, no
    // push (the pusher handles sends in order: dave's wake-up comes first and alone).
    let eve = api.register(&Api::username("eve")).await;
    let eve_dave = api
        .open_conversation(&eve.access_token, &dave.user_id)
        .await;
    post(
        &api,
        &dave.access_token,
        &format!("/api/v1/conversations/{eve_dave}/accept"),
    )
    .await;
    api.send_message(&eve.access_token, &eve_dave, message_body("wake dave"))
        .await;
    assert_eq!(next_wakeup(&mut wakeups).await, "fcm:dave");
    assert!(wakeups.try_recv().is_err(), "no wake-up for bob's tablet");
    // Bob's next frame is dave's (a request, so it wakes nothing): ann's never came.
    let dave_bob = api
        .open_conversation(&dave.access_token, &bob.user_id)
        .await;
    api.send_message(&dave.access_token, &dave_bob, message_body("ping bob"))
        .await;
    let frame = bob_ws.next_of("message").await;
    assert_eq!(frame["message"]["conversation_id"], dave_bob.as_str());
    let seen = history(&api, &bob.access_token, &conversation).await;
    assert_eq!(seen, vec![content_of("hi bob")]);

    // The blocker is told plainly; the conversation itself stays readable to both.
    let (status, body) = try_send(&api, &bob.access_token, &conversation, "from blocker").await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("you blocked")
    );
    assert_eq!(
        history(&api, &ann.access_token, &conversation).await.len(),
        1
    );
    // Opening the existing conversation returns it; sending still fails.
    let (status, _) = try_open(&api, &ann.access_token, &bob.user_id).await;
    assert_eq!(status, StatusCode::OK);

    // Unblocked: ann's messages arrive again.
    let (status, _) = delete(
        &api,
        &bob.access_token,
        &format!("/api/v1/users/{}/block", ann.user_id),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    api.send_message(
        &ann.access_token,
        &conversation,
        message_body("after unblock"),
    )
    .await;
    let frame = bob_ws.next_of("message").await;
    assert_eq!(frame["message"]["conversation_id"], conversation.as_str());
    assert_eq!(
        history(&api, &bob.access_token, &conversation).await.len(),
        2
    );
    assert_eq!(
        next_wakeup(&mut wakeups).await,
        "fcm:bob-tablet",
        "pushed again"
    );
}

async fn block_routes_and_their_denials(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let carol = api.register(&Api::username("carol")).await;
    let block = |user: &str| format!("/api/v1/users/{user}/block");

    let (status, list) = api.get("/api/v1/blocks", &ann.access_token).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
    for user in [&bob, &carol, &bob] {
        let (status, _) = put(&api, &ann.access_token, &block(&user.user_id)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "blocking is idempotent");
    }
    let (_, list) = api.get("/api/v1/blocks", &ann.access_token).await;
    let listed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["username"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![carol.username.as_str(), bob.username.as_str()]);
    assert_eq!(list[0]["user_id"], carol.user_id.as_str());
    assert!(list[0]["blocked_at"].is_string());
    let (_, theirs) = api.get("/api/v1/blocks", &bob.access_token).await;
    assert_eq!(theirs, json!([]), "a block is one-way and private");

    // Denials change nothing.
    let (status, body) = put(&api, &ann.access_token, &block(&ann.user_id)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_field")
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    for path in [block(&unknown), block("not-an-id")] {
        let (status, body) = put(&api, &ann.access_token, &path).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
        let (status, body) = delete(&api, &ann.access_token, &path).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    }
    for method in [Method::PUT, Method::DELETE] {
        let (status, body) = api.call(method, &block(&bob.user_id), None, None).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, "unauthenticated")
        );
    }
    let (status, _) = api.call(Method::GET, "/api/v1/blocks", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, list) = api.get("/api/v1/blocks", &ann.access_token).await;
    assert_eq!(list.as_array().unwrap().len(), 2);

    // A blocker cannot open a conversation with the user they blocked; unblocking twice is fine.
    let (status, body) = try_open(&api, &ann.access_token, &bob.user_id).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    for _ in 0..2 {
        let (status, _) = delete(&api, &ann.access_token, &block(&bob.user_id)).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let (_, list) = api.get("/api/v1/blocks", &ann.access_token).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (status, _) = try_open(&api, &ann.access_token, &bob.user_id).await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn a_strangers_first_message_is_a_request(backend: Backend) {
    let (url, mut wakeups) = webhook().await;
    let server = TestServer::start_with(backend, |c| c.push.webhook_url = Some(url)).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob_name = Api::username("bob");
    let bob = api.register(&bob_name).await;
    let bob_tablet = api
        .login_ok(&bob_name, &bob.password, Device::random("android"))
        .await;
    let carol = api.register(&Api::username("carol")).await;
    let dave = api.register(&Api::username("dave")).await;
    push_token(&api, &bob_tablet, "fcm:bob-tablet").await;
    push_token(&api, &dave, "fcm:dave").await;
    let mut bob_ws = WsClient::connect(&server.base_url, &bob.access_token).await;
    bob_ws.next_of("hello").await;

    // Ann, a stranger to bob, writes first: delivered live and readable, but a request.
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    let (_, requests) = api.get("/api/v1/requests", &bob.access_token).await;
    assert_eq!(requests, json!([]), "no message yet, no request");
    api.send_message(&ann.access_token, &conversation, message_body("hello bob"))
        .await;
    let frame = bob_ws.next_of("message").await;
    assert_eq!(frame["message"]["conversation_id"], conversation.as_str());
    let (status, requests) = api.get("/api/v1/requests", &bob.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&requests), vec![conversation.clone()]);
    assert_eq!(requests[0]["request_state"], "pending");
    assert_eq!(requests[0]["unread_count"], 1);
    let (_, bobs) = api.get("/api/v1/conversations", &bob.access_token).await;
    assert!(
        ids(&bobs).is_empty(),
        "requests are not in the conversation list"
    );
    let (_, anns) = api.get("/api/v1/conversations", &ann.access_token).await;
    assert_eq!(ids(&anns), vec![conversation.clone()]);
    assert_eq!(anns[0]["request_state"], "accepted");

    // Not pushed: the pusher handles sends in order, and the next wake-up is dave's.
    let carol_dave = api
        .open_conversation(&carol.access_token, &dave.user_id)
        .await;
    post(
        &api,
        &dave.access_token,
        &format!("/api/v1/conversations/{carol_dave}/accept"),
    )
    .await;
    api.send_message(&carol.access_token, &carol_dave, message_body("wake dave"))
        .await;
    assert_eq!(next_wakeup(&mut wakeups).await, "fcm:dave");
    assert!(wakeups.try_recv().is_err(), "no wake-up for bob's tablet");

    // Reading the request neither accepts nor declines it.
    assert_eq!(
        history(&api, &bob.access_token, &conversation).await,
        vec![content_of("hello bob")]
    );
    let (status, one) = api
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &bob.access_token,
        )
        .await;
    assert_eq!(
        (status, &one["request_state"]),
        (StatusCode::OK, &json!("pending"))
    );
    // Bob opening the conversation from his side changes nothing either.
    let (status, opened) = try_open(&api, &bob.access_token, &ann.user_id).await;
    assert_eq!(
        (status, &opened["request_state"]),
        (StatusCode::OK, &json!("pending"))
    );
    let (_, requests) = api.get("/api/v1/requests", &bob.access_token).await;
    assert_eq!(ids(&requests), vec![conversation.clone()]);

    // Reports keep working on requests: bob can report ann for spam.
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/api/v1/users/{}/report", ann.user_id),
            Some(&bob.access_token),
            Some(&json!({"reason": "spam"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["change"].as_i64().unwrap() < 0);

    // Others cannot answer bob's request; a group-less stranger sees "not found".
    for path in ["accept", "decline"] {
        let (status, body) = post(
            &api,
            &carol.access_token,
            &format!("/api/v1/conversations/{conversation}/{path}"),
        )
        .await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
        let (status, body) = post(
            &api,
            &bob.access_token,
            &format!("/api/v1/conversations/{}/{path}", uuid::Uuid::new_v4()),
        )
        .await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
        let (status, _) = api
            .call(
                Method::POST,
                &format!("/api/v1/conversations/{conversation}/{path}"),
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (_, one) = api
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &bob.access_token,
        )
        .await;
    assert_eq!(one["request_state"], "pending", "nothing changed");
    // Ann's side is accepted: she has nothing to decline.
    let (status, body) = post(
        &api,
        &ann.access_token,
        &format!("/api/v1/conversations/{conversation}/decline"),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "not_a_request")
    );

    // Replying accepts: the conversation moves to bob's list, and ann's next message is pushed.
    api.send_message(&bob.access_token, &conversation, message_body("hi ann"))
        .await;
    let (_, requests) = api.get("/api/v1/requests", &bob.access_token).await;
    assert_eq!(requests, json!([]));
    let (_, bobs) = api.get("/api/v1/conversations", &bob.access_token).await;
    assert_eq!(ids(&bobs), vec![conversation.clone()]);
    assert_eq!(bobs[0]["request_state"], "accepted");
    api.send_message(&ann.access_token, &conversation, message_body("pushed now"))
        .await;
    assert_eq!(next_wakeup(&mut wakeups).await, "fcm:bob-tablet");

    // An explicit accept of another stranger's request; accepting again changes nothing.
    let carol_bob = api
        .open_conversation(&carol.access_token, &bob.user_id)
        .await;
    api.send_message(&carol.access_token, &carol_bob, message_body("hey"))
        .await;
    for _ in 0..2 {
        let (status, accepted) = post(
            &api,
            &bob.access_token,
            &format!("/api/v1/conversations/{carol_bob}/accept"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(accepted["request_state"], "accepted");
        assert_eq!(accepted["conversation_id"], carol_bob.as_str());
    }
    let (_, bobs) = api.get("/api/v1/conversations", &bob.access_token).await;
    assert_eq!(ids(&bobs).len(), 2);
    let (status, body) = post(
        &api,
        &bob.access_token,
        &format!("/api/v1/conversations/{carol_bob}/decline"),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "not_a_request"),
        "accepted: block instead"
    );
}

async fn declined_requests_are_hidden_and_refuse_further_sends(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let bob = api.register(&Api::username("bob")).await;
    let eve = api.register(&Api::username("eve")).await;
    let frank = api.register(&Api::username("frank")).await;

    // The refusal a block gives, for comparison.
    let frank_bob = api
        .open_conversation(&frank.access_token, &bob.user_id)
        .await;
    put(
        &api,
        &bob.access_token,
        &format!("/api/v1/users/{}/block", frank.user_id),
    )
    .await;
    let (status, blocked) = try_send(&api, &frank.access_token, &frank_bob, "x").await;
    assert!(is_not_accepting(status, &blocked));

    let conversation = api.open_conversation(&eve.access_token, &bob.user_id).await;
    api.send_message(&eve.access_token, &conversation, message_body("buy now"))
        .await;
    for _ in 0..2 {
        let (status, _) = post(
            &api,
            &bob.access_token,
            &format!("/api/v1/conversations/{conversation}/decline"),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::NO_CONTENT,
            "declining again changes nothing"
        );
    }
    let (_, requests) = api.get("/api/v1/requests", &bob.access_token).await;
    assert_eq!(requests, json!([]));
    let (_, bobs) = api.get("/api/v1/conversations", &bob.access_token).await;
    assert!(!ids(&bobs).contains(&conversation), "hidden from bob");
    let (_, one) = api
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &bob.access_token,
        )
        .await;
    assert_eq!(one["request_state"], "declined");

    // Eve is not told: her sends fail exactly like a blocked user's.
    let (status, body) = try_send(&api, &eve.access_token, &conversation, "again").await;
    assert_eq!((status, &body), (StatusCode::FORBIDDEN, &blocked));
    assert_eq!(
        history(&api, &bob.access_token, &conversation).await.len(),
        1
    );
    let (_, eves) = api.get("/api/v1/conversations", &eve.access_token).await;
    assert_eq!(
        ids(&eves),
        vec![conversation.clone()],
        "eve still sees her side"
    );
    // Bob can still report eve.
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/api/v1/users/{}/report", eve.user_id),
            Some(&bob.access_token),
            Some(&json!({"reason": "spam"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Bob changes his mind: accepting a declined request restores it, and eve may send.
    let (status, accepted) = post(
        &api,
        &bob.access_token,
        &format!("/api/v1/conversations/{conversation}/accept"),
    )
    .await;
    assert_eq!(
        (status, &accepted["request_state"]),
        (StatusCode::OK, &json!("accepted"))
    );
    api.send_message(&eve.access_token, &conversation, message_body("thanks"))
        .await;
    let (_, bobs) = api.get("/api/v1/conversations", &bob.access_token).await;
    assert!(ids(&bobs).contains(&conversation));
}

async fn the_contacts_setting_refuses_strangers(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let bob = api.register(&Api::username("bob")).await;
    let ann = api.register(&Api::username("ann")).await;
    let carol = api.register(&Api::username("carol")).await;
    let dave = api.register(&Api::username("dave")).await;

    // Carol is a contact (bob replied); dave's request is still pending.
    let carol_bob = api
        .open_conversation(&carol.access_token, &bob.user_id)
        .await;
    api.send_message(&carol.access_token, &carol_bob, message_body("hi"))
        .await;
    api.send_message(&bob.access_token, &carol_bob, message_body("hi carol"))
        .await;
    let dave_bob = api
        .open_conversation(&dave.access_token, &bob.user_id)
        .await;
    api.send_message(&dave.access_token, &dave_bob, message_body("hello?"))
        .await;

    let (status, privacy) = api
        .call(
            Method::PATCH,
            "/api/v1/users/me/privacy",
            Some(&bob.access_token),
            Some(&json!({"who_can_message": "contacts"})),
        )
        .await;
    assert_eq!(
        (status, &privacy["who_can_message"]),
        (StatusCode::OK, &json!("contacts"))
    );

    // A stranger cannot open a conversation: nothing is created.
    let (status, body) = try_open(&api, &ann.access_token, &bob.user_id).await;
    assert!(is_not_accepting(status, &body), "{status} {body}");
    let (_, anns) = api.get("/api/v1/conversations", &ann.access_token).await;
    assert_eq!(anns, json!([]));
    // A pending requester's next send is refused the same way (the cached decision went).
    let (status, body) = try_send(&api, &dave.access_token, &dave_bob, "hello??").await;
    assert!(is_not_accepting(status, &body), "{status} {body}");
    assert_eq!(history(&api, &bob.access_token, &dave_bob).await.len(), 1);
    // A contact still can.
    api.send_message(&carol.access_token, &carol_bob, message_body("still here"))
        .await;
    // Bob accepting dave makes dave a contact.
    post(
        &api,
        &bob.access_token,
        &format!("/api/v1/conversations/{dave_bob}/accept"),
    )
    .await;
    api.send_message(&dave.access_token, &dave_bob, message_body("thanks"))
        .await;

    // Back to everyone: ann's first message is a request again.
    api.call(
        Method::PATCH,
        "/api/v1/users/me/privacy",
        Some(&bob.access_token),
        Some(&json!({"who_can_message": "everyone"})),
    )
    .await;
    let ann_bob = api.open_conversation(&ann.access_token, &bob.user_id).await;
    api.send_message(&ann.access_token, &ann_bob, message_body("hi"))
        .await;
    let (_, requests) = api.get("/api/v1/requests", &bob.access_token).await;
    assert_eq!(ids(&requests), vec![ann_bob]);
}

async fn unread_counts_follow_the_read_cursor(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    for text in ["one", "two", "three"] {
        api.send_message(&ann.access_token, &conversation, message_body(text))
            .await;
    }
    let count = |list: &Value| list[0]["unread_count"].as_i64().unwrap();
    let (_, requests) = api.get("/api/v1/requests", &bob.access_token).await;
    assert_eq!(count(&requests), 3);
    post(
        &api,
        &bob.access_token,
        &format!("/api/v1/conversations/{conversation}/accept"),
    )
    .await;
    let (_, bobs) = api.get("/api/v1/conversations", &bob.access_token).await;
    assert_eq!(count(&bobs), 3);
    let (_, anns) = api.get("/api/v1/conversations", &ann.access_token).await;
    assert_eq!(count(&anns), 0, "own messages are not unread");
    let (status, _) = api
        .call(
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/receipts"),
            Some(&bob.access_token),
            Some(&json!({"read_up_to": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, bobs) = api.get("/api/v1/conversations", &bob.access_token).await;
    assert_eq!(count(&bobs), 1);
    api.send_message(&bob.access_token, &conversation, message_body("four"))
        .await;
    let (_, bobs) = api.get("/api/v1/conversations", &bob.access_token).await;
    assert_eq!(count(&bobs), 1, "bob's own message is not unread to him");
    let (_, anns) = api.get("/api/v1/conversations", &ann.access_token).await;
    assert_eq!(count(&anns), 1);
    assert_eq!(anns[0]["last_seq"], 4);
}

async fn openapi_documents_blocks_and_requests(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, doc) = server
        .api()
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    for (path, method, answers) in [
        (
            "/api/v1/users/{user_id}/block",
            "put",
            &["204", "400", "401", "404"][..],
        ),
        (
            "/api/v1/users/{user_id}/block",
            "delete",
            &["204", "400", "401", "404"][..],
        ),
        ("/api/v1/blocks", "get", &["200", "401"][..]),
        ("/api/v1/requests", "get", &["200", "401"][..]),
        (
            "/api/v1/conversations/{conversation_id}/accept",
            "post",
            &["200", "401", "404", "409"][..],
        ),
        (
            "/api/v1/conversations/{conversation_id}/decline",
            "post",
            &["204", "401", "404", "409"][..],
        ),
    ] {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} missing");
        for answer in answers {
            assert!(
                operation["responses"][answer].is_object(),
                "{method} {path} {answer}"
            );
        }
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["PrivacySettings"]["properties"]["who_can_message"].is_object());
    assert!(schemas["PrivacyUpdate"]["properties"]["who_can_message"].is_object());
    assert!(schemas["Conversation"]["properties"]["request_state"].is_object());
    assert!(schemas["BlockedUser"]["properties"]["blocked_at"].is_object());
}

/// Sends refused on one node after a change made through another: each node caches its send
/// decisions, and every change clears them on every node through Redis (well before the cache
/// would expire by itself, 30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_on_one_node_stops_sends_through_another() {
    let node_a = TestServer::start(Backend::Scale).await;
    let node_b = node_a.extra_node().await;
    let (api_a, api_b) = (node_a.api(), node_b.api());
    let ann = api_b.register(&Api::username("ann")).await;
    let bob = api_a.register(&Api::username("bob")).await;
    let conversation = api_b
        .open_conversation(&ann.access_token, &bob.user_id)
        .await;
    // Node B decides (and caches) that ann may send, twice over.
    for text in ["one", "two"] {
        api_b
            .send_message(&ann.access_token, &conversation, message_body(text))
            .await;
    }
    let (status, _) = put(
        &api_a,
        &bob.access_token,
        &format!("/api/v1/users/{}/block", ann.user_id),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let started = std::time::Instant::now();
    loop {
        let (status, body) = try_send(&api_b, &ann.access_token, &conversation, "after").await;
        if is_not_accepting(status, &body) {
            break;
        }
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "node B still accepts ann's sends 5 s after the block"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Unblocked on node A: node B lets ann through again.
    delete(
        &api_a,
        &bob.access_token,
        &format!("/api/v1/users/{}/block", ann.user_id),
    )
    .await;
    let started = std::time::Instant::now();
    loop {
        let (status, body) = try_send(&api_b, &ann.access_token, &conversation, "again").await;
        if status == StatusCode::CREATED {
            break;
        }
        assert!(is_not_accepting(status, &body), "{status} {body}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still refused 5 s after unblocking"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
