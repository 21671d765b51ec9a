//! Calls on both backends: ringing → in_progress → ended with the server's duration, missed
//! after the ring timeout, declined, cancelled by the caller, one active call per conversation,
//! group calls whose participants join and leave, `call` frames to every participant's
//! devices, push wake-ups for offline callees (whose fetch makes the call ring), and the
//! denials: strangers and removed members get 404, answering one's own call and ending an
//! ended call get 409, a blocked user cannot call the blocker. TURN credentials: 503 when not
//! configured, coturn's REST scheme when configured.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use zynk_testkit::{
    Api, Backend, Device, Registered, TestServer, WsClient, backend_tests, code, message_body,
};

backend_tests!(
    a_call_rings_is_answered_and_ends_with_its_duration,
    call_denials,
    an_unanswered_call_becomes_missed,
    a_declined_call_and_a_cancelled_one,
    a_blocked_user_cannot_call_the_blocker,
    an_offline_callee_is_woken_and_rings_on_fetch,
    group_calls_join_and_leave,
    turn_credentials_follow_the_configuration,
    a_callee_connecting_later_is_told_and_the_call_rings,
    connecting_announces_no_call_to_the_caller_strangers_or_a_blocker,
);

async fn post(api: &Api, token: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    api.call(Method::POST, path, Some(token), body.as_ref())
        .await
}

