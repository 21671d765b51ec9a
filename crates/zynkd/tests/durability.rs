//! Acknowledged means durable: a sender streams messages while the server is killed with
//! SIGKILL at random points (chosen by a seeded generator, not by timing) and restarted, 20+
//! times. Afterwards every acknowledged message is stored and a receiver that kept resuming
//! from its cursor (socket first, then history after its cursor) got every stored message
//! exactly once, in order. Runs on SQLite and on PostgreSQL + Redis.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use common::Zynkd;
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::Value;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use zynk_testkit::server::Storage;
use zynk_testkit::{Api, Backend, message_body};

const CYCLES: usize = 20;

/// xorshift64*: a small seeded generator so a failing run can be replayed with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The receiver: keeps a socket open, catches up over HTTP after its cursor on every
/// (re)connect, and records every message it is given, with duplicates.
async fn receive(
    base: watch::Receiver<String>,
    token: String,
    conversation: String,
    stop: watch::Receiver<bool>,
) -> Vec<(i64, String)> {
    let mut received: Vec<(i64, String)> = Vec::new();
    let mut cursor = 0i64;
    let take = |m: &Value, cursor: &mut i64, received: &mut Vec<(i64, String)>| {
        let seq = m["seq"].as_i64().unwrap_or(0);
        if seq > *cursor {
            received.push((seq, m["message_id"].as_str().unwrap_or_default().to_owned()));
            *cursor = seq;
        }
    };
    loop {
        if *stop.borrow() {
            // Final catch-up after the last restart.
            let api = Api::new(&base.borrow().clone());
            loop {
                let (status, page) = api
                    .get(
                        &format!(
                            "/api/v1/conversations/{conversation}/messages?after={cursor}&limit=500"
                        ),
                        &token,
                    )
                    .await;
                if status != reqwest::StatusCode::OK {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                for m in page["messages"].as_array().cloned().unwrap_or_default() {
                    take(&m, &mut cursor, &mut received);
                }
                if page["has_more"] != true {
                    return received;
                }
            }
        }
        let url = base.borrow().clone();
        let ws_url = format!(
            "{}/api/v1/ws?access_token={token}",
            url.replacen("http", "ws", 1)
        );
        let Ok(Ok((mut ws, _))) = tokio::time::timeout(
            Duration::from_secs(2),
            tokio_tungstenite::connect_async(&ws_url),
        )
        .await
        else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        // Socket first, then everything after the cursor over HTTP: no gap.
        let api = Api::new(&url);
        let mut caught_up = false;
        for _ in 0..100 {
            let (status, page) = api
                .get(
                    &format!(
                        "/api/v1/conversations/{conversation}/messages?after={cursor}&limit=500"
                    ),
                    &token,
                )
                .await;
            if status != reqwest::StatusCode::OK {
                break;
            }
            for m in page["messages"].as_array().cloned().unwrap_or_default() {
                take(&m, &mut cursor, &mut received);
            }
            if page["has_more"] != true {
                caught_up = true;
                break;
            }
        }
        if !caught_up {
            continue;
        }
        loop {
            tokio::select! {
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        if v["type"] == "message" {
                            let m = &v["message"];
                            // A frame after a gap means frames were lost: refetch from the cursor.
                            if m["seq"].as_i64().unwrap_or(0) > cursor + 1 {
                                break;
                            }
                            take(m, &mut cursor, &mut received);
                            let ack = serde_json::json!({"type": "ack", "conversation_id": conversation, "seq": cursor});
                            let _ = ws.send(Message::Text(ack.to_string().into())).await;
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                },
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    if *stop.borrow() { break; }
                }
            }
        }
    }
}

