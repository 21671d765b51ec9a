//! The browser client as zynkd serves it, on both backends: the embedded build at `/` with a
//! strict Content-Security-Policy, client routes falling back to the page, the API's JSON 404
//! elsewhere; CORS off by default and limited to the configured origins; the WebSocket token
//! accepted in a subprotocol (what browsers use), refused when wrong.

use futures::StreamExt;
use reqwest::StatusCode;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use zynk_testkit::{Backend, TestServer, backend_tests};

backend_tests!(
    the_client_is_served_with_a_strict_policy,
    cors_is_off_unless_origins_are_configured,
    the_websocket_takes_the_token_in_a_subprotocol,
);

async fn the_client_is_served_with_a_strict_policy(backend: Backend) {
    let server = TestServer::start(backend).await;
    let http = reqwest::Client::new();
    let page = http.get(&server.base_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
        "{csp}"
    );
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    // No inline script: only module scripts from this origin.
    assert!(!html.contains("<script>"), "{html}");
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page loads a script");
    assert!(script.starts_with("/assets/"), "{script}");
    let js = http
        .get(format!("{}{script}", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(
        js.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let js = js.text().await.unwrap();
    let wasm = js
        .split(['"', '`', '\''])
        .find(|s| s.ends_with(".wasm"))
        .map(|s| s.trim_start_matches('.').trim_start_matches('/').to_owned())
        .expect("the script names its WebAssembly module");
    let wasm_url = if wasm.starts_with("assets/") {
        format!("{}/{wasm}", server.base_url)
    } else {
        format!("{}/assets/{wasm}", server.base_url)
    };
    let module = http.get(&wasm_url).send().await.unwrap();
    assert_eq!(module.status(), StatusCode::OK);
    assert_eq!(module.headers()["content-type"], "application/wasm");
    assert!(module.headers().get("content-encoding").is_none());
    let plain = module.bytes().await.unwrap();
    assert_eq!(&plain[..4], b"\0asm");
    // Browsers that accept gzip get the build's gzip copy: smaller, same type.
    let zipped = http
        .get(&wasm_url)
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert_eq!(zipped.headers()["content-type"], "application/wasm");
    let zipped = zipped.bytes().await.unwrap();
    assert_eq!(&zipped[..2], [0x1f, 0x8b]);
    assert!(
        zipped.len() < plain.len() / 2,
        "{} of {}",
        zipped.len(),
        plain.len()
    );
    // A client route gets the page; a missing asset and unknown API routes get the JSON 404.
    let route = http
        .get(format!("{}/conversations/x", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(route.status(), StatusCode::OK);
    assert!(route.text().await.unwrap().contains("<div id=\"app\">"));
    for path in ["/assets/missing.js", "/api/v1/nothing-here"] {
        let (status, body) = server
            .api()
            .call(reqwest::Method::GET, path, None, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"]["code"], "route_not_found", "{path}");
    }
    // Other methods than GET/HEAD outside the API are not pages.
    let post = http.post(&server.base_url).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::NOT_FOUND);
    // Disabled: no client.
    let off = TestServer::start_with(backend, |c| c.web.enabled = false).await;
    let page = http.get(&off.base_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
}

async fn cors_is_off_unless_origins_are_configured(backend: Backend) {
    // The testkit installs the TLS provider reqwest needs when a server starts.
    let server = TestServer::start(backend).await;
    let http = reqwest::Client::new();
    let preflight = |base: String, origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, format!("{base}/api/v1/users/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let answer = preflight(server.base_url.clone(), "https://elsewhere.example")
        .await
        .unwrap();
    assert!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let open = TestServer::start_with(backend, |c| {
        c.web.cors_allowed_origins = vec!["https://chat.example".into()];
    })
    .await;
    let allowed = preflight(open.base_url.clone(), "https://chat.example")
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://chat.example"
    );
    let other = preflight(open.base_url.clone(), "https://elsewhere.example")
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

async fn the_websocket_takes_the_token_in_a_subprotocol(backend: Backend) {
    let server = TestServer::start(backend).await;
    let user = server
        .api()
        .register(&zynk_testkit::Api::username("web"))
        .await;
    let connect = |protocols: String| {
        let mut request = format!("{}/api/v1/ws", server.base_url.replacen("http", "ws", 1))
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(&protocols).unwrap(),
        );
        tokio_tungstenite::connect_async(request)
    };
    let (mut socket, response) = connect(format!("zynk.v1, zynk.bearer.{}", user.access_token))
        .await
        .expect("the subprotocol token is accepted");
    // The server selects zynk.v1 and never echoes the token.
    assert_eq!(response.headers()["sec-websocket-protocol"], "zynk.v1");
    let hello = socket.next().await.unwrap().unwrap().into_text().unwrap();
    assert!(hello.contains("\"hello\""), "{hello}");
    // A wrong token is refused like a wrong header.
    match connect("zynk.v1, zynk.bearer.zat_not_a_real_token".into()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401)
        }
        other => panic!(
            "a wrong token connected: {:?}",
            other.map(|(_, r)| r.status())
        ),
    }
    // No token at all.
    match connect("zynk.v1".into()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401)
        }
        other => panic!("no token connected: {:?}", other.map(|(_, r)| r.status())),
    }
}
