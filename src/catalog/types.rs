//! Product fields, parsed and validated once, shared by the API and the bulk import.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::categories;
use crate::error::Violations;
use crate::validate::{double_option, required_text};

pub const MAX_PRICE_FEN: i64 = 10_000_000_000;

pub const MAX_STOCK: i64 = 1_000_000_000;

pub const MAX_ORDER_QTY: i64 = 10_000_000;

pub const MAX_TIERS: usize = 10;

pub const MAX_IMAGES: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    Ambient,
    Chilled,
    Frozen,
}

impl Storage {
    pub fn as_str(self) -> &'static str {
        match self {
            Storage::Ambient => "ambient",
            Storage::Chilled => "chilled",
            Storage::Frozen => "frozen",
        }
    }
    pub fn parse(s: &str) -> Option<Storage> {
        match s.trim() {
            "ambient" | "常温" => Some(Storage::Ambient),
            "chilled" | "冷藏" => Some(Storage::Chilled),
            "frozen" | "冷冻" => Some(Storage::Frozen),
            _ => None,
        }
    }
}

/// A quantity price: buying at least `min_qty` units costs `price_fen` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    #[schema(minimum = 1, maximum = 10000000)]
    pub min_qty: i64,
    #[schema(minimum = 1, maximum = 10000000000.0)]
    pub price_fen: i64,
}

/// The unit price for buying `quantity`: the cheapest tier reached, else the base price.
pub fn unit_price(price_fen: i64, tiers: &[Tier], quantity: i64) -> i64 {
    tiers.iter().filter(|t| quantity >= t.min_qty).map(|t| t.price_fen).min().unwrap_or(price_fen).min(price_fen)
}

/// Every field of a product as the producer gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductFields {
    pub name: String,
    pub category: String,
    pub description: String,
    pub origin_region_code: String,
    pub unit: String,
    pub spec: String,
    pub net_weight_g: Option<i64>,
    pub price_fen: i64,
    pub tiers: Vec<Tier>,
    pub min_order_qty: i64,
    pub stock: i64,
    pub storage: Storage,
    pub shelf_life_days: Option<i64>,
    pub images: Vec<String>,
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() > 8
        && s.len() <= 500
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl ProductFields {
    /// Normalises text fields and reports every rule a field breaks, under `prefix` (e.g. `row 7: `).
    pub fn validate(&mut self, v: &mut Violations) {
        self.name = required_text(v, "name", &self.name, 100);
        self.unit = required_text(v, "unit", &self.unit, 10);
        self.spec = required_text(v, "spec", &self.spec, 100);
        self.description = self.description.trim().to_owned();
        v.check(self.description.chars().count() <= 5000, "description", "must have at most 5000 characters");
        v.check(
            !self.description.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
            "description",
            "must not contain control characters",
        );
        v.check(
            categories::find(&self.category).is_some(),
            "category",
            "is not a known category (see GET /categories)",
        );
        v.check(self.price_fen > 0, "price_fen", "must be greater than 0");
        v.check(self.price_fen <= MAX_PRICE_FEN, "price_fen", "must be at most 10000000000 (¥100,000,000)");
        v.check(self.stock >= 0, "stock", "must not be negative");
        v.check(self.stock <= MAX_STOCK, "stock", "must be at most 1000000000");
        v.check((1..=MAX_ORDER_QTY).contains(&self.min_order_qty), "min_order_qty", "must be between 1 and 10000000");
        if let Some(w) = self.net_weight_g {
            v.check((1..=10_000_000).contains(&w), "net_weight_g", "must be between 1 and 10000000 grams");
        }
        if let Some(d) = self.shelf_life_days {
            v.check((1..=3650).contains(&d), "shelf_life_days", "must be between 1 and 3650");
        }
        v.check(self.images.len() <= MAX_IMAGES, "images", "at most 10 images");
        for (i, url) in self.images.iter().enumerate() {
            v.check(is_http_url(url), &format!("images[{i}]"), "must be an http(s) URL of at most 500 characters");
        }
        v.check(self.tiers.len() <= MAX_TIERS, "tiers", "at most 10 tiers");
        let mut previous: Option<Tier> = None;
        for (i, tier) in self.tiers.iter().enumerate() {
            let field = format!("tiers[{i}]");
            v.check(
                (1..=MAX_ORDER_QTY).contains(&tier.min_qty),
                &format!("{field}.min_qty"),
                "must be between 1 and 10000000",
            );
            v.check(tier.price_fen > 0, &format!("{field}.price_fen"), "must be greater than 0");
            v.check(tier.price_fen < self.price_fen, &format!("{field}.price_fen"), "must be cheaper than price_fen");
            if let Some(p) = previous {
                v.check(
                    tier.min_qty > p.min_qty,
                    &format!("{field}.min_qty"),
                    "must be larger than the previous tier's",
                );
                v.check(
                    tier.price_fen < p.price_fen,
                    &format!("{field}.price_fen"),
                    "must be cheaper than the previous tier's",
                );
            }
            previous = Some(*tier);
        }
    }

    /// Price per 500 g, rounded to the fen, when the net weight is known.
    pub fn price_per_500g_fen(&self) -> Option<i64> {
        per_500g(self.price_fen, self.net_weight_g)
    }
}

