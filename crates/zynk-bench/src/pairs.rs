//! The one-core pairs workload (issue 15): sender/receiver pairs, one 1:1 conversation each,
//! every socket connected before timing starts; 100-byte ciphertexts carrying the pair, a
//! sequence number and the send time; time-ordered message ids; receivers acknowledge every
//! 100 messages.
//!
//! 1. Throughput: closed loop, at most `window` undelivered messages per pair (a slot frees
//!    when the receiver gets the message, not when the sender gets `sent`), `per_pair`
//!    messages per pair; delivered messages per second and per server CPU-second.
//! 2. Latency: open loop at each rate (messages per second in total, round-robin over the
//!    pairs) for `seconds`; p50/p99/max from the scheduled send time to receipt (a sender that
//!    falls behind its schedule counts the lag).
//! 3. Order: frames that reach a receiver out of their pair's send order, over all phases.
//! 4. Memory: RSS of the fresh idle server, peak RSS at the end.
//!
//! With `prefill`, the database first gets that many stored messages, written directly with
//! SQL (one conversation, time-ordered ids, 100-byte contents), and the bytes on disk each
//! costs are reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;
use zynk_testkit::Api;

use crate::server::ServerProcess;
use crate::stats::{ms, percentile};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Sink = SplitSink<Socket, Message>;

/// Ciphertext bytes per message.
const SIZE: usize = 100;

/// What the workload runs.
pub struct Options {
    pub pairs: usize,
    pub per_pair: usize,
    pub window: usize,
    pub rates: Vec<u64>,
    pub seconds: u64,
    pub prefill: u64,
}

/// One phase's receipts.
#[derive(Default)]
struct Phase {
    delivered: AtomicU64,
    sent: AtomicU64,
    latencies: std::sync::Mutex<Vec<u64>>,
}

/// What every task shares.
struct Shared {
    epoch: Instant,
    phases: Vec<Phase>,
    out_of_order: AtomicU64,
}

struct Pair {
    conversation: Uuid,
    sink: Mutex<Sink>,
    /// Undelivered-message slots of the closed loop.
    slots: Semaphore,
    /// The pair's next sequence number.
    next_seq: AtomicU64,
}

/// Encodes a `send` frame carrying (pair, seq, phase, send time in ns since the epoch).
fn send_frame(pair: u32, seq: u64, phase: u32, at_ns: u64, conversation: Uuid) -> String {
    let mut body = [0u8; SIZE];
    body[0..4].copy_from_slice(&pair.to_le_bytes());
    body[4..12].copy_from_slice(&seq.to_le_bytes());
    body[12..20].copy_from_slice(&at_ns.to_le_bytes());
    body[20..24].copy_from_slice(&phase.to_le_bytes());
    // The rest stands for ciphertext.
    for (i, b) in body[24..].iter_mut().enumerate() {
        *b = (seq as usize).wrapping_mul(31).wrapping_add(i) as u8;
    }
    let content = base64::engine::general_purpose::STANDARD.encode(body);
    let hash = hex::encode(Sha256::digest(body));
    let id = Uuid::now_v7();
    format!(
        r#"{{"type":"send","request_id":"{seq}","conversation_id":"{conversation}","message":{{"message_id":"{id}","encrypted_content":"{content}","content_hash":"{hash}","message_type":"text"}}}}"#
    )
}

#[derive(serde::Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: String,
    message: Option<IncomingMessage>,
}

#[derive(serde::Deserialize)]
struct IncomingMessage {
    conversation_id: Uuid,
    seq: i64,
    encrypted_content: String,
}

fn ws_url(base: &str, token: &str) -> String {
    format!(
        "{}/api/v1/ws?access_token={token}",
        base.replacen("http", "ws", 1)
    )
}

async fn connect(base: &str, token: &str) -> anyhow::Result<Socket> {
    let (ws, _) =
        tokio_tungstenite::connect_async_with_config(ws_url(base, token), None, true).await?;
    Ok(ws)
}