/// Ann and bob with an accepted 1:1 conversation; returns its id.
async fn pair(api: &Api, ann: &Registered, bob: &Registered) -> String {
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    api.send_message(&ann.access_token, &conversation, message_body("hi"))
        .await;
    let (status, body) = post(
        api,
        &bob.access_token,
        &format!("/api/v1/conversations/{conversation}/accept"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    conversation
}

async fn start_call(api: &Api, caller: &Registered, conversation: &str, kind: &str) -> Value {
    let (status, call) = post(
        api,
        &caller.access_token,
        "/api/v1/calls",
        Some(json!({"conversation_id": conversation, "call_type": kind})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    call
}

async fn act(api: &Api, who: &Registered, call: &Value, action: &str) -> (StatusCode, Value) {
    post(
        api,
        &who.access_token,
        &format!(
            "/api/v1/calls/{}/{action}",
            call["call_id"].as_str().unwrap()
        ),
        None,
    )
    .await
}

async fn get_call(api: &Api, who: &Registered, call: &Value) -> (StatusCode, Value) {
    api.get(
        &format!("/api/v1/calls/{}", call["call_id"].as_str().unwrap()),
        &who.access_token,
    )
    .await
}

/// The next `call` frame on a connection, with its event name.
async fn next_call_event(ws: &mut WsClient) -> (String, Value) {
    let frame = ws.next_of("call").await;
    (
        frame["event"].as_str().unwrap().to_owned(),
        frame["call"].clone(),
    )
}

fn participant<'a>(call: &'a Value, user: &Registered) -> &'a Value {
    call["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user_id"] == user.user_id.as_str())
        .expect("a participant")
}

async fn a_call_rings_is_answered_and_ends_with_its_duration(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = pair(&api, &ann, &bob).await;
    let mut bob_ws = WsClient::connect(&server.base_url, &bob.access_token).await;
    bob_ws.next_of("hello").await;
    let mut ann_ws = WsClient::connect(&server.base_url, &ann.access_token).await;
    ann_ws.next_of("hello").await;

    let call = start_call(&api, &ann, &conversation, "video").await;
    // Bob's device is connected: the call rang at once.
    assert_eq!(call["status"], "ringing", "{call}");
    assert_eq!(call["call_type"], "video");
    assert_eq!(call["conversation_id"], conversation.as_str());
    assert_eq!(call["initiator_id"], ann.user_id.as_str());
    assert_eq!(call["participants"][0]["user_id"], ann.user_id.as_str());
    assert!(participant(&call, &ann)["joined_at"].is_string());
    assert!(participant(&call, &bob)["joined_at"].is_null());
    assert!(call["started_at"].is_null() && call["duration_seconds"].is_null());
    let (event, seen) = next_call_event(&mut bob_ws).await;
    assert_eq!(
        (event.as_str(), &seen["status"]),
        ("created", &json!("initiated"))
    );
    let (event, seen) = next_call_event(&mut bob_ws).await;
    assert_eq!(
        (event.as_str(), &seen["status"]),
        ("ringing", &json!("ringing"))
    );

    // One active call per conversation, whoever starts it.
    let (status, body) = post(
        &api,
        &bob.access_token,
        "/api/v1/calls",
        Some(json!({"conversation_id": conversation, "call_type": "audio"})),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "call_active"));

    let (status, answered) = act(&api, &bob, &call, "answer").await;
    assert_eq!(status, StatusCode::OK, "{answered}");
    assert_eq!(answered["status"], "in_progress");
    assert!(answered["started_at"].is_string());
    assert!(participant(&answered, &bob)["joined_at"].is_string());
    let (event, _) = loop {
        let e = next_call_event(&mut ann_ws).await;
        if e.0 == "answered" {
            break e;
        }
    };
    assert_eq!(event, "answered");
    // Answering again is an illegal transition.
    let (status, body) = act(&api, &bob, &call, "answer").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "illegal_call_transition")
    );

    // Three seconds of call (moved back in the database rather than slept).
    let id = uuid::Uuid::parse_str(call["call_id"].as_str().unwrap()).unwrap();
    server
        .sql(&format!(
            "UPDATE calls SET started_at = {} WHERE id = {}",
            server.sql_time_from_now(-3),
            server.sql_uuid(id)
        ))
        .await;
    let (status, ended) = act(&api, &ann, &call, "end").await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["status"], "ended");
    assert_eq!(ended["duration_seconds"], 3, "{ended}");
    assert!(participant(&ended, &ann)["left_at"].is_string());
    assert!(participant(&ended, &bob)["left_at"].is_string());
    let (event, seen) = loop {
        let e = next_call_event(&mut bob_ws).await;
        if e.0 == "ended" {
            break e;
        }
    };
    assert_eq!(event, "ended");
    assert_eq!(seen["duration_seconds"], 3);

    // Ending an ended call, or answering it: 409. The record stays as it was.
    for (who, action) in [
        (&ann, "end"),
        (&bob, "end"),
        (&bob, "answer"),
        (&bob, "decline"),
    ] {
        let (status, body) = act(&api, who, &call, action).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "illegal_call_transition"),
            "{action}"
        );
    }
    let (_, again) = get_call(&api, &bob, &call).await;
    assert_eq!(again, ended);

    // History, newest first, for both; a new call is possible now.
    let second = start_call(&api, &bob, &conversation, "audio").await;
    let (status, page) = api.get("/api/v1/calls", &ann.access_token).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let ids: Vec<&Value> = page["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["call_id"])
        .collect();
    assert_eq!(ids, vec![&second["call_id"], &call["call_id"]]);
    let (_, first_page) = api.get("/api/v1/calls?limit=1", &bob.access_token).await;
    assert_eq!(first_page["calls"][0]["call_id"], second["call_id"]);
    let before = first_page["next_before"].as_str().unwrap();
    let (_, next_page) = api
        .get(
            &format!("/api/v1/calls?limit=1&before={before}"),
            &bob.access_token,
        )
        .await;
    assert_eq!(next_page["calls"][0]["call_id"], call["call_id"]);
    let (status, body) = api.get("/api/v1/calls?limit=0", &bob.access_token).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_field")
    );
}

