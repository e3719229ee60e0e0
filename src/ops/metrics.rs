//! A small Prometheus registry: request counts and latency histograms by route and status,
//! and the connection pool's usage.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Series {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<(String, String), Histogram>,
}

/// Connections of the pool: open, idle among them, and the ceiling.
pub struct PoolUsage {
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

pub struct Metrics {
    started: Instant,
    series: Mutex<Series>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics { started: Instant::now(), series: Mutex::new(Series::default()) }
    }
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut s = self.series.lock().unwrap_or_else(|p| p.into_inner());
        *s.requests.entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
        let h = s.latency.entry((method.to_owned(), route.to_owned())).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    pub fn render(&self, pool: PoolUsage, backend: &str) -> String {
        let s = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        let _ = writeln!(out, "# HELP dongxi_http_requests_total HTTP requests by method, route and status.");
        let _ = writeln!(out, "# TYPE dongxi_http_requests_total counter");
        for ((method, route, status), n) in &s.requests {
            let _ = writeln!(
                out,
                "dongxi_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                esc(method),
                esc(route)
            );
        }
        let _ = writeln!(out, "# HELP dongxi_http_request_duration_seconds HTTP request latency by method and route.");
        let _ = writeln!(out, "# TYPE dongxi_http_request_duration_seconds histogram");
        for ((method, route), h) in &s.latency {
            let labels = format!("method=\"{}\",route=\"{}\"", esc(method), esc(route));
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "dongxi_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(out, "dongxi_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "dongxi_http_request_duration_seconds_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "dongxi_http_request_duration_seconds_count{{{labels}}} {}", h.count);
        }
        let _ = writeln!(out, "# HELP dongxi_db_pool_connections Database connections by state.");
        let _ = writeln!(out, "# TYPE dongxi_db_pool_connections gauge");
        let _ = writeln!(out, "dongxi_db_pool_connections{{backend=\"{backend}\",state=\"idle\"}} {}", pool.idle);
        let _ = writeln!(
            out,
            "dongxi_db_pool_connections{{backend=\"{backend}\",state=\"in_use\"}} {}",
            pool.open.saturating_sub(pool.idle)
        );
        let _ = writeln!(out, "dongxi_db_pool_connections{{backend=\"{backend}\",state=\"max\"}} {}", pool.max);
        let _ = writeln!(
            out,
            "# HELP dongxi_sqlite_memory_bytes Memory SQLite holds in this process (page caches, statements); 0 on PostgreSQL."
        );
        let _ = writeln!(out, "# TYPE dongxi_sqlite_memory_bytes gauge");
        let _ = writeln!(out, "dongxi_sqlite_memory_bytes {}", crate::db::sqlite_memory_used());
        let _ = writeln!(out, "# HELP dongxi_uptime_seconds Seconds since the process started.");
        let _ = writeln!(out, "# TYPE dongxi_uptime_seconds gauge");
        let _ = writeln!(out, "dongxi_uptime_seconds {}", self.started.elapsed().as_secs_f64());
        out
    }
}

fn esc(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe("GET", "/api/v1/regions/{code}", 200, 0.003);
        m.observe("GET", "/api/v1/regions/{code}", 200, 0.2);
        m.observe("GET", "/api/v1/regions/{code}", 404, 0.0005);
        let text = m.render(PoolUsage { open: 3, idle: 2, max: 10 }, "sqlite");
        assert!(
            text.contains(
                "dongxi_http_requests_total{method=\"GET\",route=\"/api/v1/regions/{code}\",status=\"200\"} 2"
            )
        );
        assert!(text.contains("route=\"/api/v1/regions/{code}\",le=\"0.005\"} 2"), "{text}");
        assert!(text.contains("route=\"/api/v1/regions/{code}\",le=\"+Inf\"} 3"));
        assert!(text.contains("state=\"in_use\"} 1"));
    }
}
