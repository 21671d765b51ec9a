DROP TABLE IF EXISTS job_runs;
DROP TABLE IF EXISTS daily_message_stats;
DROP TABLE IF EXISTS daily_event_totals;
-- message_events back to a plain table (the events of the partitions are copied).
CREATE TABLE message_events_plain (
    time TIMESTAMPTZ NOT NULL,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    event_type VARCHAR(50) NOT NULL,
    metadata JSONB
);
INSERT INTO message_events_plain SELECT time, user_id, event_type, metadata FROM message_events;
DROP TABLE message_events;
DROP FUNCTION IF EXISTS zynk_drop_event_partitions(TIMESTAMPTZ);
DROP FUNCTION IF EXISTS zynk_ensure_event_partitions(INT, INT);
ALTER TABLE message_events_plain RENAME TO message_events;
CREATE INDEX idx_message_events_time ON message_events(time DESC);
CREATE INDEX idx_message_events_user ON message_events(user_id, time DESC);