async fn call_denials(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let eve = api.register(&Api::username("eve")).await;
    let conversation = pair(&api, &ann, &bob).await;

    // A stranger cannot call into the conversation, nor see, answer or end its call.
    let (status, body) = post(
        &api,
        &eve.access_token,
        "/api/v1/calls",
        Some(json!({"conversation_id": conversation, "call_type": "audio"})),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = post(
        &api,
        &ann.access_token,
        "/api/v1/calls",
        Some(json!({"conversation_id": uuid::Uuid::now_v7(), "call_type": "audio"})),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = post(
        &api,
        &ann.access_token,
        "/api/v1/calls",
        Some(json!({"conversation_id": conversation, "call_type": "hologram"})),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    let call = start_call(&api, &ann, &conversation, "audio").await;
    assert_eq!(call["status"], "initiated", "bob has no connection: {call}");
    for action in ["answer", "decline", "end"] {
        let (status, body) = act(&api, &eve, &call, action).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{action}"
        );
    }
    let (status, _) = get_call(&api, &eve, &call).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = api.get("/api/v1/calls", &eve.access_token).await;
    assert_eq!(page["calls"], json!([]));
    let (status, body) = api.get("/api/v1/calls/not-a-uuid", &ann.access_token).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "not_found"),
        "{body}"
    );

    // The caller cannot answer or decline their own call; a callee cannot "end" a ringing
    // call (they decline it).
    for action in ["answer", "decline"] {
        let (status, body) = act(&api, &ann, &call, action).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "illegal_call_transition"),
            "{action}"
        );
    }
    let (status, body) = act(&api, &bob, &call, "end").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "illegal_call_transition")
    );
    let (_, unchanged) = get_call(&api, &ann, &call).await;
    assert_eq!(unchanged["status"], "initiated");
    assert!(unchanged["ended_at"].is_null());
    let (status, _) = api.get("/api/v1/calls", "not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn an_unanswered_call_becomes_missed(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.calls.ring_timeout_secs = 1;
        c.calls.sweep_interval_ms = 100;
    })
    .await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = pair(&api, &ann, &bob).await;
    let mut bob_ws = WsClient::connect(&server.base_url, &bob.access_token).await;
    bob_ws.next_of("hello").await;
    let call = start_call(&api, &ann, &conversation, "audio").await;
    assert_eq!(call["status"], "ringing");
    let missed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (event, seen) = next_call_event(&mut bob_ws).await;
            if event == "missed" {
                break seen;
            }
        }
    })
    .await
    .expect("the call is marked missed");
    assert_eq!(missed["status"], "missed");
    assert!(missed["ended_at"].is_string());
    assert!(missed["started_at"].is_null() && missed["duration_seconds"].is_null());
    let (_, stored) = get_call(&api, &ann, &call).await;
    assert_eq!(stored["status"], "missed");
    let (status, body) = act(&api, &bob, &call, "answer").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "illegal_call_transition")
    );
    // The conversation is free for the next call.
    start_call(&api, &bob, &conversation, "audio").await;
}

async fn a_declined_call_and_a_cancelled_one(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = pair(&api, &ann, &bob).await;
    let mut ann_ws = WsClient::connect(&server.base_url, &ann.access_token).await;
    ann_ws.next_of("hello").await;

    let call = start_call(&api, &ann, &conversation, "audio").await;
    let (status, declined) = act(&api, &bob, &call, "decline").await;
    assert_eq!(status, StatusCode::OK, "{declined}");
    assert_eq!(declined["status"], "declined");
    assert!(declined["ended_at"].is_string() && declined["duration_seconds"].is_null());
    assert!(participant(&declined, &bob)["joined_at"].is_null());
    let (event, _) = loop {
        let e = next_call_event(&mut ann_ws).await;
        if e.0 != "created" {
            break e;
        }
    };
    assert_eq!(event, "declined");
    let (status, body) = act(&api, &bob, &call, "decline").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "illegal_call_transition")
    );

    // The caller hangs up before anyone answers: missed for the callee.
    let call = start_call(&api, &bob, &conversation, "video").await;
    let (status, cancelled) = act(&api, &bob, &call, "end").await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "missed");
    let (status, body) = act(&api, &ann, &call, "answer").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "illegal_call_transition")
    );
}

