-- Live-stream sales (直播带货): a session of an organiser (a coordinator or a producer) pins
-- products at a live price, with an optional cap on the units sold at it; orders placed in its
-- window at that price carry the session and the channel `live`. The ledger's lines carry the
-- channel too (catalogue, group_buy, live), so reports break down by it.
CREATE TABLE live_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    organizer_org_id TEXT NOT NULL REFERENCES organizations (id),
    created_by TEXT NOT NULL REFERENCES users (id),
    title TEXT NOT NULL,
    host TEXT NOT NULL,
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('scheduled', 'live', 'ended', 'cancelled')),
    ended_at TIMESTAMP,
    -- Frozen by the worker as it ends the session, in the same transaction: what it sold.
    final_units BIGINT,
    final_amount_fen BIGINT,
    final_orders BIGINT,
    created_at TIMESTAMP NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX live_sessions_due ON live_sessions (status, ends_at);
CREATE INDEX live_sessions_organizer ON live_sessions (organizer_org_id, starts_at);

CREATE TABLE live_items (
    session_id TEXT NOT NULL REFERENCES live_sessions (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    position INTEGER NOT NULL,
    live_price_fen BIGINT NOT NULL CHECK (live_price_fen > 0),
    stock_cap BIGINT CHECK (stock_cap IS NULL OR stock_cap > 0),
    sold_qty BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, product_id),
    CHECK (stock_cap IS NULL OR sold_qty <= stock_cap)
);
CREATE INDEX live_items_product ON live_items (product_id);

ALTER TABLE orders ADD COLUMN channel TEXT NOT NULL DEFAULT 'catalogue' CHECK (channel IN ('catalogue', 'group_buy', 'live'));
ALTER TABLE orders ADD COLUMN live_session_id TEXT REFERENCES live_sessions (id);
UPDATE orders SET channel = 'group_buy' WHERE group_buy_id IS NOT NULL;
CREATE INDEX orders_live_session ON orders (live_session_id) WHERE live_session_id IS NOT NULL;

ALTER TABLE ledger_lines ADD COLUMN channel TEXT NOT NULL DEFAULT 'catalogue';
UPDATE ledger_lines SET channel = 'group_buy'
 WHERE entry_id IN (SELECT e.id FROM ledger_entries e JOIN orders o ON o.id = e.order_id WHERE o.group_buy_id IS NOT NULL);
