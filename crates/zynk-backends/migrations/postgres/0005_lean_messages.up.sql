-- The SQLite schema's 0005 slims its message tables for the single writer; PostgreSQL keeps the
-- data model's tables and indexes as they are. This keeps the two engines' version numbers equal.
SELECT 1;
