//! WebSocket message exchange between client pairs, and idle-connection memory.

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

/// The parts of a server frame the receivers read.
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

/// Connects a WebSocket with TCP_NODELAY (small frames must not wait for Nagle's algorithm).
async fn connect(
    url: String,
) -> anyhow::Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
> {
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
    Ok(ws)
}

fn ws_url(base: &str, token: &str) -> String {
    format!(
        "{}/api/v1/ws?access_token={token}",
        base.replacen("http", "ws", 1)
    )
}

/// Runs the exchange and prints its figures.
pub async fn run(
    server: &ServerProcess,
    pairs: usize,
    seconds: u64,
    rate: u64,
    size: usize,
    window: usize,
    random_ids: bool,
) -> anyhow::Result<()> {
    let api = Api::new(&server.base_url);
    let mut ciphertext = vec![0u8; size];
    getrandom::fill(&mut ciphertext).map_err(|e| anyhow::anyhow!("{e}"))?;
    let content = Arc::new(base64::engine::general_purpose::STANDARD.encode(&ciphertext));
    let hash = Arc::new(hex::encode(Sha256::digest(&ciphertext)));
    let sent_at: Arc<DashMap<Uuid, Instant>> = Arc::default();
    let delivered = Arc::new(AtomicU64::new(0));
    let latencies: Arc<std::sync::Mutex<Vec<u64>>> = Arc::default();
    let start = Instant::now() + Duration::from_secs(2);
    let measure_from = start + Duration::from_secs(1);
    let deadline = measure_from + Duration::from_secs(seconds);
    let period = (rate > 0).then(|| Duration::from_secs_f64(pairs as f64 / rate as f64));
    let mut tasks = Vec::new();
    for _ in 0..pairs {
        let a = api.register(&Api::username("wa")).await;
        let b = api.register(&Api::username("wb")).await;
        let conversation = api.open_conversation(&a.access_token, &b.user_id).await;
        let a_ws = connect(ws_url(&server.base_url, &a.access_token)).await?;
        let b_ws = connect(ws_url(&server.base_url, &b.access_token)).await?;
        let (mut a_sink, mut a_stream) = a_ws.split();
        let (mut b_sink, mut b_stream) = b_ws.split();
        let permits = Arc::new(Semaphore::new(window.max(1)));
        // Sender: pipelined `send` frames.
        {
            let (permits, content, hash, sent_at) = (
                permits.clone(),
                content.clone(),
                hash.clone(),
                sent_at.clone(),
            );
            let conversation = conversation.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(start.into()).await;
                let mut next = start;
                let mut n = 0u64;
                loop {
                    if let Some(period) = period {
                        tokio::time::sleep_until(next.into()).await;
                        next += period;
                    } else {
                        permits.acquire().await?.forget();
                    }
                    if Instant::now() >= deadline {
                        break;
                    }
                    // Time-ordered ids, as the Zynk client makes them (or random ones).
                    let id = if random_ids { Uuid::new_v4() } else { Uuid::now_v7() };
                    n += 1;
                    let frame = format!(
                        r#"{{"type":"send","request_id":"{n}","conversation_id":"{conversation}","message":{{"message_id":"{id}","encrypted_content":"{content}","content_hash":"{hash}","message_type":"text"}}}}"#
                    );
                    sent_at.insert(id, Instant::now());
                    // Frames go out together while the window allows more at once.
                    a_sink.feed(Message::Text(frame.into())).await?;
                    let more = period.is_none() && permits.available_permits() > 0;
                    if !more {
                        a_sink.flush().await?;
                    }
                }
                let _ = a_sink.close().await;
                anyhow::Ok(())
            }));
        }
        // The sender's own socket: `sent` answers free the window; echoes are ignored.
        {
            let permits = permits.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(Ok(frame)) = a_stream.next().await {
                    if let Message::Text(text) = frame
                        && text.contains("\"type\":\"sent\"")
                    {
                        permits.add_permits(1);
                    }
                }
                anyhow::Ok(())
            }));
        }
        // Receiver: counts deliveries, measures latency, acknowledges every 100 messages.
        {
            let (sent_at, delivered, latencies) =
                (sent_at.clone(), delivered.clone(), latencies.clone());
            tasks.push(tokio::spawn(async move {
                let mut local = Vec::new();
                let mut count = 0u64;
                while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(
                    (deadline + Duration::from_secs(2)).into(),
                    b_stream.next(),
                )
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
                    if let Some((_, sent)) = sent_at.remove(&message.message_id)
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
                        let _ = b_sink.send(Message::Text(ack.into())).await;
                    }
                }
                if let Ok(mut all) = latencies.lock() {
                    all.extend(local);
                }
                anyhow::Ok(())
            }));
        }
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
    println!(
        "ws exchange: pairs={pairs} ciphertext={size} B offered={} seconds={seconds} ids={}",
        if rate == 0 {
            format!("max (window {window})")
        } else {
            format!("{rate}/s")
        },
        if random_ids {
            "random (v4)"
        } else {
            "time-ordered (v7)"
        }
    );
    println!(
        "  delivered={count} throughput={:.0} msg/s p50={} p90={} p99={} p99.9={} max={} server_cpu={:.1}s peak_rss={} MiB",
        count as f64 / seconds as f64,
        ms(percentile(&all, 50.0)),
        ms(percentile(&all, 90.0)),
        ms(percentile(&all, 99.0)),
        ms(percentile(&all, 99.9)),
        ms(all.last().copied().unwrap_or(0)),
        cpu,
        peak / 1024
    );
    Ok(())
}

/// Opens `connections` idle WebSockets and reports the server memory they cost.
pub async fn idle(server: &ServerProcess, connections: usize) -> anyhow::Result<()> {
    let api = Api::new(&server.base_url);
    let users: Vec<_> = {
        let mut users = Vec::new();
        for _ in 0..10 {
            users.push(api.register(&Api::username("idle")).await.access_token);
        }
        users
    };
    // Warm the server up with a few connections so one-time allocations are not counted.
    let mut sockets = Vec::with_capacity(connections);
    for token in &users {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&server.base_url, token)).await?;
        ws.next().await;
        sockets.push(ws);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (before, _) = server.memory_kib();
    let opened = Instant::now();
    for chunk in (0..connections).collect::<Vec<_>>().chunks(250) {
        let batch = futures::future::join_all(chunk.iter().map(|i| {
            let url = ws_url(&server.base_url, &users[i % users.len()]);
            async move {
                let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
                ws.next().await;
                anyhow::Ok(ws)
            }
        }))
        .await;
        for ws in batch {
            sockets.push(ws?);
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (after, peak) = server.memory_kib();
    let per = (after.saturating_sub(before) as f64 * 1024.0) / connections as f64;
    println!(
        "idle websockets: connections={connections} opened in {:.1}s",
        opened.elapsed().as_secs_f64()
    );
    println!(
        "  server rss before={} MiB after={} MiB peak={} MiB per_connection={:.1} KiB",
        before / 1024,
        after / 1024,
        peak / 1024,
        per / 1024.0
    );
    drop(sockets);
    Ok(())
}
