//! Payment and refund rows, and the payment channels.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::{payments, refunds};
use crate::error::AppResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Offline,
    Stripe,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Offline => "offline",
            Method::Stripe => "stripe",
        }
    }
    pub fn parse(s: &str) -> AppResult<Method> {
        match s {
            "offline" => Ok(Method::Offline),
            "stripe" => Ok(Method::Stripe),
            other => Err(anyhow::anyhow!("unknown payment method in database: {other}").into()),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payments)]
pub struct PaymentRow {
    pub id: String,
    pub order_id: String,
    pub method: String,
    pub status: String,
    pub amount_fen: i64,
    pub currency: String,
    pub reference: Option<String>,
    pub external_id: Option<String>,
    pub paid_at: Option<NaiveDateTime>,
    pub recorded_by: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refunds)]
pub struct RefundRow {
    pub id: String,
    pub order_id: String,
    pub sub_order_id: String,
    pub payment_id: String,
    pub amount_fen: i64,
    pub reason: String,
    pub method: String,
    pub status: String,
    pub external_id: Option<String>,
    pub requested_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub completed_at: Option<NaiveDateTime>,
}
