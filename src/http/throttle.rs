//! Per-client rate limits on the doors an attacker knocks at: sign-in (password spraying across
//! many emails, which the per-email lockout does not see) and the Stripe webhook (floods of
//! unsigned or replayed events). A token bucket per client address, in memory: each server
//! limits what reaches it, which is what protects its database.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Instant;

use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

/// Buckets kept before idle (full) ones are dropped, so a scan of addresses cannot grow memory.
const MAX_TRACKED: usize = 10_000;

pub struct Throttle {
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Throttle {
    pub fn per_minute(per_minute: u32) -> Self {
        Throttle { per_minute, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request from `key`'s bucket, or says how many seconds until one is free.
    pub fn take(&self, key: &str) -> Result<(), u64> {
        let capacity = f64::from(self.per_minute);
        let refill_per_sec = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(key) {
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * refill_per_sec < capacity);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: capacity, at: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * refill_per_sec).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / refill_per_sec).ceil().max(1.0) as u64)
        }
    }
}

pub struct Throttles {
    pub login: Throttle,
    pub webhook: Throttle,
}

/// The client's address: the peer, or, when the peer is a proxy on a private network (nginx in
/// front), the last address that proxy appended to `X-Forwarded-For`.
fn client(headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
    let Some(peer) = peer else { return "local".to_owned() };
    let behind_proxy = match peer.ip() {
        IpAddr::V4(ip) => ip.is_loopback() || ip.is_private(),
        IpAddr::V6(ip) => ip.is_loopback() || ip.is_unique_local(),
    };
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    match (behind_proxy, forwarded) {
        (true, Some(ip)) => ip.to_string(),
        _ => peer.ip().to_string(),
    }
}

/// Refuses sign-ins and webhook deliveries beyond their rate from one client (429 `rate_limited`).
pub async fn throttle(State(throttles): State<Arc<Throttles>>, request: Request, next: Next) -> Response {
    let throttle = match (request.method(), request.uri().path()) {
        (&Method::POST, "/api/v1/auth/login" | "/login") => Some((&throttles.login, "sign-in attempts")),
        (&Method::POST, "/api/v1/webhooks/stripe") => Some((&throttles.webhook, "webhook deliveries")),
        _ => None,
    };
    if let Some((throttle, what)) = throttle {
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        if let Err(retry_after) = throttle.take(&client(request.headers(), peer)) {
            tracing::warn!(what, "rate limited");
            return AppError::too_many(
                "rate_limited",
                format!("too many {what} from this address; retry later"),
                retry_after,
            )
            .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_and_says_when_to_come_back() {
        let t = Throttle::per_minute(3);
        assert!(t.take("a").is_ok() && t.take("a").is_ok() && t.take("a").is_ok());
        let wait = t.take("a").unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert!(t.take("b").is_ok(), "another address has its own bucket");
    }

    #[test]
    fn the_proxy_header_counts_only_behind_a_private_peer() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 198.51.100.7".parse().unwrap());
        assert_eq!(client(&h, Some("10.0.0.2:5000".parse().unwrap())), "198.51.100.7");
        assert_eq!(
            client(&h, Some("192.0.2.1:5000".parse().unwrap())),
            "192.0.2.1",
            "a public peer cannot pick its own key"
        );
        assert_eq!(client(&HeaderMap::new(), None), "local");
    }
}
