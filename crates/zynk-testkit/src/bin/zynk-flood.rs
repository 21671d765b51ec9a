//! Opens many half-open HTTP connections to a server from one source address, for the
//! connection-flood test: each sends the start of a request's headers and never finishes them.
//!
//! `zynk-flood HOST:PORT SOURCE_IP COUNT` connects `COUNT` sockets bound to `SOURCE_IP`, then
//! prints one JSON line `{"connected", "connect_failed", "refused", "open"}`: `refused` counts
//! connections the server answered or closed, `open` those it still holds. Each line read on
//! stdin prints the classification again; stdin closing ends the process.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

const PARTIAL_REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: flood\r\nX-Slow: ";

fn classify(streams: &[TcpStream]) -> (usize, usize) {
    let (mut refused, mut open) = (0, 0);
    let mut buf = [0u8; 64];
    for stream in streams {
        match stream.try_read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => open += 1,
            _ => refused += 1,
        }
    }
    (refused, open)
}

async fn connect(target: SocketAddr, source: IpAddr) -> std::io::Result<TcpStream> {
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(source, 0))?;
    let mut stream =
        tokio::time::timeout(Duration::from_secs(10), socket.connect(target)).await??;
    // A refused connection may already be closed: a failed write still counts as connected.
    let _ = stream.write_all(PARTIAL_REQUEST).await;
    Ok(stream)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 4,
        "usage: zynk-flood HOST:PORT SOURCE_IP COUNT"
    );
    let target: SocketAddr = args[1].parse()?;
    let source: IpAddr = args[2].parse()?;
    let count: usize = args[3].parse()?;
    let mut streams = Vec::with_capacity(count);
    let mut failed = 0usize;
    let mut pending = futures::stream::FuturesUnordered::new();
    let mut started = 0;
    use futures::StreamExt;
    while started < count || !pending.is_empty() {
        while started < count && pending.len() < 256 {
            pending.push(connect(target, source));
            started += 1;
        }
        match pending.next().await {
            Some(Ok(stream)) => streams.push(stream),
            Some(Err(_)) => failed += 1,
            None => {}
        }
    }
    // Let the server's refusals arrive before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let report = |streams: &[TcpStream]| {
        let (refused, open) = classify(streams);
        serde_json::json!({
            "connected": streams.len(), "connect_failed": failed,
            "refused": refused, "open": open,
        })
    };
    println!("{}", report(&streams));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(_line) = lines.next_line().await? {
        println!("{}", report(&streams));
    }
    Ok(())
}
