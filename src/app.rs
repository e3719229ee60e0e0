//! The router and the OpenAPI document, assembled from each domain's routes. Nothing else:
//! the state every handler takes is `state::AppState`, the request context `ctx::Ctx`.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::response::Html;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::error::Problem;
use crate::http::middleware;
use crate::http::routes::RouteTable;
use crate::state::AppState;
use crate::{
    accounting, catalog, groupbuy, identity, live, notify, ops, orders, payments, regions, search, settlement,
};

pub use crate::http::extract::MAX_BODY_BYTES;

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
        (name = "live", description = "Live-stream sales: sessions pinning products at a live price, the live view, orders at that price"),
        (name = "accounting", description = "Pairings, targets, reserved-share filings, the counting ledger and reports"),
        (name = "settlement", description = "What producers are owed, settlement runs, payouts, statements, bank details, time to money"),
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
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(
            "/api/v1",
            identity::routes::routes()
                .merge(regions::routes::routes())
                .merge(catalog::routes::routes())
                .merge(search::routes::routes())
                .merge(orders::routes::routes())
                .merge(payments::routes::routes())
                .merge(groupbuy::routes::routes())
                .merge(live::routes::routes())
                .merge(notify::routes::routes())
                .merge(accounting::routes::routes())
                .merge(settlement::routes::routes()),
        )
        .split_for_parts();
    crate::error::document_problems(&mut openapi);
    (router, openapi)
}

/// Everything served outside `/api/v1`: probes, the API's description, mail links and the pages.
fn pages(openapi: &utoipa::openapi::OpenApi) -> RouteTable {
    let mut openapi_json = serde_json::to_value(openapi).unwrap_or_default();
    crate::http::links::document(&mut openapi_json);
    let openapi_json = Arc::new(openapi_json);
    let docs_html = Arc::new(ops::docs::render(&openapi_json));
    RouteTable::default()
        .route("/healthz", &[Method::GET], get(ops::health::healthz))
        .route("/readyz", &[Method::GET], get(ops::health::readyz))
        .route("/metrics", &[Method::GET], get(ops::health::metrics))
        .route("/api/openapi.json", &[Method::GET], get(move || async move { axum::Json((*openapi_json).clone()) }))
        .route(
            "/api/docs",
            &[Method::GET],
            get(move || async move {
                // The reader's one inline style sheet, nothing else, and never inside a frame.
                let policy = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";
                ([(axum::http::header::CONTENT_SECURITY_POLICY, policy)], Html((*docs_html).clone()))
            }),
        )
        .route(
            "/mail/unsubscribe",
            &[Method::GET, Method::POST],
            get(notify::routes::unsubscribe_page).post(notify::routes::unsubscribe),
        )
        .merge(crate::dashboard::routes())
        .merge(crate::workplace::routes())
}

/// Every (method, path template) the router serves: the OpenAPI document's operations (generated
/// from the same route declarations as the router) and the pages' table.
pub fn route_list() -> Vec<(Method, String)> {
    let (_, openapi) = api();
    let mut routes: Vec<(Method, String)> = openapi
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            let ops = [
                (Method::GET, item.get.is_some()),
                (Method::POST, item.post.is_some()),
                (Method::PUT, item.put.is_some()),
                (Method::PATCH, item.patch.is_some()),
                (Method::DELETE, item.delete.is_some()),
            ];
            ops.into_iter().filter(|(_, present)| *present).map(|(m, _)| (m, path.clone())).collect::<Vec<_>>()
        })
        .collect();
    routes.extend(pages(&openapi).routes().iter().map(|(m, p)| (m.clone(), (*p).to_owned())));
    routes
}

pub fn router(state: AppState) -> Router {
    let (api, openapi) = api();
    Router::new()
        .merge(api)
        .merge(pages(&openapi).into_router())
        .route_layer(axum::middleware::from_fn_with_state(state.metrics.clone(), middleware::record_metrics))
        .layer(axum::middleware::from_fn_with_state(state.throttles.clone(), crate::http::throttle::throttle))
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(axum::middleware::from_fn(middleware::observe))
        .with_state(state)
}
