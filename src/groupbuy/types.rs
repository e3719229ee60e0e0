//! Group-purchase requests, parsed, and the tier arithmetic every view and the close share.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalog::types::{MAX_ORDER_QTY, MAX_TIERS};
use crate::error::{AppError, AppResult, Violations};
use crate::orders::types::Delivery;
use crate::validate::optional_text;
use crate::validate::parse_name;

/// The longest a campaign may run.
pub const MAX_CAMPAIGN_DAYS: i64 = 366;

/// Buying at least `min_qty` units in total (across every pledge) costs `unit_price_fen` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignTier {
    #[schema(minimum = 1, maximum = 10000000)]
    pub min_qty: i64,
    #[schema(minimum = 1, maximum = 10000000000.0)]
    pub unit_price_fen: i64,
}

/// The unit price a campaign's total reaches: the last tier whose `min_qty` it reaches; below
/// the first tier, the first tier's price (the entry price nobody pays more than).
pub fn price_at(tiers: &[CampaignTier], total: i64) -> i64 {
    tiers.iter().rev().find(|t| total >= t.min_qty).or(tiers.first()).map(|t| t.unit_price_fen).unwrap_or_default()
}

/// The next cheaper tier and how much more it takes, if any tier is still above `total`.
pub fn next_tier(tiers: &[CampaignTier], total: i64) -> Option<NextTier> {
    let current = price_at(tiers, total);
    tiers.iter().find(|t| t.min_qty > total && t.unit_price_fen < current).map(|t| NextTier {
        min_qty: t.min_qty,
        unit_price_fen: t.unit_price_fen,
        qty_needed: t.min_qty - total,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct NextTier {
    pub min_qty: i64,
    pub unit_price_fen: i64,
    /// What the campaign's total still lacks to reach this tier.
    pub qty_needed: i64,
}

/// Yuan as people say it on a poster: `6000` → `60`, `6050` → `60.50`.
pub fn yuan_short(fen: i64) -> String {
    if fen % 100 == 0 { format!("{}", fen / 100) } else { format!("{}.{:02}", fen / 100, (fen % 100).abs()) }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCampaignBody {
    /// 1 to 100 characters, e.g. `2021年中秋工会福利 普安红茶团购`.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub title: String,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// A listed, certified product.
    pub product_id: String,
    /// 1 to 10 tiers: `min_qty` strictly rising, `unit_price_fen` strictly falling, the first
    /// price at most the product's own price and the first `min_qty` at most `min_total_qty`.
    #[schema(min_items = 1, max_items = 10)]
    pub tiers: Vec<CampaignTier>,
    /// The campaign succeeds when the pledges reach this total.
    #[schema(minimum = 1, maximum = 10000000)]
    pub min_total_qty: i64,
    /// Pledges never take the total above this.
    #[schema(minimum = 1, maximum = 10000000)]
    pub max_total_qty: i64,
    /// The smallest pledge (default 1).
    #[schema(minimum = 1, maximum = 10000000)]
    pub min_pledge_qty: Option<i64>,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    /// Agencies whose region lies inside this one may pledge.
    #[schema(pattern = r"^[0-9]{6}$")]
    pub eligible_region_code: String,
}

/// A validated campaign request (the product and region are checked against the database later).
#[derive(Debug, Clone)]
pub struct NewCampaign {
    pub title: String,
    pub description: String,
    pub product_id: String,
    pub tiers: Vec<CampaignTier>,
    pub min_total_qty: i64,
    pub max_total_qty: i64,
    pub min_pledge_qty: i64,
    pub opens_at: NaiveDateTime,
    pub closes_at: NaiveDateTime,
    pub eligible_region_code: String,
}

/// Tiers that get cheaper as the total grows, each field named when it breaks a rule.
pub fn check_tiers(v: &mut Violations, tiers: &[CampaignTier]) {
    v.check(!tiers.is_empty(), "tiers", "must hold at least one tier");
    v.check(tiers.len() <= MAX_TIERS, "tiers", "at most 10 tiers");
    for (i, t) in tiers.iter().enumerate() {
        v.check(
            (1..=MAX_ORDER_QTY).contains(&t.min_qty),
            &format!("tiers[{i}].min_qty"),
            "must be between 1 and 10000000",
        );
        v.check(t.unit_price_fen > 0, &format!("tiers[{i}].unit_price_fen"), "must be greater than 0");
        if i > 0 {
            let before = tiers[i - 1];
            v.check(
                t.min_qty > before.min_qty,
                &format!("tiers[{i}].min_qty"),
                "must be larger than the previous tier's min_qty",
            );
            v.check(
                t.unit_price_fen < before.unit_price_fen,
                &format!("tiers[{i}].unit_price_fen"),
                "must be lower than the previous tier's price: tiers get cheaper as the total grows",
            );
        }
    }
}

impl NewCampaignBody {
    /// Checks every field on its own and against the others; `now` bounds the closing time.
    pub fn parse(self, now: NaiveDateTime) -> AppResult<NewCampaign> {
        let mut v = Violations::new();
        let title = parse_name(&self.title, 100).map_err(|m| v.add("title", m)).unwrap_or_default();
        let description = optional_text(&mut v, "description", self.description, 2000).unwrap_or_default();
        let product_id = self.product_id.trim().to_owned();
        v.check(!product_id.is_empty() && product_id.len() <= 64, "product_id", "must be a product id");
        check_tiers(&mut v, &self.tiers);
        v.check((1..=MAX_ORDER_QTY).contains(&self.min_total_qty), "min_total_qty", "must be between 1 and 10000000");
        v.check((1..=MAX_ORDER_QTY).contains(&self.max_total_qty), "max_total_qty", "must be between 1 and 10000000");
        v.check(self.max_total_qty >= self.min_total_qty, "max_total_qty", "must not be below min_total_qty");
        if let Some(first) = self.tiers.first() {
            v.check(
                first.min_qty <= self.min_total_qty,
                "tiers[0].min_qty",
                "must not exceed min_total_qty: a campaign that succeeds must have reached a tier",
            );
        }
        let min_pledge_qty = self.min_pledge_qty.unwrap_or(1);
        v.check(
            (1..=self.max_total_qty.max(1)).contains(&min_pledge_qty),
            "min_pledge_qty",
            "must be between 1 and max_total_qty",
        );
        let (opens_at, closes_at) = (self.opens_at.naive_utc(), self.closes_at.naive_utc());
        v.check(closes_at > opens_at, "closes_at", "must be after opens_at");
        v.check(closes_at > now, "closes_at", "must be in the future");
        v.check(
            closes_at - opens_at <= chrono::Duration::days(MAX_CAMPAIGN_DAYS),
            "closes_at",
            "a campaign runs at most 366 days",
        );
        let eligible_region_code = self.eligible_region_code.trim().to_owned();
        v.check(!eligible_region_code.is_empty(), "eligible_region_code", "must be a region code");
        v.finish("validation_failed")?;
        Ok(NewCampaign {
            title,
            description,
            product_id,
            tiers: self.tiers,
            min_total_qty: self.min_total_qty,
            max_total_qty: self.max_total_qty,
            min_pledge_qty,
            opens_at,
            closes_at,
            eligible_region_code,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PledgeBody {
    /// In the product's sale unit. Pledging again replaces the organisation's active pledge.
    #[schema(minimum = 1, maximum = 10000000)]
    pub quantity: i64,
    /// Where this organisation's order goes when the campaign succeeds.
    pub delivery: Delivery,
    #[schema(max_length = 500)]
    pub note: Option<String>,
}

/// A validated pledge request.
#[derive(Debug, Clone)]
pub struct NewPledge {
    pub quantity: i64,
    pub delivery: Delivery,
    pub note: Option<String>,
}

impl TryFrom<PledgeBody> for NewPledge {
    type Error = AppError;

    fn try_from(body: PledgeBody) -> AppResult<NewPledge> {
        let mut v = Violations::new();
        let delivery = body.delivery.parse("delivery.", &mut v);
        let note = optional_text(&mut v, "note", body.note, 500);
        v.finish("validation_failed")?;
        if !(1..=MAX_ORDER_QTY).contains(&body.quantity) {
            return Err(AppError::invalid_field(
                "invalid_quantity",
                "quantity",
                "must be a whole number from 1 to 10000000",
            ));
        }
        Ok(NewPledge { quantity: body.quantity, delivery, note })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why the round is called off; told to every pledging organisation.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiers() -> Vec<CampaignTier> {
        vec![
            CampaignTier { min_qty: 1, unit_price_fen: 6800 },
            CampaignTier { min_qty: 100, unit_price_fen: 6000 },
            CampaignTier { min_qty: 300, unit_price_fen: 5500 },
        ]
    }

    #[test]
    fn the_total_reaches_a_tier_price() {
        let t = tiers();
        assert_eq!(price_at(&t, 0), 6800, "below every tier: the entry price");
        assert_eq!(price_at(&t, 99), 6800);
        assert_eq!(price_at(&t, 100), 6000);
        assert_eq!(price_at(&t, 299), 6000);
        assert_eq!(price_at(&t, 5000), 5500);
        assert_eq!(next_tier(&t, 90), Some(NextTier { min_qty: 100, unit_price_fen: 6000, qty_needed: 10 }));
        assert_eq!(next_tier(&t, 100).map(|n| n.qty_needed), Some(200));
        assert_eq!(next_tier(&t, 300), None);
        let from_ten =
            [CampaignTier { min_qty: 10, unit_price_fen: 900 }, CampaignTier { min_qty: 20, unit_price_fen: 800 }];
        assert_eq!(price_at(&from_ten, 3), 900);
        assert_eq!(next_tier(&from_ten, 3).map(|n| n.min_qty), Some(20), "the first tier costs what is paid already");
    }

    #[test]
    fn prices_are_said_in_yuan() {
        assert_eq!(yuan_short(6000), "60");
        assert_eq!(yuan_short(6050), "60.50");
        assert_eq!(yuan_short(5), "0.05");
    }

    fn body(tiers: Vec<CampaignTier>, min: i64, max: i64) -> NewCampaignBody {
        let now = chrono::Utc::now();
        NewCampaignBody {
            title: "中秋团购".into(),
            description: None,
            product_id: "prd_1".into(),
            tiers,
            min_total_qty: min,
            max_total_qty: max,
            min_pledge_qty: None,
            opens_at: now,
            closes_at: now + chrono::Duration::days(7),
            eligible_region_code: "441300".into(),
        }
    }

    fn fields(b: NewCampaignBody) -> Vec<String> {
        match b.parse(chrono::Utc::now().naive_utc()) {
            Ok(_) => vec![],
            Err(AppError::Problem(p)) => p.errors.iter().map(|e| e.field.clone()).collect(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn tiers_must_get_cheaper_as_they_rise() {
        assert!(fields(body(tiers(), 100, 1000)).is_empty());
        let flat =
            vec![CampaignTier { min_qty: 1, unit_price_fen: 6800 }, CampaignTier { min_qty: 50, unit_price_fen: 6800 }];
        assert_eq!(fields(body(flat, 100, 1000)), ["tiers[1].unit_price_fen"]);
        let falling_qty = vec![
            CampaignTier { min_qty: 50, unit_price_fen: 6800 },
            CampaignTier { min_qty: 40, unit_price_fen: 6000 },
        ];
        assert_eq!(fields(body(falling_qty, 100, 1000)), ["tiers[1].min_qty"]);
        assert_eq!(fields(body(vec![], 100, 1000)), ["tiers"]);
        assert_eq!(fields(body(tiers(), 100, 50)), ["max_total_qty"]);
        let late = vec![CampaignTier { min_qty: 200, unit_price_fen: 6800 }];
        assert_eq!(fields(body(late, 100, 1000)), ["tiers[0].min_qty"]);
        let mut b = body(tiers(), 100, 1000);
        b.closes_at = b.opens_at - chrono::Duration::hours(1);
        assert_eq!(fields(b), ["closes_at", "closes_at"]);
    }
}
