//! Mail benchmark: `cargo bench --bench mail -- [--orders N]`.
//!
//! N orders placed through the real path (each one buyer administrator and one producer's to
//! tell), then the mail worker's passes until every notification has become mail and every mail
//! has gone: into `.eml` files, and with `DONGXI_BENCH_SMTP_URL` through that SMTP server (one
//! connection per mail). Prints notifications/s and mails/s for each.

use std::time::Instant;

mod common;
use common::{certified_tea, user};

use dongxi::clock::Clock;
use dongxi::identity::actor::actor_for_user;
use dongxi::identity::service::create_org_unchecked;
use dongxi::identity::types::OrgKind;
use dongxi::orders::types::{Delivery, LineBody, NewOrder};
use dongxi::state::AppState;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn run(label: &str, extra: &[(&str, String)], orders: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut vars: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    vars.insert("DATABASE_URL".into(), format!("sqlite://{}", dir.path().join("bench.db").display()));
    vars.insert("DONGXI_DATA_DIR".into(), dir.path().display().to_string());
    for (k, v) in extra {
        vars.insert((*k).into(), v.clone());
    }
    let config = dongxi::config::Config::from_lookup(|k| vars.get(k).cloned()).expect("config");
    let clock = Clock::system();
    let db = dongxi::db::Db::connect(&config.database_url, 4).expect("pool");
    let search = dongxi::server::search_engine(&config).expect("search");
    let state = AppState::new(config, db.clone(), clock.clone(), search).expect("state");
    let ctx = state.ctx();
    db.run(|conn| dongxi::server::migrate(conn, &Clock::system())).await.expect("migrate");
    let placed = db
        .write(move |conn| {
            let now = ctx.now;
            let school = create_org_unchecked(conn, "惠州市第一中学", OrgKind::Agency, "441302", None, now)?;
            let buyer = user(conn, &school.id, now);
            let producer =
                create_org_unchecked(conn, "普安县茶源茶叶专业合作社", OrgKind::Producer, "522323", None, now)?;
            user(conn, &producer.id, now);
            let tea = certified_tea(conn, &producer.id, now);
            let actor = actor_for_user(conn, &buyer)?.ok_or_else(|| anyhow::anyhow!("buyer"))?;
            for _ in 0..orders {
                let order = NewOrder {
                    lines: vec![LineBody { product_id: tea.clone(), quantity: 12 }],
                    delivery: Delivery {
                        address: "广东省惠州市惠城区江北三新南路 惠州市第一中学 食堂".into(),
                        contact_name: "陈主任".into(),
                        phone: "0752-2801234".into(),
                    },
                    note: None,
                    live_session_id: None,
                };
                dongxi::orders::placing::place(conn, &actor, order, &ctx)?;
            }
            Ok(orders)
        })
        .await
        .expect("orders");
    let started = Instant::now();
    let mut passes = 0;
    while dongxi::worker::run_due(&state, |topic| topic == "notify" || topic == "mail.send").await > 0 {
        passes += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let left = db.run(|c| dongxi::outbox::list(c, None, true, 10)).await.expect("outbox");
    assert!(left.is_empty(), "mail failed: {:?}", left.first().map(|r| &r.last_error));
    let mails = placed * 2 + 2;
    println!(
        "| {label} | {placed} | {mails} | {passes} | {:.1} | {:.0} | {:.0} |",
        elapsed,
        (placed + 2) as f64 / elapsed,
        mails as f64 / elapsed
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let orders = arg("--orders", 500);
    println!("| transport | orders | mails | worker passes | seconds | notifications/s | mails/s |");
    println!("|---|---|---|---|---|---|---|");
    run(".eml files", &[], orders).await;
    if let Ok(url) = std::env::var("DONGXI_BENCH_SMTP_URL") {
        run("SMTP (aiosmtpd)", &[("SMTP_URL", url)], orders).await;
    }
}
