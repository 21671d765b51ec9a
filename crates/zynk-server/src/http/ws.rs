//! `GET /api/v1/ws`: the WebSocket edge of the realtime layer, one socket per device
//! connection.
//!
//! The edge authenticates and upgrades, then runs one task per connection that only moves
//! frames: it writes the [`Frame`]s queued for the connection (as WebSocket text sharing their
//! bytes), answers client frames by calling the same services as the HTTP handlers, and calls
//! the connection service ([`crate::services::connections`]) to open the connection, on each
//! heartbeat and to close it. What a connection means (registration with the hub, online mark,
//! key stock, session checks) lives in that service; the socket itself (buffer sizes, write
//! batching, write timeout, close codes, the heartbeat timer and timeout) lives here. Buffers
//! are kept small so idle connections cost little memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::SinkExt;
use tokio::sync::{Semaphore, mpsc};

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use zynk_proto::ws::{ClientFrame, ServerFrame};

use super::extract::{ApiQuery, bearer_token};
use crate::error::ApiError;
use crate::realtime::{ConnectionId, Frame};
use crate::services::auth::AuthContext;
use crate::services::connections::Outbox;
use crate::state::AppState;

/// Largest client frame accepted.
const MAX_CLIENT_FRAME: usize = 128 * 1024;
/// Sends of one connection being committed at once; more wait (backpressure on the socket).
const SENDS_IN_FLIGHT: usize = 32;
/// A write to a client that takes longer than this closes the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The subprotocol the server answers with when the client offers it. Browsers cannot set an
/// `Authorization` header on a WebSocket, so the browser client offers two subprotocols:
/// `zynk.v1` and `zynk.bearer.<access token>`; the server reads the token from the second and
/// selects the first (the token is never echoed back, and stays out of URLs and access logs).
pub const PROTOCOL: &str = "zynk.v1";
/// Prefix of the subprotocol that carries the access token.
pub const TOKEN_PROTOCOL_PREFIX: &str = "zynk.bearer.";

/// The access token offered as a `zynk.bearer.<token>` subprotocol, if any.
fn protocol_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|p| p.trim().strip_prefix(TOKEN_PROTOCOL_PREFIX))
        .filter(|token| !token.is_empty())
        .map(str::to_owned)
}

/// Query parameters of the upgrade request.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    /// Access token, for clients that cannot set headers (browsers).
    access_token: Option<String>,
}

/// `GET /api/v1/ws`: upgrades to a WebSocket after authenticating the access token.
#[utoipa::path(get, path = "/api/v1/ws", tag = "realtime",
    params(("access_token" = Option<String>, Query, description = "Access token (or use the Authorization header, or offer the subprotocols `zynk.v1` and `zynk.bearer.<token>`)")),
    responses((status = 101, description = "Switching to the WebSocket protocol; frames are described in docs/api.md"),
              (status = 400, description = "Not a WebSocket upgrade, or a malformed query", body = zynk_proto::ErrorBody),
              (status = 401, body = zynk_proto::ErrorBody),
              (status = 429, description = "Rate limited, or the device holds its most WebSockets", body = zynk_proto::ErrorBody)))]
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<WsQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let token = bearer_token(&headers)
        .map(str::to_owned)
        .or_else(|| protocol_token(&headers))
        .or(query.access_token)
        .ok_or_else(ApiError::unauthenticated)?;
    let ws = ws.map_err(|e| {
        ApiError::new(
            zynk_proto::ErrorCode::InvalidField,
            format!("not a WebSocket upgrade: {}", e.body_text()),
        )
    })?;
    let caller = state.services.auth.authenticate(token.trim()).await?;
    let max_sockets = state.context.config.websocket.max_sockets_per_device;
    if state.services.connections.device_sockets(&caller) >= max_sockets {
        let mut error = ApiError::rate_limited(1);
        error.message =
            format!("this device already holds {max_sockets} WebSockets; close one first");
        return Err(error);
    }
    let buffer = state.context.config.websocket.buffer_bytes;
    Ok(ws
        .protocols([PROTOCOL])
        .read_buffer_size(buffer)
        .write_buffer_size(buffer)
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| run(state, caller, socket)))
}

fn text(frame: &ServerFrame) -> Option<WsMessage> {
    serde_json::to_string(frame)
        .ok()
        .map(|s| WsMessage::Text(Utf8Bytes::from(s)))
}

/// A queued frame as WebSocket text, sharing its bytes (the check that they are UTF-8 reads
/// them once, never copies them).
fn queued_text(frame: Frame) -> Option<WsMessage> {
    match Utf8Bytes::try_from(frame.into_bytes()) {
        Ok(text) => Some(WsMessage::Text(text)),
        Err(err) => {
            tracing::error!(error = %err, "a queued frame is not UTF-8");
            None
        }
    }
}

