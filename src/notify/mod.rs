//! Mail. Requests record what happened as `notify` outbox rows in their own transactions; the
//! worker turns each into one rendered `mail.send` row per recipient (`events`), respecting
//! everyone's opt-outs (`prefs`), and sends those through SMTP (`SMTP_URL`) or into `.eml` files
//! under `$DONGXI_DATA_DIR/mail`, retrying with backoff until a row becomes a dead letter
//! (`dongxi outbox list --failed`, `dongxi outbox retry`). Never inside a request.

pub mod digest;
pub mod events;
pub mod mailer;
pub mod prefs;
pub mod routes;
pub mod templates;

pub use mailer::{Mail, Mailer};

use crate::outbox;
use crate::state::AppState;

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

const BATCH: i64 = 20;
const LEASE_SECS: i64 = 120;

/// Turns due notification events into mails, then sends due mails; returns how many rows were
/// handled. Safe in any number of workers: rows are claimed (`FOR UPDATE SKIP LOCKED`).
pub async fn run_once(state: &AppState) -> usize {
    expand_due(state).await + send_due(state).await
}

async fn claim(state: &AppState, topic: &'static str) -> Vec<(String, String)> {
    let now = state.clock.now_naive();
    let lease = state.config.outbox_lease(LEASE_SECS);
    state.db.run(move |c| crate::db::claim_outbox(c, topic, now, lease, BATCH)).await.unwrap_or_else(|e| {
        tracing::warn!(topic, error = %e, "could not claim outbox rows");
        Vec::new()
    })
}

async fn failed(state: &AppState, id: String, error: String) {
    let now = state.clock.now_naive();
    if let Err(e) = state.db.write(move |c| outbox::mark_failed(c, &[id], &error, now)).await {
        tracing::warn!(error = %e, "could not record an outbox failure");
    }
}

async fn expand_due(state: &AppState) -> usize {
    let rows = claim(state, outbox::NOTIFY).await;
    let handled = rows.len();
    for (id, payload) in rows {
        let (ctx, base, row) = (state.ctx(), state.config.public_url.clone(), id.clone());
        let outcome = state
            .db
            .write(move |c| {
                let event: serde_json::Value =
                    serde_json::from_str(&payload).map_err(|e| anyhow::anyhow!("notification unreadable: {e}"))?;
                for mail in events::expand(c, &event, &base, &ctx)? {
                    let payload = serde_json::to_value(&mail).map_err(|e| anyhow::anyhow!("mail: {e}"))?;
                    outbox::enqueue(c, outbox::MAIL_SEND, &payload, ctx.now)?;
                }
                outbox::mark_done(c, &[row], ctx.now)
            })
            .await;
        if let Err(e) = outcome {
            tracing::warn!(outbox_id = %id, error = %e, "a notification could not be turned into mail; will retry");
            failed(state, id, e.to_string()).await;
        }
    }
    handled
}

/// Sends a claimed batch side by side: an SMTP conversation is mostly waiting (one at a time,
/// 1,002 mails to aiosmtpd took 49 s; see BENCHMARKS.md), and the transport pools connections.
async fn send_due(state: &AppState) -> usize {
    let rows = claim(state, outbox::MAIL_SEND).await;
    let handled = rows.len();
    let mut sending = tokio::task::JoinSet::new();
    for (id, payload) in rows {
        let state = state.clone();
        sending.spawn(async move {
            let sent = match serde_json::from_str::<Mail>(&payload) {
                Ok(mail) => state.mailer.send(&id, &mail).await,
                Err(e) => Err(format!("mail row unreadable: {e}")),
            };
            match sent {
                Ok(()) => {
                    let (now, row) = (state.clock.now_naive(), id.clone());
                    if let Err(e) = state.db.write(move |c| outbox::mark_done(c, &[row], now)).await {
                        tracing::warn!(outbox_id = %id, error = %e, "a sent mail could not be marked done");
                    }
                }
                Err(e) => {
                    tracing::warn!(outbox_id = %id, error = %e, "mail not sent; will retry");
                    failed(&state, id, e).await;
                }
            }
        });
    }
    while let Some(done) = sending.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "a mail task failed");
        }
    }
    handled
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
