//! Groups over HTTP and WebSocket, on both backends: creation and settings, membership changes
//! and each of their denials, membership events in the history and live, a removed member
//! getting nothing after the removal (history, WebSocket, push), new members reading from their
//! joining on, the 257th member refused, a blocked user unable to add the blocker; relations to
//! messages from before one joined refused, settings changes and account deletion as events,
//! receipts per member honouring privacy, self-destruct and ledger proofs of group messages.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use zynk_testkit::{
    Api, Backend, Device, Registered, TestServer, WsClient, backend_tests, code, message_body,
};

backend_tests!(
    groups_are_created_and_read_by_members_only,
    bad_group_requests_change_nothing,
    membership_changes_and_their_denials,
    leaving_promotes_the_longest_standing_member_and_the_last_one_ends_the_group,
    membership_events_are_history_and_arrive_live,
    a_removed_member_gets_nothing_after_the_removal,
    new_members_read_from_their_joining_on,
    the_257th_member_is_refused,
    a_blocked_user_cannot_put_the_blocker_into_a_group,
    new_members_cannot_relate_to_messages_from_before_they_joined,
    settings_changes_are_history_and_arrive_live,
    a_deleted_account_leaves_its_groups,
    group_receipts_are_per_member_and_honour_privacy,
    group_messages_self_destruct,
    group_messages_get_ledger_proofs_for_members_only,
);

async fn call(
    api: &Api,
    method: Method,
    path: &str,
    who: &Registered,
    body: Option<Value>,
) -> (StatusCode, Value) {
    api.call(method, path, Some(&who.access_token), body.as_ref())
        .await
}

