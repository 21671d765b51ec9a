-- Blocking and message requests.
-- * user_blocks: who blocked whom. A block stops 1:1 conversations between the two users (in
--   either direction) from being opened and written to; it does not touch group conversations.
-- * conversation_participants.request_state: whether the participant accepted the conversation.
--   The user who opens a 1:1 conversation has accepted it; the other side starts `pending` (a
--   message request) unless the two already share a group. `declined` hides the conversation
--   from that participant and refuses the other side's sends. Rows written before this migration
--   and group participants are `accepted`.

CREATE TABLE user_blocks (
    blocker_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    blocked_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id),
    CONSTRAINT no_self_block CHECK (blocker_id <> blocked_id)
);
CREATE INDEX idx_user_blocks_blocked ON user_blocks(blocked_id);

ALTER TABLE conversation_participants ADD COLUMN request_state VARCHAR(20) NOT NULL
    DEFAULT 'accepted'
    CONSTRAINT request_state_check CHECK (request_state IN ('accepted', 'pending', 'declined'));
