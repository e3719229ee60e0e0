DROP TABLE ledger_sums_channel;
DROP TABLE ledger_snap_buyer_donor;
DROP TABLE ledger_snap_buyer_origin_province;
DROP TABLE ledger_snap_buyer_origin;
DROP TABLE ledger_snap_month;
DROP TABLE ledger_snapshots;
DROP TABLE ledger_sums_buyer_donor;
DROP TABLE ledger_sums_buyer_origin_province;
DROP TABLE ledger_sums_buyer_origin;
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
INSERT INTO ledger_sums_buyer_province SELECT year, origin_province, buyer_org_id, pairing_key, min(buyer_province), min(buyer_prefecture), sum(amount_fen) FROM ledger_lines GROUP BY year, origin_province, buyer_org_id, pairing_key;
CREATE INDEX ledger_sums_buyer_province_origin_idx ON ledger_sums_buyer_province (year, origin_province, buyer_org_id, pairing_key, buyer_province, buyer_prefecture, amount_fen);
CREATE INDEX ledger_sums_buyer_province_buyer_idx ON ledger_sums_buyer_province (year, buyer_province, buyer_prefecture, origin_province, buyer_org_id, pairing_key, amount_fen);
CREATE INDEX ledger_sums_buyer_province_pairing_idx ON ledger_sums_buyer_province (year, pairing_key, origin_province, buyer_org_id, buyer_province, buyer_prefecture, amount_fen);