async fn kill_test(backend: Backend, seed: u64) {
    let storage = Storage::create(backend).await;
    let mut server = Zynkd::start(&storage, "127.0.0.1:0", &[]).await;
    let api = Api::new(&server.base_url);
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    let (base_tx, base_rx) = watch::channel(server.base_url.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let receiver = tokio::spawn(receive(
        base_rx,
        bob.access_token.clone(),
        conversation.clone(),
        stop_rx,
    ));
    let mut rng = Rng(seed);
    let mut acknowledged: Vec<(i64, String)> = Vec::new();
    let mut attempted = 0usize;
    let path = format!("/api/v1/conversations/{conversation}/messages");
    for cycle in 0..CYCLES {
        // Send a random number of messages, with a few concurrent sends in flight when the kill
        // comes, so some are cut off before, during or after their commit.
        let before_kill = 5 + rng.below(40) as usize;
        let api = Api::new(&server.base_url);
        for _ in 0..before_kill {
            let body = message_body(&format!("c{cycle}-{attempted}"));
            attempted += 1;
            let (status, reply) = api
                .call(Method::POST, &path, Some(&ann.access_token), Some(&body))
                .await;
            assert!(status.is_success(), "{status} {reply}");
            acknowledged.push((
                reply["message"]["seq"].as_i64().unwrap(),
                body["message_id"].as_str().unwrap().to_owned(),
            ));
        }
        let in_flight: Vec<_> = (0..1 + rng.below(8))
            .map(|i| {
                let (api, path, token) = (api.clone(), path.clone(), ann.access_token.clone());
                let body = message_body(&format!("c{cycle}-flight{i}"));
                tokio::spawn(async move {
                    let reply = tokio::time::timeout(
                        Duration::from_secs(10),
                        api.call(Method::POST, &path, Some(&token), Some(&body)),
                    )
                    .await;
                    match reply {
                        Ok((status, reply)) if status.is_success() => Some((
                            reply["message"]["seq"].as_i64().unwrap(),
                            body["message_id"].as_str().unwrap().to_owned(),
                        )),
                        _ => None,
                    }
                })
            })
            .collect();
        tokio::task::yield_now().await;
        server.kill9();
        for task in in_flight {
            // A send whose answer was cut off by the kill panics inside reqwest's future; both
            // a panic and an error mean "not acknowledged".
            if let Ok(Some(acked)) = task.await {
                acknowledged.push(acked);
            }
        }
        server = Zynkd::start(&storage, "127.0.0.1:0", &[]).await;
        let _ = base_tx.send(server.base_url.clone());
    }
    let _ = stop_tx.send(true);
    let received = tokio::time::timeout(Duration::from_secs(120), receiver)
        .await
        .expect("receiver finishes")
        .expect("receiver");
    // 1. Every acknowledged message is stored, with the sequence number it was acknowledged with.
    let api = Api::new(&server.base_url);
    let mut stored: BTreeMap<i64, String> = BTreeMap::new();
    let mut after = 0;
    loop {
        let (_, page) = api
            .get(
                &format!("{path}?after={after}&limit=500"),
                &bob.access_token,
            )
            .await;
        let messages = page["messages"].as_array().cloned().unwrap_or_default();
        for m in &messages {
            stored.insert(
                m["seq"].as_i64().unwrap(),
                m["message_id"].as_str().unwrap().to_owned(),
            );
            after = m["seq"].as_i64().unwrap();
        }
        if page["has_more"] != true {
            break;
        }
    }
    for (seq, id) in &acknowledged {
        assert_eq!(
            stored.get(seq),
            Some(id),
            "acknowledged message {id} (seq {seq}) lost (seed {seed})"
        );
    }
    assert!(acknowledged.len() >= CYCLES * 5);
    // 2. Sequence numbers are gapless: 1..=n.
    let seqs: Vec<i64> = stored.keys().copied().collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "gap in stored sequence (seed {seed})"
    );
    // 3. The receiver got every stored message exactly once, in order.
    let received_seqs: Vec<i64> = received.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        received_seqs, seqs,
        "receiver saw a gap, duplicate or reordering (seed {seed})"
    );
    let unique: HashSet<&String> = received.iter().map(|(_, id)| id).collect();
    assert_eq!(unique.len(), received.len());
    for (seq, id) in &received {
        assert_eq!(stored.get(seq), Some(id));
    }
}

fn seed() -> u64 {
    std::env::var("ZYNK_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let mut b = [0u8; 8];
            getrandom::fill(&mut b).expect("randomness");
            u64::from_le_bytes(b) | 1
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing_acknowledged_sqlite() {
    let seed = seed();
    eprintln!("ZYNK_KILL_SEED={seed}");
    kill_test(Backend::Embedded, seed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing_acknowledged_postgres_redis() {
    let seed = seed();
    eprintln!("ZYNK_KILL_SEED={seed}");
    kill_test(Backend::Scale, seed).await;
}
