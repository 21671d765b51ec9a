//! The listener under abuse, on both backends: a flood of half-open connections from one
//! address leaves `/healthz` and other users' sends answering within a second; connections over
//! the caps (WebSockets counted) are refused with 503 `too_many_connections`; incomplete
//! headers, idle connections and slow requests time out.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zynk_testkit::{Api, Backend, TestServer, WsClient, backend_tests, message_body};

backend_tests!(
    half_open_flood_leaves_others_answering,
    caps_count_websockets_and_refuse_cleanly,
    slow_headers_idle_connections_and_slow_requests_time_out
);

/// Connections of the flood, split over two processes (one process may hold fewer
/// descriptors than that).
const FLOOD: usize = 25_000;
const FLOOD_PROCESSES: usize = 2;

struct Flood {
    child: Child,
    lines: BufReader<std::process::ChildStdout>,
}

impl Flood {
    fn start(addr: &str, source: &str, count: usize) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_zynk-flood"))
            .args([addr, source, &count.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start zynk-flood");
        let lines = BufReader::new(child.stdout.take().expect("stdout"));
        Self { child, lines }
    }

    fn report(&mut self) -> Value {
        let mut line = String::new();
        self.lines.read_line(&mut line).expect("flood report");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("report {line:?}: {e}"))
    }

    fn recheck(&mut self) -> Value {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(b"check\n").expect("ask flood");
        stdin.flush().expect("flush");
        self.report()
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn field(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {report}"))
}

/// A source address on the loopback network other than 127.0.0.1 (where the test's own
/// clients come from), different per test.
fn flood_source() -> String {
    let mut bytes = [0u8; 2];
    getrandom::fill(&mut bytes).expect("randomness");
    format!("127.0.{}.{}", 1 + bytes[0] % 250, 2 + bytes[1] % 250)
}

async fn half_open_flood_leaves_others_answering(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.connections.header_read_timeout_secs = 3;
    })
    .await;
    let per_address = server.config.connections.max_connections_per_address;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let ben = api.register(&Api::username("ben")).await;
    let conversation = api.open_conversation(&ann.access_token, &ben.user_id).await;
    let addr = server.base_url.trim_start_matches("http://").to_owned();
    let source = flood_source();

    // Fresh connections for every probe: accepting must keep working during the flood.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let healthz = format!("{}/healthz", server.base_url);
    let send_url = format!(
        "{}/api/v1/conversations/{conversation}/messages",
        server.base_url
    );
    let probe = {
        let (fresh, healthz, send_url, token) = (
            fresh.clone(),
            healthz.clone(),
            send_url.clone(),
            ann.access_token.clone(),
        );
        move || {
            let (fresh, healthz, send_url, token) = (
                fresh.clone(),
                healthz.clone(),
                send_url.clone(),
                token.clone(),
            );
            async move {
                let started = Instant::now();
                let health = fresh.get(&healthz).send().await.map(|r| r.status());
                let health_time = started.elapsed();
                let started = Instant::now();
                let sent = fresh
                    .post(&send_url)
                    .bearer_auth(&token)
                    .json(&message_body("during the flood"))
                    .send()
                    .await
                    .map(|r| r.status());
                (health, health_time, sent, started.elapsed())
            }
        }
    };

    let floods: Vec<Flood> = (0..FLOOD_PROCESSES)
        .map(|_| Flood::start(&addr, &source, FLOOD / FLOOD_PROCESSES))
        .collect();
    // Probe while the flood connects, until every flood process has reported.
    let reports = tokio::task::spawn_blocking(move || {
        let mut floods = floods;
        let reports: Vec<Value> = floods.iter_mut().map(Flood::report).collect();
        (floods, reports)
    });
    tokio::pin!(reports);
    let mut probes = 0;
    let (mut floods, reports) = loop {
        tokio::select! {
            done = &mut reports => break done.expect("flood reports"),
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                let (health, health_time, sent, send_time) = probe().await;
                assert_eq!(health.expect("healthz answers"), reqwest::StatusCode::OK);
                assert_eq!(sent.expect("send answers"), reqwest::StatusCode::CREATED);
                assert!(health_time < Duration::from_secs(1), "healthz took {health_time:?}");
                assert!(send_time < Duration::from_secs(1), "send took {send_time:?}");
                probes += 1;
                eprintln!("probe: healthz {health_time:?}, send {send_time:?}");
            }
        }
    };
    for _ in 0..5 {
        let (health, health_time, sent, send_time) = probe().await;
        assert_eq!(health.expect("healthz answers"), reqwest::StatusCode::OK);
        assert_eq!(sent.expect("send answers"), reqwest::StatusCode::CREATED);
        assert!(
            health_time < Duration::from_secs(1),
            "healthz took {health_time:?}"
        );
        assert!(
            send_time < Duration::from_secs(1),
            "send took {send_time:?}"
        );
        probes += 1;
    }
    assert!(probes >= 5, "{probes} probes");
    let sum = |key: &str| reports.iter().map(|r| field(r, key)).sum::<u64>();
    assert_eq!(sum("connected"), FLOOD as u64, "{reports:?}");
    assert_eq!(sum("connect_failed"), 0, "{reports:?}");
    assert!(sum("open") <= per_address as u64, "{reports:?}");
    assert!(
        sum("refused") >= (FLOOD - per_address) as u64,
        "{reports:?}"
    );

    // The held ones are closed once their header-read time is up.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rechecks: Vec<Value> = tokio::task::spawn_blocking(move || {
        floods.iter_mut().map(Flood::recheck).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let open: u64 = rechecks.iter().map(|r| field(r, "open")).sum();
    assert_eq!(open, 0, "{rechecks:?}");
}

/// Reads what the server answers on `stream` until it closes (bounded).
async fn read_all(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

async fn caps_count_websockets_and_refuse_cleanly(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.connections.max_connections_per_address = 3;
    })
    .await;
    // Registered on a client of its own whose pooled connection closes with it.
    let ann = server.api().register(&Api::username("ann")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let addr = server.base_url.trim_start_matches("http://").to_owned();
    // Three WebSockets fill this address's share.
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(WsClient::connect(&server.base_url, &ann.access_token).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(&addr).await.unwrap();
    extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_all(&mut extra).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 1"), "{answer}");
    assert!(answer.contains("\"too_many_connections\""), "{answer}");
    // Closing one WebSocket frees its place.
    drop(sockets.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut next = TcpStream::connect(&addr).await.unwrap();
        next.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = read_all(&mut next).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "place not freed: {answer}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn slow_headers_idle_connections_and_slow_requests_time_out(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.connections.header_read_timeout_secs = 1;
        c.connections.idle_timeout_secs = 2;
        c.connections.request_timeout_secs = 1;
    })
    .await;
    let addr = server.base_url.trim_start_matches("http://").to_owned();
    // Headers never finished: closed after the header-read timeout.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_all(&mut slow).await;
    assert!(started.elapsed() < Duration::from_secs(4), "{answer}");
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");

    // A body that never arrives: 503 request_timeout after the request timeout.
    let mut trickle = TcpStream::connect(&addr).await.unwrap();
    trickle
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"username\":",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), trickle.read(&mut buf))
        .await
        .expect("answered in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(started.elapsed() < Duration::from_secs(4), "{answer}");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");

    // A kept-alive connection with nothing more to say is closed.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    let rest = tokio::time::timeout(Duration::from_secs(8), idle.read(&mut buf))
        .await
        .expect("idle connection closed");
    assert!(matches!(rest, Ok(0) | Err(_)), "{rest:?}");
    assert!(started.elapsed() < Duration::from_secs(6));
}
