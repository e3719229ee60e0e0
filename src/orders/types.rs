//! Order requests, parsed: a service never sees a bad quantity, an empty address or a junk phone.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalog::types::MAX_ORDER_QTY;
use crate::error::{AppError, AppResult, Violations};
use crate::validate::{optional_text, parse_name, required_text};

pub const MAX_LINES: usize = 100;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineBody {
    pub product_id: String,
    /// In the product's sale unit; at least the product's `min_order_qty`.
    #[schema(minimum = 1, maximum = 10000000)]
    pub quantity: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub address: String,
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub contact_name: String,
    #[schema(min_length = 5, max_length = 20, pattern = r"^[ ()+-]*([0-9][ ()+-]*){5,}$")]
    pub phone: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrderBody {
    /// 1 to 100 lines; several lines of one product are priced by their total quantity.
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<LineBody>,
    pub delivery: Delivery,
    #[schema(max_length = 500)]
    pub note: Option<String>,
    /// Order at this live session's prices (while it is live; only the products it pins). The
    /// order then carries the channel `live`.
    pub live_session_id: Option<String>,
}

/// A validated order request.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub lines: Vec<LineBody>,
    pub delivery: Delivery,
    pub note: Option<String>,
    pub live_session_id: Option<String>,
}

pub fn phone_ok(phone: &str) -> bool {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    (5..=20).contains(&phone.len())
        && digits >= 5
        && phone.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')'))
}

impl Delivery {
    /// Trims and checks every field, reporting under `prefix` (`delivery.` or `pledge.delivery.`).
    pub fn parse(self, prefix: &str, v: &mut Violations) -> Delivery {
        let address = required_text(v, &format!("{prefix}address"), &self.address, 200);
        let contact_name = required_text(v, &format!("{prefix}contact_name"), &self.contact_name, 50);
        let phone = self.phone.trim().to_owned();
        if !phone_ok(&phone) {
            v.add(format!("{prefix}phone"), "must be a phone number: 5 to 20 digits, with + - ( ) or spaces");
        }
        Delivery { address, contact_name, phone }
    }
}

impl TryFrom<NewOrderBody> for NewOrder {
    type Error = AppError;

    fn try_from(body: NewOrderBody) -> AppResult<NewOrder> {
        let mut v = Violations::new();
        v.check(!body.lines.is_empty(), "lines", "must hold at least one line");
        v.check(body.lines.len() <= MAX_LINES, "lines", "at most 100 lines per order");
        for (i, line) in body.lines.iter().enumerate() {
            v.check(
                !line.product_id.trim().is_empty() && line.product_id.len() <= 64,
                &format!("lines[{i}].product_id"),
                "must be a product id",
            );
        }
        let delivery = body.delivery.parse("delivery.", &mut v);
        let note = optional_text(&mut v, "note", body.note.clone(), 500);
        if let Some(id) = &body.live_session_id {
            v.check(!id.trim().is_empty() && id.len() <= 64, "live_session_id", "must be a live session id");
        }
        v.finish("validation_failed")?;
        let mut q = Violations::new();
        for (i, line) in body.lines.iter().enumerate() {
            q.check(
                (1..=MAX_ORDER_QTY).contains(&line.quantity),
                &format!("lines[{i}].quantity"),
                "must be a whole number from 1 to 10000000",
            );
        }
        q.finish("invalid_quantity")?;
        let lines =
            body.lines.into_iter().map(|l| LineBody { product_id: l.product_id.trim().to_owned(), ..l }).collect();
        let live_session_id = body.live_session_id.map(|s| s.trim().to_owned());
        Ok(NewOrder { lines, delivery, note, live_session_id })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipBody {
    /// The carrier: 顺丰速运, 中国邮政, 德邦物流 …
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub carrier: String,
    #[schema(pattern = r"^[0-9A-Za-z_/-]{1,64}$")]
    pub tracking_no: String,
    /// The number of the invoice (发票) issued for this sub-order.
    #[schema(pattern = r"^[0-9A-Za-z_/-]{1,64}$")]
    pub invoice_no: Option<String>,
}

/// A shipment, parsed.
pub struct Shipment {
    pub carrier: String,
    pub tracking_no: String,
    pub invoice_no: Option<String>,
}

fn code_ok(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'))
}

impl TryFrom<ShipBody> for Shipment {
    type Error = AppError;
    fn try_from(body: ShipBody) -> AppResult<Shipment> {
        let mut v = Violations::new();
        let carrier = parse_name(&body.carrier, 50).map_err(|m| v.add("carrier", m)).unwrap_or_default();
        let tracking_no = body.tracking_no.trim().to_owned();
        v.check(code_ok(&tracking_no), "tracking_no", "must be 1 to 64 letters, digits, '-', '_' or '/'");
        let invoice_no = body.invoice_no.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        if let Some(no) = &invoice_no {
            v.check(code_ok(no), "invoice_no", "must be 1 to 64 letters, digits, '-', '_' or '/'");
        }
        v.finish("validation_failed")?;
        Ok(Shipment { carrier, tracking_no, invoice_no })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// What the buyer noted on acceptance (验收意见).
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingBody {
    /// 1 to 5.
    #[schema(minimum = 1, maximum = 5)]
    pub stars: i32,
    #[schema(max_length = 500)]
    pub comment: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(lines: Vec<(&str, i64)>, phone: &str) -> NewOrderBody {
        NewOrderBody {
            lines: lines.into_iter().map(|(p, q)| LineBody { product_id: p.into(), quantity: q }).collect(),
            delivery: Delivery {
                address: " 惠州市惠城区麦地路 1 号 ".into(),
                contact_name: "王老师".into(),
                phone: phone.into(),
            },
            note: Some("  ".into()),
            live_session_id: None,
        }
    }

    fn codes(b: NewOrderBody) -> (String, Vec<String>) {
        match NewOrder::try_from(b) {
            Ok(_) => ("ok".into(), vec![]),
            Err(AppError::Problem(p)) => (p.code.clone(), p.errors.iter().map(|e| e.field.clone()).collect()),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_good_order_is_trimmed() {
        let order = NewOrder::try_from(body(vec![("prd_1", 120), ("prd_2", 10)], "0752-2222222")).unwrap();
        assert_eq!(order.delivery.address, "惠州市惠城区麦地路 1 号");
        assert_eq!(order.note, None);
    }

    #[test]
    fn quantities_have_their_own_code() {
        assert_eq!(codes(body(vec![("prd_1", 0), ("prd_2", -3)], "13800138000")).0, "invalid_quantity");
        assert_eq!(codes(body(vec![("prd_1", 0)], "13800138000")).1, ["lines[0].quantity"]);
        assert_eq!(codes(body(vec![("prd_1", 10_000_001)], "13800138000")).0, "invalid_quantity");
        let (code, fields) = codes(body(vec![], "call me"));
        assert_eq!(code, "validation_failed");
        assert_eq!(fields, ["lines", "delivery.phone"]);
        assert_eq!(codes(body(vec![("prd_1", 1); 101], "13800138000")).1, ["lines"]);
    }
}
