//! Where mail goes: an SMTP server (`SMTP_URL`) or `.eml` files under `$DONGXI_DATA_DIR/mail`.
//! A leaf: the state holds a `Mailer`, and this file imports nothing that imports the state.

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::config::Config;

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
