//! The one integration-test binary. Each module covers a domain; `backend_tests!` runs every
//! test on SQLite and, when `DONGXI_TEST_DATABASE_URL` is set, on PostgreSQL too.

mod helpers;

mod abuse;
mod accounting;
mod architecture;
mod authz;
mod browser;
mod catalog;
mod contract;
mod dashboard;
mod demo;
mod group_buys;
mod identity;
mod labels;
mod ledger_property;
mod live;
mod notify;
mod ops;
mod orders;
mod payments;
mod regions;
mod reliability;
mod scale_out;
mod search;
mod settlement;
mod worker;
mod workplace;
mod workplace_bulk;
mod workplace_forms;