async fn create_group(
    api: &Api,
    creator: &Registered,
    name: &str,
    members: &[&Registered],
) -> Value {
    let ids: Vec<&str> = members.iter().map(|m| m.user_id.as_str()).collect();
    let (status, body) = call(
        api,
        Method::POST,
        "/api/v1/groups",
        creator,
        Some(json!({"name": name, "members": ids})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn group_path(group: &Value) -> String {
    format!("/api/v1/groups/{}", group["group_id"].as_str().unwrap())
}

fn messages_path(group: &Value) -> String {
    format!(
        "/api/v1/conversations/{}/messages",
        group["conversation_id"].as_str().unwrap()
    )
}

fn roles(group: &Value) -> Vec<(String, String)> {
    group["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user_id"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(user: &Registered, role: &str) -> (String, String) {
    (user.user_id.clone(), role.to_owned())
}

/// The membership events of a history page: (action, user, by).
fn events(page: &Value) -> Vec<(String, String, String)> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["message_type"] == "membership")
        .map(|m| {
            let e = &m["metadata"]["membership"];
            (
                e["action"].as_str().unwrap().to_owned(),
                e["user_id"].as_str().unwrap().to_owned(),
                e["by"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn ev(action: &str, user: &Registered, by: &Registered) -> (String, String, String) {
    (action.to_owned(), user.user_id.clone(), by.user_id.clone())
}

async fn groups_are_created_and_read_by_members_only(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let alice = api.register(&Api::username("alice")).await;
    let bob = api.register(&Api::username("bob")).await;
    let carol = api.register(&Api::username("carol")).await;
    let eve = api.register(&Api::username("eve")).await;
    // Members named twice, and the creator among them, count once.
    let (status, group) = call(
        &api,
        Method::POST,
        "/api/v1/groups",
        &alice,
        Some(json!({
            "name": "  Friends  ", "description": "weekend plans",
            "avatar_url": "https://example.org/a.png", "encryption_mode": "shared_secret",
            "members": [bob.user_id, carol.user_id, bob.user_id, alice.user_id],
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    assert_eq!(group["name"], "Friends");
    assert_eq!(group["description"], "weekend plans");
    assert_eq!(group["encryption_mode"], "shared_secret");
    assert_eq!(group["max_members"], 256);
    assert_eq!(group["created_by"], alice.user_id.as_str());
    assert_eq!(
        roles(&group),
        vec![
            pair(&alice, "admin"),
            pair(&bob, "member"),
            pair(&carol, "member")
        ]
    );
    assert_eq!(group["members"][1]["username"], bob.username.as_str());
    assert_eq!(group["members"][1]["invited_by"], alice.user_id.as_str());
    // Members read it; a stranger gets 404 (as for a group that does not exist).
    let (status, read) = call(&api, Method::GET, &group_path(&group), &carol, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, group);
    let (status, body) = call(&api, Method::GET, &group_path(&group), &eve, None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = call(
        &api,
        Method::GET,
        &format!("/api/v1/groups/{}", uuid::Uuid::new_v4()),
        &alice,
        None,
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = call(&api, Method::GET, "/api/v1/groups/not-an-id", &alice, None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    // The stranger can neither read nor write its conversation.
    let (status, _) = call(&api, Method::GET, &messages_path(&group), &eve, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &api,
        Method::POST,
        &messages_path(&group),
        &eve,
        Some(message_body("hi")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Lists.
    let (_, mine) = call(&api, Method::GET, "/api/v1/groups", &bob, None).await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["group_id"], group["group_id"]);
    let (_, none) = call(&api, Method::GET, "/api/v1/groups", &eve, None).await;
    assert_eq!(none, json!([]));
    // The group's conversation is listed with the 1:1 conversations.
    let (_, conversations) = call(&api, Method::GET, "/api/v1/conversations", &bob, None).await;
    assert_eq!(conversations[0]["type"], "group");
    assert_eq!(
        conversations[0]["participants"].as_array().unwrap().len(),
        3
    );
    // Without a token: 401.
    let (status, _) = api.call(Method::GET, "/api/v1/groups", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Settings: admins only.
    let rename = json!({"name": "Renamed", "description": ""});
    let (status, body) = call(
        &api,
        Method::PATCH,
        &group_path(&group),
        &bob,
        Some(rename.clone()),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, body) = call(
        &api,
        Method::PATCH,
        &group_path(&group),
        &eve,
        Some(rename.clone()),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, renamed) = call(
        &api,
        Method::PATCH,
        &group_path(&group),
        &alice,
        Some(rename),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "Renamed");
    assert_eq!(renamed["description"], Value::Null);
    assert_eq!(renamed["avatar_url"], "https://example.org/a.png");
}

async fn bad_group_requests_change_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let alice = api.register(&Api::username("alice")).await;
    let bob = api.register(&Api::username("bob")).await;
    let long = "x".repeat(256);
    for (body, status, expected) in [
        (
            json!({"name": ""}),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            json!({"name": "   "}),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            json!({"name": long}),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            json!({"name": "a\u{7}b"}),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            json!({"name": "g", "avatar_url": "javascript:alert(1)"}),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            json!({"name": "g", "description": "d".repeat(4097)}),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            json!({"name": "g", "max_members": 257}),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            json!({"name": "g", "max_members": 1}),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            json!({"name": "g", "encryption_mode": "none"}),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            json!({"name": "g", "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            json!({"name": "g", "members": [uuid::Uuid::new_v4()]}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            json!({"name": "g", "members": [bob.user_id], "max_members": 2, "description": "ok"}),
            StatusCode::CREATED,
            "",
        ),
        (
            json!({"name": "g", "members": [bob.user_id, uuid::Uuid::new_v4()], "max_members": 2}),
            StatusCode::CONFLICT,
            "group_full",
        ),
    ] {
        let (got, reply) = call(
            &api,
            Method::POST,
            "/api/v1/groups",
            &alice,
            Some(body.clone()),
        )
        .await;
        assert_eq!(got, status, "{body}: {reply}");
        if !expected.is_empty() {
            assert_eq!(code(&reply), expected, "{body}");
        }
    }
    // Only the one valid request made a group.
    let (_, mine) = call(&api, Method::GET, "/api/v1/groups", &alice, None).await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let group = &mine[0];
    // A PATCH with nothing to change, or a bad field, changes nothing.
    for body in [
        json!({}),
        json!({"name": "y".repeat(256)}),
        json!({"avatar_url": "ftp://x"}),
    ] {
        let (status, reply) = call(
            &api,
            Method::PATCH,
            &group_path(group),
            &alice,
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (status, code(&reply)),
            (StatusCode::BAD_REQUEST, "invalid_field"),
            "{body}"
        );
    }
    let (_, after) = call(&api, Method::GET, &group_path(group), &alice, None).await;
    assert_eq!(&after, group);
}

async fn membership_changes_and_their_denials(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let alice = api.register(&Api::username("alice")).await;
    let bob = api.register(&Api::username("bob")).await;
    let carol = api.register(&Api::username("carol")).await;
    let dave = api.register(&Api::username("dave")).await;
    let eve = api.register(&Api::username("eve")).await;
    let group = create_group(&api, &alice, "g", &[&bob, &carol]).await;
    let members = format!("{}/members", group_path(&group));
    let member = |user: &Registered| format!("{members}/{}", user.user_id);
    let add = |user: &Registered| Some(json!({"user_id": user.user_id}));

    // Adding: admins only, existing users, not twice.
    let (status, body) = call(&api, Method::POST, &members, &bob, add(&dave)).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, body) = call(&api, Method::POST, &members, &eve, add(&dave)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = call(
        &api,
        Method::POST,
        &members,
        &alice,
        Some(json!({"user_id": uuid::Uuid::new_v4()})),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = call(&api, Method::POST, &members, &alice, add(&bob)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "already_member")
    );
    let (status, body) = call(
        &api,
        Method::POST,
        &members,
        &alice,
        Some(json!({"user": dave.user_id})),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    let (status, added) = call(&api, Method::POST, &members, &alice, add(&dave)).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(roles(&added).len(), 4);

    // Removing: admins only, members only.
    let (status, body) = call(&api, Method::DELETE, &member(&carol), &bob, None).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, body) = call(&api, Method::DELETE, &member(&eve), &alice, None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "not_group_member")
    );
    let (status, body) = call(&api, Method::DELETE, &member(&carol), &eve, None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _) = call(&api, Method::DELETE, &member(&carol), &alice, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Carol, removed, can do nothing with the group any more.
    let (status, _) = call(&api, Method::GET, &group_path(&group), &carol, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &api,
        Method::POST,
        &format!("{}/leave", group_path(&group)),
        &carol,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&api, Method::POST, &members, &carol, add(&eve)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Promotion and demotion: admins only; the last admin cannot step down.
    let promote = |user: &Registered| format!("{}/promote", member(user));
    let demote = |user: &Registered| format!("{}/demote", member(user));
    let (status, body) = call(&api, Method::POST, &promote(&bob), &bob, None).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, body) = call(&api, Method::POST, &promote(&eve), &alice, None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "not_group_member")
    );
    let (status, body) = call(&api, Method::POST, &demote(&alice), &alice, None).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "last_admin"));
    let (status, promoted) = call(&api, Method::POST, &promote(&bob), &alice, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(roles(&promoted).contains(&pair(&bob, "admin")));
    let (status, demoted) = call(&api, Method::POST, &demote(&alice), &bob, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(roles(&demoted).contains(&pair(&alice, "member")));
    // Alice is no admin any more.
    let (status, body) = call(&api, Method::DELETE, &member(&dave), &alice, None).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));

    // Every change is in the history, in order.
    let (_, page) = call(&api, Method::GET, &messages_path(&group), &bob, None).await;
    assert_eq!(
        events(&page),
        vec![
            ev("added", &alice, &alice),
            ev("added", &bob, &alice),
            ev("added", &carol, &alice),
            ev("added", &dave, &alice),
            ev("removed", &carol, &alice),
            ev("promoted", &bob, &alice),
            ev("demoted", &alice, &bob),
        ]
    );
    let seqs: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
}

async fn leaving_promotes_the_longest_standing_member_and_the_last_one_ends_the_group(
    backend: Backend,
) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let alice = api.register(&Api::username("alice")).await;
    let bob = api.register(&Api::username("bob")).await;
    let carol = api.register(&Api::username("carol")).await;
    let group = create_group(&api, &alice, "g", &[&bob, &carol]).await;
    let leave = format!("{}/leave", group_path(&group));
    let (status, _) = call(&api, Method::POST, &leave, &alice, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, after) = call(&api, Method::GET, &group_path(&group), &carol, None).await;
    assert_eq!(
        roles(&after),
        vec![pair(&bob, "admin"), pair(&carol, "member")]
    );
    let (_, page) = call(&api, Method::GET, &messages_path(&group), &carol, None).await;
    assert_eq!(
        events(&page),
        vec![
            ev("added", &alice, &alice),
            ev("added", &bob, &alice),
            ev("added", &carol, &alice),
            ev("left", &alice, &alice),
            ev("promoted", &bob, &alice)
        ]
    );
    // Removing oneself is leaving.
    let (status, _) = call(
        &api,
        Method::DELETE,
        &format!("{}/members/{}", group_path(&group), carol.user_id),
        &carol,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&api, Method::POST, &leave, &bob, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The group ended with its last member.
    let (status, _) = call(&api, Method::GET, &group_path(&group), &bob, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&api, Method::GET, &messages_path(&group), &bob, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let conversation = group["conversation_id"].as_str().unwrap();
    let left = server
        .sql_text(&format!(
            "SELECT CAST(COUNT(*) AS TEXT) FROM conversations WHERE id = {}",
            server.sql_uuid(conversation.parse().unwrap())
        ))
        .await;
    assert_eq!(left.as_deref(), Some("0"));
}

async fn membership_events_are_history_and_arrive_live(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let alice = api.register(&Api::username("alice")).await;
    let bob = api.register(&Api::username("bob")).await;
    let dave = api.register(&Api::username("dave")).await;
    let mut bob_ws = WsClient::connect(&server.base_url, &bob.access_token).await;
    bob_ws.next_of("hello").await;
    let mut dave_ws = WsClient::connect(&server.base_url, &dave.access_token).await;
    dave_ws.next_of("hello").await;
    let group = create_group(&api, &alice, "g", &[&bob]).await;
    for expected in [ev("added", &alice, &alice), ev("added", &bob, &alice)] {
        let frame = bob_ws.next_of("message").await;
        let message = &frame["message"];
        assert_eq!(message["message_type"], "membership");
        assert_eq!(message["conversation_id"], group["conversation_id"]);
        assert_eq!(events(&json!({"messages": [message]})), vec![expected]);
    }
    // Dave is added: he hears of it live, like Bob.
    let (status, _) = call(
        &api,
        Method::POST,
        &format!("{}/members", group_path(&group)),
        &alice,
        Some(json!({"user_id": dave.user_id})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for ws in [&mut bob_ws, &mut dave_ws] {
        let frame = ws.next_of("message").await;
        assert_eq!(frame["message"]["seq"], 3);
        assert_eq!(
            frame["message"]["metadata"]["membership"]["action"],
            "added"
        );
        assert_eq!(
            frame["message"]["metadata"]["membership"]["user_id"],
            dave.user_id.as_str()
        );
    }
    // A message to the group reaches every member's connection.
    api.send_message(
        &alice.access_token,
        group["conversation_id"].as_str().unwrap(),
        message_body("hello all"),
    )
    .await;
    for ws in [&mut bob_ws, &mut dave_ws] {
        let frame = ws.next_of("message").await;
        assert_eq!(frame["message"]["message_type"], "text");
        assert_eq!(frame["message"]["seq"], 4);
    }
    // Clients cannot write membership events.
    let mut forged = message_body("forged");
    forged["message_type"] = json!("membership");
    let (status, body) = call(
        &api,
        Method::POST,
        &messages_path(&group),
        &alice,
        Some(forged),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_field")
    );
    let mut forged = message_body("forged");
    forged["metadata"] = json!({"membership": {"action": "added", "group_id": group["group_id"], "user_id": alice.user_id, "by": alice.user_id, "role": "admin"}});
    let (status, body) = call(
        &api,
        Method::POST,
        &messages_path(&group),
        &alice,
        Some(forged),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_field")
    );
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

async fn a_removed_member_gets_nothing_after_the_removal(backend: Backend) {
    let (url, mut wakeups) = webhook().await;
    let server = TestServer::start_with(backend, |c| c.push.webhook_url = Some(url)).await;
    let api = server.api();
    let alice = api.register(&Api::username("alice")).await;
    let bob = api.register(&Api::username("bob")).await;
    let carol_name = Api::username("carol");
    let carol = api.register(&carol_name).await;
    // Carol's second device is offline with a push token.
    let carol_tablet = api
        .login_ok(&carol_name, &carol.password, Device::random("android"))
        .await;
    let (status, _) = api
        .call(
            Method::PUT,
            &format!("/api/v1/devices/{}/push-token", carol_tablet.device_id),
            Some(&carol_tablet.access_token),
            Some(&json!({"push_token": "fcm:carol-tablet"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mut carol_ws = WsClient::connect(&server.base_url, &carol.access_token).await;
    carol_ws.next_of("hello").await;
    let mut bob_ws = WsClient::connect(&server.base_url, &bob.access_token).await;
    bob_ws.next_of("hello").await;
    let group = create_group(&api, &alice, "g", &[&bob, &carol]).await;
    let conversation = group["conversation_id"].as_str().unwrap().to_owned();
    // While a member, Carol's devices get the group's messages (and the tablet a wake-up).
    let before = api
        .send_message(&alice.access_token, &conversation, message_body("before"))
        .await;
    loop {
        let frame = carol_ws.next_of("message").await;
        if frame["message"]["message_id"] == before["message_id"] {
            break;
        }
    }
    let wakeup = tokio::time::timeout(Duration::from_secs(15), wakeups.recv())
        .await
        .expect("a wake-up")
        .unwrap();
    assert_eq!(wakeup["push_token"], "fcm:carol-tablet");
    // Alice removes Carol: Carol hears of her removal, and of nothing after it.
    let (status, _) = call(
        &api,
        Method::DELETE,
        &format!("{}/members/{}", group_path(&group), carol.user_id),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let removal = carol_ws.next_of("message").await;
    assert_eq!(
        removal["message"]["metadata"]["membership"]["action"],
        "removed"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    while wakeups.try_recv().is_ok() {}
    // Wake-ups are spaced 10 s per device: wait that out so a wake-up for Carol would show.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = api
        .send_message(&alice.access_token, &conversation, message_body("after"))
        .await;
    loop {
        let frame = bob_ws.next_of("message").await;
        if frame["message"]["message_id"] == after["message_id"] {
            break;
        }
    }
    // A marker through a 1:1 conversation: the next frame Carol gets must be that, not "after".
    let one_to_one = api
        .open_conversation(&bob.access_token, &carol.user_id)
        .await;
    let marker = api
        .send_message(&bob.access_token, &one_to_one, message_body("marker"))
        .await;
    let next = carol_ws.next_of("message").await;
    assert_eq!(
        next["message"]["message_id"], marker["message_id"],
        "carol got {next}"
    );
    // The marker's wake-up may come; none for the group message.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut woken = Vec::new();
    while let Ok(w) = wakeups.try_recv() {
        woken.push(w);
    }
    assert!(woken.len() <= 1, "{woken:?}");
    // Over HTTP: neither the history nor the message.
    let (status, _) = call(
        &api,
        Method::GET,
        &format!("/api/v1/conversations/{conversation}/messages"),
        &carol,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &api,
        Method::GET,
        &format!("/api/v1/conversations/{conversation}/messages"),
        &carol_tablet,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &api,
        Method::GET,
        &format!("/api/v1/messages/{}", after["message_id"].as_str().unwrap()),
        &carol,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &api,
        Method::GET,
        &format!("/api/v1/conversations/{conversation}"),
        &carol,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nor can she send, acknowledge or mark read.
    let (status, _) = call(
        &api,
        Method::POST,
        &format!("/api/v1/conversations/{conversation}/messages"),
        &carol,
        Some(message_body("still here?")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &api,
        Method::POST,
        &format!("/api/v1/conversations/{conversation}/receipts"),
        &carol,
        Some(json!({"read_up_to": 5})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    carol_ws.send(json!({"type": "send", "request_id": "r1", "conversation_id": conversation, "message": message_body("ws")})).await;
    let error = carol_ws.next_of("error").await;
    assert_eq!(error["code"], "not_found");
}

async fn new_members_read_from_their_joining_on(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let alice = api.register(&Api::username("alice")).await;
    let bob = api.register(&Api::username("bob")).await;
    let dave = api.register(&Api::username("dave")).await;
    let group = create_group(&api, &alice, "g", &[&bob]).await;
    let conversation = group["conversation_id"].as_str().unwrap().to_owned();
    let old = api
        .send_message(
            &alice.access_token,
            &conversation,
            message_body("before dave"),
        )
        .await;
    let (_, added) = call(
        &api,
        Method::POST,
        &format!("{}/members", group_path(&group)),
        &alice,
        Some(json!({"user_id": dave.user_id})),
    )
    .await;
    let joined_seq = added["members"][2]["joined_seq"].as_i64().unwrap();
    assert_eq!(joined_seq, 4);
    api.send_message(&bob.access_token, &conversation, message_body("after dave"))
        .await;
    let (_, page) = call(&api, Method::GET, &messages_path(&group), &dave, None).await;
    let seqs: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![4, 5]);
    let (_, page) = call(
        &api,
        Method::GET,
        &format!("{}?before=5", messages_path(&group)),
        &dave,
        None,
    )
    .await;
    let seqs: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![4]);
    assert_eq!(page["has_more"], false);
    let (status, _) = call(
        &api,
        Method::GET,
        &format!("/api/v1/messages/{}", old["message_id"].as_str().unwrap()),
        &dave,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Bob, there from the start, reads everything.
    let (_, page) = call(&api, Method::GET, &messages_path(&group), &bob, None).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 5);
    // Dave's unread count starts at his joining.
    let (_, view) = call(
        &api,
        Method::GET,
        &format!("/api/v1/conversations/{conversation}"),
        &dave,
        None,
    )
    .await;
    assert_eq!(view["unread_count"], 2);
}

async fn the_257th_member_is_refused(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.rate_limits.enabled = false).await;
    let api = server.api();
    let alice = api.register(&Api::username("alice")).await;
    let mut users = Vec::new();
    for i in 0..256 {
        users.push(api.register(&Api::username(&format!("m{i}"))).await);
    }
    let ids: Vec<&str> = users.iter().map(|u| u.user_id.as_str()).collect();
    // 1 + 256 members at creation: refused, nothing made.
    let (status, body) = call(
        &api,
        Method::POST,
        "/api/v1/groups",
        &alice,
        Some(json!({"name": "big", "members": ids})),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "group_full"));
    let (_, mine) = call(&api, Method::GET, "/api/v1/groups", &alice, None).await;
    assert_eq!(mine, json!([]));
    // 256 members: accepted; the 257th is refused.
    let (status, group) = call(
        &api,
        Method::POST,
        "/api/v1/groups",
        &alice,
        Some(json!({"name": "big", "members": ids[..255]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(group["members"].as_array().unwrap().len(), 256);
    let (status, body) = call(
        &api,
        Method::POST,
        &format!("{}/members", group_path(&group)),
        &alice,
        Some(json!({"user_id": ids[255]})),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "group_full"),
        "{body}"
    );
    let (_, after) = call(&api, Method::GET, &group_path(&group), &alice, None).await;
    assert_eq!(after["members"].as_array().unwrap().len(), 256);
    // After someone leaves there is room again.
    let (status, _) = call(
        &api,
        Method::POST,
        &format!("{}/leave", group_path(&group)),
        &users[0],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &api,
        Method::POST,
        &format!("{}/members", group_path(&group)),
        &alice,
        Some(json!({"user_id": ids[255]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

/// Two nodes on one PostgreSQL + Redis: a removal made through node A takes effect at once on
/// node B, whose member list comes from the shared group-member cache (dropped by the removal):
/// Carol, connected to node B, gets the removal and then nothing, and node B refuses her.
#[tokio::test]
async fn a_removal_on_one_node_holds_on_the_other() {
    let server = TestServer::start(Backend::Scale).await;
    let node_b = server.extra_node().await;
    let (api_a, api_b) = (server.api(), node_b.api());
    let alice = api_a.register(&Api::username("alice")).await;
    let bob = api_a.register(&Api::username("bob")).await;
    let carol = api_a.register(&Api::username("carol")).await;
    let group = create_group(&api_a, &alice, "g", &[&bob, &carol]).await;
    let conversation = group["conversation_id"].as_str().unwrap().to_owned();
    // Node B caches the member list: Carol sends and reads there.
    api_b
        .send_message(&carol.access_token, &conversation, message_body("from b"))
        .await;
    let mut carol_ws = WsClient::connect(&node_b.base_url, &carol.access_token).await;
    carol_ws.next_of("hello").await;
    let (status, _) = call(
        &api_a,
        Method::DELETE,
        &format!("{}/members/{}", group_path(&group), carol.user_id),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let removal = carol_ws.next_of("message").await;
    assert_eq!(
        removal["message"]["metadata"]["membership"]["action"],
        "removed"
    );
    let (status, _) = call(
        &api_b,
        Method::POST,
        &messages_path(&group),
        &carol,
        Some(message_body("after")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    api_a
        .send_message(&alice.access_token, &conversation, message_body("secret"))
        .await;
    let one_to_one = api_a
        .open_conversation(&bob.access_token, &carol.user_id)
        .await;
    let marker = api_a
        .send_message(&bob.access_token, &one_to_one, message_body("marker"))
        .await;
    let next = carol_ws.next_of("message").await;
    assert_eq!(
        next["message"]["message_id"], marker["message_id"],
        "carol got {next}"
    );
}

async fn a_blocked_user_cannot_put_the_blocker_into_a_group(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let alice = api.register(&Api::username("alice")).await;
    let bob = api.register(&Api::username("bob")).await;
    let carol = api.register(&Api::username("carol")).await;
    let stranger = api.register(&Api::username("stranger")).await;
    let block = |blocker: &Registered, blocked: &Registered| {
        (
            format!("/api/v1/users/{}/block", blocked.user_id),
            blocker.clone(),
        )
    };
    // Bob blocks alice.
    let (path, who) = block(&bob, &alice);
    let (status, body) = call(&api, Method::PUT, &path, &who, None).await;
    assert!(status.is_success(), "{status} {body}");
    let group = create_group(&api, &alice, "g", &[&carol]).await;
    let members = format!("{}/members", group_path(&group));

    // Alice (blocked) cannot create a group with bob, nor add him to one: the answer is the one
    // every refused first contact gets, so the block is not revealed.
    let (status, refused) = call(
        &api,
        Method::POST,
        "/api/v1/groups",
        &alice,
        Some(json!({"name": "g2", "members": [bob.user_id]})),
    )
    .await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::FORBIDDEN, "recipient_not_accepting"),
        "{refused}"
    );
    let (status, body) = call(
        &api,
        Method::POST,
        &members,
        &alice,
        Some(json!({"user_id": bob.user_id})),
    )
    .await;
    assert_eq!(body, refused, "{status}");
    // A stranger's attempt on the same group learns nothing of the block: not found.
    let (status, body) = call(
        &api,
        Method::POST,
        &members,
        &stranger,
        Some(json!({"user_id": bob.user_id})),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    // Nothing was written: bob is in no group.
    let (status, groups) = call(&api, Method::GET, "/api/v1/groups", &bob, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(groups.as_array().map(Vec::len), Some(0), "{groups}");
    // Bob, the blocker, cannot add alice either until he unblocks her.
    let bobs = create_group(&api, &bob, "b", &[&carol]).await;
    let bobs_members = format!("{}/members", group_path(&bobs));
    let (status, body) = call(
        &api,
        Method::POST,
        &bobs_members,
        &bob,
        Some(json!({"user_id": alice.user_id})),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, _) = call(&api, Method::DELETE, &path, &who, None).await;
    assert!(status.is_success());
    let (status, body) = call(
        &api,
        Method::POST,
        &bobs_members,
        &bob,
        Some(json!({"user_id": alice.user_id})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A message whose body relates to `target` (`kind` is `reply` or a relation type).
fn related_body(kind: &str, target: &str) -> Value {
    let mut body = message_body(kind);
    body["metadata"] = if kind == "reply" {
        json!({"reply_to_id": target})
    } else {
        json!({"relation": {"type": kind, "message_id": target}})
    };
    body
}

async fn new_members_cannot_relate_to_messages_from_before_they_joined(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let alice = api.register(&Api::username("alice")).await;
    let bob = api.register(&Api::username("bob")).await;
    let dave = api.register(&Api::username("dave")).await;
    let group = create_group(&api, &alice, "g", &[&bob]).await;
    let conversation = group["conversation_id"].as_str().unwrap().to_owned();
    let old = api
        .send_message(&alice.access_token, &conversation, message_body("old"))
        .await;
    let old_id = old["message_id"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &api,
        Method::POST,
        &format!("{}/members", group_path(&group)),
        &alice,
        Some(json!({"user_id": dave.user_id})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, before) = call(&api, Method::GET, &messages_path(&group), &bob, None).await;
    let count_before = before["messages"].as_array().unwrap().len();
    for kind in ["reply", "reaction", "edit", "delete"] {
        let (status, body) = call(
            &api,
            Method::POST,
            &messages_path(&group),
            &dave,
            Some(related_body(kind, &old_id)),
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{kind}: {body}"
        );
    }
    // Nothing was written, the old message is untouched.
    let (_, after) = call(&api, Method::GET, &messages_path(&group), &bob, None).await;
    assert_eq!(after["messages"].as_array().unwrap().len(), count_before);
    assert!(after["messages"][0]["edited_at"].is_null());
    // Bob, there from the start, may reply and react to it.
    for kind in ["reply", "reaction"] {
        let (status, body) = call(
            &api,
            Method::POST,
            &messages_path(&group),
            &bob,
            Some(related_body(kind, &old_id)),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{kind}: {body}");
    }
    // Dave may relate to what came after his joining.
    let new = api
        .send_message(&bob.access_token, &conversation, message_body("new"))
        .await;
    let new_id = new["message_id"].as_str().unwrap();
    for kind in ["reply", "reaction"] {
        let (status, body) = call(
            &api,
            Method::POST,
            &messages_path(&group),
            &dave,
            Some(related_body(kind, new_id)),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{kind}: {body}");
    }
}

async fn settings_changes_are_history_and_arrive_live(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let alice = api.register(&Api::username("alice")).await;
    let bob = api.register(&Api::username("bob")).await;
    let group = create_group(&api, &alice, "g", &[&bob]).await;
    let mut bob_ws = WsClient::connect(&server.base_url, &bob.access_token).await;
    bob_ws.next_of("hello").await;
    let (status, body) = call(
        &api,
        Method::PATCH,
        &group_path(&group),
        &alice,
        Some(json!({"name": "Friends", "description": "weekend plans"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let frame = bob_ws.next_of("message").await;
    let event = &frame["message"]["metadata"]["membership"];
    assert_eq!(frame["message"]["message_type"], "membership");
    assert_eq!(frame["message"]["seq"], 3);
    assert_eq!(event["action"], "updated");
    assert_eq!(event["by"], alice.user_id.as_str());
    assert_eq!(
        event["settings"],
        json!({"name": "Friends", "description": "weekend plans"})
    );
    // Only what changes is told; clearing is "".
    let (status, _) = call(
        &api,
        Method::PATCH,
        &group_path(&group),
        &alice,
        Some(json!({"name": "Friends", "description": ""})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let frame = bob_ws.next_of("message").await;
    assert_eq!(
        frame["message"]["metadata"]["membership"]["settings"],
        json!({"description": ""})
    );
    // Nothing changes: no event.
    let (status, _) = call(
        &api,
        Method::PATCH,
        &group_path(&group),
        &alice,
        Some(json!({"name": "Friends"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // A non-admin's change is refused and writes nothing.
    let (status, body) = call(
        &api,
        Method::PATCH,
        &group_path(&group),
        &bob,
        Some(json!({"name": "Mine"})),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (_, page) = call(&api, Method::GET, &messages_path(&group), &bob, None).await;
    let actions: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["metadata"]["membership"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["added", "added", "updated", "updated"]);
    let (_, got) = call(&api, Method::GET, &group_path(&group), &bob, None).await;
    assert_eq!(got["name"], "Friends");
    assert!(got["description"].is_null());
}

async fn a_deleted_account_leaves_its_groups(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let alice = api.register(&Api::username("alice")).await;
    let bob = api.register(&Api::username("bob")).await;
    let carol = api.register(&Api::username("carol")).await;
    let group = create_group(&api, &alice, "g", &[&bob, &carol]).await;
    let solo = create_group(&api, &alice, "solo", &[&bob]).await;
    let (status, _) = call(
        &api,
        Method::POST,
        &format!("{}/leave", group_path(&solo)),
        &bob,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Bob reads the group once, so its member list is cached.
    let (status, _) = call(&api, Method::GET, &messages_path(&group), &bob, None).await;
    assert_eq!(status, StatusCode::OK);
    let mut bob_ws = WsClient::connect(&server.base_url, &bob.access_token).await;
    bob_ws.next_of("hello").await;
    // A wrong password changes nothing.
    let (status, _) = call(
        &api,
        Method::DELETE,
        "/api/v1/users/me",
        &alice,
        Some(json!({"password": "nope"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, got) = call(&api, Method::GET, &group_path(&group), &bob, None).await;
    assert_eq!(got["members"].as_array().unwrap().len(), 3);
    let (status, _) = call(
        &api,
        Method::DELETE,
        "/api/v1/users/me",
        &alice,
        Some(json!({"password": alice.password})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Bob hears of it live: alice is gone, and he (the longest-standing) is the admin now.
    for expected in [("deleted", &alice, "admin"), ("promoted", &bob, "admin")] {
        let frame = bob_ws.next_of("message").await;
        let event = &frame["message"]["metadata"]["membership"];
        assert_eq!(
            frame["message"]["conversation_id"],
            group["conversation_id"]
        );
        assert_eq!(event["action"], expected.0);
        assert_eq!(event["user_id"], expected.1.user_id.as_str());
        assert_eq!(event["by"], alice.user_id.as_str());
        assert_eq!(event["role"], expected.2);
    }
    let (_, got) = call(&api, Method::GET, &group_path(&group), &carol, None).await;
    assert_eq!(
        roles(&got),
        vec![pair(&bob, "admin"), pair(&carol, "member")]
    );
    // The events stay in the history (the account's own messages went with it).
    let (_, page) = call(&api, Method::GET, &messages_path(&group), &carol, None).await;
    let actions: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["metadata"]["membership"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["added", "added", "added", "deleted", "promoted"]
    );
    // The member cache was dropped: sends reach bob and carol only, and bob acts as admin.
    let sent = api
        .send_message(
            &carol.access_token,
            group["conversation_id"].as_str().unwrap(),
            message_body("still here"),
        )
        .await;
    let frame = bob_ws.next_of("message").await;
    assert_eq!(frame["message"]["message_id"], sent["message_id"]);
    let (status, _) = call(
        &api,
        Method::PATCH,
        &group_path(&group),
        &bob,
        Some(json!({"name": "ours"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The group alice was the last member of ended, with its conversation.
    let solo_id = uuid::Uuid::parse_str(solo["group_id"].as_str().unwrap()).unwrap();
    let solo_conversation =
        uuid::Uuid::parse_str(solo["conversation_id"].as_str().unwrap()).unwrap();
    let count = server
        .sql_text(&format!(
            "SELECT CAST(COUNT(*) AS TEXT) FROM groups WHERE id = {}",
            server.sql_uuid(solo_id)
        ))
        .await;
    assert_eq!(count.as_deref(), Some("0"));
    let count = server
        .sql_text(&format!(
            "SELECT CAST(COUNT(*) AS TEXT) FROM conversations WHERE id = {}",
            server.sql_uuid(solo_conversation)
        ))
        .await;
    assert_eq!(count.as_deref(), Some("0"));
}

/// Each participant's (delivered, read) cursors as seen by `viewer`.
async fn cursors_seen_by(
    api: &Api,
    conversation: &str,
    viewer: &Registered,
) -> Vec<(String, Value, Value)> {
    let (_, view) = call(
        api,
        Method::GET,
        &format!("/api/v1/conversations/{conversation}"),
        viewer,
        None,
    )
    .await;
    let mut all: Vec<(String, Value, Value)> = view["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["user_id"].as_str().unwrap().to_owned(),
                p["last_delivered_seq"].clone(),
                p["last_read_seq"].clone(),
            )
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

async fn group_receipts_are_per_member_and_honour_privacy(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let alice = api.register(&Api::username("alice")).await;
    let bob = api.register(&Api::username("bob")).await;
    let carol = api.register(&Api::username("carol")).await;
    let eve = api.register(&Api::username("eve")).await;
    let group = create_group(&api, &alice, "g", &[&bob, &carol]).await;
    let conversation = group["conversation_id"].as_str().unwrap().to_owned();
    for i in 0..3 {
        api.send_message(
            &alice.access_token,
            &conversation,
            message_body(&format!("m{i}")),
        )
        .await;
    }
    // Seqs 1-3 are the creation events, 4-6 the messages.
    let receipts = format!("/api/v1/conversations/{conversation}/receipts");
    let mut alice_ws = WsClient::connect(&server.base_url, &alice.access_token).await;
    alice_ws.next_of("hello").await;
    let (status, _) = call(
        &api,
        Method::POST,
        &receipts,
        &bob,
        Some(json!({"delivered_up_to": 6, "read_up_to": 5})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let receipt = alice_ws.next_of("receipt").await;
    assert_eq!(receipt["user_id"], bob.user_id.as_str());
    // Carol turns read receipts off, then reads everything.
    let (status, _) = call(
        &api,
        Method::PATCH,
        "/api/v1/users/me/privacy",
        &carol,
        Some(json!({"allow_read_receipts": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &api,
        Method::POST,
        &receipts,
        &carol,
        Some(json!({"delivered_up_to": 6, "read_up_to": 6})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Each member's cursors are their own; carol's read cursor is hidden from the others.
    let mut expected = vec![
        // Alice posted no receipt (sending does not move her own cursors).
        (alice.user_id.clone(), json!(0), json!(0)),
        (bob.user_id.clone(), json!(6), json!(5)),
        (carol.user_id.clone(), json!(6), Value::Null),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(cursors_seen_by(&api, &conversation, &alice).await, expected);
    assert_eq!(cursors_seen_by(&api, &conversation, &bob).await, expected);
    // Carol still sees her own.
    let own = cursors_seen_by(&api, &conversation, &carol).await;
    assert!(own.contains(&(carol.user_id.clone(), json!(6), json!(6))));
    // A stranger, and a removed member, cannot post receipts.
    let (status, _) = call(
        &api,
        Method::POST,
        &receipts,
        &eve,
        Some(json!({"read_up_to": 6})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &api,
        Method::DELETE,
        &format!("{}/members/{}", group_path(&group), bob.user_id),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &api,
        Method::POST,
        &receipts,
        &bob,
        Some(json!({"read_up_to": 6})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn group_messages_self_destruct(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let alice = api.register(&Api::username("alice")).await;
    let bob = api.register(&Api::username("bob")).await;
    let carol = api.register(&Api::username("carol")).await;
    let group = create_group(&api, &alice, "g", &[&bob, &carol]).await;
    let conversation = group["conversation_id"].as_str().unwrap().to_owned();
    let mut body = message_body("burn after reading");
    body["expires_at"] =
        json!((chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339());
    let sent = api
        .send_message(&alice.access_token, &conversation, body)
        .await;
    let keep = api
        .send_message(&alice.access_token, &conversation, message_body("keep"))
        .await;
    let id = sent["message_id"].as_str().unwrap().to_owned();
    for member in [&bob, &carol] {
        let (status, got) = call(
            &api,
            Method::GET,
            &format!("/api/v1/messages/{id}"),
            member,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(!got["expires_at"].is_null());
    }
    let uid = server.sql_uuid(id.parse().unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = server
            .sql_text(&format!(
                "SELECT CAST(COUNT(*) AS TEXT) FROM messages WHERE id = {uid}"
            ))
            .await;
        if left.as_deref() == Some("0") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the group message never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for member in [&alice, &bob, &carol] {
        let (status, _) = call(
            &api,
            Method::GET,
            &format!("/api/v1/messages/{id}"),
            member,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, page) = call(&api, Method::GET, &messages_path(&group), member, None).await;
        let texts: Vec<&str> = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["message_type"] == "text")
            .map(|m| m["message_id"].as_str().unwrap())
            .collect();
        assert_eq!(texts, [keep["message_id"].as_str().unwrap()]);
    }
}

async fn group_messages_get_ledger_proofs_for_members_only(backend: Backend) {
    use base64::Engine;
    let server = TestServer::start_with(backend, |c| c.anchor_interval_secs = 1).await;
    let api = server.api();
    let alice = api.register(&Api::username("alice")).await;
    let bob = api.register(&Api::username("bob")).await;
    let carol = api.register(&Api::username("carol")).await;
    let dave = api.register(&Api::username("dave")).await;
    let eve = api.register(&Api::username("eve")).await;
    let group = create_group(&api, &alice, "g", &[&bob, &carol]).await;
    let conversation = group["conversation_id"].as_str().unwrap().to_owned();
    let text = "anchored in a group";
    let message = api
        .send_message(&alice.access_token, &conversation, message_body(text))
        .await;
    let id = message["message_id"].as_str().unwrap();
    let (_, info) = call(&api, Method::GET, "/api/v1/ledger", &bob, None).await;
    let key: [u8; 32] = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(info["validator_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let validator = ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap();
    let own = base64::engine::general_purpose::STANDARD
        .decode(zynk_testkit::ciphertext(text).0)
        .unwrap();
    let created: chrono::DateTime<chrono::Utc> =
        message["created_at"].as_str().unwrap().parse().unwrap();
    let leaf = |bytes: &[u8]| {
        zynk_ledger::MessageLeaf::from_ciphertext(
            id.parse().unwrap(),
            bytes,
            message["seq"].as_u64().unwrap(),
            created.timestamp_millis() as u64,
        )
    };
    // Every member gets a proof that verifies against their own copy of the ciphertext.
    for member in [&bob, &carol] {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let proof = loop {
            let (status, body) = call(
                &api,
                Method::GET,
                &format!("/api/v1/messages/{id}/proof"),
                member,
                None,
            )
            .await;
            if status == StatusCode::OK {
                break body;
            }
            assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
            assert!(std::time::Instant::now() < deadline, "never anchored");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let proof = zynk_ledger::MessageProof::from_json(&proof.to_string()).unwrap();
        proof
            .verify_for_message(&leaf(&own), &validator)
            .expect("the proof holds");
        let mut altered = own.clone();
        altered[0] ^= 1;
        assert!(
            proof
                .verify_for_message(&leaf(&altered), &validator)
                .is_err()
        );
    }
    // A stranger, a member added later and a removed member get none.
    let (status, _) = call(
        &api,
        Method::POST,
        &format!("{}/members", group_path(&group)),
        &alice,
        Some(json!({"user_id": dave.user_id})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &api,
        Method::DELETE,
        &format!("{}/members/{}", group_path(&group), carol.user_id),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for who in [&eve, &dave, &carol] {
        let (status, body) = call(
            &api,
            Method::GET,
            &format!("/api/v1/messages/{id}/proof"),
            who,
            None,
        )
        .await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    }
}
