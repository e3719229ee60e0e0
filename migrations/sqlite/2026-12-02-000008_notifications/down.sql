DROP TABLE scheduled_runs; DROP TABLE mail_opt_outs; DROP INDEX outbox_failed_idx; ALTER TABLE outbox DROP COLUMN dead_at;
