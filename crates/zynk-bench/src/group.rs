//! One sender into a group whose members are all connected: delivered frames per second and
//! delivery latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use dashmap::DashMap;
use futures::{SinkExt, StreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;
use zynk_testkit::Api;

use crate::server::ServerProcess;
use crate::stats::{ms, percentile};

#[derive(serde::Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    message: Option<IncomingMessage>,
}

#[derive(serde::Deserialize)]
struct IncomingMessage {
    message_id: Uuid,
    conversation_id: Uuid,
    seq: i64,
}

fn ws_url(base: &str, token: &str) -> String {
    format!(
        "{}/api/v1/ws?access_token={token}",
        base.replacen("http", "ws", 1)
    )
}

/// Runs the fan-out and prints its figures.
pub async fn run(
    server: &ServerProcess,
    members: usize,
    seconds: u64,
    size: usize,
    window: usize,
) -> anyhow::Result<()> {
    anyhow::ensure!((2..=256).contains(&members), "members must be 2 to 256");
    let api = Api::new(&server.base_url);
    let mut ciphertext = vec![0u8; size];
    getrandom::fill(&mut ciphertext).map_err(|e| anyhow::anyhow!("{e}"))?;
    let content = base64::engine::general_purpose::STANDARD.encode(&ciphertext);
    let hash = hex::encode(Sha256::digest(&ciphertext));
    let mut users = Vec::with_capacity(members);
    for _ in 0..members {
        users.push(api.register(&Api::username("g")).await);
    }
    let others: Vec<&str> = users[1..].iter().map(|u| u.user_id.as_str()).collect();
    let (status, group) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/groups",
            Some(&users[0].access_token),
            Some(&serde_json::json!({"name": "bench", "members": others})),
        )
        .await;
    anyhow::ensure!(status.is_success(), "group not created: {group}");
    let conversation = group["conversation_id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no conversation id"))?
        .to_owned();
    let sent_at: Arc<DashMap<Uuid, Instant>> = Arc::default();
    let delivered = Arc::new(AtomicU64::new(0));
    let latencies: Arc<std::sync::Mutex<Vec<u64>>> = Arc::default();
    let start = Instant::now() + Duration::from_secs(2);
    let measure_from = start + Duration::from_secs(1);
    let deadline = measure_from + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    // Receivers: every member but the sender.
    for user in &users[1..] {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(
            ws_url(&server.base_url, &user.access_token),
            None,
            true,
        )
        .await?;
        let (mut sink, mut stream) = ws.split();
        let (sent_at, delivered, latencies) =
            (sent_at.clone(), delivered.clone(), latencies.clone());
        tasks.push(tokio::spawn(async move {
            let mut local = Vec::new();
            let mut count = 0u64;
            while let Ok(Some(Ok(frame))) =
                tokio::time::timeout_at((deadline + Duration::from_secs(3)).into(), stream.next())
                    .await
            {
                let Message::Text(text) = frame else { continue };
                let Ok(Incoming {
                    kind: "message",
                    message: Some(message),
                }) = serde_json::from_str::<Incoming>(&text)
                else {
                    continue;
                };
                let now = Instant::now();
                let sent = sent_at.get(&message.message_id).map(|s| *s);
                if let Some(sent) = sent
                    && sent >= measure_from
                    && now <= deadline
                {
                    local.push(now.duration_since(sent).as_micros() as u64);
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
                count += 1;
                if count.is_multiple_of(100) {
                    let ack = format!(
                        r#"{{"type":"ack","conversation_id":"{}","seq":{}}}"#,
                        message.conversation_id, message.seq
                    );
                    let _ = sink.send(Message::Text(ack.into())).await;
                }
            }
            if let Ok(mut all) = latencies.lock() {
                all.extend(local);
            }
            anyhow::Ok(())
        }));
    }
    // The sender: pipelined `send` frames, `window` in flight.
    let (ws, _) = tokio_tungstenite::connect_async_with_config(
        ws_url(&server.base_url, &users[0].access_token),
        None,
        true,
    )
    .await?;
    let (mut sink, mut stream) = ws.split();
    let permits = Arc::new(Semaphore::new(window.max(1)));
    let sent = Arc::new(AtomicU64::new(0));
    {
        let permits = permits.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                if let Message::Text(text) = frame
                    && text.contains("\"type\":\"sent\"")
                {
                    permits.add_permits(1);
                }
            }
            anyhow::Ok(())
        }));
    }
    {
        let (sent_at, sent) = (sent_at.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(start.into()).await;
            let mut n = 0u64;
            loop {
                permits.acquire().await?.forget();
                if Instant::now() >= deadline {
                    break;
                }
                let id = Uuid::now_v7();
                n += 1;
                let frame = format!(
                    r#"{{"type":"send","request_id":"{n}","conversation_id":"{conversation}","message":{{"message_id":"{id}","encrypted_content":"{content}","content_hash":"{hash}","message_type":"text"}}}}"#
                );
                let now = Instant::now();
                sent_at.insert(id, now);
                if now >= measure_from {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                sink.feed(Message::Text(frame.into())).await?;
                if permits.available_permits() == 0 {
                    sink.flush().await?;
                }
            }
            let _ = sink.close().await;
            anyhow::Ok(())
        }));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_before = server.cpu_seconds();
    tokio::time::sleep_until(deadline.into()).await;
    let cpu = server.cpu_seconds() - cpu_before;
    for task in tasks {
        task.await??;
    }
    let mut all = latencies
        .lock()
        .map_err(|_| anyhow::anyhow!("lock"))?
        .clone();
    all.sort_unstable();
    let (_, peak) = server.memory_kib();
    let count = delivered.load(Ordering::Relaxed);
    let messages = sent.load(Ordering::Relaxed);
    println!(
        "group fan-out: members={members} (all connected) ciphertext={size} B window={window} seconds={seconds}"
    );
    println!(
        "  messages={messages} ({:.0}/s) deliveries={count} ({:.0}/s) p50={} p90={} p99={} max={} server_cpu={:.1}s peak_rss={} MiB",
        messages as f64 / seconds as f64,
        count as f64 / seconds as f64,
        ms(percentile(&all, 50.0)),
        ms(percentile(&all, 90.0)),
        ms(percentile(&all, 99.0)),
        ms(all.last().copied().unwrap_or(0)),
        cpu,
        peak / 1024
    );
    Ok(())
}
