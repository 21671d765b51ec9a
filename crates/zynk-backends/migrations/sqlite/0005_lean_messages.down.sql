-- no-transaction
-- Back to the 0001 layout of message_refs and messages.
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE message_refs_old (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    conversation_id BLOB NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    sender_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    UNIQUE (conversation_id, seq)
);
INSERT INTO message_refs_old (id, conversation_id, seq, sender_id, created_at)
    SELECT id, conversation_id, seq, sender_id, created_at FROM message_refs;
DROP TABLE message_refs;
ALTER TABLE message_refs_old RENAME TO message_refs;
CREATE INDEX idx_message_refs_sender ON message_refs(sender_id);

CREATE TABLE messages_old (
    id BLOB NOT NULL REFERENCES message_refs(id) ON DELETE CASCADE,
    conversation_id BLOB NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    sender_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sender_device_id BLOB REFERENCES devices(id) ON DELETE SET NULL,
    encrypted_content BLOB NOT NULL,
    content_hash TEXT NOT NULL CHECK (
        length(content_hash) = 64 AND content_hash NOT GLOB '*[^0-9a-f]*'
    ),
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
CREATE INDEX idx_messages_sender ON messages(sender_id);
CREATE INDEX idx_messages_expires ON messages(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX idx_messages_deleted ON messages(deleted_at) WHERE deleted_at IS NOT NULL;

COMMIT;
PRAGMA foreign_keys = ON;
