-- Assistance accounting: pairings, targets, reserved-share filings, closed years, and the
-- counting ledger with the rollups reports read.

-- A donor (a region or one organisation) paired with a recipient region over a span of days.
CREATE TABLE pairings (
    id TEXT PRIMARY KEY NOT NULL,
    donor_region_code TEXT REFERENCES regions (code),
    donor_org_id TEXT REFERENCES organizations (id),
    -- The donor region's path, or the donor organisation's path: what a buyer must lie under.
    donor_path TEXT NOT NULL,
    recipient_region_code TEXT NOT NULL REFERENCES regions (code),
    recipient_path TEXT NOT NULL,
    valid_from DATE NOT NULL,
    valid_to DATE,
    note TEXT,
    created_by TEXT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((donor_region_code IS NULL) <> (donor_org_id IS NULL)),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE INDEX pairings_recipient_idx ON pairings (recipient_region_code, valid_from);
CREATE INDEX pairings_donor_region_idx ON pairings (donor_region_code);
CREATE INDEX pairings_donor_org_idx ON pairings (donor_org_id);

-- A yearly target for a scope: recipient (region), donor (region), org, pairing or producer.
CREATE TABLE targets (
    id TEXT PRIMARY KEY NOT NULL,
    year INTEGER NOT NULL,
    scope_kind TEXT NOT NULL CHECK (scope_kind IN ('recipient', 'donor', 'org', 'pairing', 'producer')),
    scope_id TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    -- 'manual', or 'filing' when an approved reserved-share filing set it.
    source TEXT NOT NULL CHECK (source IN ('manual', 'filing')),
    created_by TEXT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (year, scope_kind, scope_id)
);

-- A budget unit's reserved-share filing (预留份额) for a year.
CREATE TABLE filings (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    year INTEGER NOT NULL,
    canteen_budget_fen BIGINT NOT NULL CHECK (canteen_budget_fen >= 0),
    share_bp INTEGER NOT NULL CHECK (share_bp BETWEEN 0 AND 10000),
    no_canteen BOOLEAN NOT NULL,
    exemption_reason TEXT,
    status TEXT NOT NULL CHECK (status IN ('submitted', 'approved', 'returned')),
    submitted_by TEXT NOT NULL REFERENCES users (id),
    submitted_at TIMESTAMP NOT NULL,
    decided_by TEXT REFERENCES users (id),
    decided_at TIMESTAMP,
    return_reason TEXT,
    UNIQUE (org_id, year)
);
CREATE INDEX filings_status_idx ON filings (year, status);

-- Who changed what in accounting (pairings, targets, filings, closed years), and when.
CREATE TABLE accounting_events (
    id TEXT PRIMARY KEY NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    action TEXT NOT NULL,
    actor_user_id TEXT REFERENCES users (id),
    actor_org_id TEXT REFERENCES organizations (id),
    details TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX accounting_events_subject_idx ON accounting_events (subject_kind, subject_id, id);

-- A closed year: nothing more is written into it; corrections go to the earliest open year.
CREATE TABLE periods (
    year INTEGER PRIMARY KEY NOT NULL,
    closed_at TIMESTAMP NOT NULL,
    closed_by TEXT REFERENCES users (id)
);

-- The counting ledger: one entry per sub-order when it starts to count, one negative entry per
-- refund of a counted sub-order. Append-only; `cause` makes every cause count once.
CREATE TABLE ledger_entries (
    id TEXT PRIMARY KEY NOT NULL,
    cause TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('count', 'reverse')),
    order_id TEXT NOT NULL REFERENCES orders (id),
    sub_order_id TEXT NOT NULL REFERENCES sub_orders (id),
    refund_id TEXT REFERENCES refunds (id),
    reverses_id TEXT REFERENCES ledger_entries (id),
    amount_fen BIGINT NOT NULL,
    counted_at TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    year INTEGER NOT NULL,
    month INTEGER NOT NULL CHECK (month BETWEEN 1 AND 12),
    adjusts_year INTEGER,
    buyer_org_id TEXT NOT NULL REFERENCES organizations (id),
    buyer_region_code TEXT NOT NULL REFERENCES regions (code),
    producer_id TEXT NOT NULL REFERENCES organizations (id),
    origin_region_code TEXT NOT NULL REFERENCES regions (code),
    pairing_id TEXT REFERENCES pairings (id),
    certificate_no TEXT NOT NULL
);
CREATE INDEX ledger_entries_sub_order_idx ON ledger_entries (sub_order_id);
CREATE INDEX ledger_entries_order_idx ON ledger_entries (order_id);
CREATE INDEX ledger_entries_year_idx ON ledger_entries (year, id);

-- Each entry split over the order's lines (its category mix and origins), with every attribute
-- a report filters or groups by, fixed when the entry was written. Reports with `as_of` and
-- the scopes the rollups do not cover read these.
CREATE TABLE ledger_lines (
    entry_id TEXT NOT NULL REFERENCES ledger_entries (id),
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    year INTEGER NOT NULL,
    month INTEGER NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    product_id TEXT NOT NULL,
    category TEXT NOT NULL,
    certificate_no TEXT NOT NULL,
    origin_code TEXT NOT NULL,
    origin_path TEXT NOT NULL,
    origin_province TEXT NOT NULL,
    origin_prefecture TEXT NOT NULL,
    origin_county TEXT NOT NULL,
    buyer_org_id TEXT NOT NULL,
    buyer_org_path TEXT NOT NULL,
    buyer_region_path TEXT NOT NULL,
    buyer_province TEXT NOT NULL,
    buyer_prefecture TEXT NOT NULL,
    buyer_county TEXT NOT NULL,
    producer_id TEXT NOT NULL,
    producer_path TEXT NOT NULL,
    pairing_key TEXT NOT NULL,
    PRIMARY KEY (entry_id, position)
);
CREATE INDEX ledger_lines_origin_province_idx ON ledger_lines (origin_province, year, recorded_at) INCLUDE (amount_fen, month);
CREATE INDEX ledger_lines_origin_prefecture_idx ON ledger_lines (origin_prefecture, year, recorded_at) INCLUDE (amount_fen, month);
CREATE INDEX ledger_lines_origin_county_idx ON ledger_lines (origin_county, year, recorded_at) INCLUDE (amount_fen, month);
CREATE INDEX ledger_lines_buyer_province_idx ON ledger_lines (buyer_province, year, recorded_at) INCLUDE (amount_fen, month);
CREATE INDEX ledger_lines_buyer_prefecture_idx ON ledger_lines (buyer_prefecture, year, recorded_at) INCLUDE (amount_fen, month);
CREATE INDEX ledger_lines_buyer_county_idx ON ledger_lines (buyer_county, year, recorded_at) INCLUDE (amount_fen, month);
CREATE INDEX ledger_lines_buyer_org_path_idx ON ledger_lines (buyer_org_path text_pattern_ops, year);
CREATE INDEX ledger_lines_producer_path_idx ON ledger_lines (producer_path text_pattern_ops, year);
CREATE INDEX ledger_lines_pairing_idx ON ledger_lines (pairing_key, year, recorded_at) INCLUDE (amount_fen, month);

-- Rollups, kept in the same transaction as the entries and checked by `dongxi ledger verify`
-- (their list is `ROLLUPS` in src/accounting/ledger.rs). They serve prefecture, province and
-- pairing scopes — a county's lines are few enough to read directly — each at the grain that
-- keeps a province's figures to a few thousand rows.

-- By month and category at prefecture grain (prefecture and pairing scopes).
CREATE TABLE ledger_sums_month (
    year INTEGER NOT NULL,
    month INTEGER NOT NULL,
    origin_prefecture TEXT NOT NULL,
    buyer_prefecture TEXT NOT NULL,
    category TEXT NOT NULL,
    pairing_key TEXT NOT NULL,
    origin_province TEXT NOT NULL,
    buyer_province TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (year, month, origin_prefecture, buyer_prefecture, category, pairing_key)
);
CREATE INDEX ledger_sums_month_origin_idx ON ledger_sums_month (year, origin_province, origin_prefecture);
CREATE INDEX ledger_sums_month_buyer_idx ON ledger_sums_month (year, buyer_province, buyer_prefecture);
CREATE INDEX ledger_sums_month_pairing_idx ON ledger_sums_month (year, pairing_key);

-- By month and category at province grain (province scopes).
CREATE TABLE ledger_sums_month_province (
    year INTEGER NOT NULL,
    month INTEGER NOT NULL,
    origin_province TEXT NOT NULL,
    buyer_province TEXT NOT NULL,
    category TEXT NOT NULL,
    pairing_key TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (year, month, origin_province, buyer_province, category, pairing_key)
);
CREATE INDEX ledger_sums_month_province_origin_idx ON ledger_sums_month_province (year, origin_province);
CREATE INDEX ledger_sums_month_province_buyer_idx ON ledger_sums_month_province (year, buyer_province);
CREATE INDEX ledger_sums_month_province_pairing_idx ON ledger_sums_month_province (year, pairing_key);

-- Prefecture against prefecture (breakdowns by recipient prefecture and donor city).
CREATE TABLE ledger_sums_pref (
    year INTEGER NOT NULL,
    origin_prefecture TEXT NOT NULL,
    buyer_prefecture TEXT NOT NULL,
    pairing_key TEXT NOT NULL,
    origin_province TEXT NOT NULL,
    buyer_province TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (year, origin_prefecture, buyer_prefecture, pairing_key)
);
CREATE INDEX ledger_sums_pref_origin_idx ON ledger_sums_pref (year, origin_province, origin_prefecture);
CREATE INDEX ledger_sums_pref_buyer_idx ON ledger_sums_pref (year, buyer_province, buyer_prefecture);
CREATE INDEX ledger_sums_pref_pairing_idx ON ledger_sums_pref (year, pairing_key);

-- County against county (breakdowns by recipient county and donor district).
CREATE TABLE ledger_sums_county (
    year INTEGER NOT NULL,
    origin_county TEXT NOT NULL,
    buyer_county TEXT NOT NULL,
    pairing_key TEXT NOT NULL,
    origin_province TEXT NOT NULL,
    origin_prefecture TEXT NOT NULL,
    buyer_province TEXT NOT NULL,
    buyer_prefecture TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (year, origin_county, buyer_county, pairing_key)
);
CREATE INDEX ledger_sums_county_origin_idx ON ledger_sums_county (year, origin_province, origin_prefecture);
CREATE INDEX ledger_sums_county_buyer_idx ON ledger_sums_county (year, buyer_province, buyer_prefecture);
CREATE INDEX ledger_sums_county_pairing_idx ON ledger_sums_county (year, pairing_key);

-- By buying organisation, per recipient prefecture.
CREATE TABLE ledger_sums_buyer (
    year INTEGER NOT NULL,
    origin_prefecture TEXT NOT NULL,
    buyer_org_id TEXT NOT NULL,
    pairing_key TEXT NOT NULL,
    origin_province TEXT NOT NULL,
    buyer_province TEXT NOT NULL,
    buyer_prefecture TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (year, origin_prefecture, buyer_org_id, pairing_key)
);
CREATE INDEX ledger_sums_buyer_origin_idx ON ledger_sums_buyer (year, origin_province, origin_prefecture);
CREATE INDEX ledger_sums_buyer_buyer_idx ON ledger_sums_buyer (year, buyer_province, buyer_prefecture);
CREATE INDEX ledger_sums_buyer_pairing_idx ON ledger_sums_buyer (year, pairing_key);

-- By buying organisation, per recipient province.
CREATE TABLE ledger_sums_buyer_province (
    year INTEGER NOT NULL,
    origin_province TEXT NOT NULL,
    buyer_org_id TEXT NOT NULL,
    pairing_key TEXT NOT NULL,
    buyer_province TEXT NOT NULL,
    buyer_prefecture TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (year, origin_province, buyer_org_id, pairing_key)
);
CREATE INDEX ledger_sums_buyer_province_origin_idx ON ledger_sums_buyer_province (year, origin_province);
CREATE INDEX ledger_sums_buyer_province_buyer_idx ON ledger_sums_buyer_province (year, buyer_province, buyer_prefecture);
CREATE INDEX ledger_sums_buyer_province_pairing_idx ON ledger_sums_buyer_province (year, pairing_key);

-- By producer, per recipient and donor prefecture.
CREATE TABLE ledger_sums_producer (
    year INTEGER NOT NULL,
    origin_prefecture TEXT NOT NULL,
    producer_id TEXT NOT NULL,
    buyer_prefecture TEXT NOT NULL,
    pairing_key TEXT NOT NULL,
    origin_province TEXT NOT NULL,
    buyer_province TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (year, origin_prefecture, producer_id, buyer_prefecture, pairing_key)
);
CREATE INDEX ledger_sums_producer_origin_idx ON ledger_sums_producer (year, origin_province, origin_prefecture);
CREATE INDEX ledger_sums_producer_buyer_idx ON ledger_sums_producer (year, buyer_province, buyer_prefecture);
CREATE INDEX ledger_sums_producer_pairing_idx ON ledger_sums_producer (year, pairing_key);

-- By producer, per recipient and donor province.
CREATE TABLE ledger_sums_producer_province (
    year INTEGER NOT NULL,
    origin_province TEXT NOT NULL,
    producer_id TEXT NOT NULL,
    buyer_province TEXT NOT NULL,
    pairing_key TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (year, origin_province, producer_id, buyer_province, pairing_key)
);
CREATE INDEX ledger_sums_producer_province_origin_idx ON ledger_sums_producer_province (year, origin_province);
CREATE INDEX ledger_sums_producer_province_buyer_idx ON ledger_sums_producer_province (year, buyer_province);
CREATE INDEX ledger_sums_producer_province_pairing_idx ON ledger_sums_producer_province (year, pairing_key);
