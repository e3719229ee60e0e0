DROP TABLE settlement_events;
DROP TABLE payouts;
DROP TABLE payables;
DROP TABLE settlements;
DROP TABLE settlement_runs;
DROP TABLE service_fees;
DROP TABLE bank_account_events;
DROP TABLE bank_accounts;