pub fn per_500g(price_fen: i64, net_weight_g: Option<i64>) -> Option<i64> {
    let w = net_weight_g.filter(|w| *w > 0)? as i128;
    Some(((price_fen as i128 * 500 * 2 + w) / (2 * w)) as i64)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProductBody {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// A code from `GET /categories`.
    #[schema(
        pattern = r"^(tea|edible_fungi|grain_oil|meat_eggs|vegetables|fruit|herbs|specialty_food|handicraft|other)$"
    )]
    pub category: String,
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub description: String,
    /// An assisted region (county or below).
    pub origin_region_code: String,
    /// The sale unit: 罐, 箱, 袋, kg …
    #[schema(
        min_length = 1,
        max_length = 10,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub unit: String,
    /// e.g. `250g/罐`.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub spec: String,
    #[schema(minimum = 1, maximum = 10000000)]
    pub net_weight_g: Option<i64>,
    #[schema(minimum = 1, maximum = 10000000000.0)]
    pub price_fen: i64,
    /// Quantity prices, strictly cheaper as `min_qty` grows, all cheaper than `price_fen`.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub tiers: Vec<Tier>,
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 10000000)]
    pub min_order_qty: i64,
    #[schema(minimum = 0, maximum = 1000000000)]
    pub stock: i64,
    #[serde(default = "ambient")]
    pub storage: Storage,
    #[schema(minimum = 1, maximum = 3650)]
    pub shelf_life_days: Option<i64>,
    #[serde(default)]
    #[schema(max_items = 10)]
    pub images: Vec<String>,
}

fn one() -> i64 {
    1
}

fn ambient() -> Storage {
    Storage::Ambient
}

impl From<NewProductBody> for ProductFields {
    fn from(b: NewProductBody) -> Self {
        ProductFields {
            name: b.name,
            category: b.category,
            description: b.description,
            origin_region_code: b.origin_region_code,
            unit: b.unit,
            spec: b.spec,
            net_weight_g: b.net_weight_g,
            price_fen: b.price_fen,
            tiers: b.tiers,
            min_order_qty: b.min_order_qty,
            stock: b.stock,
            storage: b.storage,
            shelf_life_days: b.shelf_life_days,
            images: b.images,
        }
    }
}

/// A partial update: absent fields stay; `null` clears the optional ones.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchProductBody {
    pub name: Option<String>,
    pub category: Option<String>,
    pub description: Option<String>,
    pub origin_region_code: Option<String>,
    pub unit: Option<String>,
    pub spec: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub net_weight_g: Option<Option<i64>>,
    pub price_fen: Option<i64>,
    pub tiers: Option<Vec<Tier>>,
    pub min_order_qty: Option<i64>,
    pub stock: Option<i64>,
    pub storage: Option<Storage>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub shelf_life_days: Option<Option<i64>>,
    pub images: Option<Vec<String>>,
}

