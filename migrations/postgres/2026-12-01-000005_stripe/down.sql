DROP INDEX payments_pending_stripe_idx; DROP TABLE stripe_events;
