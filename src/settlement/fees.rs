//! The platform's service fee: a rate per category in basis points (1 bp = 0.01%), none unless a
//! deployment sets one (most assistance platforms charge none). A payable's fee is taken line by
//! line: the amount is spread over the sub-order's lines in proportion to their subtotals (to the
//! fen, `Fen::allocate`), and each line's share pays its category's rate, rounded half up to the
//! fen. A refund gives back the difference between the fee on what was held before it and the fee
//! on what is held after, at the rates of the sale, so the fees of a sub-order are always exactly
//! the fee on what it finally brought.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalog::categories;
use crate::db::DbConn;
use crate::db::schema::service_fees as f;
use crate::error::{AppError, AppResult};
use crate::identity::{Actor, Who, policy};
use crate::money::Fen;

/// The most a rate may be: the whole amount.
pub const MAX_RATE_BP: i32 = 10_000;

/// One line of a sale as its fee sees it: the line's subtotal (its weight) and its rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeLine {
    pub weight: i64,
    pub rate_bp: i32,
}

/// `amount` × `rate_bp` / 10 000, rounded half up to the fen (half away from zero for negatives).
pub fn fee_at(amount: i64, rate_bp: i32) -> i64 {
    let exact = amount as i128 * rate_bp as i128;
    let (q, r) = (exact / 10_000, exact % 10_000);
    let rounded = if r.abs() * 2 >= 10_000 { q + r.signum() } else { q };
    rounded as i64
}

/// The fee on `amount` spread over `lines`.
pub fn fee_of(lines: &[FeeLine], amount: i64) -> i64 {
    let weights: Vec<i64> = lines.iter().map(|l| l.weight).collect();
    Fen(amount).allocate(&weights).into_iter().zip(lines).map(|(share, l)| fee_at(share.0, l.rate_bp)).sum()
}

/// The rate of every category that has one.
pub fn rates(conn: &mut DbConn) -> AppResult<HashMap<String, i32>> {
    Ok(f::table.select((f::category, f::rate_bp)).load::<(String, i32)>(conn)?.into_iter().collect())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeeView {
    pub category: String,
    pub category_name: String,
    /// Basis points: 100 = 1%.
    pub rate_bp: i32,
}

/// Every category with its rate (0 where none is set).
pub fn list(conn: &mut DbConn) -> AppResult<Vec<FeeView>> {
    let set = rates(conn)?;
    Ok(categories::CATEGORIES
        .iter()
        .map(|c| FeeView {
            category: c.code.to_owned(),
            category_name: c.name.to_owned(),
            rate_bp: set.get(c.code).copied().unwrap_or(0),
        })
        .collect())
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeeBody {
    /// 0 to 10 000 basis points (0% to 100%).
    pub rate_bp: i64,
}

/// Finance sets a category's rate; payables already owed keep theirs. 422 for an unknown
/// category or a rate outside 0 to 10 000.
pub fn set(conn: &mut DbConn, actor: &Actor, category: &str, body: FeeBody, now: NaiveDateTime) -> AppResult<FeeView> {
    policy::require_platform_admin(actor)?;
    let name = categories::find(category)
        .ok_or_else(|| AppError::invalid_field("validation_failed", "category", "is not a known category"))?
        .name;
    if !(0..=MAX_RATE_BP as i64).contains(&body.rate_bp) {
        return Err(AppError::invalid_field("validation_failed", "rate_bp", "must be 0 to 10000 basis points"));
    }
    let rate = body.rate_bp as i32;
    let before = rates(conn)?.get(category).copied().unwrap_or(0);
    let updated = diesel::update(f::table.find(category))
        .set((f::rate_bp.eq(rate), f::updated_at.eq(now), f::updated_by.eq(&actor.user_id)))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(f::table)
            .values((
                f::category.eq(category),
                f::rate_bp.eq(rate),
                f::updated_at.eq(now),
                f::updated_by.eq(&actor.user_id),
            ))
            .execute(conn)?;
    }
    let details = serde_json::json!({"from_bp": before, "to_bp": rate});
    crate::accounting::audit::record(conn, "service_fee", category, "set", &Who::of(actor), details, now)?;
    Ok(FeeView { category: category.to_owned(), category_name: name.to_owned(), rate_bp: rate })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_round_half_up_to_the_fen() {
        assert_eq!(fee_at(10_000, 300), 300);
        assert_eq!(fee_at(150, 300), 5, "4.5 fen rounds up");
        assert_eq!(fee_at(149, 300), 4, "4.47 fen rounds down");
        assert_eq!(fee_at(-150, 300), -5, "a refund's share rounds the same way, away from zero");
        assert_eq!(fee_at(12_345, 0), 0);
        assert_eq!(fee_at(99, 10_000), 99);
    }

    #[test]
    fn a_sub_order_pays_each_line_at_its_rate_and_refunds_give_back_the_difference() {
        // ¥100 of tea at 3% and ¥50 of mushrooms at 0%.
        let lines = [FeeLine { weight: 10_000, rate_bp: 300 }, FeeLine { weight: 5_000, rate_bp: 0 }];
        assert_eq!(fee_of(&lines, 15_000), 300);
        // A refund of ¥15 leaves ¥135, spread 90 : 45; the tea pays 2.70.
        let after = fee_of(&lines, 13_500);
        assert_eq!(after, 270);
        assert_eq!(fee_of(&lines, 15_000) - after, 30, "the refund gives back 30 fen of fee");
        assert_eq!(fee_of(&lines, 0), 0, "a whole refund gives back the whole fee");
    }
}
