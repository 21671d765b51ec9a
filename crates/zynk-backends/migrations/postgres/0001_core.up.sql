-- Zynk core schema for PostgreSQL: the data model (spec sections 3, 10 and 11) with the
-- adjustments listed in docs/schema.md (TIMESTAMPTZ everywhere, case-insensitive usernames,
-- hashed tokens, per-participant delivery state, partition-safe message references).

CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    username VARCHAR(64) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,          -- PHC string, e.g. $pbkdf2-sha256$i=600000,l=32$...
    public_key TEXT NOT NULL,                     -- user identity key (Ed25519, base64)
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT username_format CHECK (username ~ '^[a-zA-Z0-9_]{3,64}$')
);
-- Usernames are unique case-insensitively; this index also serves lookups.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));

CREATE TABLE user_profiles (
    user_id UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    display_name VARCHAR(255),
    avatar_url TEXT,
    bio TEXT,
    last_seen_at TIMESTAMPTZ,
    privacy_settings JSONB NOT NULL DEFAULT '{
        "show_online_status": true,
        "show_last_seen": true,
        "allow_read_receipts": true,
        "allow_proximity_discovery": true
    }',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT bio_length CHECK (bio IS NULL OR char_length(bio) <= 500),
    CONSTRAINT privacy_is_object CHECK (jsonb_typeof(privacy_settings) = 'object')
);

-- The user's identity key encrypted by the client (the server cannot read it), so a new device
-- of the user can sign its own keys.
CREATE TABLE identity_backups (
    user_id UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    ciphertext BYTEA NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_name VARCHAR(255),
    device_fingerprint VARCHAR(64) UNIQUE NOT NULL,
    public_key TEXT NOT NULL,
    push_token TEXT,
    platform VARCHAR(20) NOT NULL,
    last_active_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT platform_check CHECK (platform IN ('android', 'ios', 'web')),
    UNIQUE (user_id, device_fingerprint)
);
CREATE INDEX idx_devices_user_id ON devices(user_id);
CREATE INDEX idx_devices_last_active ON devices(last_active_at);

-- Signed device key bundle (Curve25519 + Ed25519, signed by the device and the user identity key).
CREATE TABLE device_keys (
    device_id UUID PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    key_bundle JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One-time keys: each is handed out once (claimed rows are deleted in the claiming transaction).
CREATE TABLE device_one_time_keys (
    device_id UUID NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    key_id VARCHAR(64) NOT NULL,
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, key_id)
);

CREATE TABLE device_fallback_keys (
    device_id UUID PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    key_id VARCHAR(64) NOT NULL,
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE conversations (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    type VARCHAR(20) NOT NULL,
    encryption_type VARCHAR(20) NOT NULL DEFAULT 'e2ee',
    -- "smaller-uuid:larger-uuid" for one_to_one conversations: one conversation per pair.
    pair_key VARCHAR(73) UNIQUE,
    -- Highest message sequence number handed out in this conversation.
    last_seq BIGINT NOT NULL DEFAULT 0,
    -- Whether self-destructing messages of this conversation are anchored in the ledger.
    anchor_expiring BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT type_check CHECK (type IN ('one_to_one', 'group')),
    CONSTRAINT encryption_check CHECK (encryption_type IN ('e2ee', 'none')),
    CONSTRAINT pair_key_only_one_to_one CHECK ((type = 'one_to_one') = (pair_key IS NOT NULL))
);
CREATE INDEX idx_conversations_type ON conversations(type);
CREATE INDEX idx_conversations_updated ON conversations(updated_at DESC);

CREATE TABLE conversation_participants (
    conversation_id UUID NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role VARCHAR(20) DEFAULT 'member',
    joined_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_read_at TIMESTAMPTZ,
    -- Per-participant delivery and read state (one messages.status cannot hold it for groups).
    last_delivered_seq BIGINT NOT NULL DEFAULT 0,
    last_read_seq BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id),
    CONSTRAINT role_check CHECK (role IN ('admin', 'member')),
    CONSTRAINT read_not_after_delivered CHECK (last_read_seq <= last_delivered_seq)
);
CREATE INDEX idx_participants_user ON conversation_participants(user_id);

