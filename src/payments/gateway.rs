//! The Stripe API, through async-stripe's client (authentication, retries, idempotency keys,
//! `STRIPE_API_BASE`). Answers are read into the few fields we use rather than async-stripe's
//! generated models: those require every field of Stripe's current API version, which
//! Stripe-compatible servers (localstripe in our tests) and older API versions do not all send.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError};
use stripe_client_core::{RequestBuilder, StripeMethod};

use crate::config::StripeConfig;

/// The metadata key naming our order on a PaymentIntent.
pub const ORDER_KEY: &str = "dongxi_order_id";
/// The metadata key naming our refund on a Stripe refund.
pub const REFUND_KEY: &str = "dongxi_refund_id";
/// The metadata key naming our settlement on a transfer to a producer's connected account.
pub const SETTLEMENT_KEY: &str = "dongxi_settlement_id";
/// The metadata key naming our group-purchase pledge on an authorisation (manual capture).
pub const PLEDGE_KEY: &str = "dongxi_pledge_id";

#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// Stripe answered and refused (4xx): retrying the same request will not help.
    #[error("Stripe refused the request ({status}): {message}")]
    Refused { status: u16, code: Option<String>, message: String },
    /// Stripe could not be reached, timed out, failed (5xx) or answered something unreadable.
    #[error("Stripe is unavailable: {0}")]
    Unavailable(String),
}

/// What an answer that is no Stripe error (a proxy's page, a server without the endpoint) reads as.
const FOREIGN_ANSWER: &str = "an error answer that is not Stripe's";

impl GatewayError {
    /// Stripe (or what stands in its place) answered with an error that is not a Stripe error
    /// object: a proxy in between, or a Stripe-compatible server without the endpoint.
    pub fn is_foreign_answer(&self) -> bool {
        matches!(self, GatewayError::Unavailable(m) if m.starts_with(FOREIGN_ANSWER))
    }
}

impl From<StripeError> for GatewayError {
    fn from(e: StripeError) -> Self {
        match e {
            StripeError::JSONDeserialize(m) => GatewayError::Unavailable(format!("{FOREIGN_ANSWER}: {m}")),
            StripeError::Stripe(errors, status) if (400..500).contains(&status) => GatewayError::Refused {
                status,
                code: errors.code.map(|c| c.to_string()),
                message: errors.message.unwrap_or_else(|| "no message".into()),
            },
            other => GatewayError::Unavailable(other.to_string()),
        }
    }
}

/// The parts of a PaymentIntent we act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub id: String,
    pub amount: i64,
    /// What was actually collected (Stripe's `amount_received`; servers that omit it: the amount
    /// once succeeded, else 0).
    pub amount_received: i64,
    pub currency: String,
    pub status: String,
    pub client_secret: Option<String>,
    pub order_id: Option<String>,
    pub created: i64,
    /// The latest charge's id (Stripe sends the id; some servers expand it into the object).
    pub latest_charge: Option<String>,
    pub failure_message: Option<String>,
}

/// The parts of a Stripe refund we act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeRefund {
    pub id: String,
    pub amount: i64,
    pub status: String,
    pub payment_intent: Option<String>,
    pub charge: Option<String>,
    /// Our refund's id, for refunds we asked for; `None` for refunds made in Stripe's dashboard.
    pub refund_id: Option<String>,
    pub created: i64,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A field that is either an id or the expanded object carrying it.
