DROP TABLE IF EXISTS evm_outbox;
DROP INDEX IF EXISTS idx_blockchain_tx_ledger;
DELETE FROM blockchain_transactions WHERE chain <> 'zynk-embedded';
ALTER TABLE blockchain_transactions DROP COLUMN log_index;
ALTER TABLE blockchain_transactions DROP COLUMN ledger_tx_hash;
ALTER TABLE blockchain_transactions DROP COLUMN chain;
