DROP TABLE pledge_authorizations; DROP INDEX orders_pledge_idx; ALTER TABLE orders DROP COLUMN pledge_id; DROP TABLE group_buy_pledges; DROP TABLE group_buys;