async fn send(socket: &mut WebSocket, message: WsMessage) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// Most queued frames written before one flush.
const WRITE_BATCH: usize = 64;

/// Writes `first` and whatever else is already queued (up to [`WRITE_BATCH`] frames), then
/// flushes once: under load, many frames leave in one write.
async fn send_queued(
    socket: &mut WebSocket,
    first: Frame,
    queue: &mut mpsc::Receiver<Frame>,
) -> bool {
    let write = async {
        if let Some(message) = queued_text(first) {
            socket.feed(message).await?;
        }
        for _ in 1..WRITE_BATCH {
            let Ok(next) = queue.try_recv() else { break };
            if let Some(message) = queued_text(next) {
                socket.feed(message).await?;
            }
        }
        socket.flush().await
    };
    matches!(tokio::time::timeout(WRITE_TIMEOUT, write).await, Ok(Ok(())))
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, socket.send(WsMessage::Close(Some(frame)))).await;
}

async fn run(state: AppState, caller: AuthContext, mut socket: WebSocket) {
    let connections = state.services.connections.clone();
    let heartbeat = connections.heartbeat_interval();
    let (mut connection, hello) = connections.open(&caller).await;
    let presence = state.services.presence.clone();
    presence.connected(&caller, connection.id()).await;
    let mut alive = match text(&hello) {
        Some(m) => send(&mut socket, m).await,
        None => false,
    };
    // Calls waiting for this user's answer: queued behind `hello`, sent by the loop below.
    state
        .services
        .calls
        .announce_waiting(&caller, &connection.outbox)
        .await;
    let sends = Sends {
        origin: connection.id(),
        outbox: connection.outbox.clone(),
        in_flight: Arc::new(Semaphore::new(SENDS_IN_FLIGHT)),
    };
    let mut last_heard = Instant::now();
    let limits = &state.context.config.websocket;
    let mut frames = FrameBudget::new(
        limits.frames_per_second,
        limits.frame_burst,
        state.context.config.rate_limits.enabled,
    );
    let mut ticker = tokio::time::interval(heartbeat);
    ticker.tick().await;
    while alive {
        tokio::select! {
            biased;
            () = connection.outbox.closing() => {
                close(&mut socket, 1008, "slow consumer or session ended").await;
                break;
            }
            queued = connection.frames.recv() => match queued {
                Some(frame) => {
                    alive = send_queued(&mut socket, frame, &mut connection.frames).await;
                }
                None => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Text(body))) => {
                    last_heard = Instant::now();
                    match frames.take() {
                        Budget::Ok => {}
                        Budget::Refused => {
                            let frame = ServerFrame::Error {
                                request_id: None,
                                code: "rate_limited".into(),
                                message: "too many frames; slow down".into(),
                            };
                            if let Some(m) = text(&frame) {
                                alive = send(&mut socket, m).await;
                            }
                            continue;
                        }
                        Budget::Exhausted => {
                            close(&mut socket, 1008, "too many frames").await;
                            break;
                        }
                    }
                    if !is_passive(body.as_str()) {
                        presence.active(&caller, sends.origin).await;
                    }
                    let reply = handle(&state, &caller, &sends, body.as_str()).await;
                    if let Some(reply) = reply.as_ref().and_then(text) {
                        alive = send(&mut socket, reply).await;
                    }
                }
                Some(Ok(WsMessage::Binary(_))) => {
                    if let Budget::Exhausted = frames.take() {
                        close(&mut socket, 1008, "too many frames").await;
                        break;
                    }
                    let frame = ServerFrame::Error {
                        request_id: None,
                        code: "invalid_json".into(),
                        message: "frames are JSON text".into(),
                    };
                    if let Some(m) = text(&frame) {
                        alive = send(&mut socket, m).await;
                    }
                }
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => last_heard = Instant::now(),
                Some(Err(err)) => {
                    if is_too_big(err) {
                        close(&mut socket, 1009, "frame larger than 128 KiB").await;
                    }
                    break;
                }
                Some(Ok(WsMessage::Close(_))) | None => break,
            },
            _ = ticker.tick() => {
                if last_heard.elapsed() > heartbeat * 2 + heartbeat / 2 {
                    close(&mut socket, 1001, "heartbeat timeout").await;
                    break;
                }
                if !connections.heartbeat(&mut connection).await {
                    close(&mut socket, 1008, "session ended").await;
                    break;
                }
                presence.tick(&caller).await;
            }
        }
    }
    connections.close(connection).await;
    presence.disconnected(&caller, sends.origin).await;
}

/// Whether a client frame leaves the user's activity alone: a heartbeat (which keeps the
/// connection, not the user, active) or a `presence` frame (which sets it itself).
fn is_passive(body: &str) -> bool {
    body.len() < 128
        && matches!(
            serde_json::from_str::<ClientFrame>(body),
            Ok(ClientFrame::Ping | ClientFrame::Presence { .. })
        )
}

