-- The lines as the rollups kept per part of the year sum them: each line twice, once in its
-- half (`H1`, `H2`) and once in its quarter (`Q1`..`Q4`). `ledger verify` recomputes those
-- rollups from this view. (`l.*` is expanded when the view is made: a column added to the lines
-- later is not in it.)
CREATE VIEW ledger_line_parts AS
SELECT l.*, CASE WHEN l.month <= 6 THEN 'H1' ELSE 'H2' END AS part FROM ledger_lines l
UNION ALL
SELECT l.*, 'Q' || ((l.month + 2) / 3) AS part FROM ledger_lines l;

-- The three buyer rollups per half and per quarter, indexed by amount like them: a half-year's
-- largest buyers of a province are the top of an index, where the lines would be summed for
-- every buyer (~1 s for a province at 10,000,000 entries).
CREATE TABLE ledger_sums_buyer_origin_part (
    year INTEGER NOT NULL,
    part TEXT NOT NULL,
    origin_prefecture TEXT NOT NULL,
    buyer_org_id TEXT NOT NULL,
    origin_province TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (year, part, origin_prefecture, buyer_org_id)
);
CREATE INDEX ledger_sums_buyer_origin_part_top_idx ON ledger_sums_buyer_origin_part (year, part, origin_province, origin_prefecture, amount_fen DESC, buyer_org_id);

CREATE TABLE ledger_sums_buyer_origin_province_part (
    year INTEGER NOT NULL,
    part TEXT NOT NULL,
    origin_province TEXT NOT NULL,
    buyer_org_id TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (year, part, origin_province, buyer_org_id)
);
CREATE INDEX ledger_sums_buyer_origin_province_part_top_idx ON ledger_sums_buyer_origin_province_part (year, part, origin_province, amount_fen DESC, buyer_org_id);

CREATE TABLE ledger_sums_buyer_donor_part (
    year INTEGER NOT NULL,
    part TEXT NOT NULL,
    buyer_prefecture TEXT NOT NULL,
    buyer_org_id TEXT NOT NULL,
    buyer_province TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (year, part, buyer_prefecture, buyer_org_id)
);
CREATE INDEX ledger_sums_buyer_donor_part_top_idx ON ledger_sums_buyer_donor_part (year, part, buyer_province, buyer_prefecture, amount_fen DESC, buyer_org_id);
CREATE INDEX ledger_sums_buyer_donor_part_province_top_idx ON ledger_sums_buyer_donor_part (year, part, buyer_province, amount_fen DESC, buyer_org_id);

INSERT INTO ledger_sums_buyer_origin_part SELECT year, part, origin_prefecture, buyer_org_id, min(origin_province), sum(amount_fen) FROM ledger_line_parts GROUP BY year, part, origin_prefecture, buyer_org_id;
INSERT INTO ledger_sums_buyer_origin_province_part SELECT year, part, origin_province, buyer_org_id, sum(amount_fen) FROM ledger_line_parts GROUP BY year, part, origin_province, buyer_org_id;
INSERT INTO ledger_sums_buyer_donor_part SELECT year, part, buyer_prefecture, buyer_org_id, min(buyer_province), sum(amount_fen) FROM ledger_line_parts GROUP BY year, part, buyer_prefecture, buyer_org_id;

-- The lines' region indexes carry the buyer too, so that a buyer breakdown as of an instant
-- inside a month (a snapshot plus the lines since: a quarter of a million for a province at
-- 10,000,000 entries) reads only the index, not a table row per line.
DROP INDEX ledger_lines_origin_province_idx;
DROP INDEX ledger_lines_origin_prefecture_idx;
DROP INDEX ledger_lines_buyer_province_idx;
DROP INDEX ledger_lines_buyer_prefecture_idx;
CREATE INDEX ledger_lines_origin_province_idx ON ledger_lines (origin_province, year, recorded_at) INCLUDE (amount_fen, month, buyer_org_id);
CREATE INDEX ledger_lines_origin_prefecture_idx ON ledger_lines (origin_prefecture, year, recorded_at) INCLUDE (amount_fen, month, buyer_org_id);
CREATE INDEX ledger_lines_buyer_province_idx ON ledger_lines (buyer_province, year, recorded_at) INCLUDE (amount_fen, month, buyer_org_id);
CREATE INDEX ledger_lines_buyer_prefecture_idx ON ledger_lines (buyer_prefecture, year, recorded_at) INCLUDE (amount_fen, month, buyer_org_id);
