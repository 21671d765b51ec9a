DROP TABLE IF EXISTS job_runs;
DROP TABLE IF EXISTS daily_message_stats;
DROP TABLE IF EXISTS daily_event_totals;