fn id_or_object(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

fn unreadable(what: &str) -> GatewayError {
    GatewayError::Unavailable(format!("Stripe answered with an unreadable {what}"))
}

impl Intent {
    pub fn from_json(v: &Value) -> Result<Intent, GatewayError> {
        let id = text(v, "id").filter(|id| id.starts_with("pi_")).ok_or_else(|| unreadable("PaymentIntent"))?;
        let amount = v.get("amount").and_then(Value::as_i64).ok_or_else(|| unreadable("PaymentIntent"))?;
        let status = text(v, "status").ok_or_else(|| unreadable("PaymentIntent"))?;
        let amount_received = v.get("amount_received").and_then(Value::as_i64).unwrap_or_else(|| {
            match (status.as_str(), v.get("capture_method").and_then(Value::as_str), v.get("latest_charge")) {
                // A partial capture collects less than was authorised: the charge tells how much.
                ("succeeded", Some("manual"), Some(Value::Object(charge))) => {
                    let of = |k: &str| charge.get(k).and_then(Value::as_i64);
                    of("amount_captured").unwrap_or_else(|| amount - of("amount_refunded").unwrap_or(0))
                }
                ("succeeded", _, _) => amount,
                _ => 0,
            }
        });
        Ok(Intent {
            amount,
            amount_received,
            currency: text(v, "currency").unwrap_or_default(),
            client_secret: text(v, "client_secret"),
            order_id: v.get("metadata").and_then(|m| text(m, ORDER_KEY)),
            created: v.get("created").and_then(Value::as_i64).unwrap_or_default(),
            latest_charge: id_or_object(v, "latest_charge"),
            failure_message: v.get("last_payment_error").and_then(|e| text(e, "message")),
            status,
            id,
        })
    }
}

impl StripeRefund {
    pub fn from_json(v: &Value) -> Result<StripeRefund, GatewayError> {
        Ok(StripeRefund {
            id: text(v, "id").filter(|id| id.starts_with("re_")).ok_or_else(|| unreadable("refund"))?,
            amount: v.get("amount").and_then(Value::as_i64).ok_or_else(|| unreadable("refund"))?,
            status: text(v, "status").unwrap_or_else(|| "succeeded".into()),
            payment_intent: id_or_object(v, "payment_intent"),
            charge: id_or_object(v, "charge"),
            refund_id: v.get("metadata").and_then(|m| text(m, REFUND_KEY)),
            created: v.get("created").and_then(Value::as_i64).unwrap_or_default(),
        })
    }
}

/// A Stripe account reached through async-stripe.
#[derive(Clone)]
pub struct StripeGateway {
    client: Client,
    /// The whole of one call, retries included.
    deadline: Duration,
}

impl std::fmt::Debug for StripeGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StripeGateway")
    }
}

impl StripeGateway {
    pub fn new(config: &StripeConfig, deadline: Duration) -> anyhow::Result<StripeGateway> {
        let mut builder = ClientBuilder::new(config.secret_key.0.as_str())
            .timeout(deadline.min(Duration::from_secs(10)))
            .request_strategy(RequestStrategy::ExponentialBackoff(3));
        if let Some(base) = &config.api_base {
            // async-stripe appends `v1/…` to the base: it must end with a slash.
            let base = if base.ends_with('/') { base.clone() } else { format!("{base}/") };
            builder = builder.url(base);
        }
        Ok(StripeGateway { client: builder.build().map_err(|e| anyhow::anyhow!("Stripe client: {e}"))?, deadline })
    }

    async fn send(&self, request: RequestBuilder, key: Option<&str>) -> Result<Value, GatewayError> {
        let mut request = request.customize::<miniserde::json::Value>();
        if let Some(key) = key {
            let key = IdempotencyKey::new(key).map_err(|e| GatewayError::Unavailable(e.to_string()))?;
            // The same key on every attempt: a retry after a lost answer gets the first result.
            request = request.request_strategy(RequestStrategy::Idempotent(key));
        }
        // The client's own timeout bounds each attempt; this bounds the attempts together, so a
        // peer that accepts and never answers holds neither a request nor the worker for long.
        let answer = tokio::time::timeout(self.deadline, request.send(&self.client))
            .await
            .map_err(|_| GatewayError::Unavailable(format!("no answer within {} s", self.deadline.as_secs())))??;
        serde_json::from_str(&miniserde::json::to_string(&answer)).map_err(|_| unreadable("answer"))
    }

