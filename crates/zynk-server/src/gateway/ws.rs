//! `GET /api/v1/ws`: one WebSocket per device connection.
//!
//! Each connection is one task: it forwards queued frames from the [`super::Hub`], answers
//! client frames, and closes on a heartbeat timeout, a slow-consumer signal, or a failed write.
//! Buffers are kept small so idle connections cost little memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::SinkExt;
use tokio::sync::{Notify, Semaphore, mpsc};

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use zynk_proto::ws::{ClientFrame, ServerFrame};

use super::hub::Frame;
use crate::error::ApiError;
use crate::http::extract::{ApiQuery, bearer_token};
use crate::services::auth::AuthContext;
use crate::state::AppState;

/// Largest client frame accepted.
const MAX_CLIENT_FRAME: usize = 128 * 1024;
/// Every this many heartbeats a connection checks that its session still exists (a safety net
/// behind the immediate close that revocations send through the hub).
const REVALIDATE_EVERY: u32 = 10;
/// Sends of one connection being committed at once; more wait (backpressure on the socket).
const SENDS_IN_FLIGHT: usize = 32;
/// A write to a client that takes longer than this closes the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Query parameters of the upgrade request.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    /// Access token, for clients that cannot set headers (browsers).
    access_token: Option<String>,
}

/// `GET /api/v1/ws`: upgrades to a WebSocket after authenticating the access token.
#[utoipa::path(get, path = "/api/v1/ws", tag = "realtime",
    params(("access_token" = Option<String>, Query, description = "Access token (or use the Authorization header)")),
    responses((status = 101, description = "Switching to the WebSocket protocol; frames are described in docs/api.md"),
              (status = 400, description = "Not a WebSocket upgrade, or a malformed query", body = zynk_proto::ErrorBody),
              (status = 401, body = zynk_proto::ErrorBody)))]
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<WsQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let token = bearer_token(&headers)
        .map(str::to_owned)
        .or(query.access_token)
        .ok_or_else(ApiError::unauthenticated)?;
    let ws = ws.map_err(|e| {
        ApiError::new(
            zynk_proto::ErrorCode::InvalidField,
            format!("not a WebSocket upgrade: {}", e.body_text()),
        )
    })?;
    let caller = state.services.auth.authenticate(token.trim()).await?;
    let buffer = state.context.config.websocket.buffer_bytes;
    Ok(ws
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
        socket.feed(WsMessage::Text(first)).await?;
        for _ in 1..WRITE_BATCH {
            let Ok(next) = queue.try_recv() else { break };
            socket.feed(WsMessage::Text(next)).await?;
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
    let hub = state.services.hub.clone();
    let heartbeat = Duration::from_secs(state.context.config.websocket.heartbeat_secs);
    let mut registration = hub.register(caller.user_id, caller.device_id, caller.session_id);
    let ephemeral = state.context.ephemeral.clone();
    let online_ttl = heartbeat * 3;
    let _ = ephemeral.device_online(caller.device_id, online_ttl).await;
    let one_time_key_count = match state.context.store.key_stock(caller.device_id).await {
        Ok(stock) => stock.one_time_keys,
        Err(_) => 0,
    };
    let hello = ServerFrame::Hello {
        user_id: caller.user_id,
        device_id: caller.device_id,
        one_time_key_count,
        heartbeat_secs: heartbeat.as_secs(),
    };
    let mut alive = match text(&hello) {
        Some(m) => send(&mut socket, m).await,
        None => false,
    };
    let connection = Connection {
        id: registration.id,
        queue: registration.queue.clone(),
        close: registration.close.clone(),
        in_flight: Arc::new(Semaphore::new(SENDS_IN_FLIGHT)),
    };
    let mut last_heard = Instant::now();
    let mut ticks = 0u32;
    let mut ticker = tokio::time::interval(heartbeat);
    ticker.tick().await;
    while alive {
        tokio::select! {
            biased;
            () = registration.close.notified() => {
                close(&mut socket, 1008, "slow consumer or session ended").await;
                break;
            }
            queued = registration.frames.recv() => match queued {
                Some(frame) => {
                    alive = send_queued(&mut socket, frame, &mut registration.frames).await;
                }
                None => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Text(body))) => {
                    last_heard = Instant::now();
                    let reply = handle(&state, &caller, &connection, body.as_str()).await;
                    if let Some(reply) = reply.as_ref().and_then(text) {
                        alive = send(&mut socket, reply).await;
                    }
                }
                Some(Ok(WsMessage::Binary(_))) => {
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
                Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => break,
            },
            _ = ticker.tick() => {
                if last_heard.elapsed() > heartbeat * 2 + heartbeat / 2 {
                    close(&mut socket, 1001, "heartbeat timeout").await;
                    break;
                }
                let _ = ephemeral.device_online(caller.device_id, online_ttl).await;
                ticks += 1;
                if ticks.is_multiple_of(REVALIDATE_EVERY)
                    && matches!(state.context.store.session_exists(caller.session_id).await, Ok(false))
                {
                    close(&mut socket, 1008, "session ended").await;
                    break;
                }
            }
        }
    }
    hub.unregister(caller.user_id, registration.id);
    if !hub.is_connected(caller.user_id, caller.device_id) {
        let _ = ephemeral.device_offline(caller.device_id).await;
    }
}

/// What a connection's frame handlers need besides the socket.
struct Connection {
    /// Its id in the hub.
    id: u64,
    /// The connection's outgoing queue.
    queue: mpsc::Sender<Frame>,
    /// Closes the connection (slow consumer).
    close: Arc<Notify>,
    /// Bounds the sends being committed at once.
    in_flight: Arc<Semaphore>,
}

/// Handles one client frame; returns the reply, if any (answers to `send` frames are queued
/// when their message is durable, so a connection can pipeline sends).
async fn handle(
    state: &AppState,
    caller: &AuthContext,
    connection: &Connection,
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
            let Ok(permit) = connection.in_flight.clone().acquire_owned().await else {
                return None;
            };
            let pending = match state
                .services
                .messages
                .submit(caller, conversation_id, &message, Some(connection.id))
                .await
            {
                Ok(pending) => pending,
                Err(e) => return Some(error(Some(request_id), e)),
            };
            let (queue, close) = (connection.queue.clone(), connection.close.clone());
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
                if let Ok(text) = serde_json::to_string(&frame)
                    && queue.try_send(Frame::from(text)).is_err()
                {
                    close.notify_one();
                }
            });
            None
        }
        ClientFrame::Ack {
            conversation_id,
            seq,
        } => state
            .services
            .messages
            .ack(caller, conversation_id, seq)
            .await
            .err()
            .map(|e| error(None, e)),
        ClientFrame::AckToDevice { up_to } => state
            .services
            .to_device
            .ack(caller, up_to)
            .await
            .err()
            .map(|e| error(None, e)),
    }
}
