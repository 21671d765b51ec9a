//! `GET /api/v1/users/me` round trips over keep-alive HTTP/1.1 connections.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::server::ServerProcess;
use crate::stats::{ms, percentile};

/// Runs the benchmark and prints its figures.
pub async fn run(
    server: &ServerProcess,
    connections: usize,
    seconds: u64,
    rate: u64,
) -> anyhow::Result<()> {
    let api = zynk_testkit::Api::new(&server.base_url);
    let user = api.register(&zynk_testkit::Api::username("bench")).await;
    let host = server.base_url.trim_start_matches("http://").to_owned();
    let warmup = Duration::from_secs(1);
    let start = Instant::now() + Duration::from_millis(200);
    let measure_from = start + warmup;
    let deadline = measure_from + Duration::from_secs(seconds);
    let period = (rate > 0).then(|| Duration::from_secs_f64(connections as f64 / rate as f64));
    let cpu_before = std::sync::Arc::new(std::sync::Mutex::new(None::<f64>));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (host, token) = (host.clone(), user.access_token.clone());
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(&host).await?;
            stream.set_nodelay(true)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            let mut latencies = Vec::new();
            let mut next = start;
            tokio::time::sleep_until(start.into()).await;
            loop {
                if let Some(period) = period {
                    tokio::time::sleep_until(next.into()).await;
                    next += period;
                }
                let sent = Instant::now();
                if sent >= deadline {
                    break;
                }
                let request = hyper::Request::get("/api/v1/users/me")
                    .header("host", &host)
                    .header("authorization", format!("Bearer {token}"))
                    .body(Empty::<Bytes>::new())?;
                let response = sender.send_request(request).await?;
                let ok = response.status().is_success();
                let _ = response.into_body().collect().await?;
                anyhow::ensure!(ok, "request failed");
                if sent >= measure_from {
                    latencies.push(sent.elapsed().as_micros() as u64);
                }
            }
            anyhow::Ok(latencies)
        }));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    *cpu_before.lock().map_err(|_| anyhow::anyhow!("lock"))? = Some(server.cpu_seconds());
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let cpu = server.cpu_seconds()
        - cpu_before
            .lock()
            .map_err(|_| anyhow::anyhow!("lock"))?
            .unwrap_or(0.0);
    all.sort_unstable();
    let (_, peak) = server.memory_kib();
    println!(
        "http GET /api/v1/users/me: connections={connections} offered={} seconds={seconds}",
        if rate == 0 {
            "max".to_owned()
        } else {
            format!("{rate}/s")
        }
    );
    println!(
        "  requests={} throughput={:.0} req/s p50={} p99={} max={} server_cpu={:.1}s peak_rss={} MiB",
        all.len(),
        all.len() as f64 / seconds as f64,
        ms(percentile(&all, 50.0)),
        ms(percentile(&all, 99.0)),
        ms(all.last().copied().unwrap_or(0)),
        cpu,
        peak / 1024
    );
    Ok(())
}
