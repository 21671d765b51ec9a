DROP INDEX IF EXISTS idx_calls_status_created;
DROP INDEX IF EXISTS idx_calls_one_active;
