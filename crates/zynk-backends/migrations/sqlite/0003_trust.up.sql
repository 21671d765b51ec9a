-- Trust scores (data model 11.5) and verifiable credentials.
-- One spam report per reporter and target per UTC day; `weight` is the score change it caused.
CREATE TABLE trust_reports (
    reporter_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    target_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    weight INTEGER NOT NULL CHECK (weight >= 0 AND weight <= 100),
    created_at TEXT NOT NULL,
    PRIMARY KEY (reporter_id, target_id, day),
    CHECK (reporter_id <> target_id)
);
CREATE INDEX idx_trust_reports_target ON trust_reports(target_id, day);
-- One vouch per voucher and target, ever.
CREATE TABLE trust_vouches (
    voucher_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    target_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    weight INTEGER NOT NULL CHECK (weight >= 0 AND weight <= 100),
    created_at TEXT NOT NULL,
    PRIMARY KEY (voucher_id, target_id),
    CHECK (voucher_id <> target_id)
);
CREATE INDEX idx_trust_vouches_target ON trust_vouches(target_id);
-- Issued credentials (the JWT itself is not kept: only what an audit needs).
CREATE TABLE credentials (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    subject_did TEXT NOT NULL,
    issuer_did TEXT NOT NULL,
    credential_type TEXT NOT NULL,
    transaction_hash TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX idx_credentials_user ON credentials(user_id, issued_at DESC);
-- An identity is verified once a block holds its current key (key transparency waits for
-- unverified ones); identities sealed before this flag was kept get it now.
UPDATE blockchain_identities SET is_verified = 1 WHERE block_number IS NOT NULL;
