-- Publishing the ledger to an EVM registry contract (chain = "evm").
-- `blockchain_transactions` keeps one row per ledger transaction on the embedded log
-- (chain 'zynk-embedded') and, on an EVM deployment, one more per publication
-- (chain 'eip155:<chain id>', the real Ethereum hash, linked by ledger_tx_hash).
ALTER TABLE blockchain_transactions ADD COLUMN chain VARCHAR(32) NOT NULL DEFAULT 'zynk-embedded';
ALTER TABLE blockchain_transactions ADD COLUMN ledger_tx_hash VARCHAR(66);
ALTER TABLE blockchain_transactions ADD COLUMN log_index BIGINT;
CREATE INDEX idx_blockchain_tx_ledger ON blockchain_transactions(ledger_tx_hash);
-- The outbox: written in the same database transaction as the block that seals a ledger
-- transaction; the publisher signs each row once (storing the signed bytes before sending, so a
-- crash at any point resends the same Ethereum transaction), then records its receipt.
CREATE TABLE evm_outbox (
    seq BIGSERIAL PRIMARY KEY,
    ledger_tx_hash VARCHAR(66) NOT NULL UNIQUE,
    transaction_type VARCHAR(50) NOT NULL,
    tx_json BYTEA NOT NULL,
    height BIGINT,
    user_id UUID,
    related_entity_id UUID,
    status VARCHAR(20) NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'confirmed', 'failed')),
    nonce BIGINT,
    evm_tx_hash VARCHAR(66),
    raw_tx BYTEA,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at TIMESTAMPTZ,
    confirmed_at TIMESTAMPTZ
);
CREATE INDEX idx_evm_outbox_open ON evm_outbox(seq) WHERE status IN ('queued', 'sent');