impl PatchProductBody {
    pub fn apply(self, f: &mut ProductFields) {
        macro_rules! set {
            ($($field:ident),*) => { $(if let Some(v) = self.$field { f.$field = v; })* };
        }
        set!(
            name,
            category,
            description,
            origin_region_code,
            unit,
            spec,
            net_weight_g,
            price_fen,
            tiers,
            min_order_qty,
            stock,
            storage,
            shelf_life_days,
            images
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tea() -> ProductFields {
        ProductFields {
            name: " 普安红茶 ".into(),
            category: "tea".into(),
            description: "明前采摘".into(),
            origin_region_code: "522323".into(),
            unit: "罐".into(),
            spec: "250g/罐".into(),
            net_weight_g: Some(250),
            price_fen: 6800,
            tiers: vec![Tier { min_qty: 10, price_fen: 6500 }, Tier { min_qty: 100, price_fen: 6000 }],
            min_order_qty: 1,
            stock: 500,
            storage: Storage::Ambient,
            shelf_life_days: Some(540),
            images: vec!["https://img.example.cn/puan.jpg".into()],
        }
    }

    fn errors(mut p: ProductFields) -> Vec<String> {
        let mut v = Violations::new();
        p.validate(&mut v);
        match v.finish("validation_failed") {
            Ok(()) => vec![],
            Err(crate::error::AppError::Problem(p)) => p.errors.into_iter().map(|e| e.field).collect(),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn a_good_product_passes_and_is_trimmed() {
        let mut p = tea();
        let mut v = Violations::new();
        p.validate(&mut v);
        assert!(v.is_empty());
        assert_eq!(p.name, "普安红茶");
        assert_eq!(p.price_per_500g_fen(), Some(13600));
    }

    #[test]
    fn tiers_must_get_cheaper_as_quantity_grows() {
        let mut p = tea();
        p.tiers = vec![Tier { min_qty: 10, price_fen: 6500 }, Tier { min_qty: 10, price_fen: 6400 }];
        assert_eq!(errors(p), ["tiers[1].min_qty"]);
        let mut p = tea();
        p.tiers = vec![Tier { min_qty: 10, price_fen: 6500 }, Tier { min_qty: 50, price_fen: 6500 }];
        assert_eq!(errors(p), ["tiers[1].price_fen"]);
        let mut p = tea();
        p.tiers = vec![Tier { min_qty: 10, price_fen: 6800 }];
        assert_eq!(errors(p), ["tiers[0].price_fen"]);
    }

    #[test]
    fn every_bad_field_is_reported() {
        let mut p = tea();
        p.price_fen = 0;
        p.stock = -1;
        p.category = "tobacco".into();
        p.images = vec!["javascript:alert(1)".into()];
        p.tiers = vec![];
        assert_eq!(errors(p), ["category", "price_fen", "stock", "images[0]"]);
    }

    #[test]
    fn unit_price_uses_the_cheapest_tier_reached() {
        let tiers = [Tier { min_qty: 10, price_fen: 6500 }, Tier { min_qty: 100, price_fen: 6000 }];
        assert_eq!(unit_price(6800, &tiers, 1), 6800);
        assert_eq!(unit_price(6800, &tiers, 10), 6500);
        assert_eq!(unit_price(6800, &tiers, 99), 6500);
        assert_eq!(unit_price(6800, &tiers, 100), 6000);
        assert_eq!(unit_price(6800, &[], 1000), 6800);
    }

    #[test]
    fn per_500g_rounds_half_up() {
        assert_eq!(per_500g(3500, Some(1000)), Some(1750));
        assert_eq!(per_500g(1001, Some(1000)), Some(501));
        assert_eq!(per_500g(100, None), None);
    }
}
