//! `AppState`: what a request handler or a job reaches besides its input. It holds the seams
//! (the database, the search engine, Stripe, the mailer) and imports nothing of the domains but
//! those seams' leaf files, so any module may take it without an import circle.

use std::sync::Arc;

use crate::batches::Batches;
use crate::clock::Clock;
use crate::config::Config;
use crate::ctx::Ctx;
use crate::db::Db;
use crate::http::throttle::{Throttle, Throttles};
use crate::notify::mailer::Mailer;
use crate::ops::metrics::Metrics;
use crate::payments::gateway::StripeGateway;
use crate::search::engine::SearchEngine;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    pub search: Arc<dyn SearchEngine>,
    /// Stripe, when `STRIPE_SECRET_KEY` is set.
    pub stripe: Option<Arc<StripeGateway>>,
    /// Wakes the worker's Stripe loop when a request queued work for it.
    pub stripe_nudge: Arc<tokio::sync::Notify>,
    /// SMTP (`SMTP_URL`) or `.eml` files under `$DONGXI_DATA_DIR/mail`.
    pub mailer: Arc<Mailer>,
    /// Per-client limits on sign-in and webhook deliveries.
    pub throttles: Arc<Throttles>,
    /// Pledges into one group-purchase round wait here and are written a batch at a time.
    pub pledge_batches: Arc<Batches>,
}

impl AppState {
    pub fn new(config: Config, db: Db, clock: Clock, search: Arc<dyn SearchEngine>) -> anyhow::Result<Self> {
        let stripe =
            config.stripe.as_ref().map(|s| StripeGateway::new(s, config.outbound_timeout)).transpose()?.map(Arc::new);
        let mailer = Arc::new(Mailer::new(&config)?);
        let throttles = Arc::new(Throttles {
            login: Throttle::per_minute(config.login_rate_per_minute),
            webhook: Throttle::per_minute(config.webhook_rate_per_minute),
        });
        Ok(AppState {
            mailer,
            throttles,
            config: Arc::new(config),
            db,
            clock,
            metrics: Arc::new(Metrics::default()),
            search,
            stripe,
            stripe_nudge: Arc::new(tokio::sync::Notify::new()),
            pledge_batches: Arc::default(),
        })
    }

    /// The current instant (as stored) and today's date in the deployment's zone.
    pub fn now(&self) -> (chrono::NaiveDateTime, chrono::NaiveDate) {
        (self.clock.now_naive(), self.clock.today(self.config.timezone))
    }

    /// What a service needs to know about "now" and the deployment's rules.
    pub fn ctx(&self) -> Ctx {
        Ctx::at(&self.clock, &self.config)
    }
}
