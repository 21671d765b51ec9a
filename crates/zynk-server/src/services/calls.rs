//! Calls: the record and state machine of audio and video calls, and TURN credentials.
//!
//! Media flows peer to peer and the SDP and ICE signalling travels end-to-end encrypted over
//! the to-device channel; this service only sees state changes. The store decides each
//! transition inside its transaction (illegal ones are 409 `illegal_call_transition`); this
//! service checks that the caller still takes part in the conversation, refuses 1:1 calls that
//! a block or a declined request forbids (like a message), publishes `call` frames to every
//! participant's devices, marks a call `ringing` once a callee device is connected (at creation,
//! when it connects later while the call still waits for an answer, or when it fetches the call
//! after a push wake-up), sends push wake-ups to offline callees, and sweeps
//! unanswered calls to `missed` after `calls.ring_timeout_secs` (every node sweeps; the store
//! hands each call to one of them).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use tokio::task::JoinHandle;
use zynk_backends::model::{CallAction, CallOutcome, CallRecord, NewCall};
use zynk_proto::calls::{
    Call, CallPage, CallPageQuery, CallParticipant, CreateCallRequest, TurnCredentials,
};
use zynk_proto::ws::ServerFrame;
use zynk_proto::{CallId, ErrorCode, UserId};

use super::auth::AuthContext;
use super::connections::Outbox;
use super::contacts::{ContactService, SendGate};
use super::messages::MessageService;
use crate::context::Context;
use crate::error::ApiError;
use crate::realtime::{Hub, Target};

/// Default and largest page of `GET /api/v1/calls`.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 100;
/// Most waiting calls announced to a connecting device.
const WAITING_ANNOUNCED: u32 = 20;
/// Calls marked missed per sweep round.
const SWEEP_BATCH: u32 = 500;

/// Calls of the caller.
#[derive(Clone)]
pub struct CallService {
    context: Arc<Context>,
    hub: Arc<Hub>,
    contacts: ContactService,
    messages: MessageService,
}

/// The wire form of a call.
pub fn to_wire(call: CallRecord) -> Call {
    Call {
        call_id: call.id,
        status: call.status,
        call_type: call.call_type,
        conversation_id: call.conversation_id,
        initiator_id: call.initiator_id,
        participants: call
            .participants
            .into_iter()
            .map(|p| CallParticipant {
                user_id: p.user_id,
                joined_at: p.joined_at,
                left_at: p.left_at,
            })
            .collect(),
        created_at: call.created_at,
        started_at: call.started_at,
        ended_at: call.ended_at,
        duration_seconds: call.duration_seconds,
    }
}

/// The event that brought a call waiting for an answer to its current state.
fn event_of(call: &CallRecord) -> &'static str {
    match call.status {
        zynk_proto::calls::CallStatus::Initiated => "created",
        _ => "ringing",
    }
}

fn illegal(status: zynk_proto::calls::CallStatus) -> ApiError {
    ApiError::new(
        ErrorCode::CallTransition,
        format!("not allowed while the call is {}", status.as_str()),
    )
}

/// coturn REST credentials (`use-auth-secret`): the user name is `expiry:user`, the password
/// base64(HMAC-SHA1(secret, user name)).
pub fn turn_credentials(secret: &str, user: &str, expiry_unix: i64) -> (String, String) {
    let username = format!("{expiry_unix}:{user}");
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(username.as_bytes());
    let credential = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    (username, credential)
}

impl CallService {
    /// A service over the shared context.
    pub fn new(
        context: Arc<Context>,
        hub: Arc<Hub>,
        contacts: ContactService,
        messages: MessageService,
    ) -> Self {
        Self {
            context,
            hub,
            contacts,
            messages,
        }
    }

    /// Starts a call in one of the caller's conversations; its other participants are called.
    pub async fn create(
        &self,
        caller: &AuthContext,
        request: &CreateCallRequest,
    ) -> Result<Call, ApiError> {
        let conversation_id = request.conversation_id;
        let participants = self.context.store.participants(conversation_id).await?;
        if !participants.contains(&caller.user_id) {
            return Err(ApiError::not_found("conversation"));
        }
        let quiet = match self
            .contacts
            .send_gate(conversation_id, caller.user_id, &participants)
            .await?
        {
            SendGate::Refused(error) => return Err(error),
            SendGate::Open { quiet, .. } => quiet,
        };
        let new = NewCall {
            id: CallId::new_v7(),
            conversation_id,
            initiator_id: caller.user_id,
            call_type: request.call_type,
        };
        let outcome = self
            .context
            .store
            .create_call(&new, zynk_backends::now())
            .await?;
        let call = self.settle(outcome).await?;
        metrics::counter!("zynk_calls_total", "call_type" => request.call_type.as_str())
            .increment(1);
        self.context.analytics.record_with(
            caller.user_id,
            crate::services::analytics::EventKind::CallStarted,
            Some(serde_json::json!({"call_type": request.call_type.as_str()})),
        );
        // Ring: a connected callee device is reached now; offline ones get a wake-up.
        let callees: Vec<UserId> = call
            .participants
            .iter()
            .map(|p| p.user_id)
            .filter(|u| *u != caller.user_id && Some(*u) != quiet)
            .collect();
        let mut reached = None;
        for callee in &callees {
            let devices = self.context.store.list_devices(*callee).await?;
            let ids: Vec<_> = devices.iter().map(|d| d.id).collect();
            let online = self
                .context
                .ephemeral
                .devices_online(&ids)
                .await
                .unwrap_or_default();
            if online.iter().any(|o| *o) {
                reached = Some(*callee);
                break;
            }
        }
        self.messages.wake_up(callees.into(), caller.device_id);
        if let Some(callee) = reached {
            let outcome = self
                .context
                .store
                .call_action(call.id, callee, CallAction::Ring, zynk_backends::now())
                .await?;
            return self.settle(outcome).await.map(to_wire);
        }
        Ok(to_wire(call))
    }