/// Reads a receiver's socket: records latency and order, frees closed-loop slots, acknowledges
/// every 100 messages.
async fn receive(
    mut stream: SplitStream<Socket>,
    mut sink: Sink,
    pair: Arc<Pair>,
    shared: Arc<Shared>,
) {
    let mut last_seq: Option<u64> = None;
    let mut count = 0u64;
    while let Some(Ok(frame)) = stream.next().await {
        let Message::Text(text) = frame else { continue };
        let Ok(Incoming {
            kind,
            message: Some(message),
        }) = serde_json::from_str::<Incoming>(&text)
        else {
            continue;
        };
        if kind != "message" || message.conversation_id != pair.conversation {
            continue;
        }
        let now = shared.epoch.elapsed().as_nanos() as u64;
        let Ok(body) = base64::engine::general_purpose::STANDARD.decode(&message.encrypted_content)
        else {
            continue;
        };
        if body.len() != SIZE {
            continue;
        }
        let word =
            |from: usize| u64::from_le_bytes(body[from..from + 8].try_into().unwrap_or_default());
        let (seq, at) = (word(4), word(12));
        let phase = u32::from_le_bytes(body[20..24].try_into().unwrap_or_default()) as usize;
        if last_seq.is_some_and(|last| seq <= last) {
            shared.out_of_order.fetch_add(1, Ordering::Relaxed);
        }
        last_seq = Some(last_seq.map_or(seq, |l| l.max(seq)));
        pair.slots.add_permits(1);
        if let Some(phase) = shared.phases.get(phase) {
            phase.delivered.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut l) = phase.latencies.lock() {
                l.push(now.saturating_sub(at) / 1000);
            }
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
}

/// Sizes of the database's files (SQLite) or the database (PostgreSQL), in bytes.
async fn database_bytes(url: &str) -> anyhow::Result<u64> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let pool = sqlx::SqlitePool::connect(url).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&pool)
            .await?;
        pool.close().await;
        let mut total = 0;
        for suffix in ["", "-wal", "-shm"] {
            total += std::fs::metadata(format!("{path}{suffix}")).map_or(0, |m| m.len());
        }
        Ok(total)
    } else {
        let pool = sqlx::PgPool::connect(url).await?;
        sqlx::query("CHECKPOINT").execute(&pool).await.ok();
        let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
            .fetch_one(&pool)
            .await?;
        pool.close().await;
        Ok(size as u64)
    }
}