async fn a_blocked_user_cannot_call_the_blocker(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = pair(&api, &ann, &bob).await;
    let (status, _) = api
        .call(
            Method::PUT,
            &format!("/api/v1/users/{}/block", ann.user_id),
            Some(&bob.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = post(
        &api,
        &ann.access_token,
        "/api/v1/calls",
        Some(json!({"conversation_id": conversation, "call_type": "audio"})),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "recipient_not_accepting"),
        "{body}"
    );
    // The blocker is told to unblock first.
    let (status, body) = post(
        &api,
        &bob.access_token,
        "/api/v1/calls",
        Some(json!({"conversation_id": conversation, "call_type": "audio"})),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (_, page) = api.get("/api/v1/calls", &bob.access_token).await;
    assert_eq!(page["calls"], json!([]), "nothing was written");
}

/// Connects a device and returns the frames it gets before the answer to a `ping` (frames
/// queued at connect leave before any answer, so nothing announced at connect is missed).
async fn connect_and_drain(server: &TestServer, who: &Registered) -> (WsClient, Vec<Value>) {
    let mut ws = WsClient::connect(&server.base_url, &who.access_token).await;
    ws.next_of("hello").await;
    ws.send(json!({"type": "ping"})).await;
    let mut before = Vec::new();
    loop {
        let frame = ws.next().await.expect("open connection");
        if frame["type"] == "pong" {
            return (ws, before);
        }
        before.push(frame);
    }
}

fn call_frames(frames: &[Value]) -> Vec<&Value> {
    frames.iter().filter(|f| f["type"] == "call").collect()
}

async fn a_callee_connecting_later_is_told_and_the_call_rings(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = pair(&api, &ann, &bob).await;
    let mut ann_ws = WsClient::connect(&server.base_url, &ann.access_token).await;
    ann_ws.next_of("hello").await;
    // Bob has no connection: the call only starts.
    let call = start_call(&api, &ann, &conversation, "audio").await;
    assert_eq!(call["status"], "initiated", "{call}");
    let (event, _) = next_call_event(&mut ann_ws).await;
    assert_eq!(event, "created");

    // Bob's device connects: it is told about the call, which rings now.
    let mut bob_ws = WsClient::connect(&server.base_url, &bob.access_token).await;
    bob_ws.next_of("hello").await;
    let (event, seen) = next_call_event(&mut bob_ws).await;
    assert_eq!(event, "ringing");
    assert_eq!(seen["call_id"], call["call_id"]);
    assert_eq!(seen["status"], "ringing");
    // The caller's device sees it ring, and the record says so.
    let (event, seen) = next_call_event(&mut ann_ws).await;
    assert_eq!(
        (event.as_str(), &seen["status"]),
        ("ringing", &json!("ringing"))
    );
    let (_, fetched) = get_call(&api, &ann, &call).await;
    assert_eq!(fetched["status"], "ringing");

    // Another device of bob connecting while it rings is told too (the call stays ringing).
    let phone = api
        .login_ok(&bob.username, &bob.password, Device::random("android"))
        .await;
    let (_phone_ws, frames) = connect_and_drain(&server, &phone).await;
    let calls = call_frames(&frames);
    assert_eq!(calls.len(), 1, "{frames:?}");
    assert_eq!(calls[0]["event"], "ringing");
    assert_eq!(calls[0]["call"]["call_id"], call["call_id"]);
    assert_eq!(calls[0]["call"]["status"], "ringing");

    // Once answered, a connecting device is told nothing more.
    let (status, answered) = act(&api, &bob, &call, "answer").await;
    assert_eq!(
        (status, &answered["status"]),
        (StatusCode::OK, &json!("in_progress"))
    );
    let laptop = api
        .login_ok(&bob.username, &bob.password, Device::random("web"))
        .await;
    let (_laptop_ws, frames) = connect_and_drain(&server, &laptop).await;
    assert!(call_frames(&frames).is_empty(), "{frames:?}");
}

async fn connecting_announces_no_call_to_the_caller_strangers_or_a_blocker(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let eve = api.register(&Api::username("eve")).await;
    let conversation = pair(&api, &ann, &bob).await;
    let call = start_call(&api, &ann, &conversation, "video").await;
    assert_eq!(call["status"], "initiated");
    // The caller's own device and a stranger's are told nothing, and nothing rings.
    for who in [&ann, &eve] {
        let (_ws, frames) = connect_and_drain(&server, who).await;
        assert!(call_frames(&frames).is_empty(), "{frames:?}");
    }
    let (_, fetched) = get_call(&api, &ann, &call).await;
    assert_eq!(fetched["status"], "initiated");
    // Bob blocks ann while the call waits: his device connecting is not told, nothing rings.
    let (status, _) = api
        .call(
            Method::PUT,
            &format!("/api/v1/users/{}/block", ann.user_id),
            Some(&bob.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_ws, frames) = connect_and_drain(&server, &bob).await;
    assert!(call_frames(&frames).is_empty(), "{frames:?}");
    let (_, fetched) = get_call(&api, &ann, &call).await;
    assert_eq!(fetched["status"], "initiated");
}

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

async fn an_offline_callee_is_woken_and_rings_on_fetch(backend: Backend) {
    let (url, mut wakeups) = webhook().await;
    let server = TestServer::start_with(backend, |c| c.push.webhook_url = Some(url)).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = pair(&api, &ann, &bob).await;
    let (status, _) = api
        .call(
            Method::PUT,
            &format!("/api/v1/devices/{}/push-token", bob.device_id),
            Some(&bob.access_token),
            Some(&json!({ "push_token": "fcm:bob-phone" })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Drain the wake-up of the accept message, if any.
    tokio::time::sleep(Duration::from_millis(300)).await;
    while wakeups.try_recv().is_ok() {}

    let call = start_call(&api, &ann, &conversation, "audio").await;
    assert_eq!(call["status"], "initiated");
    let wakeup = tokio::time::timeout(Duration::from_secs(15), wakeups.recv())
        .await
        .expect("a wake-up arrives")
        .unwrap();
    assert_eq!(wakeup["push_token"], "fcm:bob-phone");
    // The woken device fetches the call: it rings now.
    let (status, fetched) = get_call(&api, &bob, &call).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["status"], "ringing");
    // The caller's own fetch changes nothing.
    let (_, by_ann) = get_call(&api, &ann, &call).await;
    assert_eq!(by_ann["status"], "ringing");
}

async fn group_calls_join_and_leave(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let carol = api.register(&Api::username("carol")).await;
    let dave = api.register(&Api::username("dave")).await;
    let (status, group) = post(
        &api,
        &ann.access_token,
        "/api/v1/groups",
        Some(json!({"name": "team", "members": [bob.user_id, carol.user_id, dave.user_id]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let conversation = group["conversation_id"].as_str().unwrap().to_owned();
    let group_id = group["group_id"].as_str().unwrap();

    let call = start_call(&api, &ann, &conversation, "video").await;
    assert_eq!(call["participants"].as_array().unwrap().len(), 4);
    // Dave is removed from the group: the call is no longer his to see.
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/v1/groups/{group_id}/members/{}", dave.user_id),
            Some(&ann.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for action in ["answer", "decline"] {
        let (status, body) = act(&api, &dave, &call, action).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{action}"
        );
    }

    // Bob declines; the call goes on ringing for carol, who answers.
    let (status, after) = act(&api, &bob, &call, "decline").await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["status"], "initiated");
    let (status, answered) = act(&api, &carol, &call, "answer").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answered["status"], "in_progress");
    // Bob changes his mind and joins the call in progress.
    let (status, joined) = act(&api, &bob, &call, "answer").await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert!(participant(&joined, &bob)["joined_at"].is_string());
    assert!(participant(&joined, &bob)["left_at"].is_null());
    // Carol leaves: ann and bob remain, the call goes on.
    let (status, left) = act(&api, &carol, &call, "end").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(left["status"], "in_progress");
    assert!(participant(&left, &carol)["left_at"].is_string());
    let (status, body) = act(&api, &carol, &call, "end").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "illegal_call_transition")
    );
    // She rejoins, then ann and bob leave: the last one alone ends the call.
    let (status, _) = act(&api, &carol, &call, "answer").await;
    assert_eq!(status, StatusCode::OK);
    let (_, _) = act(&api, &ann, &call, "end").await;
    let (status, after_bob) = act(&api, &bob, &call, "end").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after_bob["status"], "ended");
    assert!(after_bob["duration_seconds"].as_i64().unwrap() >= 0);
    assert!(participant(&after_bob, &carol)["left_at"].is_string());
    let (status, body) = act(&api, &carol, &call, "end").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "illegal_call_transition")
    );

    // A member removed from the group during a call no longer counts as in it: when bob
    // leaves, ann is alone and the call ends.
    let call = start_call(&api, &ann, &conversation, "audio").await;
    act(&api, &bob, &call, "answer").await;
    let (_, with_carol) = act(&api, &carol, &call, "answer").await;
    assert!(participant(&with_carol, &carol)["joined_at"].is_string());
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/v1/groups/{group_id}/members/{}", carol.user_id),
            Some(&ann.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = act(&api, &carol, &call, "end").await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, after_bob) = act(&api, &bob, &call, "end").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after_bob["status"], "ended", "{after_bob}");
    assert!(participant(&after_bob, &carol)["left_at"].is_string());
}

