-- Outbox rows that failed too often stop being retried (dead letters) until an operator retries
-- them (`dongxi outbox retry`).
ALTER TABLE outbox ADD COLUMN dead_at TIMESTAMP;
CREATE INDEX outbox_failed_idx ON outbox (topic, done_at, dead_at);

-- A user's refusal of one kind of mail (security-relevant mail cannot be refused).
CREATE TABLE mail_opt_outs (
    user_id TEXT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- Jobs that run once per period whatever the number of workers (the weekly digest, the daily
-- certificate check): the primary key is the "once".
CREATE TABLE scheduled_runs (
    job TEXT NOT NULL,
    period TEXT NOT NULL,
    ran_at TIMESTAMP NOT NULL,
    PRIMARY KEY (job, period)
);
