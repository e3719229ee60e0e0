-- Buyers without the pairing: one row per buying organisation and year in each recipient
-- prefecture, each recipient province and each donor prefecture, indexed by amount. A
-- breakdown's largest rows are then the top of an index, not a sum over every buyer (a
-- province's buyers run to ~100,000 at national scale). They replace the province-grain buyer
-- rollup, whose pairing dimension split a buyer over several rows.
DROP TABLE ledger_sums_buyer_province;

CREATE TABLE ledger_sums_buyer_origin (
    year INTEGER NOT NULL,
    origin_prefecture TEXT NOT NULL,
    buyer_org_id TEXT NOT NULL,
    origin_province TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (year, origin_prefecture, buyer_org_id)
);
CREATE INDEX ledger_sums_buyer_origin_top_idx ON ledger_sums_buyer_origin (year, origin_province, origin_prefecture, amount_fen DESC, buyer_org_id);

CREATE TABLE ledger_sums_buyer_origin_province (
    year INTEGER NOT NULL,
    origin_province TEXT NOT NULL,
    buyer_org_id TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (year, origin_province, buyer_org_id)
);
CREATE INDEX ledger_sums_buyer_origin_province_top_idx ON ledger_sums_buyer_origin_province (year, origin_province, amount_fen DESC, buyer_org_id);

CREATE TABLE ledger_sums_buyer_donor (
    year INTEGER NOT NULL,
    buyer_prefecture TEXT NOT NULL,
    buyer_org_id TEXT NOT NULL,
    buyer_province TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (year, buyer_prefecture, buyer_org_id)
);
CREATE INDEX ledger_sums_buyer_donor_top_idx ON ledger_sums_buyer_donor (year, buyer_province, buyer_prefecture, amount_fen DESC, buyer_org_id);
CREATE INDEX ledger_sums_buyer_donor_province_top_idx ON ledger_sums_buyer_donor (year, buyer_province, amount_fen DESC, buyer_org_id);

INSERT INTO ledger_sums_buyer_origin SELECT year, origin_prefecture, buyer_org_id, min(origin_province), sum(amount_fen) FROM ledger_lines GROUP BY year, origin_prefecture, buyer_org_id;
INSERT INTO ledger_sums_buyer_origin_province SELECT year, origin_province, buyer_org_id, sum(amount_fen) FROM ledger_lines GROUP BY year, origin_province, buyer_org_id;
INSERT INTO ledger_sums_buyer_donor SELECT year, buyer_prefecture, buyer_org_id, min(buyer_province), sum(amount_fen) FROM ledger_lines GROUP BY year, buyer_prefecture, buyer_org_id;

