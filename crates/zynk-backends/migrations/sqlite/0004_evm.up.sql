-- Publishing the ledger to an EVM registry contract (chain = "evm").
-- `blockchain_transactions` keeps one row per ledger transaction on the embedded log
-- (chain 'zynk-embedded') and, on an EVM deployment, one more per publication
-- (chain 'eip155:<chain id>', the real Ethereum hash, linked by ledger_tx_hash).
ALTER TABLE blockchain_transactions ADD COLUMN chain TEXT NOT NULL DEFAULT 'zynk-embedded';
ALTER TABLE blockchain_transactions ADD COLUMN ledger_tx_hash TEXT;
ALTER TABLE blockchain_transactions ADD COLUMN log_index INTEGER;
CREATE INDEX idx_blockchain_tx_ledger ON blockchain_transactions(ledger_tx_hash);
-- The outbox: written in the same database transaction as the block that seals a ledger
-- transaction; the publisher signs each row once (storing the signed bytes before sending, so a
-- crash at any point resends the same Ethereum transaction), then records its receipt.
CREATE TABLE evm_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ledger_tx_hash TEXT NOT NULL UNIQUE,
    transaction_type TEXT NOT NULL,
    tx_json BLOB NOT NULL,
    height INTEGER,
    user_id BLOB,
    related_entity_id BLOB,
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'confirmed', 'failed')),
    nonce INTEGER,
    evm_tx_hash TEXT,
    raw_tx BLOB,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    confirmed_at TEXT
);
CREATE INDEX idx_evm_outbox_open ON evm_outbox(seq) WHERE status IN ('queued', 'sent');
