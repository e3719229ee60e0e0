//! Start-up: connect, migrate, bootstrap, serve until a signal.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use crate::app::router;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::{self, Db, DbConn};
use crate::error::AppResult;
use crate::identity::service::bootstrap_admin;
use crate::regions;
use crate::search::SearchEngine;
use crate::search::embedded::EmbeddedEngine;
use crate::search::meili::MeiliEngine;
use crate::state::AppState;

/// Applies schema migrations and loads the national region list; both are idempotent.
pub fn migrate(conn: &mut DbConn, clock: &Clock) -> AppResult<(usize, usize)> {
    let applied = db::run_migrations(conn)?;
    let regions = regions::service::load_national(conn, clock.now_naive())?;
    Ok((applied, regions))
}

/// Connects and, unless told not to, migrates and creates the bootstrap admin.
pub fn prepare(config: &Config, clock: &Clock, run_migrations: bool) -> anyhow::Result<Db> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create DONGXI_DATA_DIR {}", config.data_dir.display()))?;
    let database = Db::connect(&config.database_url, config.db_pool_size)?
        .with_replica(config.database_read_url.as_deref(), config.db_pool_size)?;
    let mut conn = database.get().context("cannot connect to the database at DATABASE_URL")?;
    if run_migrations {
        let started = Instant::now();
        let (applied, regions) = migrate(&mut conn, clock)?;
        tracing::info!(applied, regions, elapsed_ms = started.elapsed().as_millis() as u64, "database migrated");
    }
    if let Some(admin) = &config.bootstrap_admin
        && bootstrap_admin(&mut conn, admin, clock.now_naive())?
    {
        tracing::info!(email = %admin.email, "bootstrap platform admin created");
    }
    Ok(database)
}

/// The configured search engine: Meilisearch when `MEILI_URL` is set, else the embedded index.
pub fn search_engine(config: &Config) -> anyhow::Result<Arc<dyn SearchEngine>> {
    Ok(match &config.meili {
        Some(m) => Arc::new(MeiliEngine::new(&m.url, m.master_key.as_ref().map(|k| k.0.as_str()), "products")?),
        None => Arc::new(EmbeddedEngine::open(&config.data_dir)?),
    })
}

/// The background work of a process (see `worker`).
pub fn spawn_worker(state: &AppState, shutdown: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    crate::worker::spawn(state, shutdown)
}

/// Runs only the background worker until a signal.
pub async fn work(config: Config, database: Db, clock: Clock) -> anyhow::Result<()> {
    let search = search_engine(&config)?;
    let state = AppState::new(config, database, clock, search)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = spawn_worker(&state, stopped);
    tracing::info!("worker running");
    shutdown_signal().await;
    let _ = stop.send(true);
    let _ = worker.await;
    Ok(())
}

/// Serves HTTP (and, with `run_worker`, the background work) until SIGTERM or Ctrl-C; `demo`
/// adds the demo sign-ins to the start-up banner.
pub async fn serve(config: Config, database: Db, clock: Clock, demo: bool, run_worker: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on DONGXI_BIND {}", config.bind))?;
    let address = listener.local_addr()?;
    let search = search_engine(&config)?;
    let state = AppState::new(config, database, clock, search)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = run_worker.then(|| spawn_worker(&state, stopped));
    println!("Dongxi 东西 is serving on http://{address}  (API docs: http://{address}/api/docs)");
    if demo {
        println!("{}", crate::demo::banner(&format!("http://{address}")));
    }
    tracing::info!(%address, "serving");
    let header_timeout = state.config.header_timeout;
    crate::http::serve::serve(listener, router(state), header_timeout, shutdown_signal()).await;
    let _ = stop.send(true);
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
