DROP INDEX group_buys_unsettled_idx;
ALTER TABLE group_buys DROP COLUMN pledges_settled_at;
