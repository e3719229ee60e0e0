//! The rows of a live session and its pinned products.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{live_items, live_sessions};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = live_sessions)]
pub struct SessionRow {
    pub id: String,
    pub organizer_org_id: String,
    pub created_by: String,
    pub title: String,
    pub host: String,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub status: String,
    pub ended_at: Option<NaiveDateTime>,
    pub final_units: Option<i64>,
    pub final_amount_fen: Option<i64>,
    pub final_orders: Option<i64>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = live_items)]
pub struct ItemRow {
    pub session_id: String,
    pub product_id: String,
    pub position: i32,
    pub live_price_fen: i64,
    pub stock_cap: Option<i64>,
    pub sold_qty: i64,
}
