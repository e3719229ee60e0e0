CREATE TABLE products (
    id TEXT PRIMARY KEY NOT NULL,
    producer_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    description TEXT NOT NULL,
    origin_region_code TEXT NOT NULL REFERENCES regions (code),
    origin_path TEXT NOT NULL,
    unit TEXT NOT NULL,
    spec TEXT NOT NULL,
    net_weight_g BIGINT,
    price_fen BIGINT NOT NULL CHECK (price_fen > 0),
    price_per_500g_fen BIGINT,
    tiers TEXT NOT NULL,
    min_order_qty BIGINT NOT NULL CHECK (min_order_qty >= 1),
    stock BIGINT NOT NULL CHECK (stock >= 0),
    storage TEXT NOT NULL CHECK (storage IN ('ambient', 'chilled', 'frozen')),
    shelf_life_days BIGINT,
    images TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'listed', 'unlisted')),
    cert_status TEXT NOT NULL CHECK (cert_status IN ('none', 'pending', 'certified', 'rejected', 'revoked')),
    certificate_no TEXT,
    cert_valid_until DATE,
    rating_sum BIGINT NOT NULL DEFAULT 0,
    rating_count BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX products_producer_idx ON products (producer_id, id);
CREATE INDEX products_origin_idx ON products (origin_path);
CREATE INDEX products_price_check_idx ON products (category, status, cert_status, price_per_500g_fen);
CREATE UNIQUE INDEX products_certificate_no_idx ON products (certificate_no);

CREATE TABLE certification_requests (
    id TEXT PRIMARY KEY NOT NULL,
    product_id TEXT NOT NULL REFERENCES products (id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn')),
    benefit_mechanism TEXT NOT NULL,
    documents TEXT NOT NULL,
    submitted_by TEXT NOT NULL REFERENCES users (id),
    submitted_at TIMESTAMP NOT NULL,
    decided_by TEXT REFERENCES users (id),
    decided_at TIMESTAMP,
    decision_reason TEXT,
    certificate_no TEXT,
    valid_until DATE
);
CREATE INDEX certification_requests_product_idx ON certification_requests (product_id, id);
CREATE INDEX certification_requests_status_idx ON certification_requests (status, id);
-- At most one pending request per product, whatever races.
CREATE UNIQUE INDEX certification_requests_one_pending ON certification_requests (product_id) WHERE status = 'pending';

CREATE TABLE certification_events (
    id TEXT PRIMARY KEY NOT NULL,
    product_id TEXT NOT NULL REFERENCES products (id),
    request_id TEXT REFERENCES certification_requests (id),
    action TEXT NOT NULL,
    actor_user_id TEXT REFERENCES users (id),
    actor_org_id TEXT REFERENCES organizations (id),
    reason TEXT,
    details TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX certification_events_product_idx ON certification_events (product_id, id);

CREATE TABLE batches (
    id TEXT PRIMARY KEY NOT NULL,
    product_id TEXT NOT NULL REFERENCES products (id),
    batch_no TEXT NOT NULL,
    produced_on DATE NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    inspection_report_url TEXT,
    trace_code TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (product_id, batch_no)
);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    available_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    locked_until TIMESTAMP,
    done_at TIMESTAMP
);
CREATE INDEX outbox_pending_idx ON outbox (done_at, available_at);
