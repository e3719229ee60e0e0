//! Every outbox topic and its payload: what a transaction may ask the worker to do. The JSON of
//! each payload is the stored row; a change here must still read the rows already written.

use serde::{Deserialize, Serialize};

use super::job::Topic;
use crate::error::{AppError, AppResult};
use crate::notify::mailer::Mail;

/// A product changed: bring the search index up to date with it (or drop it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductChanged {
    pub product_id: String,
    /// Why, for the operator reading the outbox (`stock`, `certificate_expired`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Topic for ProductChanged {
    const TOPIC: &'static str = "search.product";
}

/// Something happened that people are told of by mail; the worker decides who and renders
/// one [`Mail`] per recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Notice {
    OrderPlaced {
        order_id: String,
    },
    SubOrderShipped {
        sub_order_id: String,
    },
    RefundRecorded {
        refund_id: String,
    },
    CertificationApproved {
        request_id: String,
    },
    CertificationRejected {
        request_id: String,
    },
    CertificateExpiring {
        product_id: String,
    },
    CertificateExpired {
        product_id: String,
    },
    FilingReturned {
        filing_id: String,
    },
    AccountCreated {
        user_id: String,
    },
    /// The weekly digest of `week` (`2026-W49`).
    Digest {
        week: String,
    },
    /// The half-yearly bulletin of `year`'s `period` (`H1` or `H2`) to the coordinators.
    Bulletin {
        year: i32,
        period: String,
    },
    #[serde(rename = "group_buy.opened")]
    GroupBuyOpened {
        group_buy_id: String,
    },
    #[serde(rename = "group_buy.closing_soon")]
    GroupBuyClosingSoon {
        group_buy_id: String,
    },
    #[serde(rename = "group_buy.succeeded")]
    GroupBuySucceeded {
        group_buy_id: String,
    },
    #[serde(rename = "group_buy.failed")]
    GroupBuyFailed {
        group_buy_id: String,
    },
    #[serde(rename = "group_buy.cancelled")]
    GroupBuyCancelled {
        group_buy_id: String,
    },
    /// A settlement was paid out.
    SettlementPaid {
        settlement_id: String,
    },
    /// A producer's bank details were set or changed (the event in their history).
    BankAccountChanged {
        event_id: String,
    },
}

impl Notice {
    /// The news of a group purchase: `opened`, `closing_soon`, or how it ended (`succeeded`,
    /// `failed`, `cancelled`).
    pub fn group_buy(news: &str, group_buy_id: &str) -> AppResult<Notice> {
        let group_buy_id = group_buy_id.to_owned();
        Ok(match news {
            "opened" => Notice::GroupBuyOpened { group_buy_id },
            "closing_soon" => Notice::GroupBuyClosingSoon { group_buy_id },
            "succeeded" => Notice::GroupBuySucceeded { group_buy_id },
            "failed" => Notice::GroupBuyFailed { group_buy_id },
            "cancelled" => Notice::GroupBuyCancelled { group_buy_id },
            other => return Err(AppError::Unexpected(anyhow::anyhow!("no notice for a group purchase that {other}"))),
        })
    }
}

impl Topic for Notice {
    const TOPIC: &'static str = "notify";
}

impl Topic for Mail {
    const TOPIC: &'static str = "mail.send";
}

/// A refund we recorded, to be made at Stripe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundDue {
    pub refund_id: String,
}

impl Topic for RefundDue {
    const TOPIC: &'static str = "stripe.refund";
}

/// Money that arrived for an order no longer payable, to be given back in full at Stripe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurplusDue {
    pub payment_id: String,
}

impl Topic for SurplusDue {
    const TOPIC: &'static str = "stripe.surplus";
}

/// A pledge's card authorisation, to be captured for what its order costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureDue {
    pub authorization_id: String,
}

impl Topic for CaptureDue {
    const TOPIC: &'static str = "stripe.capture";
}

/// A pledge's card authorisation, to be released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoidDue {
    pub authorization_id: String,
}

impl Topic for VoidDue {
    const TOPIC: &'static str = "stripe.void";
}

/// A settlement run to perform (resumable: producers already settled are skipped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementRunDue {
    pub run_id: String,
}

impl Topic for SettlementRunDue {
    const TOPIC: &'static str = "settlement.run";
}

/// A settlement's payout to make by a Stripe transfer to the producer's connected account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferDue {
    pub payout_id: String,
}

impl Topic for TransferDue {
    const TOPIC: &'static str = "stripe.transfer";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows written before payloads were typed must still read, and new rows must read the same.
    #[test]
    fn payloads_keep_the_stored_json() {
        let stored = r#"{"event":"group_buy.closing_soon","group_buy_id":"gby_1"}"#;
        let notice: Notice = serde_json::from_str(stored).unwrap();
        assert_eq!(notice, Notice::GroupBuyClosingSoon { group_buy_id: "gby_1".into() });
        assert_eq!(serde_json::to_string(&notice).unwrap(), stored);
        let stored = r#"{"event":"order_placed","order_id":"ord_1"}"#;
        assert_eq!(serde_json::to_string(&serde_json::from_str::<Notice>(stored).unwrap()).unwrap(), stored);
        let plain: ProductChanged = serde_json::from_str(r#"{"product_id":"prd_1"}"#).unwrap();
        assert_eq!(serde_json::to_string(&plain).unwrap(), r#"{"product_id":"prd_1"}"#);
        let stock = ProductChanged { product_id: "prd_1".into(), reason: Some("stock".into()) };
        assert_eq!(serde_json::to_string(&stock).unwrap(), r#"{"product_id":"prd_1","reason":"stock"}"#);
        assert!(serde_json::from_str::<Notice>(r#"{"event":"nobody_knows","x":"1"}"#).is_err());
        assert!(Notice::group_buy("reopened", "gby_1").is_err());
    }
}
