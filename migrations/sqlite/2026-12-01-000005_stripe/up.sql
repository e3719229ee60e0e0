-- Each Stripe event is handled once: its id is the primary key. What the handling concluded is
-- kept for reconciliation and support.
CREATE TABLE stripe_events (
    id TEXT PRIMARY KEY NOT NULL,
    event_type TEXT NOT NULL,
    object_id TEXT,
    stripe_created_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX stripe_events_object_idx ON stripe_events (object_id);
CREATE INDEX payments_pending_stripe_idx ON payments (order_id, status, method);
