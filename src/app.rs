//! `AppState` and the router, assembled from each domain's routes.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::Html;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::error::Problem;
use crate::http::middleware;
use crate::ops::metrics::Metrics;
use crate::payments::gateway::StripeGateway;
use crate::search::SearchEngine;
use crate::{accounting, catalog, groupbuy, identity, notify, ops, orders, payments, regions, search};

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

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
    pub mailer: Arc<crate::notify::Mailer>,
}

impl AppState {
    pub fn new(config: Config, db: Db, clock: Clock, search: Arc<dyn SearchEngine>) -> anyhow::Result<Self> {
        let stripe = config.stripe.as_ref().map(StripeGateway::new).transpose()?.map(Arc::new);
        let mailer = Arc::new(crate::notify::Mailer::new(&config)?);
        Ok(AppState {
            mailer,
            config: Arc::new(config),
            db,
            clock,
            metrics: Arc::new(Metrics::default()),
            search,
            stripe,
            stripe_nudge: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// The current instant (as stored) and today's date in the deployment's zone.
    pub fn now(&self) -> (chrono::NaiveDateTime, chrono::NaiveDate) {
        (self.clock.now_naive(), self.clock.today(self.config.timezone))
    }

    /// What a service needs to know about "now" and the deployment's rules.
    pub fn ctx(&self) -> Ctx {
        Ctx::at(&self.clock, self.config.timezone, self.config.count_on)
    }
}

/// The moment a request happens and the rules it happens under, read once per request.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub now: chrono::NaiveDateTime,
    /// Today in the deployment's zone.
    pub today: chrono::NaiveDate,
    pub zone: chrono_tz::Tz,
    pub count_on: crate::config::CountOn,
}

impl Ctx {
    pub fn at(clock: &Clock, zone: chrono_tz::Tz, count_on: crate::config::CountOn) -> Ctx {
        let now = clock.now();
        Ctx { now: now.naive_utc(), today: now.with_timezone(&zone).date_naive(), zone, count_on }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Dongxi 东西",
        description = "East–west consumption assistance: certified goods from assisted counties, bulk and group purchases, \
                       and every paid order counted against yearly targets. Money is integer fen; errors are application/problem+json."
    ),
    modifiers(&BearerAuth),
    components(schemas(Problem)),
    tags(
        (name = "identity", description = "Organisations, users, sessions"),
        (name = "regions", description = "Division codes and assisted regions"),
        (name = "catalog", description = "Products, certification, batches and trace codes"),
        (name = "search", description = "Product search"),
        (name = "orders", description = "Orders, sub-orders, shipment, acceptance, ratings"),
        (name = "payments", description = "Payments and refunds"),
        (name = "group-buys", description = "Group purchases: campaigns with tiered prices across agencies, pledges, the close"),
        (name = "accounting", description = "Pairings, targets, reserved-share filings, the counting ledger and reports"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The versioned API with its OpenAPI description; every domain adds its routes here.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(
            "/api/v1",
            identity::routes::routes()
                .merge(regions::routes::routes())
                .merge(catalog::routes::routes())
                .merge(search::routes::routes())
                .merge(orders::routes::routes())
                .merge(payments::routes::routes())
                .merge(groupbuy::routes::routes())
                .merge(notify::routes::routes())
                .merge(accounting::routes::routes()),
        )
        .split_for_parts()
}

pub fn router(state: AppState) -> Router {
    let (api, openapi) = api();
    let openapi_json = Arc::new(serde_json::to_value(&openapi).unwrap_or_default());
    let docs_html = Arc::new(ops::docs::render(&openapi_json));
    Router::new()
        .merge(api)
        .route("/healthz", get(ops::health::healthz))
        .route("/readyz", get(ops::health::readyz))
        .route("/metrics", get(ops::metrics::metrics))
        .route("/api/openapi.json", get(move || async move { axum::Json((*openapi_json).clone()) }))
        .route("/api/docs", get(move || async move { Html((*docs_html).clone()) }))
        .route("/mail/unsubscribe", get(notify::routes::unsubscribe_page).post(notify::routes::unsubscribe))
        .merge(crate::dashboard::routes())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), middleware::record_metrics))
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(axum::middleware::from_fn(middleware::observe))
        .with_state(state)
}
