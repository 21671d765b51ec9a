-- Encrypted files: the server keeps no name, type, key or metadata of a file (they travel inside
-- the end-to-end-encrypted message that announces it), only the ciphertext's declared size and
-- SHA-256, where it is stored, and the state of its resumable upload.
DROP TABLE files;
CREATE TABLE files (
    id UUID PRIMARY KEY,
    uploader_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    conversation_id UUID REFERENCES conversations(id) ON DELETE SET NULL,
    -- The ciphertext's size: a 2 GiB plaintext is 2,148,007,936 bytes encrypted.
    file_size BIGINT NOT NULL CHECK (file_size > 0 AND file_size <= 2148007936),
    storage_path TEXT NOT NULL UNIQUE,
    -- SHA-256 of the ciphertext (hex), declared at the start and checked at the end.
    content_hash VARCHAR(64) NOT NULL CHECK (length(content_hash) = 64),
    status VARCHAR(16) NOT NULL DEFAULT 'uploading' CHECK (status IN ('uploading', 'complete')),
    part_size BIGINT NOT NULL CHECK (part_size > 0),
    uploaded_bytes BIGINT NOT NULL DEFAULT 0
        CHECK (uploaded_bytes >= 0 AND uploaded_bytes <= file_size),
    -- The blob store's handle of the unfinished upload, and the SHA-256 state after
    -- uploaded_bytes (both cleared once complete).
    upload_id TEXT,
    hash_state BYTEA,
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ,
    deleted_at TIMESTAMPTZ
);
CREATE INDEX idx_files_uploader ON files(uploader_id);
CREATE INDEX idx_files_conversation ON files(conversation_id);
CREATE INDEX idx_files_expires ON files(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX idx_files_created ON files(created_at DESC);
CREATE INDEX idx_files_unfinished ON files(updated_at) WHERE status = 'uploading';
CREATE INDEX idx_files_deleted ON files(deleted_at) WHERE deleted_at IS NOT NULL;

-- The stored parts of an unfinished upload, in order (part ids from the blob store).
CREATE TABLE file_upload_parts (
    file_id UUID NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    part_number INT NOT NULL CHECK (part_number >= 0),
    part_id TEXT NOT NULL,
    PRIMARY KEY (file_id, part_number)
);
