CREATE TABLE app_meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE regions (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('province', 'prefecture', 'county', 'town', 'village', 'unit')),
    parent_code TEXT REFERENCES regions (code),
    path TEXT NOT NULL,
    assisted_mark BOOLEAN NOT NULL DEFAULT 0,
    national BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX regions_parent_idx ON regions (parent_code, code);
CREATE INDEX regions_path_idx ON regions (path);

CREATE TABLE organizations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('platform', 'coordinator', 'agency', 'producer')),
    region_code TEXT NOT NULL REFERENCES regions (code),
    parent_id TEXT REFERENCES organizations (id),
    path TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX organizations_region_idx ON organizations (region_code);
CREATE INDEX organizations_parent_idx ON organizations (parent_id);
CREATE INDEX organizations_path_idx ON organizations (path);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    password_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX users_org_idx ON users (org_id, id);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expiry_idx ON sessions (expires_at);

CREATE TABLE login_failures (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    failed_at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_email_idx ON login_failures (email, failed_at);
CREATE INDEX login_failures_time_idx ON login_failures (failed_at);
