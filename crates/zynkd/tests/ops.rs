//! `zynkd stats` shows the day's sends, deliveries and reads after traffic, `zynkd jobs` each
//! job's last run; a `--days` that is not a number is refused. On SQLite and on PostgreSQL.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::zynkd_command;
use reqwest::Method;
use serde_json::{Value, json};
use zynk_testkit::{Api, Backend, TestServer, message_body};

fn zynkd(server: &TestServer, args: &[&str]) -> std::process::Output {
    let mut command = zynkd_command();
    command
        .args(args)
        .env("ZYNK_DATA_DIR", server.storage.data_dir())
        .env("ZYNK_DATABASE_URL", server.storage.database_url())
        .env("ZYNK_LOG", "warn");
    command.output().expect("zynkd runs")
}

fn json_lines(out: &std::process::Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

async fn stats_show_the_days_traffic(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.analytics.interval_secs = 1;
        c.analytics.flush_interval_ms = 100;
    })
    .await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    let mut last = 0;
    for text in ["one", "two", "three"] {
        last = api
            .send_message(&ann.access_token, &conversation, message_body(text))
            .await["seq"]
            .as_i64()
            .unwrap();
    }
    let (status, _) = api
        .call(
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/receipts"),
            Some(&bob.access_token),
            Some(&json!({"delivered_up_to": last, "read_up_to": last - 1})),
        )
        .await;
    assert!(status.is_success(), "{status}");

    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let expected: HashMap<&str, i64> = [
        ("user_registered", 2),
        ("message_sent", 3),
        ("message_delivered", 1),
        ("message_read", 1),
    ]
    .into();
    // The aggregates are brought up to date every second.
    let deadline = Instant::now() + Duration::from_secs(30);
    let counts = loop {
        let rows = json_lines(&zynkd(&server, &["stats", "--days", "1", "--json"]));
        let counts: HashMap<String, i64> = rows
            .iter()
            .map(|r| {
                assert_eq!(r["day"], today.as_str(), "{r}");
                (
                    r["event_type"].as_str().unwrap().to_owned(),
                    r["count"].as_i64().unwrap(),
                )
            })
            .collect();
        if expected
            .iter()
            .all(|(k, v)| counts.get(*k).copied() == Some(*v))
        {
            break counts;
        }
        assert!(
            Instant::now() < deadline,
            "stats never showed {expected:?}: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(!counts.contains_key("file_uploaded"), "{counts:?}");

    // The text form names the same counts.
    let text = zynkd(&server, &["stats"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("message_sent") && text.contains(&today),
        "{text}"
    );

    // A range that is not a number is refused and names the flag.
    for bad in ["abc", "-3", "0"] {
        let out = zynkd(&server, &["stats", &format!("--days={bad}")]);
        assert!(!out.status.success(), "--days {bad} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--days"), "{stderr}");
        assert!(out.stdout.is_empty());
    }

    // Each job's last run: the analytics job ran, and succeeded.
    let jobs = json_lines(&zynkd(&server, &["jobs", "--json"]));
    let analytics = jobs
        .iter()
        .find(|j| j["job"] == "analytics")
        .unwrap_or_else(|| panic!("{jobs:?}"));
    assert_eq!(analytics["outcome"], "ok", "{analytics}");
    assert!(analytics["runs"].as_i64().unwrap() >= 1);
    assert!(analytics["duration_ms"].as_i64().unwrap() >= 0);
    assert!(analytics["node"].as_str().unwrap().contains('/'));
    for job in [
        "retention",
        "undelivered_messages",
        "message_expiry",
        "partitions",
    ] {
        assert!(
            jobs.iter().any(|j| j["job"] == job),
            "{job} missing: {jobs:?}"
        );
    }
    let table = zynkd(&server, &["jobs"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("analytics"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_and_jobs_sqlite() {
    stats_show_the_days_traffic(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_and_jobs_postgres() {
    stats_show_the_days_traffic(Backend::Scale).await;
}