    /// One of the caller's calls. A callee's device fetching a call that has not rung yet
    /// (after a push wake-up) makes it ring.
    pub async fn get(&self, caller: &AuthContext, call_id: CallId) -> Result<Call, ApiError> {
        let call = self.visible(caller, call_id).await?;
        if call.status == zynk_proto::calls::CallStatus::Initiated
            && call.initiator_id != Some(caller.user_id)
        {
            let outcome = self
                .context
                .store
                .call_action(
                    call_id,
                    caller.user_id,
                    CallAction::Ring,
                    zynk_backends::now(),
                )
                .await?;
            return self.settle(outcome).await.map(to_wire);
        }
        Ok(to_wire(call))
    }

    /// A device of `caller` connected: it is told (on this connection only) about each call
    /// still waiting for its user's answer, with the event it missed, and a call that had not
    /// rung yet rings now (the `ringing` event then reaches every participant's connections,
    /// this one included). Calls a block now forbids are left alone; a callee who has not
    /// accepted the caller's message request is told but does not make the call ring, as at
    /// creation. Failures are logged: the connection goes on without the announcement.
    pub async fn announce_waiting(&self, caller: &AuthContext, outbox: &Outbox) {
        if let Err(err) = self.try_announce_waiting(caller, outbox).await {
            tracing::warn!(error = %err, "cannot announce waiting calls to a connecting device");
        }
    }

    async fn try_announce_waiting(
        &self,
        caller: &AuthContext,
        outbox: &Outbox,
    ) -> Result<(), ApiError> {
        let waiting = self
            .context
            .store
            .calls_awaiting_answer(caller.user_id, WAITING_ANNOUNCED)
            .await?;
        for call in waiting {
            let (Some(conversation_id), Some(initiator)) =
                (call.conversation_id, call.initiator_id)
            else {
                continue;
            };
            let participants = self.context.store.participants(conversation_id).await?;
            if !participants.contains(&caller.user_id) {
                continue;
            }
            let quiet = match self
                .contacts
                .send_gate(conversation_id, initiator, &participants)
                .await?
            {
                SendGate::Refused(_) => continue,
                SendGate::Open { quiet, .. } => quiet == Some(caller.user_id),
            };
            if call.status == zynk_proto::calls::CallStatus::Initiated && !quiet {
                let outcome = self
                    .context
                    .store
                    .call_action(
                        call.id,
                        caller.user_id,
                        CallAction::Ring,
                        zynk_backends::now(),
                    )
                    .await?;
                match outcome {
                    // Published to every participant, this connection included.
                    CallOutcome::Done { call, event } => self.publish(&call, event).await,
                    CallOutcome::Unchanged(call) => outbox.send(&ServerFrame::Call {
                        event: event_of(&call).to_owned(),
                        call: to_wire(*call),
                    }),
                    // Answered, declined or swept meanwhile: that event was published.
                    _ => {}
                }
                continue;
            }
            outbox.send(&ServerFrame::Call {
                event: event_of(&call).to_owned(),
                call: to_wire(call),
            });
        }
        Ok(())
    }

