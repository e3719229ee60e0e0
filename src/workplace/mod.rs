//! Workplaces for the users who do not call a JSON API: server-rendered Chinese pages in the
//! dashboard's style and under its sign-in (no script, nothing from elsewhere, phone and print
//! styles), every figure and action through the same services as `/api/v1`. So far the
//! producer's (`/producer`): what to ship, shipping with the carrier, tracking and invoice
//! numbers, a packing list that prints on one page, and its money (balance and statements); and
//! the agency's (`/agency`) for finding goods (the API's search, with certificates and the price
//! against its category), following orders (paying, accepting (验收), rating) and the unit's own
//! progress.
//!
//! Imports: the core, identity, regions, catalog (certificates, price checks), search,
//! accounting (progress, filings), orders (sub-orders, shipping,
//! acceptance), settlement (balance, statements), notify (formatting) and the dashboard's pages
//! and session.
//! Imported by: the app alone.

mod agency;
mod cart;
mod forms;
mod goods;
mod ordering;
mod producer;
mod products;
pub mod sheet;

use axum::http::Method;
use axum::routing::{get, post};

use crate::http::routes::RouteTable;

pub fn routes() -> RouteTable {
    RouteTable::default()
        .route("/agency", &[Method::GET], get(agency::home))
        .route("/agency/goods", &[Method::GET], get(goods::goods))
        .route("/agency/cart", &[Method::GET, Method::POST], get(cart::cart).post(cart::add))
        .route("/agency/cart/lines/{product_id}", &[Method::POST], post(cart::update))
        .route("/agency/cart/place", &[Method::POST], post(cart::place))
        .route("/agency/sheets", &[Method::GET, Method::POST], get(ordering::sheets).post(ordering::upload))
        .route("/agency/sheets/{id}", &[Method::GET], get(ordering::preview))
        .route("/agency/sheets/{id}/place", &[Method::POST], post(ordering::place))
        .route("/agency/sheet-template", &[Method::GET], get(ordering::template))
        .route("/agency/orders", &[Method::GET], get(agency::orders))
        .route("/agency/orders/{id}", &[Method::GET], get(agency::order))
        .route("/agency/sub-orders/{id}/accept", &[Method::POST], post(agency::accept))
        .route("/agency/sub-orders/{id}/rating", &[Method::POST], post(agency::rate))
        .route("/producer", &[Method::GET], get(producer::home))
        .route("/producer/orders", &[Method::GET], get(producer::orders))
        .route("/producer/orders/{id}", &[Method::GET], get(producer::sub_order))
        .route("/producer/orders/{id}/ship", &[Method::POST], post(producer::ship))
        .route("/producer/orders/{id}/packing", &[Method::GET], get(producer::packing))
        .route("/producer/products", &[Method::GET], get(products::products))
        .route("/producer/products/{id}/publish", &[Method::POST], post(products::publish))
        .route("/producer/products/{id}/unpublish", &[Method::POST], post(products::unpublish))
        .route("/producer/settlements/{id}/statement", &[Method::GET], get(producer::statement))
}
