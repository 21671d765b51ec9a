-- Zynk core schema for SQLite: the same tables, constraints and meaning as the PostgreSQL schema,
-- in SQLite's types: UUIDs are 16-byte BLOBs, times are RFC 3339 UTC TEXT written by the server
-- (always the same format, so they compare correctly as text), JSON is TEXT checked by
-- json_valid, booleans are INTEGER 0/1. The messages table needs no partitions here.

CREATE TABLE users (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    username TEXT NOT NULL CHECK (
        length(username) BETWEEN 3 AND 64 AND username NOT GLOB '*[^a-zA-Z0-9_]*'
    ),
    password_hash TEXT NOT NULL CHECK (length(password_hash) <= 255),
    public_key TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));

CREATE TABLE user_profiles (
    user_id BLOB PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    display_name TEXT CHECK (display_name IS NULL OR length(display_name) <= 255),
    avatar_url TEXT,
    bio TEXT CHECK (bio IS NULL OR length(bio) <= 500),
    last_seen_at TEXT,
    privacy_settings TEXT NOT NULL DEFAULT '{"show_online_status":true,"show_last_seen":true,"allow_read_receipts":true,"allow_proximity_discovery":true}'
        CHECK (json_valid(privacy_settings) AND json_type(privacy_settings) = 'object'),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- The user's identity key encrypted by the client (the server cannot read it), so a new device
-- of the user can sign its own keys.
CREATE TABLE identity_backups (
    user_id BLOB PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    ciphertext BLOB NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE devices (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_name TEXT CHECK (device_name IS NULL OR length(device_name) <= 255),
    device_fingerprint TEXT UNIQUE NOT NULL CHECK (length(device_fingerprint) <= 64),
    public_key TEXT NOT NULL,
    push_token TEXT,
    platform TEXT NOT NULL CHECK (platform IN ('android', 'ios', 'web')),
    last_active_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (user_id, device_fingerprint)
);
CREATE INDEX idx_devices_user_id ON devices(user_id);
CREATE INDEX idx_devices_last_active ON devices(last_active_at);

CREATE TABLE device_keys (
    device_id BLOB PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    key_bundle TEXT NOT NULL CHECK (json_valid(key_bundle)),
    updated_at TEXT NOT NULL
);

CREATE TABLE device_one_time_keys (
    device_id BLOB NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    key_id TEXT NOT NULL CHECK (length(key_id) <= 64),
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (device_id, key_id)
);

CREATE TABLE device_fallback_keys (
    device_id BLOB PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    key_id TEXT NOT NULL CHECK (length(key_id) <= 64),
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE conversations (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    type TEXT NOT NULL CHECK (type IN ('one_to_one', 'group')),
    encryption_type TEXT NOT NULL DEFAULT 'e2ee' CHECK (encryption_type IN ('e2ee', 'none')),
    pair_key TEXT UNIQUE,
    last_seq INTEGER NOT NULL DEFAULT 0,
    anchor_expiring INTEGER NOT NULL DEFAULT 0 CHECK (anchor_expiring IN (0, 1)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK ((type = 'one_to_one') = (pair_key IS NOT NULL))
);
CREATE INDEX idx_conversations_type ON conversations(type);
CREATE INDEX idx_conversations_updated ON conversations(updated_at DESC);

CREATE TABLE conversation_participants (
    conversation_id BLOB NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT DEFAULT 'member' CHECK (role IN ('admin', 'member')),
    joined_at TEXT NOT NULL,
    last_read_at TEXT,
    last_delivered_seq INTEGER NOT NULL DEFAULT 0,
    last_read_seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id),
    CHECK (last_read_seq <= last_delivered_seq)
);
CREATE INDEX idx_participants_user ON conversation_participants(user_id);

CREATE TABLE message_refs (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    conversation_id BLOB NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    sender_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    UNIQUE (conversation_id, seq)
);
CREATE INDEX idx_message_refs_sender ON message_refs(sender_id);

CREATE TABLE messages (
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
-- The data model's idx_messages_conversation (conversation_id, created_at) and idx_messages_status
-- (every row has status 'sent': per-participant cursors hold delivery state) serve no query Zynk
-- runs; on SQLite, where every index is written by the single writer, they are left out.
-- PostgreSQL keeps them as the data model defines them.
CREATE INDEX idx_messages_conversation_seq ON messages(conversation_id, seq);
CREATE INDEX idx_messages_sender ON messages(sender_id);
CREATE INDEX idx_messages_expires ON messages(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX idx_messages_deleted ON messages(deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE to_device_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient_device_id BLOB NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    sender_user_id BLOB REFERENCES users(id) ON DELETE SET NULL,
    sender_device_id BLOB REFERENCES devices(id) ON DELETE SET NULL,
    event_type TEXT NOT NULL CHECK (length(event_type) <= 64),
    txn_id TEXT NOT NULL CHECK (length(txn_id) <= 64),
    content TEXT NOT NULL CHECK (json_valid(content)),
    created_at TEXT NOT NULL,
    UNIQUE (sender_device_id, txn_id, recipient_device_id)
);
CREATE INDEX idx_to_device_recipient ON to_device_messages(recipient_device_id, id);
CREATE INDEX idx_to_device_created ON to_device_messages(created_at);

CREATE TABLE groups (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    conversation_id BLOB NOT NULL UNIQUE REFERENCES conversations(id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (length(name) <= 255),
    description TEXT,
    avatar_url TEXT,
    max_members INTEGER DEFAULT 256 CHECK (max_members BETWEEN 2 AND 256),
    encryption_mode TEXT NOT NULL DEFAULT 'sender_keys'
        CHECK (encryption_mode IN ('sender_keys', 'shared_secret')),
    created_by BLOB REFERENCES users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX idx_groups_created_by ON groups(created_by);
CREATE INDEX idx_groups_created_at ON groups(created_at DESC);

CREATE TABLE group_members (
    group_id BLOB NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member')),
    joined_at TEXT NOT NULL,
    invited_by BLOB REFERENCES users(id) ON DELETE SET NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX idx_group_members_user ON group_members(user_id);

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

CREATE TABLE calls (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    initiator_id BLOB REFERENCES users(id) ON DELETE SET NULL,
    call_type TEXT NOT NULL CHECK (call_type IN ('audio', 'video')),
    status TEXT NOT NULL DEFAULT 'initiated' CHECK (
        status IN ('initiated', 'ringing', 'in_progress', 'ended', 'missed', 'declined')
    ),
    conversation_id BLOB REFERENCES conversations(id) ON DELETE CASCADE,
    started_at TEXT,
    ended_at TEXT,
    duration_seconds INTEGER CHECK (duration_seconds IS NULL OR duration_seconds >= 0),
    created_at TEXT NOT NULL
);
CREATE INDEX idx_calls_initiator ON calls(initiator_id);
CREATE INDEX idx_calls_conversation ON calls(conversation_id);
CREATE INDEX idx_calls_created ON calls(created_at DESC);

CREATE TABLE call_participants (
    call_id BLOB NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    joined_at TEXT,
    left_at TEXT,
    PRIMARY KEY (call_id, user_id)
);
CREATE INDEX idx_call_participants_user ON call_participants(user_id);

CREATE TABLE sessions (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_id BLOB NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    session_token TEXT UNIQUE NOT NULL CHECK (length(session_token) <= 512),
    refresh_token TEXT UNIQUE NOT NULL CHECK (length(refresh_token) <= 512),
    expires_at TEXT NOT NULL,
    refresh_expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT NOT NULL
);
CREATE INDEX idx_sessions_user ON sessions(user_id);
CREATE INDEX idx_sessions_device ON sessions(device_id);
CREATE INDEX idx_sessions_expires ON sessions(refresh_expires_at);

CREATE TABLE session_refresh_history (
    refresh_token TEXT PRIMARY KEY,
    session_id BLOB NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    rotated_at TEXT NOT NULL
);
CREATE INDEX idx_refresh_history_session ON session_refresh_history(session_id);

CREATE TABLE message_events (
    time TEXT NOT NULL,
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    event_type TEXT NOT NULL CHECK (length(event_type) <= 50),
    metadata TEXT CHECK (metadata IS NULL OR json_valid(metadata))
);
CREATE INDEX idx_message_events_time ON message_events(time DESC);
CREATE INDEX idx_message_events_user ON message_events(user_id, time DESC);

CREATE TABLE blockchain_identities (
    did TEXT PRIMARY KEY CHECK (length(did) <= 66),
    user_id BLOB NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    public_key TEXT NOT NULL,
    trust_score INTEGER NOT NULL DEFAULT 50 CHECK (trust_score >= 0 AND trust_score <= 100),
    is_verified INTEGER NOT NULL DEFAULT 0 CHECK (is_verified IN (0, 1)),
    transaction_hash TEXT,
    block_number INTEGER,
    blockchain_registered_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX idx_blockchain_identities_verified ON blockchain_identities(is_verified);
CREATE INDEX idx_blockchain_identities_trust ON blockchain_identities(trust_score DESC);

CREATE TABLE blockchain_transactions (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    transaction_hash TEXT UNIQUE NOT NULL CHECK (length(transaction_hash) <= 66),
    transaction_type TEXT NOT NULL CHECK (
        transaction_type IN (
            'identity_registration', 'trust_score_update', 'message_anchor', 'credential_issuance'
        )
    ),
    from_address TEXT,
    to_address TEXT,
    block_number INTEGER,
    block_hash TEXT,
    gas_used INTEGER,
    user_id BLOB REFERENCES users(id) ON DELETE SET NULL,
    related_entity_id BLOB,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed', 'failed')),
    created_at TEXT NOT NULL,
    confirmed_at TEXT,
    CHECK (status <> 'confirmed' OR block_number IS NOT NULL)
);
CREATE INDEX idx_blockchain_tx_user ON blockchain_transactions(user_id);
CREATE INDEX idx_blockchain_tx_type ON blockchain_transactions(transaction_type);
CREATE INDEX idx_blockchain_tx_block ON blockchain_transactions(block_number);
CREATE INDEX idx_blockchain_tx_status ON blockchain_transactions(status, created_at);

CREATE TABLE message_anchors (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    merkle_root TEXT NOT NULL UNIQUE CHECK (length(merkle_root) <= 64),
    message_count INTEGER NOT NULL CHECK (message_count > 0),
    transaction_hash TEXT,
    block_number INTEGER,
    anchored_at TEXT NOT NULL
);
CREATE INDEX idx_message_anchors_block ON message_anchors(block_number);
CREATE INDEX idx_message_anchors_time ON message_anchors(anchored_at DESC);

CREATE TABLE message_merkle_proofs (
    message_id BLOB PRIMARY KEY REFERENCES message_refs(id) ON DELETE CASCADE,
    content_hash TEXT NOT NULL,
    merkle_root_id BLOB NOT NULL REFERENCES message_anchors(id),
    proof TEXT NOT NULL CHECK (json_valid(proof)),
    leaf_index INTEGER NOT NULL CHECK (leaf_index >= 0),
    created_at TEXT NOT NULL
);
CREATE INDEX idx_merkle_proofs_root ON message_merkle_proofs(merkle_root_id);
CREATE INDEX idx_merkle_proofs_hash ON message_merkle_proofs(content_hash);

CREATE TABLE trust_score_history (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    did TEXT NOT NULL REFERENCES blockchain_identities(did) ON DELETE CASCADE,
    old_score INTEGER NOT NULL CHECK (old_score >= 0 AND old_score <= 100),
    new_score INTEGER NOT NULL CHECK (new_score >= 0 AND new_score <= 100),
    change_reason TEXT NOT NULL CHECK (
        change_reason IN ('verified_by_community', 'spam_report', 'account_age_milestone',
                          'message_volume_threshold', 'manual_adjustment')
    ),
    transaction_hash TEXT,
    changed_by BLOB REFERENCES users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX idx_trust_history_did ON trust_score_history(did, created_at DESC);
CREATE INDEX idx_trust_history_time ON trust_score_history(created_at DESC);
