//! Mail. Requests record what happened as `notify` outbox rows in their own transactions; the
//! worker turns each into one rendered `mail.send` row per recipient (`events`), respecting
//! everyone's opt-outs (`prefs`), and sends those through SMTP (`SMTP_URL`) or into `.eml` files
//! under `$DONGXI_DATA_DIR/mail`, retrying with backoff until a row becomes a dead letter
//! (`dongxi outbox list --failed`, `dongxi outbox retry`). Never inside a request.

pub mod digest;
pub mod events;
pub mod prefs;
pub mod routes;
pub mod templates;

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::config::Config;
use crate::outbox;

/// One mail to one person, rendered: the payload of a `mail.send` outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    /// The template it was rendered from (`order_placed_buyer` …).
    pub template: String,
    /// What the recipient may opt out of (`prefs::Kind`).
    pub kind: String,
    pub user_id: String,
    pub to_email: String,
    pub to_name: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub unsubscribe_url: Option<String>,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files named by the outbox row: a mail written again after a crash replaces itself.
    Files(std::path::PathBuf),
}

/// Where mail goes: an SMTP server, or `.eml` files.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    /// The whole of one SMTP conversation.
    deadline: Duration,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.transport {
            Transport::Smtp(_) => "Mailer(smtp)",
            Transport::Files(_) => "Mailer(files)",
        })
    }
}

impl Mailer {
    pub fn new(config: &Config) -> anyhow::Result<Mailer> {
        let from: Mailbox =
            config.mail_from.parse().map_err(|e| anyhow::anyhow!("MAIL_FROM: not a mail address ({e})"))?;
        let transport = match &config.smtp_url {
            // `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://…` (TLS), `smtp://host:25` (plain).
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(&url.0)
                    .map_err(|e| anyhow::anyhow!("SMTP_URL: {e}"))?
                    .timeout(Some(config.outbound_timeout))
                    .build(),
            ),
            None => {
                let dir = config.data_dir.join("mail");
                std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
                Transport::Files(dir)
            }
        };
        Ok(Mailer { transport, from, deadline: config.outbound_timeout })
    }

    /// Sends one mail; `id` (the outbox row's) becomes its Message-ID, so a mail sent again
    /// after a crash is recognisably the same one.
    pub async fn send(&self, id: &str, mail: &Mail) -> Result<(), String> {
        let message = self.message(id, mail)?;
        match &self.transport {
            // lettre's timeout covers each socket operation; this one the whole conversation, so a
            // server that answers a byte at a time cannot hold the worker either.
            Transport::Smtp(t) => match tokio::time::timeout(self.deadline, t.send(message)).await {
                Ok(sent) => sent.map(|_| ()).map_err(|e| format!("SMTP: {e}")),
                Err(_) => Err(format!("SMTP: no answer within {} s", self.deadline.as_secs())),
            },
            Transport::Files(dir) => {
                write_eml(dir, id, &message.formatted()).await.map_err(|e| format!("mail file: {e}"))
            }
        }
    }

    fn message(&self, id: &str, mail: &Mail) -> Result<Message, String> {
        let to = Mailbox::new(
            Some(mail.to_name.clone()),
            mail.to_email.parse().map_err(|e| format!("recipient {}: {e}", mail.to_email))?,
        );
        let domain = self.from.email.domain().to_owned();
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .message_id(Some(format!("<{id}@{domain}>")));
        if let Some(url) = &mail.unsubscribe_url {
            // RFC 2369 and RFC 8058: mail clients offer a one-click unsubscribe.
            builder = builder
                .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), format!("<{url}>")))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
        }
        builder
            .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
            .map_err(|e| format!("building the message: {e}"))
    }
}

/// Writes `<id>.eml` whole or not at all (a temporary file renamed into place).
async fn write_eml(dir: &std::path::Path, id: &str, bytes: &[u8]) -> std::io::Result<()> {
    let name: String = id.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')).collect();
    let temporary = dir.join(format!(".{name}.tmp"));
    tokio::fs::write(&temporary, bytes).await?;
    tokio::fs::rename(&temporary, dir.join(format!("{name}.eml"))).await
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
