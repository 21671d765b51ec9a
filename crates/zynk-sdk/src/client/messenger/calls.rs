//! Calls for [`Messenger`]: the call record goes through the server (`/api/v1/calls`), while the
//! signalling (SDP offer and answer, ICE candidates, hang-up) travels end-to-end encrypted
//! between devices as Olm to-device events of type [`CALL_SIGNAL_EVENT`], so the server only
//! ever sees call state changes. The flow a client follows:
//!
//! 1. the caller [`Messenger::start_call`]s, then sends its SDP offer with
//!    [`Messenger::send_call_signal`] to every device of the callees;
//! 2. a callee's device learns of the call from the `call` WebSocket frame (or a push wake-up
//!    and [`Messenger::call`], which makes it ring), and reads the offer with
//!    [`Messenger::sync`] + [`Messenger::take_call_signals`];
//! 3. the callee [`Messenger::answer_call`]s and sends its SDP answer back; both sides trade
//!    ICE candidates the same way;
//! 4. either side [`Messenger::end_call`]s (a callee may [`Messenger::decline_call`] instead
//!    of answering).
//!
//! Group calls use a mesh: every participant sends offers to the participants who joined before
//! it; this suits a small number of participants (up to about six with video).

use zynk_proto::calls::{Call, CallPage, CallSignal, CallType, CreateCallRequest, TurnCredentials};
use zynk_proto::ids::{CallId, ConversationId, UserId};

use super::Messenger;
use crate::client::error::ClientError;
use crate::crypto::{OlmError, OutgoingToDevice};

/// The to-device event type of call signalling (inside Olm; never visible to the server).
pub const CALL_SIGNAL_EVENT: &str = "zynk.call.signal";

/// A call signal received from another device.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedCallSignal {
    /// The sending user (verified by Olm).
    pub sender_user_id: String,
    /// The sending device.
    pub sender_device_id: String,
    /// The signal.
    pub signal: CallSignal,
}

impl Messenger {
    /// Starts a call in a conversation (its other participants are called).
    pub async fn start_call(
        &mut self,
        conversation_id: ConversationId,
        call_type: CallType,
    ) -> Result<Call, ClientError> {
        self.api
            .create_call(&CreateCallRequest {
                conversation_id,
                call_type,
            })
            .await
    }

    /// One call (a callee fetching a call that has not rung yet makes it ring).
    pub async fn call(&mut self, call_id: CallId) -> Result<Call, ClientError> {
        self.api.call(call_id).await
    }

    /// Answers a ringing call, or joins a group call in progress.
    pub async fn answer_call(&mut self, call_id: CallId) -> Result<Call, ClientError> {
        self.api.call_action(call_id, "answer").await
    }

    /// Declines a ringing call.
    pub async fn decline_call(&mut self, call_id: CallId) -> Result<Call, ClientError> {
        self.api.call_action(call_id, "decline").await
    }

    /// Hangs up (leaves a group call; cancels an unanswered call one started).
    pub async fn end_call(&mut self, call_id: CallId) -> Result<Call, ClientError> {
        self.api.call_action(call_id, "end").await
    }

    /// This account's calls, newest first (one page of up to `limit`).
    pub async fn calls(
        &mut self,
        before: Option<CallId>,
        limit: u32,
    ) -> Result<CallPage, ClientError> {
        self.api.calls(before, limit).await
    }

    /// TURN credentials for the peer connection.
    pub async fn turn_credentials(&mut self) -> Result<TurnCredentials, ClientError> {
        self.api.turn().await
    }

    /// Sends a signal, Olm-encrypted, to every device of `users` (the other participants of
    /// the call, or one of them), opening Olm sessions where needed. Returns warnings (devices
    /// that could not be reached).
    pub async fn send_call_signal(
        &mut self,
        users: &[UserId],
        signal: &CallSignal,
    ) -> Result<Vec<String>, ClientError> {
        let mut warnings = Vec::new();
        for (_, outcome) in self.refresh_devices(users).await? {
            if let Err(error) = outcome {
                warnings.push(error.to_string());
            }
        }
        let content = serde_json::to_value(signal)
            .map_err(|e| ClientError::Invalid(format!("cannot encode call signal: {e}")))?;
        let ids: Vec<String> = users.iter().map(UserId::to_string).collect();
        let devices = self.machine.participant_devices(&ids);
        let mut messages = Vec::new();
        let mut missing = Vec::new();
        for device in &devices {
            match self.machine.encrypt_to_device(
                device,
                OutgoingToDevice::Custom {
                    event_type: CALL_SIGNAL_EVENT.to_owned(),
                    content: content.clone(),
                },
            ) {
                Ok(envelope) => messages.push(crate::crypto::ToDeviceMessage {
                    recipient: device.clone(),
                    envelope,
                }),
                Err(OlmError::NoSession { .. }) => missing.push(device.clone()),
                Err(error) => warnings.push(format!(
                    "cannot encrypt for device {}: {error}",
                    device.device_id
                )),
            }
        }
        if !missing.is_empty() {
            let wanted = missing.iter().filter_map(super::send::wire_ref).collect();
            self.open_olm_sessions(wanted, &mut warnings, " and misses this call signal")
                .await?;
            for device in &missing {
                match self.machine.encrypt_to_device(
                    device,
                    OutgoingToDevice::Custom {
                        event_type: CALL_SIGNAL_EVENT.to_owned(),
                        content: content.clone(),
                    },
                ) {
                    Ok(envelope) => messages.push(crate::crypto::ToDeviceMessage {
                        recipient: device.clone(),
                        envelope,
                    }),
                    Err(error) => warnings.push(format!(
                        "cannot encrypt for device {}: {error}",
                        device.device_id
                    )),
                }
            }
        }
        self.send_to_devices(messages, &mut warnings).await?;
        Ok(warnings)
    }

    /// The call signals received since the last call (after a [`Messenger::sync`] or a
    /// `to_device` frame), oldest first.
    pub fn take_call_signals(&mut self) -> Vec<ReceivedCallSignal> {
        std::mem::take(&mut self.call_signals)
    }
}