    /// The caller's calls, newest first.
    pub async fn list(
        &self,
        caller: &AuthContext,
        query: &CallPageQuery,
    ) -> Result<CallPage, ApiError> {
        let limit = query.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::invalid_field(
                "limit",
                "must be between 1 and 100",
            ));
        }
        let calls = self
            .context
            .store
            .list_calls(caller.user_id, query.before, limit)
            .await?;
        let next_before = (calls.len() == limit as usize)
            .then(|| calls.last().map(|c| c.id))
            .flatten();
        Ok(CallPage {
            calls: calls.into_iter().map(to_wire).collect(),
            next_before,
        })
    }

    /// Answers (or joins a group call in progress).
    pub async fn answer(&self, caller: &AuthContext, call_id: CallId) -> Result<Call, ApiError> {
        self.act(caller, call_id, CallAction::Answer).await
    }

    /// Declines a ringing call.
    pub async fn decline(&self, caller: &AuthContext, call_id: CallId) -> Result<Call, ApiError> {
        self.act(caller, call_id, CallAction::Decline).await
    }

    /// Hangs up: leaves a group call, ends a 1:1 call, or (initiator) cancels an unanswered one.
    pub async fn end(&self, caller: &AuthContext, call_id: CallId) -> Result<Call, ApiError> {
        self.act(caller, call_id, CallAction::End).await
    }

    /// TURN credentials for the caller.
    pub fn turn(&self, caller: &AuthContext) -> Result<TurnCredentials, ApiError> {
        let turn = &self.context.config.turn;
        let Some(secret) = turn.shared_secret.as_deref() else {
            return Err(ApiError::new(
                ErrorCode::TurnUnavailable,
                "this server has no TURN service configured",
            ));
        };
        let ttl = turn.ttl_secs;
        let expiry = zynk_backends::now().timestamp() + i64::try_from(ttl).unwrap_or(i64::MAX / 2);
        let (username, credential) = turn_credentials(secret, &caller.user_id.to_string(), expiry);
        Ok(TurnCredentials {
            urls: turn.urls.clone(),
            username,
            credential,
            ttl,
        })
    }

    /// Marks calls nobody answered in time `missed` and tells their participants; returns how
    /// many.
    pub async fn sweep_missed(&self) -> Result<usize, ApiError> {
        let now = zynk_backends::now();
        let timeout = chrono::Duration::seconds(
            i64::try_from(self.context.config.calls.ring_timeout_secs).unwrap_or(45),
        );
        let missed = self
            .context
            .store
            .expire_unanswered_calls(now - timeout, now, SWEEP_BATCH)
            .await?;
        let count = missed.len();
        for call in missed {
            metrics::counter!("zynk_calls_missed_total").increment(1);
            self.publish(&call, "missed").await;
        }
        Ok(count)
    }

    /// Runs [`Self::sweep_missed`] every `calls.sweep_interval_ms`.
    pub fn spawn_sweep(&self) -> JoinHandle<()> {
        let service = self.clone();
        let interval = Duration::from_millis(self.context.config.calls.sweep_interval_ms);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = service.sweep_missed().await {
                    tracing::error!(error = %e, "missed-call sweep failed");
                }
            }
        })
    }

    async fn act(
        &self,
        caller: &AuthContext,
        call_id: CallId,
        action: CallAction,
    ) -> Result<Call, ApiError> {
        self.visible(caller, call_id).await?;
        let outcome = self
            .context
            .store
            .call_action(call_id, caller.user_id, action, zynk_backends::now())
            .await?;
        self.settle(outcome).await.map(to_wire)
    }

    /// The call if the caller takes part in it and is still in its conversation.
    async fn visible(&self, caller: &AuthContext, call_id: CallId) -> Result<CallRecord, ApiError> {
        let not_found = || ApiError::not_found("call");
        let call = self
            .context
            .store
            .get_call(call_id)
            .await?
            .ok_or_else(not_found)?;
        if !call
            .participants
            .iter()
            .any(|p| p.user_id == caller.user_id)
        {
            return Err(not_found());
        }
        let Some(conversation_id) = call.conversation_id else {
            return Err(not_found());
        };
        let participants = self.context.store.participants(conversation_id).await?;
        if !participants.contains(&caller.user_id) {
            return Err(not_found());
        }
        Ok(call)
    }

    /// Maps a store outcome to the call or an error, publishing what happened.
    async fn settle(&self, outcome: CallOutcome) -> Result<CallRecord, ApiError> {
        match outcome {
            CallOutcome::Done { call, event } => {
                self.publish(&call, event).await;
                Ok(*call)
            }
            CallOutcome::Unchanged(call) => Ok(*call),
            CallOutcome::NotFound => Err(ApiError::not_found("call")),
            CallOutcome::Illegal(status) => Err(illegal(status)),
            CallOutcome::Active => Err(ApiError::new(
                ErrorCode::CallActive,
                "the conversation already has an active call",
            )),
        }
    }

    async fn publish(&self, call: &CallRecord, event: &'static str) {
        let targets: Vec<Target> = call
            .participants
            .iter()
            .map(|p| Target::User { user_id: p.user_id })
            .collect();
        let frame = ServerFrame::Call {
            event: event.to_owned(),
            call: to_wire(call.clone()),
        };
        self.hub.publish(&targets, &frame).await;
    }
}

#[cfg(test)]
mod tests {
    use super::turn_credentials;

    /// The example of coturn's REST API draft (draft-uberti-behave-turn-rest-00) computed
    /// independently: `echo -n "1600000000:alice" | openssl dgst -sha1 -hmac secret -binary |
    /// base64`.
    #[test]
    fn turn_credentials_follow_the_rest_scheme() {
        let (user, pass) = turn_credentials("secret", "alice", 1_600_000_000);
        assert_eq!(user, "1600000000:alice");
        assert_eq!(pass, OPENSSL_VALUE);
    }

    const OPENSSL_VALUE: &str = "UQpbzqLy8wUgAxlVOh3KKXno2lk=";
}
