//! Workplaces for the users who do not call a JSON API: server-rendered Chinese pages in the
//! dashboard's style and under its sign-in (no script, nothing from elsewhere, phone and print
//! styles), every figure and action through the same services as `/api/v1`.
//! - The producer's (`/producer`): what to ship, shipping with the carrier, tracking and invoice
//!   numbers, a packing list that prints on one page, refund requests to grant or decline, its
//!   money (balance and statements); its products, made and edited by form (tiers, stock, photos
//!   by URL), put on sale or taken off, their certification requests, quality labels and batches with
//!   trace codes.
//! - The agency's (`/agency`): finding goods (the API's search, with certificates and the price
//!   against its category), a cart and order sheets for ordering in bulk, group purchases
//!   (pledge, change, withdraw), following orders (paying, accepting (验收), rating, asking for a
//!   refund) and the unit's own progress.
//! - The public trace page (`/trace/{code}`) a package's QR code opens.
//!
//! Imports: the core, identity, regions, catalog (products, certification, batches and trace),
//! search, accounting (progress, filings), orders (sub-orders, shipping, acceptance), payments
//! (refund requests), group purchases (rounds, pledges), settlement (balance, statements),
//! notify (formatting) and the dashboard's pages and session.
//! Imported by: the app alone.

mod agency;
mod cart;
mod forms;
mod goods;
mod group_buys;
mod ordering;
mod producer;
mod product_form;
mod product_labels;
mod product_page;
mod products;
mod refunds;
pub mod sheet;
mod trace_page;

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
        .route("/agency/group-buys", &[Method::GET], get(group_buys::list))
        .route("/agency/group-buys/{id}", &[Method::GET], get(group_buys::round))
        .route("/agency/group-buys/{id}/pledge", &[Method::POST], post(group_buys::pledge))
        .route("/agency/group-buys/{id}/withdraw", &[Method::POST], post(group_buys::withdraw))
        .route("/agency/orders", &[Method::GET], get(agency::orders))
        .route("/agency/orders/{id}", &[Method::GET], get(agency::order))
        .route("/agency/sub-orders/{id}/accept", &[Method::POST], post(agency::accept))
        .route("/agency/sub-orders/{id}/rating", &[Method::POST], post(agency::rate))
        .route("/agency/sub-orders/{id}/refund-request", &[Method::POST], post(agency::ask_refund))
        .route("/producer", &[Method::GET], get(producer::home))
        .route("/producer/orders", &[Method::GET], get(producer::orders))
        .route("/producer/orders/{id}", &[Method::GET], get(producer::sub_order))
        .route("/producer/orders/{id}/ship", &[Method::POST], post(producer::ship))
        .route("/producer/orders/{id}/packing", &[Method::GET], get(producer::packing))
        .route("/producer/refund-requests/{id}/grant", &[Method::POST], post(refunds::grant))
        .route("/producer/refund-requests/{id}/decline", &[Method::POST], post(refunds::decline))
        .route("/producer/products", &[Method::GET], get(products::products))
        .route(
            "/producer/products/new",
            &[Method::GET, Method::POST],
            get(product_form::new).post(product_form::create),
        )
        .route(
            "/producer/products/{id}",
            &[Method::GET, Method::POST],
            get(product_page::page).post(product_page::update),
        )
        .route("/producer/products/{id}/certification", &[Method::POST], post(product_page::request_certification))
        .route("/producer/products/{id}/batches", &[Method::POST], post(product_page::add_batch))
        .route("/producer/products/{id}/labels", &[Method::POST], post(product_labels::add))
        .route("/producer/products/{id}/labels/{label_id}/remove", &[Method::POST], post(product_labels::remove))
        .route("/producer/products/{id}/publish", &[Method::POST], post(products::publish))
        .route("/producer/products/{id}/unpublish", &[Method::POST], post(products::unpublish))
        .route("/producer/settlements/{id}/statement", &[Method::GET], get(producer::statement))
        .route("/trace/{code}", &[Method::GET], get(trace_page::page))
}
