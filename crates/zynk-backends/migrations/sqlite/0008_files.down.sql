-- Back to the 0001 layout of files (stored file rows are dropped: they cannot be expressed in it).
DROP TABLE file_upload_parts;
DROP TABLE files;
CREATE TABLE files (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    uploader_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    conversation_id BLOB REFERENCES conversations(id) ON DELETE SET NULL,
    filename TEXT NOT NULL CHECK (length(filename) <= 255),
    file_size INTEGER NOT NULL CHECK (file_size > 0 AND file_size <= 2147483648),
    mime_type TEXT CHECK (mime_type IS NULL OR length(mime_type) <= 100),
    storage_path TEXT NOT NULL,
    encryption_key_encrypted BLOB,
    content_hash TEXT NOT NULL CHECK (length(content_hash) <= 64),
    thumbnail_path TEXT,
    metadata TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
    expires_at TEXT,
    created_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX idx_files_uploader ON files(uploader_id);
CREATE INDEX idx_files_conversation ON files(conversation_id);
CREATE INDEX idx_files_expires ON files(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX idx_files_created ON files(created_at DESC);