/// Stores `count` messages directly in the conversation of the one message stored so far,
/// in chunks of one transaction each.
async fn prefill(url: &str, count: u64) -> anyhow::Result<()> {
    const CHUNK: u64 = 500_000;
    let started = Instant::now();
    let mut done = 0;
    if url.starts_with("sqlite://") {
        let pool = sqlx::SqlitePool::connect(url).await?;
        while done < count {
            let n = CHUNK.min(count - done);
            let mut tx = pool.begin().await?;
            let series = format!(
                "WITH RECURSIVE n(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM n WHERE i < {last}) ",
                first = done + 1,
                last = done + n
            );
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{series} INSERT INTO message_refs (id, conversation_id, seq, sender_id, created_at) \
                 SELECT unhex(printf('%012x7000%016x', 1500000000000 + i / 100, i)), \
                 t.conversation_id, t.seq + i, t.sender_id, t.created_at \
                 FROM n, (SELECT * FROM message_refs ORDER BY seq LIMIT 1) t"
            )))
            .execute(&mut *tx)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{series} INSERT INTO messages (id, conversation_id, seq, sender_id, \
                 sender_device_id, encrypted_content, content_hash, message_type, metadata, \
                 status, created_at) \
                 SELECT unhex(printf('%012x7000%016x', 1500000000000 + i / 100, i)), \
                 t.conversation_id, t.seq + i, t.sender_id, t.sender_device_id, randomblob(100), \
                 lower(hex(randomblob(32))), 'text', t.metadata, 'sent', t.created_at \
                 FROM n, (SELECT * FROM messages ORDER BY seq LIMIT 1) t"
            )))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            done += n;
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE conversations SET last_seq = last_seq + {count} \
             WHERE id = (SELECT conversation_id FROM message_refs ORDER BY seq LIMIT 1)"
        )))
        .execute(&pool)
        .await?;
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await?;
        while done < count {
            let n = CHUNK.min(count - done);
            let mut tx = pool.begin().await?;
            let id = "(lpad(to_hex(1500000000000 + i / 100), 12, '0') || '7000' || lpad(to_hex(i), 16, '0'))::uuid";
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO message_refs (id, conversation_id, seq, sender_id, created_at) \
                 SELECT {id}, t.conversation_id, t.seq + i, t.sender_id, t.created_at \
                 FROM generate_series({first}::bigint, {last}::bigint) i, \
                 (SELECT * FROM message_refs ORDER BY seq LIMIT 1) t",
                first = done + 1,
                last = done + n
            )))
            .execute(&mut *tx)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO messages (id, conversation_id, seq, sender_id, sender_device_id, \
                 encrypted_content, content_hash, message_type, metadata, status, created_at) \
                 SELECT {id}, t.conversation_id, t.seq + i, t.sender_id, t.sender_device_id, \
                 substring(decode(repeat(md5(i::text), 7), 'hex') from 1 for 100), \
                 md5(i::text) || md5((i + 1)::text), 'text', t.metadata, 'sent', t.created_at \
                 FROM generate_series({first}::bigint, {last}::bigint) i, \
                 (SELECT * FROM messages ORDER BY seq LIMIT 1) t",
                first = done + 1,
                last = done + n
            )))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            done += n;
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE conversations SET last_seq = last_seq + {count} \
             WHERE id = (SELECT conversation_id FROM message_refs ORDER BY seq LIMIT 1)"
        )))
        .execute(&pool)
        .await?;
        sqlx::query("VACUUM ANALYZE").execute(&pool).await.ok();
        pool.close().await;
    }
    println!(
        "prefill: {count} messages stored directly in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs the workload and prints its figures.
pub async fn run(server: &ServerProcess, options: Options) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle_rss, _) = server.memory_kib();
    println!(
        "  idle fresh server: rss={:.1} MiB",
        idle_rss as f64 / 1024.0
    );
    let api = Api::new(&server.base_url);
    if options.prefill > 0 {
        let a = api.register(&Api::username("fill_a")).await;
        let b = api.register(&Api::username("fill_b")).await;
        let conversation = api.open_conversation(&a.access_token, &b.user_id).await;
        api.send_message(
            &a.access_token,
            &conversation,
            zynk_testkit::message_body("first"),
        )
        .await;
        let url = server.database_url();
        let before = database_bytes(&url).await?;
        prefill(&url, options.prefill).await?;
        let after = database_bytes(&url).await?;
        println!(
            "  on disk: {:.0} bytes per stored message ({} MiB for {} messages)",
            after.saturating_sub(before) as f64 / options.prefill as f64,
            after.saturating_sub(before) / (1024 * 1024),
            options.prefill
        );
    }
    let phase_count = 1 + options.rates.len();
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        phases: (0..phase_count).map(|_| Phase::default()).collect(),
        out_of_order: AtomicU64::new(0),
    });
    // Accounts, conversations, then every socket, before any timing.
    let mut pairs = Vec::with_capacity(options.pairs);
    let mut tasks = Vec::new();
    for _ in 0..options.pairs {
        let a = api.register(&Api::username("pa")).await;
        let b = api.register(&Api::username("pb")).await;
        let conversation: Uuid = api
            .open_conversation(&a.access_token, &b.user_id)
            .await
            .parse()?;
        let (a_sink, mut a_stream) = connect(&server.base_url, &a.access_token).await?.split();
        let (b_sink, b_stream) = connect(&server.base_url, &b.access_token).await?.split();
        let pair = Arc::new(Pair {
            conversation,
            sink: Mutex::new(a_sink),
            slots: Semaphore::new(options.window),
            next_seq: AtomicU64::new(1),
        });
        // The sender's own socket: `sent` answers; any error fails the run.
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(frame)) = a_stream.next().await {
                if let Message::Text(text) = frame
                    && text.contains("\"type\":\"error\"")
                {
                    eprintln!("send refused: {text}");
                }
            }
        }));
        tasks.push(tokio::spawn(receive(
            b_stream,
            b_sink,
            pair.clone(),
            shared.clone(),
        )));
        pairs.push(pair);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!(
        "  {} pairs, {} sockets connected; server rss={:.1} MiB",
        options.pairs,
        options.pairs * 2,
        server.memory_kib().0 as f64 / 1024.0
    );

    // 1. Throughput, closed loop.
    let total = (options.pairs * options.per_pair) as u64;
    let cpu_before = server.cpu_seconds();
    let started = Instant::now();
    let senders: Vec<_> = pairs
        .iter()
        .enumerate()
        .map(|(i, pair)| {
            let (pair, shared, per_pair) = (pair.clone(), shared.clone(), options.per_pair);
            tokio::spawn(async move {
                let mut sink = pair.sink.lock().await;
                for _ in 0..per_pair {
                    pair.slots.acquire().await?.forget();
                    let seq = pair.next_seq.fetch_add(1, Ordering::Relaxed);
                    let at = shared.epoch.elapsed().as_nanos() as u64;
                    let frame = send_frame(i as u32, seq, 0, at, pair.conversation);
                    shared.phases[0].sent.fetch_add(1, Ordering::Relaxed);
                    if pair.slots.available_permits() > 0 {
                        sink.feed(Message::Text(frame.into())).await?;
                    } else {
                        sink.send(Message::Text(frame.into())).await?;
                    }
                }
                sink.flush().await?;
                anyhow::Ok(())
            })
        })
        .collect();
    for sender in senders {
        sender.await??;
    }
    let phase = &shared.phases[0];
    let limit = Instant::now() + Duration::from_secs(60);
    while phase.delivered.load(Ordering::Relaxed) < total && Instant::now() < limit {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = server.cpu_seconds() - cpu_before;
    let delivered = phase.delivered.load(Ordering::Relaxed);
    println!(
        "  throughput (closed loop, window {} undelivered, {} per pair): delivered={delivered}/{total} in {secs:.2}s = {:.0} msg/s; server cpu={cpu:.2}s = {:.0} msg per cpu-second",
        options.window,
        options.per_pair,
        delivered as f64 / secs,
        delivered as f64 / cpu.max(0.01)
    );

    // 2. Latency, open loop at each rate.
    for (k, &rate) in options.rates.iter().enumerate() {
        let index = k + 1;
        if rate == 0 {
            continue;
        }
        let period = Duration::from_secs_f64(options.pairs as f64 / rate as f64);
        let step = Duration::from_secs_f64(1.0 / rate as f64);
        let start = Instant::now() + Duration::from_millis(200);
        let end = start + Duration::from_secs(options.seconds);
        let cpu_before = server.cpu_seconds();
        let senders: Vec<_> = pairs
            .iter()
            .enumerate()
            .map(|(i, pair)| {
                let (pair, shared) = (pair.clone(), shared.clone());
                tokio::spawn(async move {
                    let mut sink = pair.sink.lock().await;
                    let mut next = start + step * i as u32;
                    while next < end {
                        tokio::time::sleep_until(next.into()).await;
                        let seq = pair.next_seq.fetch_add(1, Ordering::Relaxed);
                        // The scheduled time: a late send counts its lag.
                        let at = next.duration_since(shared.epoch).as_nanos() as u64;
                        let frame = send_frame(i as u32, seq, index as u32, at, pair.conversation);
                        shared.phases[index].sent.fetch_add(1, Ordering::Relaxed);
                        sink.send(Message::Text(frame.into())).await?;
                        next += period;
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        for sender in senders {
            sender.await??;
        }
        let phase = &shared.phases[index];
        let sent = phase.sent.load(Ordering::Relaxed);
        let limit = Instant::now() + Duration::from_secs(10);
        while phase.delivered.load(Ordering::Relaxed) < sent && Instant::now() < limit {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let cpu = server.cpu_seconds() - cpu_before;
        let elapsed = start.elapsed().as_secs_f64();
        let mut all = phase
            .latencies
            .lock()
            .map_err(|_| anyhow::anyhow!("lock"))?
            .clone();
        all.sort_unstable();
        println!(
            "  open loop {rate} msg/s for {}s: delivered={}/{sent} p50={} p99={} max={} server cpu={:.2} cores",
            options.seconds,
            phase.delivered.load(Ordering::Relaxed),
            ms(percentile(&all, 50.0)),
            ms(percentile(&all, 99.0)),
            ms(all.last().copied().unwrap_or(0)),
            cpu / elapsed
        );
    }
    let (rss, peak) = server.memory_kib();
    println!(
        "  out of order: {} live frames; rss={:.1} MiB peak_rss={:.1} MiB",
        shared.out_of_order.load(Ordering::Relaxed),
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    for task in tasks {
        task.abort();
    }
    Ok(())
}
