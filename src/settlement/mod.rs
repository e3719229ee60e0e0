//! Settlement (结算): what each producer is owed for its sub-orders (`payables`, net of refunds
//! and of the platform's service fee, `fees`), grouped by runs into settlements (`runs`), paid out
//! by bank transfer or Stripe (`payouts`) to the producer's bank details (`bank`), read as
//! statements and balances (`view`), timed (`time_to_money`) and proven (`verify`).
//!
//! ```text
//! settlement: scheduled ─(batch, or a Stripe transfer)→ paying ─(confirmed)→ paid
//!                 │  ↑                                        │
//!                 │  └──────────(payout failed or returned)───┘
//!                 └─(finance cancels: payables back to the next run)→ cancelled
//! ```
//!
//! Imports: the core, identity, regions, catalog (category names) and accounting (the audit trail,
//! files); never orders or payments (they hand it an `Owed` or a `Refunded`).
//! Imported by: orders (a sub-order due) and payments (a refund, a reversed transfer), the worker
//! (runs and transfers), notify (mail), the dashboard, the demo.

pub mod bank;
pub mod fees;
pub mod model;
pub mod payables;
pub mod payouts;
pub mod routes;
pub mod runs;
pub mod time_to_money;
pub mod verify;
pub mod view;