async fn turn_credentials_follow_the_configuration(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let (status, body) = api.get("/api/v1/turn", &ann.access_token).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "turn_not_configured")
    );
    drop(server);

    let server = TestServer::start_with(backend, |c| {
        c.turn.shared_secret = Some("s3cret".into());
        c.turn.urls = vec!["turn:127.0.0.1:3478?transport=udp".into()];
        c.turn.ttl_secs = 600;
    })
    .await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let (status, turn) = api.get("/api/v1/turn", &ann.access_token).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    assert_eq!(turn["urls"], json!(["turn:127.0.0.1:3478?transport=udp"]));
    assert_eq!(turn["ttl"], 600);
    let username = turn["username"].as_str().unwrap();
    let (expiry, user) = username.split_once(':').unwrap();
    assert_eq!(user, ann.user_id);
    let expiry: i64 = expiry.parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(
        (now + 590..=now + 610).contains(&expiry),
        "{expiry} vs {now}"
    );
    let (_, credential) =
        zynk_server::services::calls::turn_credentials("s3cret", &ann.user_id, expiry);
    assert_eq!(turn["credential"], credential.as_str());
    let (status, _) = api.get("/api/v1/turn", "nope").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Two nodes on one PostgreSQL + Redis, both sweeping every 50 ms: bob is connected to node B
