-- A buying unit asks its producer for a refund of part or all of a paid sub-order (退款申请);
-- the producer (or the platform admin) grants it, which makes the refund through the one refund
-- path, or declines it with a reason. One open request a sub-order at a time.
CREATE TABLE refund_requests (
    id TEXT PRIMARY KEY NOT NULL,
    sub_order_id TEXT NOT NULL REFERENCES sub_orders (id),
    order_id TEXT NOT NULL REFERENCES orders (id),
    buyer_org_id TEXT NOT NULL REFERENCES organizations (id),
    producer_id TEXT NOT NULL REFERENCES organizations (id),
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('requested', 'granted', 'declined')),
    requested_by TEXT NOT NULL REFERENCES users (id),
    requested_at TIMESTAMP NOT NULL,
    decided_by TEXT REFERENCES users (id),
    decided_at TIMESTAMP,
    decline_reason TEXT,
    refund_id TEXT REFERENCES refunds (id)
);
CREATE UNIQUE INDEX refund_requests_one_open ON refund_requests (sub_order_id) WHERE status = 'requested';
CREATE INDEX refund_requests_producer_idx ON refund_requests (producer_id, status);
CREATE INDEX refund_requests_buyer_idx ON refund_requests (buyer_org_id, status);
