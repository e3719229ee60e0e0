DELETE FROM ledger_snap_buyer_origin_province WHERE taken_at IN (SELECT taken_at FROM ledger_snapshots WHERE kind = 'week');
DELETE FROM ledger_snap_buyer_donor WHERE taken_at IN (SELECT taken_at FROM ledger_snapshots WHERE kind = 'week');
DELETE FROM ledger_snapshots WHERE kind = 'week';
ALTER TABLE ledger_snapshots DROP COLUMN kind;
