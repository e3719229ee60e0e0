-- A closing round turns its pledges into orders (or releases them) a chunk at a time, each chunk
-- its own transaction, so a 10,000-pledge round never holds its row for long. The outcome is
-- written first; `pledges_settled_at` is set when the last pledge has become its order (or was
-- released), and the worker carries on with any round closed and not yet settled.
ALTER TABLE group_buys ADD COLUMN pledges_settled_at TIMESTAMP;
UPDATE group_buys SET pledges_settled_at = closed_at WHERE closed_at IS NOT NULL;
CREATE INDEX group_buys_unsettled_idx ON group_buys (closed_at) WHERE closed_at IS NOT NULL AND pledges_settled_at IS NULL;