/// Whether a read failed because the client's frame or message exceeded the size limit.
fn is_too_big(err: axum::Error) -> bool {
    err.into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}

/// The verdict on one client frame.
enum Budget {
    /// Within the rate.
    Ok,
    /// Over it: answer with an error frame.
    Refused,
    /// Far over it: close the connection.
    Exhausted,
}

/// A token bucket of client frames per connection (`websocket.frames_per_second`, refilled
/// continuously, holding at most `websocket.frame_burst`), with a count of frames refused in a
/// row.
struct FrameBudget {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
    refused: u32,
    refused_limit: u32,
    /// Off with `rate_limits.enabled = false` (benchmarks).
    enabled: bool,
}

impl FrameBudget {
    fn new(per_second: u32, burst: u32, enabled: bool) -> Self {
        Self {
            rate: f64::from(per_second),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            at: Instant::now(),
            refused: 0,
            refused_limit: burst,
            enabled,
        }
    }

    fn take(&mut self) -> Budget {
        if !self.enabled {
            return Budget::Ok;
        }
        let now = Instant::now();
        let elapsed = now.duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refused = 0;
            Budget::Ok
        } else {
            self.refused += 1;
            if self.refused > self.refused_limit {
                Budget::Exhausted
            } else {
                Budget::Refused
            }
        }
    }
}

/// What a connection's `send` frames need besides the socket.
struct Sends {
    /// The connection they come in on (not echoed back to it).
    origin: ConnectionId,
    /// Where their answers are queued.
    outbox: Outbox,
    /// Bounds the sends being committed at once.
    in_flight: Arc<Semaphore>,
}
/// Handles one client frame; returns the reply, if any (answers to `send` frames are queued
/// when their message is durable, so a connection can pipeline sends).
async fn handle(
    state: &AppState,
    caller: &AuthContext,
    sends: &Sends,
    body: &str,
) -> Option<ServerFrame> {
    let error = |request_id: Option<String>, e: ApiError| ServerFrame::Error {
        request_id,
        code: e.code.as_str().to_owned(),
        message: e.message,
    };
    let frame: ClientFrame = match serde_json::from_str(body) {
        Ok(frame) => frame,
        Err(e) => {
            return Some(error(
                None,
                ApiError::new(
                    zynk_proto::ErrorCode::InvalidJson,
                    format!("invalid frame: {e}"),
                ),
            ));
        }
    };
    match frame {
        ClientFrame::Ping => Some(ServerFrame::Pong),
        ClientFrame::Send {
            request_id,
            conversation_id,
            message,
        } => {
            if request_id.is_empty() || request_id.len() > 64 {
                let e = ApiError::invalid_field("request_id", "must be 1-64 characters");
                return Some(error(None, e));
            }
            if let Err(e) = state
                .services
                .rate_limits
                .check_user(caller.user_id, "ws:send")
                .await
            {
                return Some(error(Some(request_id), e));
            }
            let Ok(permit) = sends.in_flight.clone().acquire_owned().await else {
                return None;
            };
            let pending = match state
                .services
                .messages
                .submit(caller, conversation_id, &message, Some(sends.origin))
                .await
            {
                Ok(pending) => pending,
                Err(e) => return Some(error(Some(request_id), e)),
            };
            let outbox = sends.outbox.clone();
            tokio::spawn(async move {
                let frame = match pending.complete().await {
                    Ok(sent) => ServerFrame::Sent {
                        request_id,
                        message: sent.message,
                        created: sent.created,
                    },
                    Err(e) => ServerFrame::Error {
                        request_id: Some(request_id),
                        code: e.code.as_str().to_owned(),
                        message: e.message,
                    },
                };
                drop(permit);
                outbox.send(&frame);
            });
            None
        }
        ClientFrame::Ack {
            conversation_id,
            seq,
        } => {
            if let Err(e) = state
                .services
                .rate_limits
                .check_user(caller.user_id, "ws:ack")
                .await
            {
                return Some(error(None, e));
            }
            state
                .services
                .messages
                .ack(caller, conversation_id, seq)
                .await
                .err()
                .map(|e| error(None, e))
        }
        ClientFrame::AckToDevice { up_to } => {
            if let Err(e) = state
                .services
                .rate_limits
                .check_user(caller.user_id, "ws:ack_to_device")
                .await
            {
                return Some(error(None, e));
            }
            state
                .services
                .to_device
                .ack(caller, up_to)
                .await
                .err()
                .map(|e| error(None, e))
        }
        ClientFrame::Typing {
            conversation_id,
            typing,
        } => state
            .services
            .presence
            .typing(caller, conversation_id, typing)
            .await
            .err()
            .map(|e| error(None, e)),
        ClientFrame::Presence { status } => state
            .services
            .presence
            .set_status(caller, sends.origin, status)
            .await
            .err()
            .map(|e| error(None, e)),
    }
}
