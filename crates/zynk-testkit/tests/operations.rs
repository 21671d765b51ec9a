//! Operations (issue 16) on both backends: conversation messages no recipient received within
//! `retention.undelivered_message_days` are removed and their sender is told; two nodes never
//! run one job twice; analytics can be turned off.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use zynk_testkit::ws::WsClient;
use zynk_testkit::{Api, Backend, TestServer, backend_tests, message_body};

backend_tests!(
    undelivered_messages_expire_and_their_sender_is_told,
    two_nodes_never_run_one_job_twice,
    analytics_off_records_nothing,
);

async fn scalar(server: &TestServer, query: &str) -> String {
    server.sql_text(query).await.unwrap_or_default()
}

async fn undelivered_messages_expire_and_their_sender_is_told(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.retention.interval_secs = 3600).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    let mut sent = Vec::new();
    for text in ["delivered", "never fetched", "recent"] {
        let message = api
            .send_message(&ann.access_token, &conversation, message_body(text))
            .await;
        sent.push((
            message["message_id"].as_str().unwrap().to_owned(),
            message["seq"].as_i64().unwrap(),
        ));
    }
    // Bob's device received the first message only.
    let (status, _) = api
        .call(
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/receipts"),
            Some(&bob.access_token),
            Some(&json!({"delivered_up_to": sent[0].1})),
        )
        .await;
    assert!(status.is_success(), "{status}");

    // A node that runs the lifecycle every second; ann listens there.
    let mut fast = server.config.clone();
    fast.retention.interval_secs = 1;
    let node = server.extra_node_with(fast).await;
    let mut ws = WsClient::connect(&node.base_url, &ann.access_token).await;
    ws.next_of("hello").await;

    // The clock moves: the first two messages are 31 days old, the third 29.
    for (i, days) in [(0, 31), (1, 31), (2, 29)] {
        server
            .sql(&format!(
                "UPDATE message_refs SET created_at = {} WHERE id = {}",
                server.sql_time_from_now(-days * 86_400),
                server.sql_uuid(sent[i].0.parse().unwrap())
            ))
            .await;
    }
    let frame = ws.next_of("message_expired").await;
    assert_eq!(frame["message_id"], sent[1].0.as_str(), "{frame}");
    assert_eq!(frame["conversation_id"], conversation.as_str());
    assert_eq!(frame["reason"], "undelivered");

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
    assert_eq!(ids, [sent[0].0.as_str(), sent[2].0.as_str()]);
    let gone = server.sql_uuid(sent[1].0.parse().unwrap());
    assert_eq!(
        scalar(
            &server,
            &format!("SELECT CAST(COUNT(*) AS TEXT) FROM message_refs WHERE id = {gone}")
        )
        .await,
        "0"
    );
    drop(node);
}

async fn retention_runs(server: &TestServer) -> i64 {
    scalar(
        server,
        "SELECT CAST(COALESCE(MAX(runs), 0) AS TEXT) FROM job_runs WHERE job = 'retention'",
    )
    .await
    .parse()
    .unwrap()
}

async fn two_nodes_never_run_one_job_twice(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.retention.interval_secs = 1).await;
    let node = server.extra_node().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (start, first) = (Instant::now(), retention_runs(&server).await);
    assert!(first >= 1, "the job ran");
    tokio::time::sleep(Duration::from_secs(8)).await;
    let runs = retention_runs(&server).await - first;
    let elapsed = start.elapsed().as_secs_f64();
    // One run per interval across both nodes (a run is due 0.9 intervals after the last one
    // started, on whichever node); each node on its own would make about twice as many.
    assert!(
        (runs as f64) <= elapsed / 0.9 + 1.0,
        "{runs} runs in {elapsed:.1} s: a job ran twice"
    );
    assert!(runs >= 3, "{runs} runs in {elapsed:.1} s: the job stopped");
    let last = scalar(
        &server,
        "SELECT outcome FROM job_runs WHERE job = 'retention'",
    )
    .await;
    assert_eq!(last, "ok");
    // The runs are in the metrics too.
    let text = reqwest::get(format!("{}/metrics", server.base_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for metric in [
        "zynk_job_runs_total{job=\"retention\",outcome=\"ok\"}",
        "zynk_job_last_success{job=\"retention\"}",
        "zynk_job_last_duration_seconds{job=\"retention\"}",
        "zynk_job_last_run_timestamp_seconds{job=\"retention\"}",
    ] {
        assert!(text.contains(metric), "{metric} missing");
    }
    drop(node);
}

async fn analytics_off_records_nothing(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.analytics.enabled = false;
        c.analytics.interval_secs = 1;
        c.analytics.flush_interval_ms = 50;
    })
    .await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    api.send_message(&ann.access_token, &conversation, message_body("hi"))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut counts = HashMap::new();
    for table in [
        "message_events",
        "daily_event_totals",
        "daily_message_stats",
    ] {
        counts.insert(
            table,
            scalar(
                &server,
                &format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}"),
            )
            .await,
        );
    }
    assert!(counts.values().all(|c| c == "0"), "{counts:?}");
    assert_eq!(
        scalar(
            &server,
            "SELECT CAST(COUNT(*) AS TEXT) FROM job_runs WHERE job = 'analytics'"
        )
        .await,
        "0",
        "no analytics job runs"
    );
}
