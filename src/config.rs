//! Typed configuration, read and validated once at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono_tz::Tz;

#[derive(Debug, thiserror::Error)]
#[error("configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn bad(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { var, message: message.into() }
}

/// When an order starts to count against targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountOn {
    Paid,
    Accepted,
}

/// When a producer is owed what a sub-order brings: when the buyer accepts it (default), or as
/// soon as the order is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleOn {
    Accepted,
    Paid,
}

/// When producers are paid: a settlement run every day at `at` (local time), over what has been
/// owed for at least `delay_days` (T+N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettleSchedule {
    pub on: SettleOn,
    pub delay_days: i64,
    pub at: chrono::NaiveTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct MeiliConfig {
    pub url: String,
    pub master_key: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct StripeConfig {
    pub secret_key: Secret,
    pub webhook_secret: Option<Secret>,
    pub api_base: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BootstrapAdmin {
    pub email: String,
    pub password: Secret,
    pub region_code: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub database_read_url: Option<String>,
    pub data_dir: PathBuf,
    pub bind: SocketAddr,
    pub meili: Option<MeiliConfig>,
    pub stripe: Option<StripeConfig>,
    pub smtp_url: Option<Secret>,
    pub mail_from: String,
    /// Where people reach this deployment (links in mail): `DONGXI_PUBLIC_URL`, default `http://<bind>`.
    pub public_url: String,
    pub count_on: CountOn,
    /// `DONGXI_SETTLE_ON`, `DONGXI_SETTLE_DELAY_DAYS`, `DONGXI_SETTLE_AT`.
    pub settle: SettleSchedule,
    pub timezone: Tz,
    pub bootstrap_admin: Option<BootstrapAdmin>,
    pub log_format: LogFormat,
    pub session_ttl: Duration,
    pub db_pool_size: u32,
    /// Sign-in attempts per minute from one client address (`DONGXI_LOGIN_RATE_PER_MINUTE`).
    pub login_rate_per_minute: u32,
    /// Webhook deliveries per minute from one address (`DONGXI_WEBHOOK_RATE_PER_MINUTE`).
    pub webhook_rate_per_minute: u32,
    /// How long a worker holds claimed outbox rows before another may take them over
    /// (`DONGXI_OUTBOX_LEASE_SECS`; unset: each queue's own, 60–120 s).
    pub outbox_lease_secs: Option<u64>,
    /// The most one outbound call may take, retries included: a Stripe request, an SMTP
    /// conversation (`DONGXI_OUTBOUND_TIMEOUT_SECS`). A peer that accepts and never answers
    /// costs this much, then counts as unavailable.
    pub outbound_timeout: Duration,
    /// The most a client may take to send a request's headers (`DONGXI_HEADER_TIMEOUT_SECS`,
    /// 10 s): a connection that trickles them (slow-loris) is closed then.
    pub header_timeout: Duration,
}

impl Config {
    /// The lease on claimed outbox rows: what a worker killed mid-batch delays them by.
    pub fn outbox_lease(&self, default_secs: i64) -> chrono::Duration {
        chrono::Duration::seconds(self.outbox_lease_secs.map_or(default_secs, |s| s as i64))
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads every variable through `get`, so tests can configure without touching the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let data_dir = PathBuf::from(get("DONGXI_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = match get("DATABASE_URL") {
            Some(url) => {
                check_db_url("DATABASE_URL", &url)?;
                url
            }
            None => format!("sqlite://{}", data_dir.join("dongxi.db").display()),
        };
        let database_read_url = get("DATABASE_READ_URL");
        if let Some(url) = &database_read_url {
            check_db_url("DATABASE_READ_URL", url)?;
        }

        let bind = get("DONGXI_BIND")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse::<SocketAddr>()
            .map_err(|e| bad("DONGXI_BIND", format!("not a socket address (host:port): {e}")))?;

        let meili = match get("MEILI_URL") {
            Some(url) => {
                check_http_url("MEILI_URL", &url)?;
                Some(MeiliConfig { url, master_key: get("MEILI_MASTER_KEY").map(Secret) })
            }
            None => None,
        };

        let stripe = match get("STRIPE_SECRET_KEY") {
            Some(key) => {
                let api_base = get("STRIPE_API_BASE");
                if let Some(base) = &api_base {
                    check_http_url("STRIPE_API_BASE", base)?;
                }
                Some(StripeConfig {
                    secret_key: Secret(key),
                    webhook_secret: get("STRIPE_WEBHOOK_SECRET").map(Secret),
                    api_base,
                })
            }
            None => {
                if get("STRIPE_WEBHOOK_SECRET").is_some() {
                    return Err(bad("STRIPE_SECRET_KEY", "must be set when STRIPE_WEBHOOK_SECRET is set"));
                }
                None
            }
        };

        let smtp_url = match get("SMTP_URL") {
            Some(url) => {
                if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                    return Err(bad("SMTP_URL", "must start with smtp:// or smtps://"));
                }
                Some(Secret(url))
            }
            None => None,
        };
        let mail_from = get("MAIL_FROM").unwrap_or_else(|| "东西 Dongxi <noreply@dongxi.localhost>".into());
        if !mail_from.contains('@') {
            return Err(bad("MAIL_FROM", "must be a mail address, optionally with a display name"));
        }

        let public_url = get("DONGXI_PUBLIC_URL").unwrap_or_else(|| format!("http://{bind}"));
        check_http_url("DONGXI_PUBLIC_URL", &public_url)?;
        let public_url = public_url.trim_end_matches('/').to_owned();

        let count_on = match get("DONGXI_COUNT_ON").as_deref() {
            None | Some("paid") => CountOn::Paid,
            Some("accepted") => CountOn::Accepted,
            Some(other) => return Err(bad("DONGXI_COUNT_ON", format!("'{other}' is neither 'paid' nor 'accepted'"))),
        };

        let settle_on = match get("DONGXI_SETTLE_ON").as_deref() {
            None | Some("accepted") => SettleOn::Accepted,
            Some("paid") => SettleOn::Paid,
            Some(other) => {
                return Err(bad("DONGXI_SETTLE_ON", format!("'{other}' is neither 'accepted' nor 'paid'")));
            }
        };
        let delay_days = parse_number("DONGXI_SETTLE_DELAY_DAYS", get("DONGXI_SETTLE_DELAY_DAYS"), 1, 0, 90)? as i64;
        let at = match get("DONGXI_SETTLE_AT") {
            None => chrono::NaiveTime::from_hms_opt(2, 0, 0).unwrap_or_default(),
            Some(raw) => chrono::NaiveTime::parse_from_str(&raw, "%H:%M")
                .map_err(|_| bad("DONGXI_SETTLE_AT", format!("'{raw}' is not a time of day like 02:00")))?,
        };
        let settle = SettleSchedule { on: settle_on, delay_days, at };

        let timezone = get("DONGXI_TIMEZONE")
            .unwrap_or_else(|| "Asia/Shanghai".into())
            .parse::<Tz>()
            .map_err(|e| bad("DONGXI_TIMEZONE", format!("not an IANA time zone: {e}")))?;

        let bootstrap_admin = match (get("DONGXI_BOOTSTRAP_ADMIN_EMAIL"), get("DONGXI_BOOTSTRAP_ADMIN_PASSWORD")) {
            (Some(email), Some(password)) => Some(BootstrapAdmin {
                email,
                password: Secret(password),
                region_code: get("DONGXI_BOOTSTRAP_ADMIN_REGION").unwrap_or_else(|| "110000".into()),
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(bad(
                    "DONGXI_BOOTSTRAP_ADMIN_PASSWORD",
                    "must be set when DONGXI_BOOTSTRAP_ADMIN_EMAIL is set",
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "DONGXI_BOOTSTRAP_ADMIN_EMAIL",
                    "must be set when DONGXI_BOOTSTRAP_ADMIN_PASSWORD is set",
                ));
            }
        };

        let log_format = match get("DONGXI_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(bad("DONGXI_LOG_FORMAT", format!("'{other}' is neither 'text' nor 'json'"))),
        };

        let session_ttl_hours =
            parse_number("DONGXI_SESSION_TTL_HOURS", get("DONGXI_SESSION_TTL_HOURS"), 12, 1, 24 * 90)?;
        let db_pool_size = parse_number("DONGXI_DB_POOL_SIZE", get("DONGXI_DB_POOL_SIZE"), 10, 1, 500)? as u32;
        let login_rate_per_minute =
            parse_number("DONGXI_LOGIN_RATE_PER_MINUTE", get("DONGXI_LOGIN_RATE_PER_MINUTE"), 60, 1, 100_000)? as u32;
        let webhook_rate_per_minute =
            parse_number("DONGXI_WEBHOOK_RATE_PER_MINUTE", get("DONGXI_WEBHOOK_RATE_PER_MINUTE"), 1200, 1, 1_000_000)?
                as u32;

        let outbox_lease_secs = match get("DONGXI_OUTBOX_LEASE_SECS") {
            None => None,
            value => Some(parse_number("DONGXI_OUTBOX_LEASE_SECS", value, 120, 1, 3600)?),
        };

        let outbound_timeout_secs =
            parse_number("DONGXI_OUTBOUND_TIMEOUT_SECS", get("DONGXI_OUTBOUND_TIMEOUT_SECS"), 20, 1, 300)?;

        let header_timeout_secs =
            parse_number("DONGXI_HEADER_TIMEOUT_SECS", get("DONGXI_HEADER_TIMEOUT_SECS"), 10, 1, 300)?;

        Ok(Config {
            database_url,
            database_read_url,
            data_dir,
            bind,
            meili,
            stripe,
            smtp_url,
            mail_from,
            public_url,
            count_on,
            settle,
            timezone,
            bootstrap_admin,
            log_format,
            session_ttl: Duration::from_secs(session_ttl_hours * 3600),
            db_pool_size,
            login_rate_per_minute,
            webhook_rate_per_minute,
            outbox_lease_secs,
            outbound_timeout: Duration::from_secs(outbound_timeout_secs),
            header_timeout: Duration::from_secs(header_timeout_secs),
        })
    }
}

fn parse_number(
    var: &'static str,
    value: Option<String>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(value) = value else { return Ok(default) };
    let n = value.parse::<u64>().map_err(|_| bad(var, format!("'{value}' is not a whole number")))?;
    if n < min || n > max {
        return Err(bad(var, format!("{n} is outside {min}..={max}")));
    }
    Ok(n)
}

fn check_db_url(var: &'static str, url: &str) -> Result<(), ConfigError> {
    if url.starts_with("sqlite://") || url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(())
    } else {
        Err(bad(var, "must start with sqlite://, postgres:// or postgresql://"))
    }
}

fn check_http_url(var: &'static str, url: &str) -> Result<(), ConfigError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(bad(var, "must start with http:// or https://"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_need_no_environment() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, "sqlite://./data/dongxi.db");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.count_on, CountOn::Paid);
        assert_eq!(c.settle.on, SettleOn::Accepted);
        assert_eq!((c.settle.delay_days, c.settle.at.to_string().as_str()), (1, "02:00:00"));
        assert_eq!(c.timezone, chrono_tz::Asia::Shanghai);
        assert_eq!(c.session_ttl, Duration::from_secs(12 * 3600));
        assert!(c.meili.is_none() && c.stripe.is_none() && c.smtp_url.is_none());
    }

    #[test]
    fn errors_name_the_variable() {
        for (vars, var) in [
            (vec![("DATABASE_URL", "mysql://x")], "DATABASE_URL"),
            (vec![("DONGXI_BIND", "nowhere")], "DONGXI_BIND"),
            (vec![("DONGXI_COUNT_ON", "shipped")], "DONGXI_COUNT_ON"),
            (vec![("DONGXI_SETTLE_ON", "shipped")], "DONGXI_SETTLE_ON"),
            (vec![("DONGXI_SETTLE_DELAY_DAYS", "-1")], "DONGXI_SETTLE_DELAY_DAYS"),
            (vec![("DONGXI_SETTLE_AT", "25:00")], "DONGXI_SETTLE_AT"),
            (vec![("DONGXI_TIMEZONE", "Mars/Olympus")], "DONGXI_TIMEZONE"),
            (vec![("MEILI_URL", "localhost:7700")], "MEILI_URL"),
            (vec![("SMTP_URL", "mail.example")], "SMTP_URL"),
            (vec![("DONGXI_BOOTSTRAP_ADMIN_EMAIL", "a@b.cn")], "DONGXI_BOOTSTRAP_ADMIN_PASSWORD"),
            (vec![("STRIPE_WEBHOOK_SECRET", "whsec_x")], "STRIPE_SECRET_KEY"),
            (vec![("DONGXI_SESSION_TTL_HOURS", "0")], "DONGXI_SESSION_TTL_HOURS"),
        ] {
            let err = config(&vars).unwrap_err();
            assert_eq!(err.var, var);
            assert!(err.to_string().contains(var));
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let c = config(&[("STRIPE_SECRET_KEY", "sk_test_verysecret"), ("SMTP_URL", "smtp://u:pw@h")]).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("verysecret") && !shown.contains("pw@h"), "{shown}");
    }
}
