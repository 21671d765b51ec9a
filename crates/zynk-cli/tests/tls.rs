//! `zynk` over TLS: a server behind a TLS-terminating proxy (as deployed behind a reverse proxy)
//! whose certificate comes from a private certificate authority. With `--ca-file` two users
//! register, exchange messages over https:// and receive them live over wss://; without it the
//! certificate is refused and nothing is sent in the clear.

mod common;

use std::net::SocketAddr;

use zynk_testkit::{Backend, TestServer, TlsProxy, backend_tests};

use common::{Device, PASSWORD, username};

backend_tests!(messages_travel_over_https_and_wss_with_a_private_ca);

async fn messages_travel_over_https_and_wss_with_a_private_ca(backend: Backend) {
    let server = TestServer::start(backend).await;
    let upstream: SocketAddr = server
        .base_url
        .trim_start_matches("http://")
        .parse()
        .expect("server address");
    let proxy = TlsProxy::start(upstream).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &proxy.ca_pem).expect("CA file");
    let (alice, bob) = (username("alice"), username("bob"));

    // The system's roots do not include the private CA: refused, nothing registered.
    let stranger = Device::at(&proxy.url, None);
    let error = stranger.fails_with(PASSWORD, &["register", &alice]).await;
    assert!(
        error.contains("cannot reach the server") && error.contains("certificate"),
        "{error}"
    );
    // A CA file that holds no certificate is an error of its own.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").expect("file");
    let error = Device::at(&proxy.url, Some(&empty))
        .fails_with(PASSWORD, &["register", &alice])
        .await;
    assert!(error.contains("CA file"), "{error}");

    let alice1 = Device::at(&proxy.url, Some(&ca_file));
    alice1.ok(&["register", &alice]).await;
    let bob1 = Device::at(&proxy.url, Some(&ca_file));
    bob1.ok(&["register", &bob]).await;
    let first = alice1.send(&["send", &bob, "over https"]).await;

    let mut listener = bob1.spawn(&["listen", "--json"]);
    listener.stderr_line("listening").await;
    let line = listener
        .json_line("the earlier message", |v| v["id"] == first.as_str())
        .await;
    assert_eq!(line["text"], "over https");
    let live = alice1.send(&["send", &bob, "live over wss"]).await;
    let line = listener
        .json_line("the live message", |v| v["id"] == live.as_str())
        .await;
    assert_eq!(line["text"], "live over wss");
    listener.stop().await;

    let texts: Vec<serde_json::Value> = bob1
        .messages(&alice)
        .await
        .into_iter()
        .map(|item| item["text"].clone())
        .collect();
    assert_eq!(texts, vec!["over https", "live over wss"]);
}
