-- Settlement: what producers are owed (payables, append-only), grouped into settlements by
-- runs, paid out by bank transfer or Stripe, with the bank details payouts go to.

-- A producer's account for payouts (户名, 开户行, 账号), and a Stripe Connect account if it has one.
CREATE TABLE bank_accounts (
    org_id TEXT PRIMARY KEY NOT NULL REFERENCES organizations (id),
    account_name TEXT NOT NULL,
    bank_name TEXT NOT NULL,
    account_no TEXT NOT NULL,
    stripe_account_id TEXT,
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT
);

-- Every change to a bank account, with who made it (the numbers masked).
CREATE TABLE bank_account_events (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    action TEXT NOT NULL,
    actor_user_id TEXT,
    actor_org_id TEXT,
    details TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX bank_account_events_org_idx ON bank_account_events (org_id, id);

-- The platform's service fee per category, in basis points; a category without a row pays none.
CREATE TABLE service_fees (
    category TEXT PRIMARY KEY NOT NULL,
    rate_bp INTEGER NOT NULL CHECK (rate_bp >= 0 AND rate_bp <= 10000),
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT
);

-- A run groups due payables into settlements; the worker performs it (resumable).
CREATE TABLE settlement_runs (
    id TEXT PRIMARY KEY NOT NULL,
    cutoff TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    requested_by TEXT,
    created_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    settlements INTEGER NOT NULL DEFAULT 0,
    payables INTEGER NOT NULL DEFAULT 0
);

-- One producer's settlement: the payables it groups (their sum), and how it stands.
CREATE TABLE settlements (
    id TEXT PRIMARY KEY NOT NULL,
    run_id TEXT NOT NULL REFERENCES settlement_runs (id),
    producer_id TEXT NOT NULL REFERENCES organizations (id),
    producer_path TEXT NOT NULL,
    producer_region_path TEXT NOT NULL,
    status TEXT NOT NULL,
    gross_fen BIGINT NOT NULL,
    fee_fen BIGINT NOT NULL,
    deducted_fen BIGINT NOT NULL,
    amount_fen BIGINT NOT NULL,
    line_count INTEGER NOT NULL,
    due_from TIMESTAMP NOT NULL,
    due_to TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    paid_at TIMESTAMP,
    cancel_reason TEXT
);
CREATE INDEX settlements_producer_idx ON settlements (producer_id, id);
CREATE INDEX settlements_status_idx ON settlements (status, id);

-- What a producer is owed, one row per cause (a sub-order due, a refund of it): never updated but
-- for the settlement it joins (once: a conditional update).
CREATE TABLE payables (
    id TEXT PRIMARY KEY NOT NULL,
    cause TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    producer_id TEXT NOT NULL REFERENCES organizations (id),
    order_id TEXT NOT NULL,
    sub_order_id TEXT NOT NULL REFERENCES sub_orders (id),
    refund_id TEXT,
    gross_fen BIGINT NOT NULL,
    fee_fen BIGINT NOT NULL,
    net_fen BIGINT NOT NULL,
    fee_basis TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    settlement_id TEXT REFERENCES settlements (id)
);
CREATE INDEX payables_open_idx ON payables (producer_id, due_at) WHERE settlement_id IS NULL;
CREATE INDEX payables_settlement_idx ON payables (settlement_id);
CREATE INDEX payables_sub_order_idx ON payables (sub_order_id);

-- A payout of a settlement: by bank transfer (in a batch file, confirmed by finance) or by a
-- Stripe transfer. At most one live payout per settlement, so nothing is paid twice.
CREATE TABLE payouts (
    id TEXT PRIMARY KEY NOT NULL,
    settlement_id TEXT NOT NULL REFERENCES settlements (id),
    method TEXT NOT NULL,
    status TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    batch_id TEXT,
    external_id TEXT,
    reference TEXT,
    failure_reason TEXT,
    recorded_by TEXT,
    created_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP
);
CREATE UNIQUE INDEX payouts_live_idx ON payouts (settlement_id) WHERE status IN ('pending', 'sending', 'paid');
CREATE INDEX payouts_batch_idx ON payouts (batch_id);

-- A settlement's history: created, payout started, paid, failed, cancelled.
CREATE TABLE settlement_events (
    id TEXT PRIMARY KEY NOT NULL,
    settlement_id TEXT NOT NULL REFERENCES settlements (id),
    action TEXT NOT NULL,
    actor_user_id TEXT,
    actor_org_id TEXT,
    details TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX settlement_events_settlement_idx ON settlement_events (settlement_id, id);
