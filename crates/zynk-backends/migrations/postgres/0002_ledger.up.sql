-- The embedded ledger's key-value store, with the data model's key layout (11.6):
-- `block:{n}` (block JSON), `tx:{hash}` (transaction JSON), `batch:{n}` (signed batch header
-- JSON), `merkle:{root}` (batch tree summary), `state:identity:{did}`, and `head` (the tip).
-- `height` orders block and batch entries.
CREATE TABLE ledger_kv (
    key TEXT PRIMARY KEY,
    value BYTEA NOT NULL,
    height BIGINT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_ledger_kv_height ON ledger_kv(height) WHERE height IS NOT NULL;