-- One row per message, not partitioned: enforces a globally unique (client-chosen) message id and a
-- unique per-conversation sequence number, and is what other tables reference, since the
-- partitioned messages table's key must include created_at.
CREATE TABLE message_refs (
    id UUID PRIMARY KEY,
    conversation_id UUID NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    sender_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (conversation_id, seq)
);
CREATE INDEX idx_message_refs_sender ON message_refs(sender_id);

CREATE TABLE messages (
    id UUID NOT NULL REFERENCES message_refs(id) ON DELETE CASCADE,
    conversation_id UUID NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    sender_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sender_device_id UUID REFERENCES devices(id) ON DELETE SET NULL,
    encrypted_content BYTEA NOT NULL,
    content_hash VARCHAR(64) NOT NULL,
    message_type VARCHAR(20) NOT NULL,
    metadata JSONB,
    status VARCHAR(20) NOT NULL DEFAULT 'sent',
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    edited_at TIMESTAMPTZ,
    deleted_at TIMESTAMPTZ,
    PRIMARY KEY (id, created_at),
    CONSTRAINT message_type_check CHECK (
        message_type IN ('text', 'image', 'file', 'audio', 'video', 'location')
    ),
    CONSTRAINT status_check CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
    CONSTRAINT content_hash_hex CHECK (content_hash ~ '^[0-9a-f]{64}$')
) PARTITION BY RANGE (created_at);
CREATE INDEX idx_messages_conversation ON messages(conversation_id, created_at DESC);
CREATE INDEX idx_messages_conversation_seq ON messages(conversation_id, seq);
CREATE INDEX idx_messages_sender ON messages(sender_id);
CREATE INDEX idx_messages_status ON messages(status, created_at) WHERE status = 'sent';
CREATE INDEX idx_messages_expires ON messages(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX idx_messages_deleted ON messages(deleted_at) WHERE deleted_at IS NOT NULL;

-- Creates the monthly partitions of messages from `months_back` months before the current month
-- to `months_ahead` after it; returns how many it created. Run by migrations and by the
-- partition maintenance job (daily), so partitions always exist ahead of time.
CREATE FUNCTION zynk_ensure_message_partitions(months_back INT, months_ahead INT)
RETURNS INT LANGUAGE plpgsql AS $$
DECLARE
    first_month DATE := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    month_start DATE;
    partition_name TEXT;
    created INT := 0;
BEGIN
    FOR i IN -months_back..months_ahead LOOP
        month_start := (first_month + make_interval(months => i))::date;
        partition_name := format('messages_%s', to_char(month_start, 'YYYY_MM'));
        IF to_regclass(partition_name) IS NULL THEN
            BEGIN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF messages FOR VALUES FROM (%L) TO (%L)',
                    partition_name,
                    month_start::timestamp AT TIME ZONE 'UTC',
                    (month_start + interval '1 month')::timestamp AT TIME ZONE 'UTC'
                );
                created := created + 1;
            EXCEPTION WHEN duplicate_table THEN
                -- Another node created it at the same moment: fine.
                NULL;
            END;
        END IF;
    END LOOP;
    RETURN created;
END
$$;
SELECT zynk_ensure_message_partitions(1, 3);

-- Per-device, per-message delivery acknowledgements live in conversation_participants cursors;
-- the durable to-device inbox (Olm-encrypted key shares and other device-to-device events):
CREATE TABLE to_device_messages (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient_device_id UUID NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    sender_user_id UUID REFERENCES users(id) ON DELETE SET NULL,
    sender_device_id UUID REFERENCES devices(id) ON DELETE SET NULL,
    event_type VARCHAR(64) NOT NULL,
    txn_id VARCHAR(64) NOT NULL,
    content JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (sender_device_id, txn_id, recipient_device_id)
);
CREATE INDEX idx_to_device_recipient ON to_device_messages(recipient_device_id, id);
CREATE INDEX idx_to_device_created ON to_device_messages(created_at);

