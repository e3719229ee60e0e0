-- Orders: one order per purchase, one sub-order per producer, lines with the snapshot the
-- buyer saw (name, spec, price, certificate). Statuses change only through src/orders/state.rs.
CREATE TABLE orders (
    id TEXT PRIMARY KEY NOT NULL,
    buyer_org_id TEXT NOT NULL REFERENCES organizations (id),
    -- The buyer's organisation path (`org_a/org_b/`): its supervising parents see the order by prefix.
    buyer_org_path TEXT NOT NULL,
    -- Where the buyer is: counting reads it with every payment.
    buyer_region_code TEXT NOT NULL REFERENCES regions (code),
    buyer_user_id TEXT NOT NULL REFERENCES users (id),
    group_buy_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending_payment', 'paid', 'completed', 'cancelled')),
    total_fen BIGINT NOT NULL CHECK (total_fen > 0),
    paid_fen BIGINT NOT NULL DEFAULT 0 CHECK (paid_fen >= 0),
    refunded_fen BIGINT NOT NULL DEFAULT 0 CHECK (refunded_fen >= 0 AND refunded_fen <= paid_fen),
    delivery_address TEXT NOT NULL,
    delivery_contact TEXT NOT NULL,
    delivery_phone TEXT NOT NULL,
    note TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    paid_at TIMESTAMP,
    closed_at TIMESTAMP
);
CREATE INDEX orders_buyer_idx ON orders (buyer_org_path, id);
CREATE INDEX orders_status_idx ON orders (status, id);
CREATE INDEX orders_group_buy_idx ON orders (group_buy_id);

CREATE TABLE sub_orders (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id),
    producer_id TEXT NOT NULL REFERENCES organizations (id),
    producer_path TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending_payment', 'awaiting_shipment', 'shipped', 'accepted', 'cancelled', 'refunded')),
    total_fen BIGINT NOT NULL CHECK (total_fen > 0),
    refunded_fen BIGINT NOT NULL DEFAULT 0 CHECK (refunded_fen >= 0 AND refunded_fen <= total_fen),
    carrier TEXT,
    tracking_no TEXT,
    invoice_no TEXT,
    acceptance_note TEXT,
    shipped_at TIMESTAMP,
    accepted_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (order_id, producer_id)
);
CREATE INDEX sub_orders_order_idx ON sub_orders (order_id);
CREATE INDEX sub_orders_producer_idx ON sub_orders (producer_path, id);

CREATE TABLE order_lines (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id),
    sub_order_id TEXT NOT NULL REFERENCES sub_orders (id),
    position INTEGER NOT NULL,
    product_id TEXT NOT NULL REFERENCES products (id),
    producer_id TEXT NOT NULL REFERENCES organizations (id),
    product_name TEXT NOT NULL,
    spec TEXT NOT NULL,
    unit TEXT NOT NULL,
    category TEXT NOT NULL,
    origin_region_code TEXT NOT NULL REFERENCES regions (code),
    certificate_no TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    unit_price_fen BIGINT NOT NULL CHECK (unit_price_fen > 0),
    subtotal_fen BIGINT NOT NULL CHECK (subtotal_fen > 0),
    UNIQUE (order_id, position)
);
CREATE INDEX order_lines_sub_order_idx ON order_lines (sub_order_id);
CREATE INDEX order_lines_product_idx ON order_lines (product_id);

-- Who did what to an order, and when: the history behind GET /orders/{id}/events.
CREATE TABLE order_events (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id),
    sub_order_id TEXT REFERENCES sub_orders (id),
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    actor_user_id TEXT REFERENCES users (id),
    actor_org_id TEXT REFERENCES organizations (id),
    details TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX order_events_order_idx ON order_events (order_id, id);

-- Money received for an order (offline transfer or Stripe). At most one succeeded payment per order.
CREATE TABLE payments (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id),
    method TEXT NOT NULL CHECK (method IN ('offline', 'stripe')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    currency TEXT NOT NULL,
    reference TEXT,
    external_id TEXT UNIQUE,
    paid_at TIMESTAMP,
    recorded_by TEXT REFERENCES users (id),
    failure_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX payments_order_idx ON payments (order_id);
CREATE UNIQUE INDEX payments_one_success ON payments (order_id) WHERE status = 'succeeded';

-- Money returned for a sub-order, whole or in part.
CREATE TABLE refunds (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id),
    sub_order_id TEXT NOT NULL REFERENCES sub_orders (id),
    payment_id TEXT NOT NULL REFERENCES payments (id),
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    reason TEXT NOT NULL,
    method TEXT NOT NULL CHECK (method IN ('offline', 'stripe')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    external_id TEXT UNIQUE,
    requested_by TEXT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP
);
CREATE INDEX refunds_sub_order_idx ON refunds (sub_order_id);
CREATE INDEX refunds_order_idx ON refunds (order_id);

CREATE TABLE ratings (
    id TEXT PRIMARY KEY NOT NULL,
    sub_order_id TEXT NOT NULL UNIQUE REFERENCES sub_orders (id),
    buyer_org_id TEXT NOT NULL REFERENCES organizations (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    comment TEXT,
    created_at TIMESTAMP NOT NULL
);

-- Idempotency-Key: the first response to a request, kept with the effect it describes.
CREATE TABLE idempotency_keys (
    org_id TEXT NOT NULL REFERENCES organizations (id),
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    response TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- When orders last moved the stock: the search index refreshes such products in batches
-- instead of once per order.
ALTER TABLE products ADD COLUMN stock_changed_at TIMESTAMP;
CREATE INDEX products_stock_changed_idx ON products (stock_changed_at);
