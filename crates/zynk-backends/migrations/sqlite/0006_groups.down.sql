-- no-transaction
-- Back to the 0005 layout: membership events are removed (with their message_refs), then the
-- messages table is rebuilt without 'membership'; joined_seq and the trigger go.
PRAGMA foreign_keys = OFF;
BEGIN;

DROP TRIGGER IF EXISTS group_members_max_members;
ALTER TABLE group_members DROP COLUMN joined_seq;

DELETE FROM message_refs WHERE id IN (SELECT id FROM messages WHERE message_type = 'membership');
DELETE FROM messages WHERE message_type = 'membership';

CREATE TABLE messages_old (
    id BLOB NOT NULL REFERENCES message_refs(id) ON DELETE CASCADE,
    conversation_id BLOB NOT NULL,
    seq INTEGER NOT NULL,
    sender_id BLOB NOT NULL,
    sender_device_id BLOB REFERENCES devices(id) ON DELETE SET NULL,
    encrypted_content BLOB NOT NULL,
    content_hash TEXT NOT NULL CHECK (length(content_hash) = 64),
    message_type TEXT NOT NULL CHECK (
        message_type IN ('text', 'image', 'file', 'audio', 'video', 'location')
    ),
    metadata TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
    status TEXT NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
    expires_at TEXT,
    created_at TEXT NOT NULL,
    edited_at TEXT,
    deleted_at TEXT,
    PRIMARY KEY (id, created_at)
);
INSERT INTO messages_old SELECT id, conversation_id, seq, sender_id, sender_device_id,
    encrypted_content, content_hash, message_type, metadata, status, expires_at, created_at,
    edited_at, deleted_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_old RENAME TO messages;
CREATE INDEX idx_messages_conversation_seq ON messages(conversation_id, seq);
CREATE INDEX idx_messages_expires ON messages(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX idx_messages_deleted ON messages(deleted_at) WHERE deleted_at IS NOT NULL;

COMMIT;
PRAGMA foreign_keys = ON;