CREATE TABLE groups (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id UUID NOT NULL UNIQUE REFERENCES conversations(id) ON DELETE CASCADE,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    avatar_url TEXT,
    max_members INT DEFAULT 256,
    encryption_mode VARCHAR(20) NOT NULL DEFAULT 'sender_keys',
    created_by UUID REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT encryption_mode_check CHECK (encryption_mode IN ('sender_keys', 'shared_secret')),
    CONSTRAINT max_members_range CHECK (max_members BETWEEN 2 AND 256)
);
CREATE INDEX idx_groups_created_by ON groups(created_by);
CREATE INDEX idx_groups_created_at ON groups(created_at DESC);

CREATE TABLE group_members (
    group_id UUID NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role VARCHAR(20) NOT NULL DEFAULT 'member',
    joined_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    invited_by UUID REFERENCES users(id) ON DELETE SET NULL,
    PRIMARY KEY (group_id, user_id),
    CONSTRAINT role_check CHECK (role IN ('admin', 'member'))
);
CREATE INDEX idx_group_members_user ON group_members(user_id);

CREATE TABLE files (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    uploader_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    conversation_id UUID REFERENCES conversations(id) ON DELETE SET NULL,
    filename VARCHAR(255) NOT NULL,
    file_size BIGINT NOT NULL,
    mime_type VARCHAR(100),
    storage_path TEXT NOT NULL,
    encryption_key_encrypted BYTEA,
    content_hash VARCHAR(64) NOT NULL,
    thumbnail_path TEXT,
    metadata JSONB,
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ,
    CONSTRAINT file_size_check CHECK (file_size > 0 AND file_size <= 2147483648)
);
CREATE INDEX idx_files_uploader ON files(uploader_id);
CREATE INDEX idx_files_conversation ON files(conversation_id);
CREATE INDEX idx_files_expires ON files(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX idx_files_created ON files(created_at DESC);

CREATE TABLE calls (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    initiator_id UUID REFERENCES users(id) ON DELETE SET NULL,
    call_type VARCHAR(20) NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'initiated',
    conversation_id UUID REFERENCES conversations(id) ON DELETE CASCADE,
    started_at TIMESTAMPTZ,
    ended_at TIMESTAMPTZ,
    duration_seconds INT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT call_type_check CHECK (call_type IN ('audio', 'video')),
    CONSTRAINT status_check CHECK (
        status IN ('initiated', 'ringing', 'in_progress', 'ended', 'missed', 'declined')
    ),
    CONSTRAINT duration_non_negative CHECK (duration_seconds IS NULL OR duration_seconds >= 0)
);
CREATE INDEX idx_calls_initiator ON calls(initiator_id);
CREATE INDEX idx_calls_conversation ON calls(conversation_id);
CREATE INDEX idx_calls_created ON calls(created_at DESC);

CREATE TABLE call_participants (
    call_id UUID NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    joined_at TIMESTAMPTZ,
    left_at TIMESTAMPTZ,
    PRIMARY KEY (call_id, user_id)
);
CREATE INDEX idx_call_participants_user ON call_participants(user_id);

-- Sessions: one row per token family (one login of one device). Only SHA-256 hashes of the
-- access and refresh tokens are stored, never the tokens.
CREATE TABLE sessions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_id UUID NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    session_token VARCHAR(512) UNIQUE NOT NULL,
    refresh_token VARCHAR(512) UNIQUE NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    refresh_expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_sessions_user ON sessions(user_id);
CREATE INDEX idx_sessions_device ON sessions(device_id);
CREATE INDEX idx_sessions_expires ON sessions(refresh_expires_at);

-- Refresh tokens already rotated away, kept to detect replay (which revokes the whole family).
CREATE TABLE session_refresh_history (
    refresh_token VARCHAR(512) PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    rotated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_refresh_history_session ON session_refresh_history(session_id);

-- Analytics events (spec section 10): a plain table, so no TimescaleDB is needed.
CREATE TABLE message_events (
    time TIMESTAMPTZ NOT NULL,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    event_type VARCHAR(50) NOT NULL,
    metadata JSONB
);
CREATE INDEX idx_message_events_time ON message_events(time DESC);
CREATE INDEX idx_message_events_user ON message_events(user_id, time DESC);

-- Ledger (spec section 11).
CREATE TABLE blockchain_identities (
    did VARCHAR(66) PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    public_key TEXT NOT NULL,
    trust_score INT NOT NULL DEFAULT 50,
    is_verified BOOLEAN NOT NULL DEFAULT false,
    transaction_hash VARCHAR(66),
    block_number BIGINT,
    blockchain_registered_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT trust_score_range CHECK (trust_score >= 0 AND trust_score <= 100),
    UNIQUE (user_id)
);
CREATE INDEX idx_blockchain_identities_verified ON blockchain_identities(is_verified);
CREATE INDEX idx_blockchain_identities_trust ON blockchain_identities(trust_score DESC);

CREATE TABLE blockchain_transactions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    transaction_hash VARCHAR(66) UNIQUE NOT NULL,
    transaction_type VARCHAR(50) NOT NULL,
    from_address VARCHAR(42),
    to_address VARCHAR(42),
    block_number BIGINT,
    block_hash VARCHAR(66),
    gas_used BIGINT,
    user_id UUID REFERENCES users(id) ON DELETE SET NULL,
    related_entity_id UUID,
    status VARCHAR(20) NOT NULL DEFAULT 'pending',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    confirmed_at TIMESTAMPTZ,
    CONSTRAINT transaction_type_check CHECK (
        transaction_type IN (
            'identity_registration', 'trust_score_update', 'message_anchor', 'credential_issuance'
        )
    ),
    CONSTRAINT status_check CHECK (status IN ('pending', 'confirmed', 'failed')),
    CONSTRAINT confirmed_has_block CHECK (status <> 'confirmed' OR block_number IS NOT NULL)
);
CREATE INDEX idx_blockchain_tx_user ON blockchain_transactions(user_id);
CREATE INDEX idx_blockchain_tx_type ON blockchain_transactions(transaction_type);
CREATE INDEX idx_blockchain_tx_block ON blockchain_transactions(block_number);
CREATE INDEX idx_blockchain_tx_status ON blockchain_transactions(status, created_at);

CREATE TABLE message_anchors (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    merkle_root VARCHAR(64) NOT NULL,
    message_count INT NOT NULL,
    transaction_hash VARCHAR(66),
    block_number BIGINT,
    anchored_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (merkle_root),
    CONSTRAINT message_count_positive CHECK (message_count > 0)
);
CREATE INDEX idx_message_anchors_block ON message_anchors(block_number);
CREATE INDEX idx_message_anchors_time ON message_anchors(anchored_at DESC);

CREATE TABLE message_merkle_proofs (
    message_id UUID PRIMARY KEY REFERENCES message_refs(id) ON DELETE CASCADE,
    content_hash VARCHAR(64) NOT NULL,
    merkle_root_id UUID NOT NULL REFERENCES message_anchors(id),
    proof JSONB NOT NULL,
    leaf_index INT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT leaf_index_non_negative CHECK (leaf_index >= 0)
);
CREATE INDEX idx_merkle_proofs_root ON message_merkle_proofs(merkle_root_id);
CREATE INDEX idx_merkle_proofs_hash ON message_merkle_proofs(content_hash);

CREATE TABLE trust_score_history (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    did VARCHAR(66) NOT NULL REFERENCES blockchain_identities(did) ON DELETE CASCADE,
    old_score INT NOT NULL,
    new_score INT NOT NULL,
    change_reason VARCHAR(100) NOT NULL,
    transaction_hash VARCHAR(66),
    changed_by UUID REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT score_range CHECK (
        old_score >= 0 AND old_score <= 100 AND new_score >= 0 AND new_score <= 100
    ),
    CONSTRAINT change_reason_check CHECK (
        change_reason IN ('verified_by_community', 'spam_report', 'account_age_milestone',
                          'message_volume_threshold', 'manual_adjustment')
    )
);
CREATE INDEX idx_trust_history_did ON trust_score_history(did, created_at DESC);
CREATE INDEX idx_trust_history_time ON trust_score_history(created_at DESC);