-- By order channel (catalogue, group purchase, live) per month: the channel breakdown of a
-- prefecture or a province, which otherwise reads the lines (a province's: ~1 s at 10M entries).
CREATE TABLE ledger_sums_channel (
    year INTEGER NOT NULL,
    month INTEGER NOT NULL,
    origin_prefecture TEXT NOT NULL,
    buyer_prefecture TEXT NOT NULL,
    pairing_key TEXT NOT NULL,
    channel TEXT NOT NULL,
    origin_province TEXT NOT NULL,
    buyer_province TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (year, month, origin_prefecture, buyer_prefecture, pairing_key, channel)
);
CREATE INDEX ledger_sums_channel_origin_idx ON ledger_sums_channel (year, origin_province, origin_prefecture) INCLUDE (month, buyer_prefecture, pairing_key, channel, buyer_province, amount_fen);
CREATE INDEX ledger_sums_channel_buyer_idx ON ledger_sums_channel (year, buyer_province, buyer_prefecture) INCLUDE (month, origin_prefecture, pairing_key, channel, origin_province, amount_fen);
CREATE INDEX ledger_sums_channel_pairing_idx ON ledger_sums_channel (year, pairing_key) INCLUDE (month, origin_prefecture, buyer_prefecture, channel, origin_province, buyer_province, amount_fen);
INSERT INTO ledger_sums_channel SELECT year, month, origin_prefecture, buyer_prefecture, pairing_key, channel, min(origin_province), min(buyer_province), sum(amount_fen) FROM ledger_lines GROUP BY year, month, origin_prefecture, buyer_prefecture, pairing_key, channel;

-- Month-end snapshots of some rollups, so that a report `as_of` an instant inside the year is
-- the nearest snapshot plus or minus the lines recorded between, not today's rollup less
-- everything recorded since (a quarter of a province's year, for an as_of a quarter back).
-- `taken_at` is the instant a snapshot stands for: the end of a month in the deployment's zone.
-- A snapshot holds every rollup row of its year and the year before, as of that instant.
CREATE TABLE ledger_snapshots (
    taken_at TIMESTAMP PRIMARY KEY NOT NULL,
    -- The earliest year it holds: the year of the month it closes, less one.
    first_year INTEGER NOT NULL,
    made_at TIMESTAMP NOT NULL
);

-- The month rollup without category and pairing: what progress and the prefecture breakdowns read.
CREATE TABLE ledger_snap_month (
    taken_at TIMESTAMP NOT NULL REFERENCES ledger_snapshots (taken_at),
    year INTEGER NOT NULL,
    month INTEGER NOT NULL,
    origin_prefecture TEXT NOT NULL,
    buyer_prefecture TEXT NOT NULL,
    origin_province TEXT NOT NULL,
    buyer_province TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (taken_at, year, month, origin_prefecture, buyer_prefecture)
);
CREATE INDEX ledger_snap_month_origin_idx ON ledger_snap_month (taken_at, year, origin_province, origin_prefecture) INCLUDE (month, buyer_prefecture, buyer_province, amount_fen);
CREATE INDEX ledger_snap_month_buyer_idx ON ledger_snap_month (taken_at, year, buyer_province, buyer_prefecture) INCLUDE (month, origin_prefecture, origin_province, amount_fen);

CREATE TABLE ledger_snap_buyer_origin (
    taken_at TIMESTAMP NOT NULL REFERENCES ledger_snapshots (taken_at),
    year INTEGER NOT NULL,
    origin_prefecture TEXT NOT NULL,
    buyer_org_id TEXT NOT NULL,
    origin_province TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (taken_at, year, origin_prefecture, buyer_org_id)
);
CREATE INDEX ledger_snap_buyer_origin_top_idx ON ledger_snap_buyer_origin (taken_at, year, origin_province, origin_prefecture, amount_fen DESC, buyer_org_id);

CREATE TABLE ledger_snap_buyer_origin_province (
    taken_at TIMESTAMP NOT NULL REFERENCES ledger_snapshots (taken_at),
    year INTEGER NOT NULL,
    origin_province TEXT NOT NULL,
    buyer_org_id TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (taken_at, year, origin_province, buyer_org_id)
);
CREATE INDEX ledger_snap_buyer_origin_province_top_idx ON ledger_snap_buyer_origin_province (taken_at, year, origin_province, amount_fen DESC, buyer_org_id);

CREATE TABLE ledger_snap_buyer_donor (
    taken_at TIMESTAMP NOT NULL REFERENCES ledger_snapshots (taken_at),
    year INTEGER NOT NULL,
    buyer_prefecture TEXT NOT NULL,
    buyer_org_id TEXT NOT NULL,
    buyer_province TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (taken_at, year, buyer_prefecture, buyer_org_id)
);
CREATE INDEX ledger_snap_buyer_donor_top_idx ON ledger_snap_buyer_donor (taken_at, year, buyer_province, buyer_prefecture, amount_fen DESC, buyer_org_id);
CREATE INDEX ledger_snap_buyer_donor_province_top_idx ON ledger_snap_buyer_donor (taken_at, year, buyer_province, amount_fen DESC, buyer_org_id);