    /// Creates a PaymentIntent in CNY for `amount_fen` naming `order_id`; the same `key` gives the
    /// same intent.
    pub async fn create_intent(&self, amount_fen: i64, order_id: &str, key: &str) -> Result<Intent, GatewayError> {
        let form = json!({"amount": amount_fen, "currency": "cny", "metadata": {ORDER_KEY: order_id}});
        Intent::from_json(
            &self.send(RequestBuilder::new(StripeMethod::Post, "/payment_intents").form(&form), Some(key)).await?,
        )
    }

    /// Authorises `amount_fen` on the card for `pledge_id` without taking it (manual capture).
    pub async fn create_authorization(
        &self,
        amount_fen: i64,
        pledge_id: &str,
        key: &str,
    ) -> Result<Intent, GatewayError> {
        let form = json!({"amount": amount_fen, "currency": "cny", "capture_method": "manual",
            "metadata": {PLEDGE_KEY: pledge_id}});
        Intent::from_json(
            &self.send(RequestBuilder::new(StripeMethod::Post, "/payment_intents").form(&form), Some(key)).await?,
        )
    }

    /// Takes `amount_fen` of an authorisation; the rest is released.
    pub async fn capture(&self, id: &str, amount_fen: i64, key: &str) -> Result<Intent, GatewayError> {
        let form = json!({"amount_to_capture": amount_fen});
        let path = format!("/payment_intents/{id}/capture");
        Intent::from_json(&self.send(RequestBuilder::new(StripeMethod::Post, path).form(&form), Some(key)).await?)
    }

    /// Cancels an intent that has not been captured (an authorisation is released).
    pub async fn cancel_intent(&self, id: &str, key: &str) -> Result<Intent, GatewayError> {
        let path = format!("/payment_intents/{id}/cancel");
        Intent::from_json(&self.send(RequestBuilder::new(StripeMethod::Post, path), Some(key)).await?)
    }

    pub async fn intent(&self, id: &str) -> Result<Intent, GatewayError> {
        Intent::from_json(
            &self.send(RequestBuilder::new(StripeMethod::Get, format!("/payment_intents/{id}")), None).await?,
        )
    }

    /// One page (newest first at Stripe) of PaymentIntents after `starting_after`.
    pub async fn intents_page(&self, starting_after: Option<&str>) -> Result<(Vec<Intent>, bool), GatewayError> {
        let mut query = HashMap::from([("limit", "100".to_owned())]);
        if let Some(after) = starting_after {
            query.insert("starting_after", after.to_owned());
        }
        let page = self.send(RequestBuilder::new(StripeMethod::Get, "/payment_intents").query(&query), None).await?;
        let items = page.get("data").and_then(Value::as_array).ok_or_else(|| unreadable("list"))?;
        let intents = items.iter().map(Intent::from_json).collect::<Result<Vec<_>, _>>()?;
        Ok((intents, page.get("has_more").and_then(Value::as_bool).unwrap_or(false)))
    }

    /// Refunds `amount_fen` of a PaymentIntent for our refund `refund_id`, which is also the
    /// idempotency key: however often this is retried, Stripe refunds once.
    pub async fn create_refund(
        &self,
        payment_intent: &str,
        amount_fen: i64,
        refund_id: &str,
    ) -> Result<StripeRefund, GatewayError> {
        let form = json!({"payment_intent": payment_intent, "amount": amount_fen, "metadata": {REFUND_KEY: refund_id}});
        let key = format!("dongxi-{refund_id}");
        StripeRefund::from_json(
            &self.send(RequestBuilder::new(StripeMethod::Post, "/refunds").form(&form), Some(&key)).await?,
        )
    }

