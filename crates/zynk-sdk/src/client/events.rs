//! The WebSocket event stream (`/api/v1/ws`): [`EventStream`] speaks the
//! `zynk_proto::ws` frames over a small [`FrameTransport`] trait with two
//! implementations, tokio-tungstenite natively and gloo-net in the browser.
//!
//! Natively the access token goes in the `Authorization` header; browsers
//! cannot set headers on a WebSocket, so on wasm32 it is offered as the
//! subprotocol `zynk.bearer.<token>` next to `zynk.v1`, which the server
//! selects (the token stays out of the URL).

use zynk_proto::ws::{ClientFrame, ServerFrame};

use super::error::ClientError;

/// The subprotocol the server selects for browser clients.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
const PROTOCOL: &str = "zynk.v1";
/// Prefix of the subprotocol carrying the access token (browsers).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
const TOKEN_PROTOCOL_PREFIX: &str = "zynk.bearer.";

/// A text-frame WebSocket connection.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait FrameTransport {
    /// Send one text frame.
    async fn send_text(&mut self, text: String) -> Result<(), ClientError>;
    /// The next text frame; `None` once the connection is closed.
    async fn next_text(&mut self) -> Option<Result<String, ClientError>>;
    /// Close the connection.
    async fn close(&mut self);
}

#[cfg(not(target_arch = "wasm32"))]
type BoxedTransport = Box<dyn FrameTransport + Send>;
#[cfg(target_arch = "wasm32")]
type BoxedTransport = Box<dyn FrameTransport>;

/// Server events of one device, as typed frames.
pub struct EventStream {
    transport: BoxedTransport,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl EventStream {
    /// Connect to `url` (`ws://…/api/v1/ws`) with `access_token`.
    pub async fn connect(url: &str, access_token: &str) -> Result<Self, ClientError> {
        Ok(Self {
            transport: platform::connect(url, access_token).await?,
        })
    }

    /// Wrap another transport (e.g. a test double).
    pub fn from_transport(transport: BoxedTransport) -> Self {
        Self { transport }
    }

    /// The next frame; `None` once the connection is closed. A frame this
    /// client cannot parse is an `Err(ClientError::Protocol)`, after which
    /// the stream is still usable.
    pub async fn next_frame(&mut self) -> Option<Result<ServerFrame, ClientError>> {
        let text = match self.transport.next_text().await? {
            Ok(text) => text,
            Err(e) => return Some(Err(e)),
        };
        Some(
            serde_json::from_str(&text)
                .map_err(|e| ClientError::Protocol(format!("WebSocket frame: {e}"))),
        )
    }

    /// Send a frame.
    pub async fn send(&mut self, frame: &ClientFrame) -> Result<(), ClientError> {
        let text = serde_json::to_string(frame)
            .map_err(|e| ClientError::Invalid(format!("cannot encode frame: {e}")))?;
        self.transport.send_text(text).await
    }

    /// Close the connection.
    pub async fn close(mut self) {
        self.transport.close().await;
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod platform {
    use futures::{SinkExt, StreamExt};
    use tokio::net::TcpStream;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    use tokio_tungstenite::tungstenite::{Error as WsError, Message};
    use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

    use super::{BoxedTransport, ClientError, FrameTransport};

    struct NativeSocket(WebSocketStream<MaybeTlsStream<TcpStream>>);

    pub(super) async fn connect(url: &str, token: &str) -> Result<BoxedTransport, ClientError> {
        let mut request = url
            .into_client_request()
            .map_err(|e| ClientError::Invalid(format!("WebSocket URL: {e}")))?;
        let header = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| ClientError::Invalid("access token is not a header value".into()))?;
        request.headers_mut().insert("authorization", header);
        // `wss://` with the process's TLS set-up; `ws://` stays plain.
        let tls = tokio_tungstenite::Connector::Rustls(crate::client::tls::client_config()?);
        let (socket, _) =
            tokio_tungstenite::connect_async_tls_with_config(request, None, true, Some(tls))
                .await
                .map_err(|e| match e {
                    WsError::Http(response) if response.status().as_u16() == 401 => {
                        ClientError::SessionEnded("the WebSocket refused the access token".into())
                    }
                    WsError::Http(response) => ClientError::Transport(format!(
                        "WebSocket handshake answered HTTP {}",
                        response.status().as_u16()
                    )),
                    other => ClientError::Transport(format!("WebSocket: {other}")),
                })?;
        Ok(Box::new(NativeSocket(socket)))
    }

    #[async_trait::async_trait]
    impl FrameTransport for NativeSocket {
        async fn send_text(&mut self, text: String) -> Result<(), ClientError> {
            self.0
                .send(Message::text(text))
                .await
                .map_err(|e| ClientError::Transport(format!("WebSocket: {e}")))
        }

        async fn next_text(&mut self) -> Option<Result<String, ClientError>> {
            loop {
                match self.0.next().await? {
                    Ok(Message::Text(text)) => return Some(Ok(text.as_str().to_owned())),
                    Ok(Message::Close(_)) => return None,
                    Ok(_) => continue,
                    Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => return None,
                    Err(e) => {
                        return Some(Err(ClientError::Transport(format!("WebSocket: {e}"))));
                    }
                }
            }
        }

        async fn close(&mut self) {
            let _ = self.0.close(None).await;
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod platform {
    use futures::{SinkExt, StreamExt};
    use gloo_net::websocket::Message;
    use gloo_net::websocket::futures::WebSocket;

    use super::{BoxedTransport, ClientError, FrameTransport};

    struct BrowserSocket(WebSocket);

    pub(super) async fn connect(url: &str, token: &str) -> Result<BoxedTransport, ClientError> {
        // The token rides in a subprotocol (`zynk.bearer.<token>`, next to `zynk.v1`, which
        // the server selects): not in the URL, where logs and history would keep it.
        let protocols = [
            super::PROTOCOL.to_owned(),
            format!("{}{token}", super::TOKEN_PROTOCOL_PREFIX),
        ];
        let socket = WebSocket::open_with_protocols(url, &protocols)
            .map_err(|e| ClientError::Transport(format!("WebSocket: {e}")))?;
        Ok(Box::new(BrowserSocket(socket)))
    }

    #[async_trait::async_trait(?Send)]
    impl FrameTransport for BrowserSocket {
        async fn send_text(&mut self, text: String) -> Result<(), ClientError> {
            self.0
                .send(Message::Text(text))
                .await
                .map_err(|e| ClientError::Transport(format!("WebSocket: {e}")))
        }

        async fn next_text(&mut self) -> Option<Result<String, ClientError>> {
            loop {
                match self.0.next().await? {
                    Ok(Message::Text(text)) => return Some(Ok(text)),
                    Ok(Message::Bytes(_)) => continue,
                    Err(e) => return Some(Err(ClientError::Transport(format!("WebSocket: {e}")))),
                }
            }
        }

        async fn close(&mut self) {
            let _ = SinkExt::close(&mut self.0).await;
        }
    }
}
