-- Quality labels beside the assistance certificate (圳品, 绿色食品, 有机产品, 农产品地理标志):
-- one of each kind a product at a time; a removed label is kept (removed_at) for the audit trail.
CREATE TABLE product_labels (
    id TEXT PRIMARY KEY NOT NULL,
    product_id TEXT NOT NULL REFERENCES products (id),
    kind TEXT NOT NULL CHECK (kind IN ('szpin', 'green_food', 'organic', 'geo_indication')),
    issuer TEXT NOT NULL,
    certificate_no TEXT NOT NULL,
    valid_from DATE NOT NULL,
    valid_until DATE NOT NULL,
    document_url TEXT,
    added_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    removed_at TIMESTAMP,
    CHECK (valid_until >= valid_from)
);
CREATE UNIQUE INDEX product_labels_one_of_a_kind ON product_labels (product_id, kind) WHERE removed_at IS NULL;
