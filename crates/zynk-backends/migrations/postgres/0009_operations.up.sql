-- Operations (issue 16): analytics, its daily aggregates, and the job runner's records.
--
-- message_events becomes partitioned by month on `time`, like messages, so that raw events past
-- `analytics.raw_days` go by dropping whole partitions. It held no rows before this version
-- (nothing wrote it); any that exist are copied over.
ALTER TABLE message_events RENAME TO message_events_plain;
ALTER INDEX idx_message_events_time RENAME TO idx_message_events_plain_time;
ALTER INDEX idx_message_events_user RENAME TO idx_message_events_plain_user;
CREATE TABLE message_events (
    time TIMESTAMPTZ NOT NULL,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    event_type VARCHAR(50) NOT NULL,
    metadata JSONB
) PARTITION BY RANGE (time);
CREATE INDEX idx_message_events_time ON message_events(time DESC);
CREATE INDEX idx_message_events_user ON message_events(user_id, time DESC);

-- Creates the monthly partitions of message_events from `months_back` months before the current
-- month to `months_ahead` after it; returns how many it created (as the messages function).
CREATE FUNCTION zynk_ensure_event_partitions(months_back INT, months_ahead INT)
RETURNS INT LANGUAGE plpgsql AS $$
DECLARE
    first_month DATE := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    month_start DATE;
    partition_name TEXT;
    created INT := 0;
BEGIN
    FOR i IN -months_back..months_ahead LOOP
        month_start := (first_month + make_interval(months => i))::date;
        partition_name := format('message_events_%s', to_char(month_start, 'YYYY_MM'));
        IF to_regclass(partition_name) IS NULL THEN
            BEGIN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF message_events FOR VALUES FROM (%L) TO (%L)',
                    partition_name,
                    month_start::timestamp AT TIME ZONE 'UTC',
                    (month_start + interval '1 month')::timestamp AT TIME ZONE 'UTC'
                );
                created := created + 1;
            EXCEPTION WHEN duplicate_table THEN
                NULL;
            END;
        END IF;
    END LOOP;
    RETURN created;
END
$$;

-- Drops the partitions of message_events that end at or before `cutoff`; returns how many.
CREATE FUNCTION zynk_drop_event_partitions(cutoff TIMESTAMPTZ)
RETURNS INT LANGUAGE plpgsql AS $$
DECLARE
    part RECORD;
    dropped INT := 0;
BEGIN
    FOR part IN
        SELECT c.relname AS name
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'message_events'::regclass
          AND c.relname ~ '^message_events_[0-9]{4}_[0-9]{2}$'
    LOOP
        IF (to_date(substr(part.name, 16), 'YYYY_MM') + interval '1 month')::timestamp
            AT TIME ZONE 'UTC' <= cutoff THEN
            EXECUTE format('DROP TABLE IF EXISTS %I', part.name);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END
$$;

SELECT zynk_ensure_event_partitions(1, 3);
INSERT INTO message_events (time, user_id, event_type, metadata)
    SELECT time, user_id, event_type, metadata FROM message_events_plain
    WHERE time >= date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month';
DROP TABLE message_events_plain;

-- Daily counts per event type, kept indefinitely (they name no user).
CREATE TABLE daily_event_totals (
    day DATE NOT NULL,
    event_type VARCHAR(50) NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (day, event_type)
);

-- Daily counts per user and event type (the data model's daily_message_stats), kept
-- indefinitely; they go with the user.
CREATE TABLE daily_message_stats (
    day DATE NOT NULL,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    event_type VARCHAR(50) NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (day, user_id, event_type)
);
CREATE INDEX idx_daily_message_stats_user ON daily_message_stats(user_id, day);

-- The last run of each background job, written by whichever node ran it.
CREATE TABLE job_runs (
    job VARCHAR(64) PRIMARY KEY,
    node VARCHAR(128) NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    duration_ms BIGINT NOT NULL,
    outcome VARCHAR(16) NOT NULL,
    detail TEXT,
    runs BIGINT NOT NULL DEFAULT 0,
    failures BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT job_runs_outcome CHECK (outcome IN ('ok', 'failed'))
);
