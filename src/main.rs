//! The `dongxi` command: parses arguments, builds the state, dispatches. Nothing else.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dongxi::clock::Clock;
use dongxi::config::Config;
use dongxi::identity::service::{NewUser, create_user_unchecked};
use dongxi::identity::types::{Email, Password, Role};
use dongxi::{demo, server, telemetry};

#[derive(Parser)]
#[command(name = "dongxi", version, about = "东西 Dongxi: east–west consumption assistance")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations and serve HTTP until SIGTERM or Ctrl-C.
    Serve {
        /// Seed demo organisations and users on an empty database and print the logins.
        #[arg(long)]
        demo: bool,
        /// Do not apply migrations at start-up (run `dongxi migrate` first).
        #[arg(long)]
        no_migrate: bool,
        /// Serve HTTP only, leaving background work to `dongxi worker` processes.
        #[arg(long)]
        no_worker: bool,
    },
    /// Apply database migrations and load the national region list.
    Migrate,
    /// Load the demo data into an empty database.
    SeedDemo,
    /// Run the background worker (search indexing, scheduled jobs) without serving HTTP.
    Worker,
    /// Rebuild the search index from the database into a fresh index and swap it in; servers keep answering.
    Reindex,
    /// Exit 0 when the server on DONGXI_BIND answers /healthz (for container health checks).
    Healthcheck,
    /// Bulk imports.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// The counting ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Settlement: what producers are owed and were paid.
    Settlement {
        #[command(subcommand)]
        command: SettlementCommand,
    },
    /// Card payments through Stripe.
    Payments {
        #[command(subcommand)]
        command: PaymentsCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Side effects waiting in the outbox (mail, Stripe calls, search updates).
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Rows not yet handled, oldest first: with --failed, those that failed (retrying, or dead
    /// letters that are no longer retried).
    List {
        #[arg(long)]
        failed: bool,
        /// Only this topic (`mail.send`, `notify`, `stripe.refund` …).
        #[arg(long)]
        topic: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Gives dead letters a fresh set of attempts, due now: the ones named, or with --all every one.
    Retry {
        ids: Vec<String>,
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import products as drafts from a CSV or XLSX file: every row is checked first, then all
    /// are written, or none. Columns: name, category, description, origin_region_code, unit, spec,
    /// net_weight_g, price_fen, tiers ("10:6500;100:6000"), min_order_qty, stock, storage,
    /// shelf_life_days, images ("url|url"); Chinese headings (名称, 品类 …) work too.
    Products {
        file: std::path::PathBuf,
        /// The producer organisation's id.
        #[arg(long)]
        producer: String,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Recompute what the ledger must hold from orders, payments and refunds, check every
    /// invariant (nets per sub-order, one entry per cause, lines, reversals, years, closed years,
    /// rollups), print the drift and exit non-zero on any.
    Verify,
}

#[derive(Subcommand)]
enum SettlementCommand {
    /// Recompute what settlement must hold from sub-orders, refunds and payouts (every payable
    /// from a sub-order, sums and fees, no payable settled twice, payouts matching, and per
    /// producer paid + scheduled + due = what it is owed), print the drift and exit non-zero on any.
    Verify,
}

#[derive(Subcommand)]
enum PaymentsCommand {
    /// List where Stripe's records and ours disagree for payments since DATE (intent succeeded
    /// but order unpaid, amounts that differ, refunds missing on either side); exits non-zero
    /// while any remain. With --fix, apply what Stripe confirmed through the normal paths.
    Reconcile {
        /// First day to look at (YYYY-MM-DD, in the deployment's time zone).
        #[arg(long)]
        since: chrono::NaiveDate,
        #[arg(long)]
        fix: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user in an existing organisation.
    Create {
        #[arg(long)]
        email: String,
        /// At least 10 characters. Prefer the DONGXI_USER_PASSWORD variable, which stays out of the shell history.
        #[arg(long, env = "DONGXI_USER_PASSWORD", hide_env_values = true)]
        password: String,
        /// Organisation id.
        #[arg(long)]
        org: String,
        #[arg(long, value_parser = ["admin", "member"], default_value = "member")]
        role: String,
        #[arg(long)]
        name: Option<String>,
    },
}

fn outbox_command(config: &Config, clock: &Clock, command: OutboxCommand) -> anyhow::Result<()> {
    let database = server::prepare(config, clock, false)?;
    let mut conn = database.get()?;
    match command {
        OutboxCommand::List { failed, topic, limit } => {
            let rows = dongxi::outbox::list(&mut conn, topic.as_deref(), failed, limit)?;
            for r in &rows {
                let state = if r.dead_at.is_some() {
                    "dead"
                } else if r.last_error.is_some() {
                    "retrying"
                } else {
                    "pending"
                };
                println!(
                    "{}  {:<14} {:<8} attempts {:>2}  created {}  next {}  {}",
                    r.id,
                    r.topic,
                    state,
                    r.attempts,
                    r.created_at.format("%Y-%m-%d %H:%M:%S"),
                    r.available_at.format("%Y-%m-%d %H:%M:%S"),
                    r.last_error.as_deref().unwrap_or("")
                );
            }
            println!("{} row(s)", rows.len());
            Ok(())
        }
        OutboxCommand::Retry { ids, all } => {
            if ids.is_empty() && !all {
                anyhow::bail!("name the rows to retry, or pass --all");
            }
            let now = clock.now_naive();
            let n = dongxi::db::write_tx(&mut conn, |c| {
                dongxi::outbox::retry(c, if all { None } else { Some(ids.as_slice()) }, now)
            })?;
            println!("{n} dead letter(s) due again");
            Ok(())
        }
    }
}

fn import_products(config: &Config, clock: &Clock, file: &std::path::Path, producer: &str) -> anyhow::Result<()> {
    use dongxi::catalog::import::{ImportOutcome, import, read_table};
    use indicatif::{ProgressBar, ProgressStyle};

    let started = std::time::Instant::now();
    let table = read_table(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let database = server::prepare(config, clock, true)?;
    let mut conn = database.get()?;
    let style = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} rows ({per_sec})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let checking = ProgressBar::new(table.rows.len() as u64).with_style(style.clone()).with_message("checking");
    let writing = ProgressBar::hidden().with_style(style).with_message("writing");
    let total = table.rows.len() as u64;
    let (checked, written) = (std::sync::atomic::AtomicU64::new(0), std::sync::atomic::AtomicU64::new(0));
    let (check_decile, write_decile) = (std::sync::atomic::AtomicU64::new(0), std::sync::atomic::AtomicU64::new(0));
    let outcome = import(
        &mut conn,
        producer,
        &table,
        clock.now_naive(),
        || {
            checking.inc(1);
            let n = checked.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress_line("checking", n, total, &check_decile);
        },
        |n| {
            let done = written.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
            progress_line("writing", done, total, &write_decile);
            if writing.is_hidden() {
                checking.finish();
                writing.set_length(table.rows.len() as u64);
                writing.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            writing.inc(n)
        },
    )?;
    checking.finish_and_clear();
    writing.finish_and_clear();
    match outcome {
        ImportOutcome::Imported(n) => {
            let secs = started.elapsed().as_secs_f64();
            println!("imported {n} products as drafts in {secs:.2} s ({:.0} rows/s)", n as f64 / secs.max(1e-9));
            Ok(())
        }
        ImportOutcome::Rejected(problems) => {
            for p in problems.iter().take(100) {
                eprintln!("{p}");
            }
            if problems.len() > 100 {
                eprintln!("… and {} more problems", problems.len() - 100);
            }
            anyhow::bail!("nothing imported: {} problem(s) in {}", problems.len(), file.display())
        }
    }
}

/// Where a terminal shows a bar, a log gets a line every tenth of the way.
fn progress_line(what: &str, done: u64, total: u64, last_decile: &std::sync::atomic::AtomicU64) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() || total == 0 {
        return;
    }
    let decile = done * 10 / total;
    if last_decile.fetch_max(decile, std::sync::atomic::Ordering::Relaxed) < decile {
        eprintln!("{what}: {done}/{total} ({}%)", decile * 10);
    }
}

async fn reindex(config: &Config, clock: &Clock) -> anyhow::Result<()> {
    use indicatif::{ProgressBar, ProgressStyle};

    let database = server::prepare(config, clock, true)?;
    let engine = server::search_engine(config)?;
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("reindex [{bar:40}] {pos}/{len} products ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let decile = std::sync::atomic::AtomicU64::new(0);
    let report = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
        progress_line("reindex", done, total, &decile);
    };
    let today = clock.today(config.timezone);
    let count = dongxi::search::indexer::rebuild(&database, engine.as_ref(), today, &report).await?;
    bar.finish_and_clear();
    println!("reindexed {count} products into the {} index in {:.1} s", engine.name(), started.elapsed().as_secs_f64());
    Ok(())
}

async fn reconcile(config: Config, clock: Clock, since: chrono::NaiveDate, fix: bool) -> anyhow::Result<()> {
    let database = server::prepare(&config, &clock, true)?;
    let search = server::search_engine(&config)?;
    let state = dongxi::state::AppState::new(config, database, clock, search)?;
    let Some(gateway) = state.stripe.clone() else {
        anyhow::bail!("STRIPE_SECRET_KEY is not set: there is no Stripe account to reconcile with")
    };
    let from = since
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(state.config.timezone).earliest())
        .map(|t| t.naive_utc())
        .ok_or_else(|| anyhow::anyhow!("--since {since} is not a day in {}", state.config.timezone))?;
    let found = dongxi::payments::reconcile::run(&state, &gateway, from, fix).await?;
    for m in &found {
        let state_word = if m.fixed {
            "fixed"
        } else if m.fixable {
            "fixable with --fix"
        } else {
            "needs a person"
        };
        println!(
            "{:<26} {:<30} order {:<24} {} [{}]",
            m.kind,
            m.payment_intent,
            m.order_id.as_deref().unwrap_or("-"),
            m.detail,
            state_word
        );
    }
    let open = found.iter().filter(|m| !m.fixed).count();
    println!("{} mismatches since {since}; {} fixed, {open} open", found.len(), found.len() - open);
    if open == 0 { Ok(()) } else { anyhow::bail!("{open} mismatches between Stripe and Dongxi") }
}

/// glibc's allocator, tuned for a long-running server:
/// - every thread that allocates gets its own arena (up to 8 per core), and database work runs
///   on many blocking threads, whose freed memory stays spread over those arenas: the server grew
///   to 330 MB under an order load, 100 MB with two arenas and the same throughput;
/// - the threshold above which an allocation gets its own mapping (returned to the system when
///   freed) rises, by default, to the largest block freed so far, up to 32 MB; after that, large
///   short-lived buffers (a report, an export, a page of search results) come from the heap and
///   leave it fragmented. Under the hour's soak the heap's live data stayed flat (heaptrack:
///   57 MB live at the end, 96 MB at the peak) while the resident heap grew in steps to 140 MB.
///   A fixed threshold keeps large buffers in their own mappings and trims the heap's top.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    // SAFETY: mallopt only sets allocator parameters; called first thing, before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

fn main() -> ExitCode {
    tune_malloc();
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dongxi: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dongxi: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dongxi: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let clock = Clock::system();
    match command {
        Command::Serve { demo, no_migrate, no_worker } => {
            let database = server::prepare(&config, &clock, !no_migrate)?;
            let mut show_demo = false;
            if demo {
                let mut conn = database.get()?;
                match demo::seed(&mut conn, &clock, &config)? {
                    demo::DemoSeed::Seeded => {
                        tracing::info!("demo data seeded");
                        show_demo = true;
                    }
                    demo::DemoSeed::AlreadyThere => show_demo = true,
                    demo::DemoSeed::Refused => eprintln!(
                        "dongxi: --demo ignored: this database already holds real organisations; use an empty DONGXI_DATA_DIR"
                    ),
                }
            }
            server::serve(config, database, clock, show_demo, !no_worker).await
        }
        Command::Migrate => {
            let database = dongxi::db::Db::connect(&config.database_url, 1)?;
            std::fs::create_dir_all(&config.data_dir)?;
            let mut conn = database.get()?;
            let (applied, regions) = server::migrate(&mut conn, &clock)?;
            println!("migrations applied: {applied}; regions added: {regions}");
            Ok(())
        }
        Command::SeedDemo => {
            let database = server::prepare(&config, &clock, true)?;
            let mut conn = database.get()?;
            match demo::seed(&mut conn, &clock, &config)? {
                demo::DemoSeed::Seeded => println!("{}", demo::banner(&format!("http://{}", config.bind))),
                demo::DemoSeed::AlreadyThere => println!("demo data is already loaded"),
                demo::DemoSeed::Refused => {
                    anyhow::bail!("this database already holds real organisations; demo data is not mixed in")
                }
            }
            Ok(())
        }
        Command::Healthcheck => dongxi::ops::health::probe(config.bind),
        Command::Worker => {
            let database = server::prepare(&config, &clock, true)?;
            server::work(config, database, clock).await
        }
        Command::Reindex => reindex(&config, &clock).await,
        Command::Settlement { command: SettlementCommand::Verify } => {
            let database = server::prepare(&config, &clock, true)?;
            let mut conn = database.get()?;
            let started = std::time::Instant::now();
            let result = dongxi::settlement::verify::verify(&mut conn, config.settle.on)?;
            for line in result.drift.iter().take(1000) {
                println!("drift: {line}");
            }
            println!(
                "checked {} payables, {} settlements of {} producers in {:.1} s: {}",
                result.payables,
                result.settlements,
                result.producers,
                started.elapsed().as_secs_f64(),
                if result.drift.is_empty() {
                    "no drift".to_owned()
                } else {
                    format!("{} problems", result.drift.len())
                }
            );
            if result.drift.is_empty() { Ok(()) } else { anyhow::bail!("settlement has drifted") }
        }
        Command::Ledger { command: LedgerCommand::Verify } => {
            let database = server::prepare(&config, &clock, true)?;
            let mut conn = database.get()?;
            let started = std::time::Instant::now();
            let result = dongxi::accounting::verify::verify(&mut conn, config.count_on, config.timezone)?;
            for line in result.drift.iter().take(1000) {
                println!("drift: {line}");
            }
            if result.drift.len() > 1000 {
                println!("… and {} more", result.drift.len() - 1000);
            }
            println!(
                "checked {} ledger entries against {} sub-orders in {:.1} s: {}",
                result.entries,
                result.sub_orders,
                started.elapsed().as_secs_f64(),
                if result.drift.is_empty() {
                    "no drift".to_owned()
                } else {
                    format!("{} problems", result.drift.len())
                }
            );
            if result.drift.is_empty() { Ok(()) } else { anyhow::bail!("the ledger has drifted") }
        }
        Command::Payments { command: PaymentsCommand::Reconcile { since, fix } } => {
            reconcile(config, clock, since, fix).await
        }
        Command::Import { command: ImportCommand::Products { file, producer } } => {
            import_products(&config, &clock, &file, &producer)
        }
        Command::Outbox { command } => outbox_command(&config, &clock, command),
        Command::User { command: UserCommand::Create { email, password, org, role, name } } => {
            let database = server::prepare(&config, &clock, true)?;
            let mut conn = database.get()?;
            let email = Email::parse(&email).map_err(|m| anyhow::anyhow!("--email {m}"))?;
            let password = Password::parse(&password)
                .map_err(|_| anyhow::anyhow!("--password must have at least 10 characters"))?;
            let role = if role == "admin" { Role::Admin } else { Role::Member };
            dongxi::identity::model::find_org(&mut conn, &org)?
                .ok_or_else(|| anyhow::anyhow!("--org: no organisation {org}"))?;
            let name = name.unwrap_or_else(|| email.as_str().split('@').next().unwrap_or_default().to_owned());
            let user =
                create_user_unchecked(&mut conn, &org, &NewUser { email, name, password, role }, clock.now_naive())?;
            println!("created user {} <{}> ({}) in {}", user.id, user.email, user.role.as_str(), user.organization_id);
            Ok(())
        }
    }
}