    /// Pays a settlement to a connected account (Stripe Connect); returns the transfer's id.
    pub async fn create_transfer(
        &self,
        amount_fen: i64,
        destination: &str,
        settlement_id: &str,
        key: &str,
    ) -> Result<String, GatewayError> {
        let form = json!({"amount": amount_fen, "currency": "cny", "destination": destination,
            "transfer_group": settlement_id, "metadata": {SETTLEMENT_KEY: settlement_id}});
        let answer = self.send(RequestBuilder::new(StripeMethod::Post, "/transfers").form(&form), Some(key)).await?;
        answer
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| GatewayError::Unavailable("Stripe's transfer has no id".into()))
    }

    /// Whether this Stripe has transfers to connected accounts (Stripe does; some
    /// Stripe-compatible servers do not, and answer their path with a plain 404).
    pub async fn has_transfers(&self) -> Result<bool, GatewayError> {
        match self.send(RequestBuilder::new(StripeMethod::Get, "/transfers").query(&[("limit", "1")]), None).await {
            Ok(_) => Ok(true),
            Err(GatewayError::Refused { status: 404, .. }) => Ok(false),
            Err(e) if e.is_foreign_answer() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every refund of a PaymentIntent.
    pub async fn refunds_of(&self, payment_intent: &str) -> Result<Vec<StripeRefund>, GatewayError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut query = HashMap::from([("payment_intent", payment_intent.to_owned()), ("limit", "100".to_owned())]);
            if let Some(a) = &after {
                query.insert("starting_after", a.clone());
            }
            let page = self.send(RequestBuilder::new(StripeMethod::Get, "/refunds").query(&query), None).await?;
            let items = page.get("data").and_then(Value::as_array).ok_or_else(|| unreadable("list"))?;
            let refunds = items.iter().map(StripeRefund::from_json).collect::<Result<Vec<_>, _>>()?;
            after = refunds.last().map(|r| r.id.clone());
            out.extend(refunds);
            if !page.get("has_more").and_then(Value::as_bool).unwrap_or(false) || after.is_none() {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_are_read_from_stripe_and_from_servers_that_expand_or_omit_fields() {
        let stripe = json!({"id": "pi_1", "object": "payment_intent", "amount": 1200, "amount_received": 1200,
            "currency": "cny", "status": "succeeded", "client_secret": "pi_1_secret_x", "created": 1700000000,
            "latest_charge": "ch_1", "metadata": {"dongxi_order_id": "ord_1"}});
        let i = Intent::from_json(&stripe).unwrap();
        assert_eq!(
            (i.amount_received, i.latest_charge.as_deref(), i.order_id.as_deref()),
            (1200, Some("ch_1"), Some("ord_1"))
        );
        let local = json!({"id": "pi_2", "amount": 500, "currency": "cny", "status": "requires_payment_method",
            "latest_charge": {"id": "ch_2", "object": "charge"}, "metadata": {},
            "last_payment_error": {"message": "Your card was declined."}});
        let i = Intent::from_json(&local).unwrap();
        assert_eq!((i.amount_received, i.latest_charge.as_deref(), i.order_id), (0, Some("ch_2"), None));
        assert_eq!(i.failure_message.as_deref(), Some("Your card was declined."));
        let captured = json!({"id": "pi_3", "amount": 3000, "currency": "cny", "status": "succeeded",
            "capture_method": "manual", "latest_charge": {"id": "ch_3", "amount": 3000, "amount_refunded": 600}});
        assert_eq!(Intent::from_json(&captured).unwrap().amount_received, 2400, "a partial capture");
        assert!(Intent::from_json(&json!({"id": "ch_1", "amount": 1, "status": "x"})).is_err());
        assert!(Intent::from_json(&json!({"id": "pi_1", "status": "x"})).is_err());
    }

    #[test]
    fn refunds_name_ours_and_leave_dashboard_ones_unnamed() {
        let ours = json!({"id": "re_1", "amount": 300, "status": "succeeded", "payment_intent": "pi_1",
            "charge": "ch_1", "metadata": {"dongxi_refund_id": "rfd_1"}, "created": 1});
        assert_eq!(StripeRefund::from_json(&ours).unwrap().refund_id.as_deref(), Some("rfd_1"));
        let dashboard = json!({"id": "re_2", "amount": 300, "charge": "ch_1", "metadata": {}});
        let r = StripeRefund::from_json(&dashboard).unwrap();
        assert_eq!((r.refund_id, r.status.as_str()), (None, "succeeded"));
    }
}
