DROP INDEX orders_live_session;
ALTER TABLE ledger_lines DROP COLUMN channel;
ALTER TABLE orders DROP COLUMN live_session_id;
ALTER TABLE orders DROP COLUMN channel;
DROP TABLE live_items;
DROP TABLE live_sessions;
