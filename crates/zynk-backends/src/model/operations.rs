//! Operations: analytics events and their daily aggregates, undelivered-message expiry, and the
//! records of the background jobs.

use chrono::{DateTime, NaiveDate, Utc};
use zynk_proto::{ConversationId, MessageId, UserId};

/// One analytics event: who, what and when; never message content or anything a client
/// encrypted.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyticsEvent {
    /// When it happened.
    pub time: DateTime<Utc>,
    /// The user it concerns.
    pub user_id: UserId,
    /// Its type (`message_sent`, `message_delivered`, …), at most 50 characters.
    pub event_type: &'static str,
    /// Plain, non-secret details (such as a message type), if any.
    pub metadata: Option<serde_json::Value>,
}

/// One row of the daily aggregates: how many events of a type on a day (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyCount {
    /// The day (UTC).
    pub day: NaiveDate,
    /// The event type.
    pub event_type: String,
    /// How many events.
    pub count: i64,
}

/// A conversation message removed because no recipient received it in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UndeliveredMessage {
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// The message.
    pub message_id: MessageId,
    /// Its sender (whose devices are told).
    pub sender_id: UserId,
}

/// How a job run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// It did its work.
    Ok,
    /// It failed (the detail says why).
    Failed,
}

impl JobOutcome {
    /// `ok` or `failed`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Ok => "ok",
            JobOutcome::Failed => "failed",
        }
    }
}

/// A finished job run, to record.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRun {
    /// The job's name.
    pub job: String,
    /// The node that ran it.
    pub node: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// How it ended.
    pub outcome: JobOutcome,
    /// What it did, or why it failed.
    pub detail: Option<String>,
    /// Runs this record stands for (more than one when frequent runs are recorded together).
    pub runs: i64,
    /// Failed runs among them.
    pub failures: i64,
}

/// The recorded last run of a job, with its totals.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRunRecord {
    /// The job's name.
    pub job: String,
    /// The node that ran it last.
    pub node: String,
    /// When the last run started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
    /// How it ended: `ok` or `failed`.
    pub outcome: String,
    /// What it did, or why it failed.
    pub detail: Option<String>,
    /// Runs recorded so far (all nodes).
    pub runs: i64,
    /// Failed runs recorded so far.
    pub failures: i64,
}