/// while ann calls through node A; the call rings at once (bob's device is online on the other
/// node), bob's connection on node B gets the events, and the unanswered call is marked missed
/// exactly once (one `missed` event), whichever node sweeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_span_nodes_and_are_missed_once() {
    let server = TestServer::start_with(Backend::Scale, |c| {
        c.calls.ring_timeout_secs = 1;
        c.calls.sweep_interval_ms = 50;
    })
    .await;
    let node_b = server.extra_node().await;
    let (api_a, api_b) = (server.api(), node_b.api());
    let ann = api_a.register(&Api::username("ann")).await;
    let bob = api_a.register(&Api::username("bob")).await;
    let conversation = pair(&api_a, &ann, &bob).await;
    let mut bob_ws = WsClient::connect(&node_b.base_url, &bob.access_token).await;
    bob_ws.next_of("hello").await;
    let call = start_call(&api_a, &ann, &conversation, "audio").await;
    assert_eq!(call["status"], "ringing", "{call}");
    let mut events = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (event, _) = next_call_event(&mut bob_ws).await;
            events.push(event.clone());
            if event == "missed" {
                break;
            }
        }
    })
    .await
    .expect("the call is marked missed");
    // Nothing more arrives: no second `missed` from the other node.
    let more = tokio::time::timeout(Duration::from_millis(600), bob_ws.next_of("call")).await;
    assert!(more.is_err(), "a second event arrived: {more:?}");
    assert_eq!(events, ["created", "ringing", "missed"]);
    let (_, seen) = get_call(&api_b, &bob, &call).await;
    assert_eq!(seen["status"], "missed");
}
