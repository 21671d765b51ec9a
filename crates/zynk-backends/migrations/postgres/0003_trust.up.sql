-- Trust scores (data model 11.5) and verifiable credentials.
-- One spam report per reporter and target per UTC day; `weight` is the score change it caused.
CREATE TABLE trust_reports (
    reporter_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    target_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day DATE NOT NULL,
    weight INT NOT NULL CHECK (weight >= 0 AND weight <= 100),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (reporter_id, target_id, day),
    CHECK (reporter_id <> target_id)
);
CREATE INDEX idx_trust_reports_target ON trust_reports(target_id, day);
-- One vouch per voucher and target, ever.
CREATE TABLE trust_vouches (
    voucher_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    target_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    weight INT NOT NULL CHECK (weight >= 0 AND weight <= 100),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (voucher_id, target_id),
    CHECK (voucher_id <> target_id)
);
CREATE INDEX idx_trust_vouches_target ON trust_vouches(target_id);
-- Issued credentials (the JWT itself is not kept: only what an audit needs).
CREATE TABLE credentials (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    subject_did VARCHAR(66) NOT NULL,
    issuer_did TEXT NOT NULL,
    credential_type VARCHAR(64) NOT NULL,
    transaction_hash VARCHAR(66) NOT NULL,
    issued_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_credentials_user ON credentials(user_id, issued_at DESC);
-- An identity is verified once a block holds its current key (key transparency waits for
-- unverified ones); identities sealed before this flag was kept get it now.
UPDATE blockchain_identities SET is_verified = true WHERE block_number IS NOT NULL;
