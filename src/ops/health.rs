//! What operators probe: liveness, readiness, the Prometheus metrics, and `dongxi healthcheck`.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::db;
use crate::error::{Problem, problem_response};
use crate::ops::metrics::PoolUsage;
use crate::regions::service::national_dataset_loaded;
use crate::state::AppState;

/// 200 while the process runs.
pub async fn healthz() -> Response {
    (StatusCode::OK, Json(json!({"status": "ok"}))).into_response()
}

/// 200 when the database answers, migrations are applied and the region list is loaded; 503 otherwise.
/// A fresh connection attempt each time, so it recovers as soon as the database does.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let database = state.db.clone();
    let check = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let mut conn = database.get_timeout(Duration::from_secs(2)).map_err(|e| e.to_string())?;
        if db::has_pending_migrations(&mut conn).map_err(|e| e.to_string())? {
            return Err("migrations pending".into());
        }
        if !national_dataset_loaded(&mut conn).map_err(|e| e.to_string())? {
            return Err("region list not loaded".into());
        }
        Ok(())
    });
    let outcome = match tokio::time::timeout(Duration::from_secs(3), check).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(join.to_string()),
        Err(_) => Err("database check timed out".into()),
    };
    match outcome {
        Ok(()) => {
            (StatusCode::OK, Json(json!({"status": "ready", "database": state.db.backend().name()}))).into_response()
        }
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            let mut problem = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "the database is not ready");
            problem.retry_after_secs = Some(2);
            problem_response(&problem)
        }
    }
}

/// The Prometheus text of this process: requests, latency and the connection pool.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let pool = state.db.pool_state();
    let usage = PoolUsage { open: pool.connections, idle: pool.idle_connections, max: state.config.db_pool_size };
    let body = state.metrics.render(usage, state.db.backend().name());
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}

/// `dongxi healthcheck`: asks the server on `bind`'s port for `/healthz`, as a container health
/// check would with curl, which the runtime image does not carry.
pub fn probe(bind: std::net::SocketAddr) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};

    let host = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let address = SocketAddr::new(host, bind.port());
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(stream, "GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")?;
    let mut reply = String::new();
    stream.take(4096).read_to_string(&mut reply)?;
    let status = reply.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        anyhow::bail!("{address}/healthz answered {status:?}")
    }
}
