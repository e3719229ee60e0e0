-- The agency workplace: each user's purchase cart (采购车), priced when it is shown and when it
-- is placed, and the order sheets (订货单) uploaded for a preview before anything is placed.

CREATE TABLE cart_lines (
    user_id TEXT NOT NULL REFERENCES users (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    added_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, product_id)
);

-- An uploaded sheet's rows as read (JSON), checked again whenever it is shown or placed; placed
-- once: `placed_at` and the orders it made are set in the transaction that made them.
CREATE TABLE order_sheets (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    file_name TEXT NOT NULL,
    rows TEXT NOT NULL,
    line_count BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    placed_at TIMESTAMP,
    order_ids TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX order_sheets_org_idx ON order_sheets (org_id, created_at);
