//! Audio and video calls (`/api/v1/calls`) and TURN credentials (`/api/v1/turn`).
//!
//! Media flows peer to peer (WebRTC). The server keeps the call record and its state; the SDP
//! offers and answers and the ICE candidates travel end-to-end encrypted over the to-device
//! channel, as [`CallSignal`] payloads inside Olm messages, so the server never reads them.

use crate::ids::{CallId, ConversationId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallType {
    /// Audio only.
    Audio,
    /// Audio and video.
    Video,
}

impl CallType {
    /// The stored spelling.
    pub const fn as_str(&self) -> &'static str {
        match self {
            CallType::Audio => "audio",
            CallType::Video => "video",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "audio" => Some(CallType::Audio),
            "video" => Some(CallType::Video),
            _ => None,
        }
    }
}

/// Where a call is: `initiated` → `ringing` → `in_progress` → `ended`, or `missed` (nobody
/// answered in time, or the caller hung up first), or `declined`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Created; no callee device reached yet.
    Initiated,
    /// At least one callee device was reached.
    Ringing,
    /// Answered; media flows between the participants.
    InProgress,
    /// Over after having been answered.
    Ended,
    /// Nobody answered.
    Missed,
    /// The callee (every callee of a group call) declined.
    Declined,
}

impl CallStatus {
    /// The stored spelling.
    pub const fn as_str(&self) -> &'static str {
        match self {
            CallStatus::Initiated => "initiated",
            CallStatus::Ringing => "ringing",
            CallStatus::InProgress => "in_progress",
            CallStatus::Ended => "ended",
            CallStatus::Missed => "missed",
            CallStatus::Declined => "declined",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "initiated" => CallStatus::Initiated,
            "ringing" => CallStatus::Ringing,
            "in_progress" => CallStatus::InProgress,
            "ended" => CallStatus::Ended,
            "missed" => CallStatus::Missed,
            "declined" => CallStatus::Declined,
            _ => return None,
        })
    }

    /// Whether the call is still going on (not yet ended, missed or declined).
    pub const fn is_active(&self) -> bool {
        matches!(
            self,
            CallStatus::Initiated | CallStatus::Ringing | CallStatus::InProgress
        )
    }
}

/// `POST /api/v1/calls`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateCallRequest {
    /// The conversation to call (its other participants are the callees).
    pub conversation_id: ConversationId,
    /// Audio or video.
    pub call_type: CallType,
}

/// One participant of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallParticipant {
    /// The participant.
    pub user_id: UserId,
    /// When they joined (the initiator at creation, callees when answering); null if never.
    pub joined_at: Option<DateTime<Utc>>,
    /// When they left (or declined); null while in the call or never joined.
    pub left_at: Option<DateTime<Utc>>,
}

/// A call record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Call {
    /// The call.
    pub call_id: CallId,
    /// Its state.
    pub status: CallStatus,
    /// Audio or video.
    pub call_type: CallType,
    /// The conversation it belongs to.
    pub conversation_id: Option<ConversationId>,
    /// Who started it (null once their account is deleted).
    pub initiator_id: Option<UserId>,
    /// Everyone called, the initiator first.
    pub participants: Vec<CallParticipant>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it was first answered.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended, was missed or declined.
    pub ended_at: Option<DateTime<Utc>>,
    /// Whole seconds from `started_at` to `ended_at`, computed by the server (null unless ended).
    pub duration_seconds: Option<i64>,
}

/// `GET /api/v1/calls`: one page of the caller's calls, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallPage {
    /// The calls.
    pub calls: Vec<Call>,
    /// Pass as `before` for the next page; null on the last page.
    pub next_before: Option<CallId>,
}

/// Query of `GET /api/v1/calls`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct CallPageQuery {
    /// Only calls older than this one (the `next_before` of the previous page).
    pub before: Option<CallId>,
    /// Page size, 1-100 (default 50).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub limit: Option<u32>,
}

/// `GET /api/v1/turn`: time-limited TURN credentials in coturn's REST scheme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TurnCredentials {
    /// TURN/STUN URLs (`turn:host:3478?transport=udp`, …).
    pub urls: Vec<String>,
    /// `expiry:user_id` (expiry in Unix seconds).
    pub username: String,
    /// base64(HMAC-SHA1(shared secret, username)).
    pub credential: String,
    /// Seconds the credentials stay valid.
    pub ttl: u64,
}

/// The signalling payloads devices exchange for a call, end-to-end encrypted inside Olm
/// to-device messages (the server never sees them). Carried as the JSON plaintext of the
/// to-device message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CallSignal {
    /// The caller's SDP offer.
    Offer {
        /// The call.
        call_id: CallId,
        /// SDP.
        sdp: String,
    },
    /// The callee's SDP answer.
    Answer {
        /// The call.
        call_id: CallId,
        /// SDP.
        sdp: String,
    },
    /// One ICE candidate.
    Candidate {
        /// The call.
        call_id: CallId,
        /// The candidate line.
        candidate: String,
        /// Media stream id.
        sdp_mid: Option<String>,
        /// Media line index.
        sdp_m_line_index: Option<u32>,
    },
    /// Hang-up of this peer connection (the call record is ended through the API).
    Hangup {
        /// The call.
        call_id: CallId,
    },
}

impl CallSignal {
    /// The call the signal belongs to.
    pub fn call_id(&self) -> CallId {
        match self {
            CallSignal::Offer { call_id, .. }
            | CallSignal::Answer { call_id, .. }
            | CallSignal::Candidate { call_id, .. }
            | CallSignal::Hangup { call_id } => *call_id,
        }
    }
}
