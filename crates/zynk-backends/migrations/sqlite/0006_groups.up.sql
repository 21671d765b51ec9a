-- no-transaction
-- Groups (issue 10):
-- * messages.message_type also takes 'membership': a membership change of a group is a row of
--   the group conversation's history, written by the server (its body is a small JSON object,
--   not secret: the server knows membership). SQLite cannot change a CHECK constraint in place,
--   so the table is rebuilt as 0005 did, rows copied as they are.
-- * group_members.joined_seq: the sequence number of the event that added the member; a member
--   reads the group's history from there on.
-- * max_members is enforced by the database too: a trigger refuses a member beyond the group's
--   max_members (the service checks first; the add transaction holds the write lock).
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE messages_new (
    id BLOB NOT NULL REFERENCES message_refs(id) ON DELETE CASCADE,
    conversation_id BLOB NOT NULL,
    seq INTEGER NOT NULL,
    sender_id BLOB NOT NULL,
    sender_device_id BLOB REFERENCES devices(id) ON DELETE SET NULL,
    encrypted_content BLOB NOT NULL,
    content_hash TEXT NOT NULL CHECK (length(content_hash) = 64),
    message_type TEXT NOT NULL CHECK (
        message_type IN ('text', 'image', 'file', 'audio', 'video', 'location', 'membership')
    ),
    metadata TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
    status TEXT NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
    expires_at TEXT,
    created_at TEXT NOT NULL,
    edited_at TEXT,
    deleted_at TEXT,
    PRIMARY KEY (id, created_at)
);
INSERT INTO messages_new SELECT id, conversation_id, seq, sender_id, sender_device_id,
    encrypted_content, content_hash, message_type, metadata, status, expires_at, created_at,
    edited_at, deleted_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX idx_messages_conversation_seq ON messages(conversation_id, seq);
CREATE INDEX idx_messages_expires ON messages(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX idx_messages_deleted ON messages(deleted_at) WHERE deleted_at IS NOT NULL;

ALTER TABLE group_members ADD COLUMN joined_seq INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER group_members_max_members BEFORE INSERT ON group_members
WHEN (SELECT COUNT(*) FROM group_members WHERE group_id = NEW.group_id)
     >= (SELECT COALESCE(max_members, 256) FROM groups WHERE id = NEW.group_id)
BEGIN
    SELECT RAISE(ABORT, 'group_full: the group has reached max_members');
END;

COMMIT;
PRAGMA foreign_keys = ON;
