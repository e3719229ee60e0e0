//! `mail.send`: one rendered mail through SMTP or into an `.eml` file. A claimed batch is sent
//! side by side: an SMTP conversation is mostly waiting (one at a time, 1,002 mails to aiosmtpd
//! took 49 s; see BENCHMARKS.md), and the transport pools connections. Each mail is marked done
//! as soon as it is sent, so a worker killed mid-batch resends only what it had not finished.

use crate::error::{AppError, AppResult};
use crate::notify::mailer::Mail;
use crate::state::AppState;
use crate::worker::job::{Claimed, Job};

pub struct SendMail;

impl Job for SendMail {
    type Payload = Mail;
    const LEASE_SECS: i64 = 120;

    async fn run(state: &AppState, row: Claimed<Mail>) -> AppResult<()> {
        state.mailer.send(&row.id, &row.payload).await.map_err(|e| AppError::Unexpected(anyhow::anyhow!(e)))?;
        let now = state.clock.now_naive();
        state.db.write(move |c| crate::outbox::mark_done(c, &[row.id], now)).await
    }

    async fn run_batch(state: &AppState, rows: Vec<Claimed<Mail>>) -> Vec<AppResult<()>> {
        let mut outcomes: Vec<Option<AppResult<()>>> = rows.iter().map(|_| None).collect();
        let mut sending = tokio::task::JoinSet::new();
        for (i, row) in rows.into_iter().enumerate() {
            let state = state.clone();
            sending.spawn(async move { (i, Self::run(&state, row).await) });
        }
        while let Some(done) = sending.join_next().await {
            match done {
                Ok((i, outcome)) => outcomes[i] = Some(outcome),
                Err(e) => tracing::error!(error = %e, "a mail task failed"),
            }
        }
        // A task that panicked has no outcome: its row counts as failed.
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(anyhow::anyhow!("the mail task stopped").into())))
            .collect()
    }
}
