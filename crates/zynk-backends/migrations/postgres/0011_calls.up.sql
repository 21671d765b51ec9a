-- Calls (issue 12): at most one active call per conversation, enforced by the database too,
-- and an index for the sweep that marks unanswered calls missed.
CREATE UNIQUE INDEX idx_calls_one_active ON calls(conversation_id)
    WHERE status IN ('initiated', 'ringing', 'in_progress');
CREATE INDEX idx_calls_status_created ON calls(status, created_at);
