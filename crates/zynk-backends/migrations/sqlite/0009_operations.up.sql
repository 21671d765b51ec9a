-- Operations (issue 16): the daily aggregates of analytics events and the job runner's records.
-- message_events stays a plain table here: raw events past `analytics.raw_days` are deleted.

-- Daily counts per event type, kept indefinitely (they name no user).
CREATE TABLE daily_event_totals (
    day TEXT NOT NULL,
    event_type TEXT NOT NULL CHECK (length(event_type) <= 50),
    count INTEGER NOT NULL,
    PRIMARY KEY (day, event_type)
) WITHOUT ROWID;

-- Daily counts per user and event type (the data model's daily_message_stats), kept
-- indefinitely; they go with the user.
CREATE TABLE daily_message_stats (
    day TEXT NOT NULL,
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    event_type TEXT NOT NULL CHECK (length(event_type) <= 50),
    count INTEGER NOT NULL,
    PRIMARY KEY (day, user_id, event_type)
) WITHOUT ROWID;
CREATE INDEX idx_daily_message_stats_user ON daily_message_stats(user_id, day);

-- The last run of each background job.
CREATE TABLE job_runs (
    job TEXT PRIMARY KEY CHECK (length(job) <= 64),
    node TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'failed')),
    detail TEXT,
    runs INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0
);
