-- The embedded ledger's key-value store, with the data model's key layout (11.6):
-- `block:{n}` (block JSON), `tx:{hash}` (transaction JSON), `batch:{n}` (signed batch header
-- JSON), `merkle:{root}` (batch tree summary), `state:identity:{did}`, and `head` (the tip).
-- `height` orders block and batch entries.
CREATE TABLE ledger_kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    height INTEGER,
    created_at TEXT NOT NULL
);
CREATE INDEX idx_ledger_kv_height ON ledger_kv(height) WHERE height IS NOT NULL;
