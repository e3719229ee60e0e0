//! Stripe's webhook signatures: `Stripe-Signature: t=<unix seconds>,v1=<hex>,v1=<hex>…`, where
//! each `v1` is HMAC-SHA256 of `"<t>.<raw body>"` under the endpoint's secret. Several `v1` values
//! appear while a secret is being rolled; any one matching is enough. Other schemes (`v0`) are
//! ignored, as Stripe asks.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far the signed time may be from ours, either way (Stripe's default).
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is not of the form t=…,v1=…")]
    Malformed,
    #[error("the signature's time is more than {TOLERANCE_SECS} s away from ours")]
    Stale,
    #[error("no v1 signature matches the payload")]
    Mismatch,
}

/// The header's timestamp and its `v1` signatures (decoded); anything else is refused.
fn parse(header: &str) -> Result<(i64, Vec<Vec<u8>>), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or(SignatureError::Malformed)?;
        match key {
            "t" => timestamp = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            "v1" => signatures.push(decode_hex(value).ok_or(SignatureError::Malformed)?),
            _ => {}
        }
    }
    match timestamp {
        Some(t) if !signatures.is_empty() => Ok((t, signatures)),
        _ => Err(SignatureError::Malformed),
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// Checks `header` against the raw `payload` at `now` (unix seconds). Comparison is in constant
/// time (`verify_slice`), so timing tells an attacker nothing about how close a guess was.
pub fn verify(header: Option<&str>, payload: &[u8], secret: &str, now: i64) -> Result<(), SignatureError> {
    let (timestamp, signatures) = parse(header.ok_or(SignatureError::Missing)?)?;
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, timestamp, payload);
    if signatures.iter().any(|candidate| expected.clone().verify_slice(candidate).is_ok()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The header Stripe would send for `payload` at `timestamp`: for tests and local tools.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let digest = mac(secret, timestamp, payload).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    #[test]
    fn a_fresh_signature_verifies() {
        let header = sign(BODY, SECRET, 1_700_000_000);
        assert_eq!(verify(Some(&header), BODY, SECRET, 1_700_000_000), Ok(()));
        assert_eq!(verify(Some(&header), BODY, SECRET, 1_700_000_000 + TOLERANCE_SECS), Ok(()));
        assert_eq!(verify(Some(&header), BODY, SECRET, 1_700_000_000 - TOLERANCE_SECS), Ok(()));
    }

    #[test]
    fn a_signature_computed_elsewhere_verifies() {
        // printf '1614556800.{}' | openssl dgst -sha256 -hmac whsec_abc
        let header = "t=1614556800,v1=c11c66ac441149169e97e9843f7042147973ef74edb4d20eb107b414792ace37";
        assert_eq!(verify(Some(header), b"{}", "whsec_abc", 1_614_556_800), Ok(()));
        assert_eq!(sign(b"{}", "whsec_abc", 1_614_556_800), header);
    }

    #[test]
    fn stale_tampered_missing_and_malformed_are_refused() {
        let header = sign(BODY, SECRET, 1_700_000_000);
        assert_eq!(verify(Some(&header), BODY, SECRET, 1_700_000_000 + TOLERANCE_SECS + 1), Err(SignatureError::Stale));
        assert_eq!(verify(Some(&header), BODY, SECRET, 1_700_000_000 - TOLERANCE_SECS - 1), Err(SignatureError::Stale));
        assert_eq!(verify(Some(&header), b"{}", SECRET, 1_700_000_000), Err(SignatureError::Mismatch));
        assert_eq!(verify(Some(&header), BODY, "whsec_other", 1_700_000_000), Err(SignatureError::Mismatch));
        assert_eq!(verify(None, BODY, SECRET, 1_700_000_000), Err(SignatureError::Missing));
        for bad in ["", "t=1700000000", "v1=00", "t=x,v1=00", "t=1700000000,v1=zz", "t=1700000000,v1=abc", "garbage"] {
            assert_eq!(verify(Some(bad), BODY, SECRET, 1_700_000_000), Err(SignatureError::Malformed), "{bad}");
        }
    }

    #[test]
    fn any_one_of_several_v1_values_is_enough() {
        let good = sign(BODY, SECRET, 1_700_000_000);
        let good_hex = good.split("v1=").nth(1).unwrap_or_default();
        let old = sign(BODY, "whsec_old", 1_700_000_000);
        let old_hex = old.split("v1=").nth(1).unwrap_or_default();
        let header = format!("t=1700000000,v1={old_hex},v0=ignored,v1={good_hex}");
        assert_eq!(verify(Some(&header), BODY, SECRET, 1_700_000_000), Ok(()));
        let only_old = format!("t=1700000000,v1={old_hex}");
        assert_eq!(verify(Some(&only_old), BODY, SECRET, 1_700_000_000), Err(SignatureError::Mismatch));
    }
}
