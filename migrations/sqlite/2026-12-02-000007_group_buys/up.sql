-- Group purchases (集中采购 / 团购): a campaign pools many agencies' pledges for one product and
-- prices all of them by the tier the total reaches. Totals change only by conditional updates
-- under the campaign's row lock; a pledge becomes at most one order (the unique pledge_id).
CREATE TABLE group_buys (
    id TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    organizer_org_id TEXT NOT NULL REFERENCES organizations (id),
    organizer_user_id TEXT NOT NULL REFERENCES users (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    producer_id TEXT NOT NULL REFERENCES organizations (id),
    -- JSON [{min_qty, unit_price_fen}], min_qty rising, price falling.
    tiers TEXT NOT NULL,
    min_total_qty BIGINT NOT NULL,
    max_total_qty BIGINT NOT NULL,
    min_pledge_qty BIGINT NOT NULL,
    opens_at TIMESTAMP NOT NULL,
    closes_at TIMESTAMP NOT NULL,
    eligible_region_code TEXT NOT NULL REFERENCES regions (code),
    -- The eligible region's path (`440000/441300/`): a pledger's region must start with it.
    eligible_region_path TEXT NOT NULL,
    -- Stored status; `scheduled` reads as `open` from opens_at on (the worker catches up).
    status TEXT NOT NULL CHECK (status IN ('scheduled', 'open', 'succeeded', 'failed', 'cancelled')),
    total_qty BIGINT NOT NULL DEFAULT 0,
    pledge_count INTEGER NOT NULL DEFAULT 0 CHECK (pledge_count >= 0),
    final_unit_price_fen BIGINT,
    -- Why a campaign failed or was cancelled.
    outcome_reason TEXT,
    closed_at TIMESTAMP,
    closed_by_user_id TEXT REFERENCES users (id),
    -- When the "closing in 24 hours" notice was queued (once).
    reminded_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (min_total_qty >= 1 AND max_total_qty >= min_total_qty AND min_pledge_qty >= 1),
    CHECK (total_qty >= 0 AND total_qty <= max_total_qty),
    CHECK (opens_at < closes_at)
);
CREATE INDEX group_buys_due_idx ON group_buys (status, closes_at);
CREATE INDEX group_buys_opening_idx ON group_buys (status, opens_at);
CREATE INDEX group_buys_organizer_idx ON group_buys (organizer_org_id, id);

CREATE TABLE group_buy_pledges (
    id TEXT PRIMARY KEY NOT NULL,
    group_buy_id TEXT NOT NULL REFERENCES group_buys (id),
    org_id TEXT NOT NULL REFERENCES organizations (id),
    -- The pledging organisation's path: its supervising parents see its pledges by prefix.
    org_path TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    status TEXT NOT NULL CHECK (status IN ('active', 'replaced', 'withdrawn', 'ordered', 'released')),
    delivery_address TEXT NOT NULL,
    delivery_contact TEXT NOT NULL,
    delivery_phone TEXT NOT NULL,
    note TEXT,
    -- The pledge this one replaced (a changed quantity or address).
    replaces_id TEXT REFERENCES group_buy_pledges (id),
    order_id TEXT UNIQUE REFERENCES orders (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP
);
-- One active pledge per organisation per campaign.
CREATE UNIQUE INDEX group_buy_pledges_one_active ON group_buy_pledges (group_buy_id, org_id) WHERE status = 'active';
CREATE INDEX group_buy_pledges_campaign_idx ON group_buy_pledges (group_buy_id, status, id);
CREATE INDEX group_buy_pledges_org_idx ON group_buy_pledges (org_path, id);

-- One order per pledge, however often a campaign is closed.
ALTER TABLE orders ADD COLUMN pledge_id TEXT REFERENCES group_buy_pledges (id);
CREATE UNIQUE INDEX orders_pledge_idx ON orders (pledge_id);

-- A pledge's card authorisation (Stripe, manual capture) for the highest price it can come to,
-- when the campaign closes within 6 days: the close captures what the order finally costs and
-- releases the rest; a withdrawal, replacement or failure voids it.
CREATE TABLE pledge_authorizations (
    id TEXT PRIMARY KEY NOT NULL,
    pledge_id TEXT NOT NULL REFERENCES group_buy_pledges (id),
    group_buy_id TEXT NOT NULL REFERENCES group_buys (id),
    payment_intent_id TEXT NOT NULL UNIQUE,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    status TEXT NOT NULL CHECK (status IN ('pending', 'capturing', 'captured', 'voiding', 'voided')),
    order_id TEXT REFERENCES orders (id),
    payment_id TEXT REFERENCES payments (id),
    capture_fen BIGINT CHECK (capture_fen > 0 AND capture_fen <= amount_fen),
    -- Stripe's refund of the part never captured, once seen (it is not a refund of ours).
    release_refund_id TEXT,
    outcome TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX pledge_authorizations_pledge_idx ON pledge_authorizations (pledge_id, status);
