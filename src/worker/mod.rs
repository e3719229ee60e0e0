//! The background worker: the outbox consumers (search indexing, Stripe) and the scheduled jobs (housekeeping, group purchases, mail), run in
//! every `serve` process and by `dongxi worker`. Every job is safe to run in several processes.

pub mod housekeeping;

use std::time::Duration;

use crate::state::AppState;

/// Starts everything the worker does; it ends when `shutdown` flips.
pub fn spawn(state: &AppState, shutdown: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let (db, engine, clock, zone) =
        (state.db.clone(), state.search.clone(), state.clock.clone(), state.config.timezone);
    let indexer = crate::search::indexer::run(db, engine, clock, zone, shutdown.clone());
    let jobs = scheduled(state.clone(), shutdown.clone());
    let group_buys = group_buys(state.clone(), shutdown.clone());
    let mail = mail(state.clone(), shutdown.clone());
    let stripe = stripe_outbox(state.clone(), shutdown);
    tokio::spawn(async move {
        tokio::join!(indexer, jobs, group_buys, mail, stripe);
    })
}

/// Jobs that run on a timetable rather than from the outbox.
async fn scheduled(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        let now = state.clock.now_naive();
        match state.db.write(move |c| housekeeping::sweep(c, now)).await {
            Ok(swept) if swept.any() => tracing::info!(?swept, "housekeeping"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
        }
        match crate::notify::digest::run_due(&state).await {
            Ok(queued) if queued != Default::default() => tracing::info!(?queued, "mail timetable"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "mail timetable failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Group purchases open, are announced before closing and close on time: checked every second.
async fn group_buys(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        match crate::groupbuy::jobs::run_due(&state).await {
            Ok(pass) if pass.any() => tracing::info!(?pass, "group purchases"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "group purchase timetable failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Notifications become mails and mails are sent: checked every second, at once again while
/// there is more.
async fn mail(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        if crate::notify::run_once(&state).await > 0 {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Makes at Stripe what requests recorded (refunds, surplus payments going back): at once when a
/// request in this process nudges, otherwise every second (rows written by other processes,
/// retries after failures).
async fn stripe_outbox(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let Some(gateway) = state.stripe.clone() else { return };
    loop {
        let handled = crate::payments::stripe::drain(&state, &gateway).await;
        if handled > 0 {
            continue;
        }
        tokio::select! {
            _ = state.stripe_nudge.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
