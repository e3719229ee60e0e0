//! Mail. Requests record what happened as `notify` outbox rows (`worker::payloads::Notice`) in
//! their own transactions; the worker turns each into one rendered `mail.send` row per recipient
//! (`events`), respecting everyone's opt-outs (`prefs`), and sends those through the `mailer`
//! (SMTP or `.eml` files), retrying with backoff until a row becomes a dead letter
//! (`dongxi outbox list --failed`, `dongxi outbox retry`). Never inside a request.
//!
//! Imports: the core and every domain it tells about (identity, catalog, accounting, orders, groupbuy).
//! Imported by: the state (the `mailer` seam), the worker (rendering and sending), the dashboard (amounts in
//! yuan).

pub mod bulletin_mail;
pub mod digest;
pub mod events;
pub mod mailer;
pub mod prefs;
pub mod recipients;
pub mod routes;
pub mod templates;

pub use mailer::{Mail, Mailer};

/// A ratio as a percentage with one decimal (`42.3%`), or a dash without one.
pub fn percent(ratio: Option<f64>) -> String {
    ratio.map(|r| format!("{:.1}%", r * 100.0)).unwrap_or_else(|| "—".into())
}

/// Yuan with thousands separators and two decimals, as Chinese offices write amounts: `1,234.56`.
pub fn yuan(fen: i64) -> String {
    let plain = crate::money::Fen(fen).yuan();
    let (sign, rest) = plain.strip_prefix('-').map_or(("", plain.as_str()), |r| ("-", r));
    let (int, dec) = rest.split_once('.').unwrap_or((rest, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{dec}")
}

/// A moment as people in the deployment's zone read it: `2021年9月6日 18:00`.
pub fn local_time(t: chrono::NaiveDateTime, zone: chrono_tz::Tz) -> String {
    t.and_utc().with_timezone(&zone).format("%Y年%-m月%-d日 %H:%M").to_string()
}

pub fn local_date(d: chrono::NaiveDate) -> String {
    d.format("%Y年%-m月%-d日").to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn amounts_are_grouped_in_thousands() {
        assert_eq!(super::yuan(123_456_789), "1,234,567.89");
        assert_eq!(super::yuan(5), "0.05");
        assert_eq!(super::yuan(-100_000), "-1,000.00");
        assert_eq!(super::yuan(37_000_000_000), "370,000,000.00");
    }
}
