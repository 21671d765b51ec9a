//! `zynk listen`: keep a WebSocket open and print messages as they arrive.
//!
//! Per connection: open the socket, then catch up over HTTP (to-device inbox,
//! history after each cursor), then handle frames one at a time. The home is
//! locked only while a frame is handled, so other `zynk` commands can use the
//! same home meanwhile; the state is reloaded for every frame. Heartbeats are
//! sent at half the server's interval; a dropped connection is reopened with
//! a growing delay (1 s to 30 s). A session that ended stops the command.
//!
//! Besides messages it prints changes of the account's trust score, contacts'
//! presence changes and typing in conversations (formats in
//! [`crate::output`]) and call events (format in [`crate::calls`]).

use std::time::Duration;

use zynk_proto::ws::{ClientFrame, ServerFrame};
use zynk_sdk::client::{ClientError, EventStream, FrameOutcome};

use crate::context::{CliError, Context};
use crate::output::{note, print_live_event, print_trust_change, print_view, warn};

const DEFAULT_HEARTBEAT_SECS: u64 = 30;
const MAX_BACKOFF_SECS: u64 = 30;

/// Run until interrupted (or the session ends).
pub async fn listen(context: &mut Context, json: bool) -> Result<(), CliError> {
    let mut announced = false;
    let mut backoff = 1;
    loop {
        match connect_and_serve(context, json, &mut announced).await {
            Ok(Stop::Interrupted) => return Ok(()),
            Ok(Stop::Disconnected) => {}
            Err(Fatal(error)) => return Err(error),
            Err(Retry(error)) => {
                warn(&[format!("{error}; reconnecting in {backoff} s")]);
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(backoff)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        backoff = (backoff * 2).min(MAX_BACKOFF_SECS);
    }
}

enum Stop {
    Interrupted,
    Disconnected,
}

enum Failure {
    /// Stop listening.
    Fatal(CliError),
    /// Reconnect after a delay.
    Retry(CliError),
}

use Failure::{Fatal, Retry};

/// Run a messenger operation. The session ending or the state becoming
/// unusable stops the command; any other failure asks for a reconnect.
async fn step<T>(
    context: &mut Context,
    op: impl AsyncFnOnce(&mut zynk_sdk::Messenger) -> Result<T, ClientError>,
) -> Result<T, Failure> {
    match context.with_messenger_raw(op).await {
        Err(error) => Err(Fatal(error)),
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error @ (ClientError::SessionEnded(_) | ClientError::Vault(_)))) => {
            Err(Fatal(error.into()))
        }
        Ok(Err(error)) => Err(Retry(error.into())),
    }
}

async fn connect_and_serve(
    context: &mut Context,
    json: bool,
    announced: &mut bool,
) -> Result<Stop, Failure> {
    // An authenticated call first, so an expired access token is refreshed.
    let (url, token) = step(context, async |m| {
        m.complete_setup().await?;
        m.replenish_keys(None).await?;
        let token = m
            .session()
            .map(|s| s.access_token.clone())
            .ok_or_else(|| ClientError::SessionEnded("not logged in".into()))?;
        Ok((m.api().websocket_url(), token))
    })
    .await?;
    let mut stream = match EventStream::connect(&url, token.expose()).await {
        Ok(stream) => stream,
        Err(error @ ClientError::SessionEnded(_)) => return Err(Fatal(error.into())),
        Err(error) => return Err(Retry(error.into())),
    };
    let report = step(context, async |m| m.sync().await).await?;
    warn(&report.warnings);
    for view in &report.updates {
        print_view(view, json);
    }
    if !*announced {
        note("listening for messages (Ctrl-C to stop)");
        *announced = true;
    }
    let mut heartbeat = tokio::time::interval(Duration::from_secs(DEFAULT_HEARTBEAT_SECS / 2));
    heartbeat.tick().await;
    loop {
        tokio::select! {
            frame = stream.next_frame() => {
                let frame = match frame {
                    None => return Ok(Stop::Disconnected),
                    Some(Ok(frame)) => frame,
                    Some(Err(ClientError::Protocol(message))) => {
                        warn(&[message]);
                        continue;
                    }
                    Some(Err(error)) => return Err(Retry(error.into())),
                };
                if let ServerFrame::Hello { heartbeat_secs, .. } = &frame {
                    let period = (*heartbeat_secs / 2).max(1);
                    heartbeat = tokio::time::interval(Duration::from_secs(period));
                    heartbeat.tick().await;
                }
                let outcome: FrameOutcome = step(context, async |m| m.handle_frame(frame).await).await?;
                warn(&outcome.warnings);
                for view in &outcome.updates {
                    print_view(view, json);
                }
                for change in &outcome.trust_updates {
                    print_trust_change(change, json);
                }
                for event in &outcome.live {
                    print_live_event(event, json);
                }
                for (event, call) in &outcome.call_events {
                    crate::calls::print_call_event(event, call, json);
                }
                for reply in &outcome.replies {
                    if let Err(error) = stream.send(reply).await {
                        return Err(Retry(error.into()));
                    }
                }
            }
            _ = heartbeat.tick() => {
                if let Err(error) = stream.send(&ClientFrame::Ping).await {
                    return Err(Retry(error.into()));
                }
            }
            _ = tokio::signal::ctrl_c() => {
                stream.close().await;
                return Ok(Stop::Interrupted);
            }
        }
    }
}
