//! Retention jobs (data model section 6) on both backends, with two nodes running them at once:
//! undelivered to-device messages older than 30 days, messages soft-deleted more than 30 days
//! ago, and sessions whose refresh token expired are removed; recent data stays.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use zynk_testkit::{Api, Backend, TestServer, backend_tests, message_body};

backend_tests!(retention_jobs_remove_only_old_data);

async fn count(server: &TestServer, sql: &str) -> String {
    server
        .sql_text(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {sql}"))
        .await
        .unwrap_or_default()
}

async fn retention_jobs_remove_only_old_data(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.retention.interval_secs = 3600).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let old_session = api.register(&Api::username("old")).await;
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    // Two to-device payloads, one of which we age by 31 days.
    for txn in ["old", "new"] {
        let body = json!({"txn_id": txn, "event_type": "m", "messages": [{"user_id": bob.user_id, "device_id": bob.device_id, "content": {"t": txn}}]});
        api.call(
            Method::POST,
            "/api/v1/to-device",
            Some(&ann.access_token),
            Some(&body),
        )
        .await;
    }
    server
        .sql(&format!(
            "UPDATE to_device_messages SET created_at = {} WHERE txn_id = 'old'",
            server.sql_time_from_now(-31 * 86400)
        ))
        .await;
    // Two deleted messages, one deleted 31 days ago, and one live message.
    let mut targets = Vec::new();
    for text in ["a", "b", "live"] {
        targets.push(
            api.send_message(&ann.access_token, &conversation, message_body(text))
                .await["message_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for target in &targets[..2] {
        let mut body = message_body("delete");
        body["metadata"] = json!({"relation": {"type": "delete", "message_id": target}});
        api.send_message(&ann.access_token, &conversation, body)
            .await;
    }
    let old_target = server.sql_uuid(targets[0].parse().unwrap());
    server
        .sql(&format!(
            "UPDATE messages SET deleted_at = {} WHERE id = {old_target}",
            server.sql_time_from_now(-31 * 86400)
        ))
        .await;
    // A session whose refresh token expired.
    server
        .sql(&format!(
            "UPDATE sessions SET refresh_expires_at = {} WHERE user_id = {}",
            server.sql_time_from_now(-1),
            server.sql_uuid(old_session.user_id.parse().unwrap())
        ))
        .await;
    assert_eq!(count(&server, "to_device_messages").await, "2");
    assert_eq!(count(&server, "messages").await, "5");
    assert_eq!(count(&server, "sessions").await, "3");
    // Two nodes with a one-second retention interval run the jobs concurrently.
    let mut fast = server.config.clone();
    fast.retention.interval_secs = 1;
    let node_1 = server.extra_node_with(fast.clone()).await;
    let node_2 = server.extra_node_with(fast).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = count(&server, "to_device_messages").await == "1"
            && count(&server, "messages").await == "4"
            && count(&server, "sessions").await == "2";
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "retention did not run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What stays: the recent payload, the recently deleted message (as a tombstone), the live
    // message, the delete events; the other users' sessions.
    let (_, inbox) = api.get("/api/v1/to-device", &bob.access_token).await;
    assert_eq!(inbox["messages"][0]["content"]["t"], "new");
    let (_, page) = api
        .get(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &bob.access_token,
        )
        .await;
    let ids: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&targets[0].as_str()));
    assert!(ids.contains(&targets[1].as_str()) && ids.contains(&targets[2].as_str()));
    assert_eq!(
        api.get("/api/v1/users/me", &ann.access_token).await.0,
        reqwest::StatusCode::OK
    );
    drop((node_1, node_2));
}
