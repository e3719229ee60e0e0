-- Week-end snapshots (Monday 00:00 in the deployment's zone) of the province-grain buyer rollups,
-- beside the month-end snapshots of every snapshot table: a province's largest buyers as of an
-- instant is the nearest snapshot plus or minus the lines between, and a month of a province's
-- lines is too many to correct by. A week-end snapshot holds its own year only, and the worker
-- keeps those of the current year and the year before (month-end ones are kept for ever).
ALTER TABLE ledger_snapshots ADD COLUMN kind TEXT NOT NULL DEFAULT 'month' CHECK (kind IN ('month', 'week'));
