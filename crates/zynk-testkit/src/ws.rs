//! A WebSocket test client that reads frames as JSON values, with bounded waits.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for an expected frame before failing.
pub const FRAME_WAIT: Duration = Duration::from_secs(15);

/// A connected WebSocket.
pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

impl WsClient {
    /// Connects to `base_url` (`http://…`) with an access token in the query; panics on failure.
    pub async fn connect(base_url: &str, token: &str) -> Self {
        Self::try_connect(base_url, token)
            .await
            .expect("websocket connects")
    }

    /// Connects, returning the HTTP status on a refused upgrade.
    pub async fn try_connect(base_url: &str, token: &str) -> Result<Self, u16> {
        let url = format!(
            "{}/api/v1/ws?access_token={token}",
            base_url.replacen("http", "ws", 1)
        );
        match tokio_tungstenite::connect_async(url).await {
            Ok((stream, _)) => Ok(Self { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(other) => panic!("websocket error: {other}"),
        }
    }

    /// The next text frame; `None` when the server closed the connection.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            let frame = tokio::time::timeout(FRAME_WAIT, self.stream.next())
                .await
                .expect("a frame arrives in time");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(&text).expect("JSON frame"));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next frame of `kind`, skipping others.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let frame = self
                .next()
                .await
                .unwrap_or_else(|| panic!("closed while waiting for {kind}"));
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Sends a JSON frame.
    pub async fn send(&mut self, frame: Value) {
        self.stream
            .send(Message::Text(frame.to_string().into()))
            .await
            .expect("frame sent");
    }

    /// Sends a text frame as is (no JSON check), e.g. an oversized one; `false` if the
    /// connection was already gone.
    pub async fn send_text(&mut self, text: String) -> bool {
        self.stream.send(Message::Text(text.into())).await.is_ok()
    }

    /// Reads until the server closes: the close code it sent, or `None` when the connection
    /// ended without a close frame. Panics if it stays open for [`FRAME_WAIT`].
    pub async fn close_code(&mut self) -> Option<u16> {
        self.frames_until_close().await.1
    }

    /// Reads every text frame until the server closes; returns them and the close code (`None`
    /// when the connection ended without a close frame). Panics if it stays open for
    /// [`FRAME_WAIT`] without a frame.
    pub async fn frames_until_close(&mut self) -> (Vec<Value>, Option<u16>) {
        let mut frames = Vec::new();
        loop {
            let frame = tokio::time::timeout(FRAME_WAIT, self.stream.next())
                .await
                .expect("the server closes in time");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    frames.push(serde_json::from_str(&text).expect("JSON frame"));
                }
                Some(Ok(Message::Close(close))) => {
                    return (frames, close.map(|c| u16::from(c.code)));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return (frames, None),
            }
        }
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
