//! The ledger's invariants over thousands of random order lifecycles — payments, partial and
//! whole refunds, cancellations before and after payment, shipments, acceptances, year closes —
//! in both counting modes, through the same service functions the API calls:
//! - each order's ledger total is what was paid and not refunded for its counted sub-orders;
//! - every report total equals the sum of the ledger entries behind it;
//! - a closed year's figures never change;
//! - `ledger verify` finds no drift;
//! - settlement (weekly runs, then payouts paid, failed and paid again, or cancelled; refunds
//!   before and after settlement; a 3% fee on tea) keeps `settlement verify` clean, and every
//!   producer's paid + scheduled + due equals what its sub-orders brought less refunds and fees.
//!   Payables follow acceptance when counting follows acceptance, payment otherwise, so both
//!   settlement modes run.
//!
//! `DONGXI_PROPERTY_SEED` replays a run; `DONGXI_PROPERTY_LIFECYCLES` sets how many (default 2000).

use dongxi::orders::lifecycle;
use dongxi::orders::placing;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, TimeZone, Utc};
use diesel::prelude::*;
use dongxi::accounting::snapshots::{self, Kind};
use dongxi::accounting::span::Span;
use dongxi::accounting::{breakdown, entries, periods, progress, scope};
use dongxi::catalog::model::ProductRow;
use dongxi::catalog::service::new_row;
use dongxi::catalog::types::{ProductFields, Storage, Tier};
use dongxi::config::CountOn;
use dongxi::ctx::Ctx;
use dongxi::db::{DbConn, write_tx};
use dongxi::identity::Actor;
use dongxi::identity::actor::actor_for_user;
use dongxi::identity::model::OrgRow;
use dongxi::identity::service::{NewUser, create_org_unchecked, create_user_unchecked};
use dongxi::identity::types::{Email, OrgKind, Password, Role};
use dongxi::orders::types::{AcceptBody, Delivery, LineBody, NewOrder, Shipment};
use dongxi::payments::service::{self as payments, OfflinePaymentBody, RefundBody};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::helpers::TestApp;

struct Cast {
    admin: Actor,
    buyers: Vec<Actor>,
    producers: HashMap<String, Actor>,
    /// (product id, producer id)
    products: Vec<(String, String)>,
    orgs: Vec<OrgRow>,
    pairings: Vec<String>,
}

fn ctx(now: NaiveDateTime, count_on: CountOn) -> Ctx {
    let zone = chrono_tz::Asia::Shanghai;
    let settle_on = match count_on {
        CountOn::Paid => dongxi::config::SettleOn::Paid,
        CountOn::Accepted => dongxi::config::SettleOn::Accepted,
    };
    Ctx::new(now, zone, count_on, settle_on)
}

/// A weekly settlement day: first what happens to last week's settlements (most are paid, some
/// fail and wait for the next week, a few are cancelled), then a run over what is a day old.
fn settlement_day(conn: &mut DbConn, cast: &Cast, rng: &mut StdRng, c: &Ctx) -> (usize, usize) {
    use dongxi::settlement::{payouts, runs};
    let scheduled: Vec<String> = dongxi::db::schema::settlements::table
        .filter(dongxi::db::schema::settlements::status.eq("scheduled"))
        .select(dongxi::db::schema::settlements::id)
        .load(conn)
        .unwrap();
    let (mut failed, mut cancelled) = (0, 0);
    for id in scheduled {
        let roll = rng.gen_range(0..100);
        let result = if roll < 80 {
            let body = payouts::PaidBody { reference: "SIM-BANK".into(), paid_at: c.now.and_utc() };
            write_tx(conn, |t| payouts::record_paid(t, &cast.admin, &id, body, c).map(|_| ()))
        } else if roll < 95 {
            failed += 1;
            let batch = payouts::BatchBody { settlement_ids: Some(vec![id.clone()]) };
            write_tx(conn, |t| payouts::batch(t, &cast.admin, batch, c).map(|_| ())).unwrap();
            let body = payouts::ReasonBody { reason: "户名不符".into() };
            write_tx(conn, |t| payouts::record_failed(t, &cast.admin, &id, body, c).map(|_| ()))
        } else {
            cancelled += 1;
            let body = payouts::ReasonBody { reason: "核对".into() };
            write_tx(conn, |t| payouts::cancel(t, &cast.admin, &id, body, c).map(|_| ()))
        };
        result.unwrap_or_else(|e| panic!("settlement {id}: {}", e.to_problem().detail));
    }
    let run = write_tx(conn, |t| runs::queue(t, "scheduled", c.now - Duration::days(1), None, c.now)).unwrap();
    runs::perform(conn, &run.id, false, c.now).unwrap();
    (failed, cancelled)
}

fn user(conn: &mut DbConn, org: &OrgRow, email: &str, role: Role, now: NaiveDateTime) -> Actor {
    let user = NewUser {
        email: Email::parse(email).unwrap(),
        name: email.into(),
        password: Password::parse("correct-horse-battery").unwrap(),
        role,
    };
    let view = create_user_unchecked(conn, &org.id, &user, now).unwrap();
    actor_for_user(conn, &view.id).unwrap().unwrap()
}

fn set_up(conn: &mut DbConn, now: NaiveDateTime) -> Cast {
    for code in ["522300", "652927"] {
        dongxi::regions::model::set_assisted_mark(conn, code, true).unwrap();
    }
    let platform = create_org_unchecked(conn, "平台", OrgKind::Platform, "110000", None, now).unwrap();
    let admin = user(conn, &platform, "admin@p.cn", Role::Admin, now);
    let bureau = create_org_unchecked(conn, "惠州市教育局", OrgKind::Agency, "441300", None, now).unwrap();
    let mut orgs = vec![bureau.clone()];
    let mut buyers = vec![user(conn, &bureau, "bureau@p.cn", Role::Admin, now)];
    for (i, (name, region)) in [
        ("惠州一中", "441302"),
        ("惠阳医院", "441303"),
        ("宁波机关", "330212"),
        ("张家港工会", "320582"),
        ("衢州机关", "330800"),
    ]
    .iter()
    .enumerate()
    {
        let parent = (i == 0).then_some(&bureau);
        let org = create_org_unchecked(conn, name, OrgKind::Agency, region, parent, now).unwrap();
        buyers.push(user(conn, &org, &format!("buyer{i}@p.cn"), Role::Admin, now));
        orgs.push(org);
    }
    let mut producers = HashMap::new();
    let mut products = Vec::new();
    for (i, county) in ["522323", "522327", "522328", "652927"].iter().enumerate() {
        let org = create_org_unchecked(conn, &format!("合作社{i}"), OrgKind::Producer, county, None, now).unwrap();
        producers.insert(org.id.clone(), user(conn, &org, &format!("producer{i}@p.cn"), Role::Admin, now));
        for (j, category) in ["tea", "edible_fungi"].iter().enumerate() {
            let mut fields = ProductFields {
                name: format!("商品{i}{j}"),
                category: (*category).into(),
                description: String::new(),
                origin_region_code: (*county).into(),
                unit: "袋".into(),
                spec: "500g/袋".into(),
                net_weight_g: Some(500),
                price_fen: 1000 + 337 * (i * 2 + j) as i64,
                tiers: vec![Tier { min_qty: 10, price_fen: 900 + 301 * (i * 2 + j) as i64 }],
                min_order_qty: 1,
                stock: 1_000_000_000,
                storage: Storage::Ambient,
                shelf_life_days: None,
                images: vec![],
            };
            let path = dongxi::catalog::service::validate_fields(conn, &mut fields).unwrap();
            let mut row: ProductRow = new_row(&org.id, fields, path, now);
            row.status = "listed".into();
            row.cert_status = "certified".into();
            row.certificate_no = Some(format!("P-{i}{j}"));
            row.cert_valid_until = chrono::NaiveDate::from_ymd_opt(2030, 12, 31);
            dongxi::catalog::model::insert(conn, &row).unwrap();
            products.push((row.id, org.id.clone()));
        }
        orgs.push(org);
    }
    let c = ctx(now, CountOn::Paid);
    dongxi::settlement::fees::set(conn, &admin, "tea", dongxi::settlement::fees::FeeBody { rate_bp: 300 }, now)
        .unwrap();
    for org_id in producers.keys() {
        let body = dongxi::settlement::bank::BankAccountBody {
            account_name: "合作社".into(),
            bank_name: "农行".into(),
            account_no: "6228480812345670123".into(),
            stripe_account_id: None,
        };
        write_tx(conn, |t| dongxi::settlement::bank::set(t, &admin, org_id, body, now).map(|_| ())).unwrap();
    }
    let mut pairings = Vec::new();
    for (donor, recipient, from, to) in [
        (Some("330200"), "522300", "2016-01-01", Some("2022-06-30")),
        (Some("441300"), "522300", "2022-07-01", None),
        (Some("330800"), "652927", "2020-01-01", None),
        (None, "522323", "2021-01-01", None),
    ] {
        let body = dongxi::accounting::pairings::NewPairingBody {
            donor_region_code: donor.map(str::to_owned),
            donor_org_id: donor.is_none().then(|| orgs[1].id.clone()),
            recipient_region_code: recipient.into(),
            valid_from: from.parse().unwrap(),
            valid_to: to.map(|d| d.parse().unwrap()),
            note: None,
        };
        pairings.push(write_tx(conn, |c2| dongxi::accounting::pairings::create(c2, &admin, body, &c)).unwrap().id);
    }
    Cast { admin, buyers, producers, products, orgs, pairings }
}

/// Something that happens to an order at a moment.
#[derive(Debug, Clone)]
enum Step {
    Pay,
    CancelUnpaid,
    CancelPaid,
    Ship(usize),
    Accept(usize),
    /// Sub-order, share of what can still be refunded (1..=100, 100 = all of it).
    Refund(usize, u32),
}

fn plan(rng: &mut StdRng) -> Vec<Step> {
    if rng.gen_bool(0.08) {
        return vec![Step::CancelUnpaid];
    }
    let mut steps = vec![Step::Pay];
    if rng.gen_bool(0.06) {
        if rng.gen_bool(0.5) {
            steps.push(Step::Refund(0, rng.gen_range(1..=60)));
        }
        steps.push(Step::CancelPaid);
        return steps;
    }
    for sub in 0..3 {
        if rng.gen_bool(0.1) {
            steps.push(Step::Refund(sub, rng.gen_range(1..=100)));
        }
        if rng.gen_bool(0.85) {
            steps.push(Step::Ship(sub));
            if rng.gen_bool(0.1) {
                steps.push(Step::Refund(sub, rng.gen_range(1..=100)));
            }
            if rng.gen_bool(0.9) {
                steps.push(Step::Accept(sub));
                for _ in 0..rng.gen_range(0..=2) {
                    if rng.gen_bool(0.3) {
                        steps.push(Step::Refund(sub, rng.gen_range(1..=100)));
                    }
                }
            }
        }
    }
    steps
}

struct Life {
    buyer: usize,
    order_id: String,
    sub_ids: Vec<String>,
    steps: Vec<Step>,
}

/// Runs one step; a step the state no longer allows (a sub-order already refunded in full, say)
/// must be refused with a clean 4xx and change nothing.
fn act(conn: &mut DbConn, cast: &Cast, life: &Life, step: &Step, c: &Ctx) {
    let buyer = &cast.buyers[life.buyer];
    let sub = |i: usize| life.sub_ids.get(i).cloned();
    let producer_of = |sub_id: &str, conn: &mut DbConn| {
        let producer: String = dongxi::db::schema::sub_orders::table
            .find(sub_id)
            .select(dongxi::db::schema::sub_orders::producer_id)
            .first(conn)
            .unwrap();
        cast.producers[&producer].clone()
    };
    let result = match step {
        Step::Pay => {
            let total: i64 = dongxi::db::schema::orders::table
                .find(&life.order_id)
                .select(dongxi::db::schema::orders::total_fen)
                .first(conn)
                .unwrap();
            let body = OfflinePaymentBody {
                amount_fen: total,
                reference: "SIM".into(),
                paid_at: (c.now - Duration::minutes(30)).and_utc(),
            };
            write_tx(conn, |t| payments::record_offline(t, &cast.admin, &life.order_id, body, c).map(|_| ()))
        }
        Step::CancelUnpaid | Step::CancelPaid => {
            write_tx(conn, |t| dongxi::payments::cancel::cancel(t, buyer, &life.order_id, c).map(|_| ()))
        }
        Step::Ship(i) => match sub(*i) {
            Some(s) => {
                let producer = producer_of(&s, conn);
                let shipment = Shipment { carrier: "顺丰".into(), tracking_no: "SF1".into(), invoice_no: None };
                write_tx(conn, |t| lifecycle::ship(t, &producer, &s, shipment, c).map(|_| ()))
            }
            None => Ok(()),
        },
        Step::Accept(i) => match sub(*i) {
            Some(s) => write_tx(conn, |t| lifecycle::accept(t, buyer, &s, AcceptBody::default(), c).map(|_| ())),
            None => Ok(()),
        },
        Step::Refund(i, share) => match sub(*i) {
            Some(s) => {
                let (total, refunded): (i64, i64) = dongxi::db::schema::sub_orders::table
                    .find(&s)
                    .select((dongxi::db::schema::sub_orders::total_fen, dongxi::db::schema::sub_orders::refunded_fen))
                    .first(conn)
                    .unwrap();
                let amount = ((total - refunded) * *share as i64 / 100).max(1);
                let producer = producer_of(&s, conn);
                let body = RefundBody { amount_fen: amount, reason: "模拟".into() };
                write_tx(conn, |t| payments::refund_sub_order(t, &producer, &s, body, c).map(|_| ()))
            }
            None => Ok(()),
        },
    };
    if let Err(e) = result {
        let problem = e.to_problem();
        assert!(
            (400..500).contains(&problem.status),
            "{step:?} on {} failed with {} {}: {}",
            life.order_id,
            problem.status,
            problem.code,
            problem.detail
        );
    }
}

/// The sum of the ledger lines of a scope and year, written as plainly as possible (no rollups,
/// no shared query code), to check the reports against.
fn lines_sum(conn: &mut DbConn, year: i32, kind: &str, id: &str, org_path: Option<&str>) -> i64 {
    lines_sum_by(conn, year, kind, id, org_path, None)
}

fn lines_sum_by(
    conn: &mut DbConn,
    year: i32,
    kind: &str,
    id: &str,
    org_path: Option<&str>,
    recorded_by: Option<NaiveDateTime>,
) -> i64 {
    lines_by_buyer(conn, &Span::year(year), kind, id, org_path, recorded_by).values().sum()
}

/// A scope's ledger lines of a span recorded by an instant, summed per buying organisation.
fn lines_by_buyer(
    conn: &mut DbConn,
    span: &Span,
    kind: &str,
    id: &str,
    org_path: Option<&str>,
    recorded_by: Option<NaiveDateTime>,
) -> HashMap<String, i64> {
    use dongxi::db::schema::ledger_lines as l;
    let cutoff = recorded_by.unwrap_or_else(|| Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0).unwrap().naive_utc());
    let lines: Vec<(i64, String, String, String, String, String, String)> = l::table
        .filter(l::year.eq(span.year))
        .filter(l::month.between(span.first_month as i32, span.last_month as i32))
        .filter(l::recorded_at.le(cutoff))
        .select((
            l::amount_fen,
            l::origin_path,
            l::buyer_region_path,
            l::buyer_org_path,
            l::producer_id,
            l::pairing_key,
            l::buyer_org_id,
        ))
        .load(conn)
        .unwrap();
    let mut out: HashMap<String, i64> = HashMap::new();
    for (amount, origin, buyer_region, buyer_org, producer, pairing, buyer) in lines {
        let counts = match kind {
            "recipient" => origin.split('/').any(|c| c == id),
            "donor" => buyer_region.split('/').any(|c| c == id),
            "org" => buyer_org.starts_with(org_path.unwrap()),
            "producer" => producer == id,
            "pairing" => pairing == id,
            _ => unreachable!(),
        };
        if counts {
            *out.entry(buyer).or_default() += amount;
        }
    }
    out
}

/// A buyer breakdown limited to two rows against the lines' sums per buyer: the two largest
/// exactly (amount descending, id ascending), then the rest folded, how many and how much.
fn assert_largest_buyers(b: &breakdown::BreakdownView, buyers: HashMap<String, i64>, label: &str) {
    let mut want: Vec<(String, i64)> = buyers.into_iter().filter(|(_, v)| *v != 0).collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    assert_eq!(b.total_fen, want.iter().map(|(_, v)| v).sum::<i64>(), "{label}: by buyer, the total");
    let got: Vec<(String, i64)> = b.rows.iter().map(|r| (r.key.clone(), r.counted_fen)).collect();
    let mut expected: Vec<(String, i64)> = want.iter().take(2).cloned().collect();
    if want.len() > 2 {
        expected.push((breakdown::OTHER_KEY.to_owned(), want[2..].iter().map(|(_, v)| v).sum()));
        let other = b.rows.last().map(|r| r.name.clone()).unwrap_or_default();
        assert_eq!(other, format!("其他（{}个）", want.len() - 2), "{label}");
    }
    assert_eq!(got, expected, "{label}: the largest buyers");
}

fn simulate(app: &TestApp, count_on: CountOn, lifecycles: usize, seed: u64) {
    let mut conn = app.state.db.get().unwrap();
    let conn = &mut *conn;
    let start = Utc.with_ymd_and_hms(2021, 1, 1, 1, 0, 0).unwrap().naive_utc();
    let cast = set_up(conn, start);
    let mut rng = StdRng::seed_from_u64(seed);

    // Every lifecycle's moments, merged into one timeline (2021 to mid-2023).
    let mut timeline: BTreeMap<(NaiveDateTime, usize), Option<usize>> = BTreeMap::new();
    let mut lives: Vec<Life> = Vec::with_capacity(lifecycles);
    for i in 0..lifecycles {
        let placed = start + Duration::minutes(rng.gen_range(0..(2 * 365 + 150) * 24 * 60));
        let steps = plan(&mut rng);
        timeline.insert((placed, i), None);
        let mut t = placed;
        for (k, _) in steps.iter().enumerate() {
            t += Duration::minutes(rng.gen_range(30..20 * 24 * 60));
            timeline.insert((t, i), Some(k));
        }
        lives.push(Life {
            buyer: rng.gen_range(0..cast.buyers.len()),
            order_id: String::new(),
            sub_ids: vec![],
            steps,
        });
    }
    let closes = [
        (Utc.with_ymd_and_hms(2022, 2, 10, 2, 0, 0).unwrap().naive_utc(), 2021),
        (Utc.with_ymd_and_hms(2023, 2, 10, 2, 0, 0).unwrap().naive_utc(), 2022),
    ];
    let mut closed: Vec<(i32, HashMap<String, i64>)> = Vec::new();
    let sample_scopes: Vec<(String, String, Option<String>)> = {
        let mut s: Vec<(String, String, Option<String>)> = ["522300", "522323", "522327", "652927", "520000", "650000"]
            .iter()
            .map(|c| ("recipient".to_owned(), (*c).to_owned(), None))
            .chain(
                ["441300", "441302", "330200", "330000", "320582"]
                    .iter()
                    .map(|c| ("donor".to_owned(), (*c).to_owned(), None)),
            )
            .collect();
        for org in &cast.orgs {
            let kind = if org.kind == "producer" { "producer" } else { "org" };
            s.push((kind.into(), org.id.clone(), Some(org.path.clone())));
        }
        for p in &cast.pairings {
            s.push(("pairing".into(), p.clone(), None));
        }
        s
    };
    let figures = |conn: &mut DbConn, year: i32, now: NaiveDateTime| -> HashMap<String, i64> {
        let c = ctx(now, count_on);
        sample_scopes
            .iter()
            .map(|(kind, id, _)| {
                let s = scope::resolve(conn, scope::ScopeKind::parse(kind).unwrap(), id).unwrap();
                (format!("{kind}:{id}"), progress::progress(conn, &s, &Span::year(year), None, &c).unwrap().counted_fen)
            })
            .collect()
    };

    let mut close_at = closes.iter().peekable();
    // Settlement days: every Monday 02:00 Beijing (Sunday 18:00 UTC), from the first week on.
    let mut settle_at = Utc.with_ymd_and_hms(2021, 1, 10, 18, 0, 0).unwrap().naive_utc();
    let (mut settled_days, mut payouts_failed, mut settlements_cancelled) = (0, 0, 0);
    // Month-end snapshots, taken as the worker takes them: once the month and the grace are over.
    let zone = chrono_tz::Asia::Shanghai;
    let mut snapshot_at = Utc.with_ymd_and_hms(2021, 1, 31, 16, 0, 0).unwrap().naive_utc();
    let mut snapshots_taken = 0;
    // And week-end ones (Monday 00:00 Beijing), from 4 January 2021, the years before last dropped.
    let mut week_at = Utc.with_ymd_and_hms(2021, 1, 3, 16, 0, 0).unwrap().naive_utc();
    let mut weeks_taken = 0;
    for ((now, i), step) in timeline {
        while snapshots::due_month_end(now, zone).is_some_and(|due| due >= snapshot_at) {
            let took = write_tx(conn, |t| snapshots::take(t, snapshot_at, Kind::Month, zone, now)).unwrap();
            assert!(took, "{snapshot_at}: a snapshot is taken once");
            snapshots_taken += 1;
            let local = snapshot_at.and_utc().with_timezone(&zone).date_naive();
            let next = local.checked_add_months(chrono::Months::new(1)).unwrap().with_day(1).unwrap();
            snapshot_at = zone.from_local_datetime(&next.and_hms_opt(0, 0, 0).unwrap()).unwrap().naive_utc();
        }
        while snapshots::due_week_end(now, zone).is_some_and(|due| due >= week_at) {
            let took = write_tx(conn, |t| snapshots::take(t, week_at, Kind::Week, zone, now)).unwrap();
            let first_of_month = week_at.and_utc().with_timezone(&zone).day() == 1;
            assert_eq!(took, !first_of_month, "{week_at}: a Monday that begins a month has its month-end snapshot");
            weeks_taken += usize::from(took);
            snapshots::forget_old_weeks(conn, now, zone).unwrap();
            week_at += Duration::days(7);
        }
        while settle_at <= now {
            let (failed, cancelled) = settlement_day(conn, &cast, &mut rng, &ctx(settle_at, count_on));
            payouts_failed += failed;
            settlements_cancelled += cancelled;
            settled_days += 1;
            settle_at += Duration::days(7);
        }
        while let Some((when, year)) = close_at.peek() {
            if *when > now {
                break;
            }
            let c = ctx(*when, count_on);
            write_tx(conn, |t| periods::close(t, &cast.admin, *year, &c)).unwrap();
            closed.push((*year, figures(conn, *year, *when)));
            close_at.next();
        }
        let c = ctx(now, count_on);
        match step {
            None => {
                let n = rng.gen_range(1..=4);
                let lines = (0..n)
                    .map(|_| LineBody {
                        product_id: cast.products[rng.gen_range(0..cast.products.len())].0.clone(),
                        quantity: rng.gen_range(1..=25),
                    })
                    .collect();
                let delivery =
                    Delivery {
                        address: "测试地址".into(), contact_name: "王".into(), phone: "13800138000".into()
                    };
                let order = NewOrder { lines, delivery, note: None, live_session_id: None };
                let buyer = &cast.buyers[lives[i].buyer];
                let view = write_tx(conn, |t| placing::place(t, buyer, order, &c)).unwrap();
                lives[i].order_id = view.id;
                lives[i].sub_ids = view.sub_orders.into_iter().map(|s| s.id).collect();
            }
            Some(k) => act(conn, &cast, &lives[i], &lives[i].steps[k], &c),
        }
    }

    // 1. Each order nets what was paid and not refunded, for the sub-orders that count.
    #[derive(QueryableByName)]
    struct Net {
        #[diesel(sql_type = diesel::sql_types::Text)]
        order_id: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        expected: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        ledger: i64,
    }
    let counted_when = match count_on {
        CountOn::Paid => "o.paid_fen > 0",
        CountOn::Accepted => "s.accepted_at IS NOT NULL",
    };
    let sql = format!(
        "SELECT o.id AS order_id, \
           CAST(COALESCE((SELECT SUM(s.total_fen - s.refunded_fen) FROM sub_orders s WHERE s.order_id = o.id AND {counted_when}), 0) AS BIGINT) AS expected, \
           CAST(COALESCE((SELECT SUM(e.amount_fen) FROM ledger_entries e WHERE e.order_id = o.id), 0) AS BIGINT) AS ledger \
         FROM orders o"
    );
    let nets: Vec<Net> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(&sql).load(c).unwrap(),
        DbConn::Postgres(c) => diesel::sql_query(&sql).load(c).unwrap(),
    };
    assert_eq!(nets.len(), lifecycles);
    let wrong: Vec<&Net> = nets.iter().filter(|n| n.expected != n.ledger).collect();
    assert!(
        wrong.is_empty(),
        "seed {seed}: {} orders drift, e.g. {} expects {} and nets {}",
        wrong.len(),
        wrong[0].order_id,
        wrong[0].expected,
        wrong[0].ledger
    );
    let refunds: i64 = dongxi::db::schema::refunds::table.count().get_result(conn).unwrap();
    let cancelled: i64 = dongxi::db::schema::orders::table
        .filter(dongxi::db::schema::orders::status.eq("cancelled"))
        .count()
        .get_result(conn)
        .unwrap();
    assert!(
        refunds > lifecycles as i64 / 10 && cancelled > lifecycles as i64 / 20,
        "the simulation exercised refunds ({refunds}) and cancellations ({cancelled})"
    );

    // 2. Every report total is the sum of its ledger entries, and its breakdowns add up to it.
    let end = Utc.with_ymd_and_hms(2023, 12, 31, 0, 0, 0).unwrap().naive_utc();
    let c = ctx(end, count_on);
    for year in 2021..=2023 {
        for (kind, id, org_path) in &sample_scopes {
            let s = scope::resolve(conn, scope::ScopeKind::parse(kind).unwrap(), id).unwrap();
            let progress = progress::progress(conn, &s, &Span::year(year), None, &c).unwrap();
            let plain = lines_sum(conn, year, kind, id, org_path.as_deref());
            assert_eq!(progress.counted_fen, plain, "seed {seed}: {kind} {id} {year}: report against its ledger lines");
            let as_of = progress::progress(
                conn,
                &s,
                &Span::year(year),
                Some(DateTime::<Utc>::from_naive_utc_and_offset(end, Utc)),
                &c,
            )
            .unwrap();
            assert_eq!(as_of.counted_fen, plain, "seed {seed}: {kind} {id} {year}: as_of now against the rollups");
            // Instants a few hours after a month-end snapshot, mid-month (half a month from
            // the nearest one), and exactly at one (1 October, Beijing).
            for cut in [(2022, 6, 30, 0), (year, 8, 15, 12), (year, 9, 30, 16), (year, 11, 1, 0)] {
                let at = Utc.with_ymd_and_hms(cut.0, cut.1, cut.2, cut.3, 0, 0).unwrap();
                let then = progress::progress(conn, &s, &Span::year(year), Some(at), &c).unwrap();
                let buyers =
                    lines_by_buyer(conn, &Span::year(year), kind, id, org_path.as_deref(), Some(at.naive_utc()));
                let plain_then: i64 = buyers.values().sum();
                assert_eq!(then.counted_fen, plain_then, "seed {seed}: {kind} {id} {year} as of {at}");
                let b =
                    breakdown::breakdown(conn, &s, &Span::year(year), breakdown::By::BuyerOrg, Some(at), Some(2), &c)
                        .unwrap();
                assert_largest_buyers(&b, buyers, &format!("seed {seed}: {kind} {id} {year} as of {at}"));
                // The quarters (read from the month rollups or the lines) add up to the year.
                let quarters: i64 = ["Q1", "Q2", "Q3", "Q4"]
                    .iter()
                    .map(|q| {
                        let span = Span::parse(year, Some(q)).unwrap();
                        let p = progress::progress(conn, &s, &span, Some(at), &c).unwrap().counted_fen;
                        let b =
                            breakdown::breakdown(conn, &s, &span, breakdown::By::Producer, Some(at), None, &c).unwrap();
                        assert_eq!(b.total_fen, p, "seed {seed}: {kind} {id} {year} {q} by producer as of {at}");
                        p
                    })
                    .sum();
                assert_eq!(quarters, plain_then, "seed {seed}: {kind} {id} {year} quarters as of {at}");
            }
            for by in breakdown::By::ALL {
                let b = breakdown::breakdown(
                    conn,
                    &s,
                    &Span::year(year),
                    breakdown::By::parse(by).unwrap(),
                    None,
                    Some(3),
                    &c,
                )
                .unwrap();
                assert_eq!(b.total_fen, plain, "seed {seed}: {kind} {id} {year} by {by}");
            }
            // A half's, a quarter's and a month's largest buyers (the halves and quarters from
            // rollups of their own), now and as of an instant inside the year.
            for period in ["H1", "H2", "Q1", "Q2", "Q3", "Q4", "M03"] {
                let span = Span::parse(year, Some(period)).unwrap();
                for at in [None, Some(Utc.with_ymd_and_hms(year, 8, 15, 12, 0, 0).unwrap())] {
                    let buyers = lines_by_buyer(conn, &span, kind, id, org_path.as_deref(), at.map(|t| t.naive_utc()));
                    let b = breakdown::breakdown(conn, &s, &span, breakdown::By::BuyerOrg, at, Some(2), &c).unwrap();
                    assert_largest_buyers(
                        &b,
                        buyers,
                        &format!("seed {seed}: {kind} {id} {year} {period} as of {at:?}"),
                    );
                }
            }
        }
        let mut page = dongxi::http::pagination::PageRequest { limit: 200, after: None };
        let mut listed = 0i64;
        loop {
            let q = entries::LedgerQuery { year, ..Default::default() };
            let batch = entries::ledger(conn, &cast.admin, &q, &page, &c).unwrap();
            listed += batch.items.iter().map(|e| e.amount_fen).sum::<i64>();
            if batch.next_cursor.is_none() {
                break;
            }
            page.after = batch.items.last().map(|e| e.id.clone());
        }
        assert_eq!(listed, all_lines(conn, year), "seed {seed}: {year}: the listed entries against the lines");
    }

    // 3. Closed years kept the figures they closed with.
    assert_eq!(closed.len(), 2);
    for (year, at_close) in &closed {
        assert_eq!(&figures(conn, *year, end), at_close, "seed {seed}: {year} changed after it closed");
    }

    // 4. `ledger verify` finds nothing.
    let v = dongxi::accounting::verify::verify(conn, count_on, chrono_tz::Asia::Shanghai).unwrap();
    assert!(v.drift.is_empty(), "seed {seed}: {:?}", &v.drift[..v.drift.len().min(10)]);
    assert!(v.entries > lifecycles, "{} entries", v.entries);
    assert!(snapshots_taken >= 28, "seed {seed}: {snapshots_taken} month-end snapshots over the three years");
    // The week-end snapshots kept are those of the last two years, and `ledger verify` read them.
    let kept = snapshots::all(conn).unwrap();
    let weeks: Vec<_> = kept.iter().filter(|s| s.kind == "week").collect();
    let last = end.and_utc().with_timezone(&zone).year();
    assert!(weeks_taken > weeks.len() && weeks.len() > 52, "seed {seed}: {weeks_taken} taken, {} kept", weeks.len());
    assert!(weeks.iter().all(|s| s.first_year >= last - 1), "seed {seed}: a week of a year before last is kept");
    // A month-end snapshot changed by hand is drift, and an `as_of` report next to it reads it.
    let province = scope::resolve(conn, scope::ScopeKind::Recipient, "520000").unwrap();
    let at = Utc.with_ymd_and_hms(2022, 9, 30, 16, 0, 0).unwrap();
    let before = progress::progress(conn, &province, &Span::year(2022), Some(at), &c).unwrap().counted_fen;
    let tamper = |conn: &mut DbConn, by: i64| {
        let sql = format!(
            "UPDATE ledger_snap_month SET amount_fen = amount_fen + {by} WHERE taken_at = '2022-09-30 16:00:00' \
             AND year = 2022 AND month = 9 AND origin_province = '520000'"
        );
        match conn {
            DbConn::Sqlite(c) => diesel::sql_query(sql).execute(c).unwrap(),
            DbConn::Postgres(c) => diesel::sql_query(sql).execute(c).unwrap(),
        }
    };
    let changed = tamper(conn, 1);
    assert!(changed > 0, "seed {seed}: the snapshot of 30 September 2022 holds September's sales of 贵州");
    let v = dongxi::accounting::verify::verify(conn, count_on, chrono_tz::Asia::Shanghai).unwrap();
    assert!(v.drift.iter().any(|d| d.starts_with("ledger_snap_month at 2022-09-30 16:00:00")), "{:?}", v.drift);
    let after = progress::progress(conn, &province, &Span::year(2022), Some(at), &c).unwrap().counted_fen;
    assert_eq!(after, before + changed as i64, "seed {seed}: the as_of report reads the snapshot");
    tamper(conn, -1);

    // 5. `settlement verify` finds nothing: every payable from a sub-order and counted once, each
    // settlement the sum of its lines, payouts matching, and per producer paid + scheduled + due =
    // what its sub-orders brought less refunds and fees.
    let s = dongxi::settlement::verify::verify(conn, ctx(end, count_on).settle_on).unwrap();
    assert!(s.drift.is_empty(), "seed {seed}: {:?}", &s.drift[..s.drift.len().min(10)]);
    assert!(s.settlements > 50 && payouts_failed > 0 && settlements_cancelled > 0, "seed {seed}: {s:?}");
    let deductions: i64 = dongxi::db::schema::payables::table
        .filter(dongxi::db::schema::payables::kind.eq("refund"))
        .filter(dongxi::db::schema::payables::settlement_id.is_not_null())
        .count()
        .get_result(conn)
        .unwrap();
    assert!(deductions > 0, "seed {seed}: some refunds came after their sub-orders were settled");
    for (org_id, producer) in &cast.producers {
        let c = ctx(end, count_on);
        let b = dongxi::settlement::view::balance(conn, producer, org_id, 1, &c).unwrap();
        let owed: i64 = dongxi::db::schema::payables::table
            .filter(dongxi::db::schema::payables::producer_id.eq(org_id))
            .select(dongxi::db::schema::payables::net_fen)
            .load::<i64>(conn)
            .unwrap()
            .into_iter()
            .sum();
        assert_eq!(b.paid_fen + b.scheduled_fen + b.due_fen + b.pending_fen, owed, "seed {seed}: {org_id}: {b:?}");
    }
    eprintln!(
        "{} {:?}: {lifecycles} lifecycles, {} entries, {refunds} refunds, {cancelled} cancelled; {} payables in {} settlements over {settled_days} settlement days ({payouts_failed} payouts failed, {settlements_cancelled} cancelled, {deductions} refunds deducted after settlement); seed {seed}",
        app.backend, count_on, v.entries, s.payables, s.settlements
    );
}

fn all_lines(conn: &mut DbConn, year: i32) -> i64 {
    use dongxi::db::schema::ledger_lines as l;
    l::table.filter(l::year.eq(year)).select(l::amount_fen).load::<i64>(conn).unwrap().into_iter().sum()
}

fn settings() -> (usize, u64) {
    let n = std::env::var("DONGXI_PROPERTY_LIFECYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let seed = std::env::var("DONGXI_PROPERTY_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(rand::random);
    (n, seed)
}

async fn run(app: TestApp, count_on: CountOn) {
    let (n, seed) = settings();
    tokio::task::spawn_blocking(move || simulate(&app, count_on, n, seed)).await.expect("simulation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_invariants_hold_counting_on_payment_sqlite() {
    run(TestApp::sqlite().await, CountOn::Paid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_invariants_hold_counting_on_acceptance_sqlite() {
    run(TestApp::sqlite_with(&[("DONGXI_COUNT_ON", "accepted")]).await, CountOn::Accepted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_invariants_hold_counting_on_payment_postgres() {
    if let Some(app) = TestApp::postgres().await {
        run(app, CountOn::Paid).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_invariants_hold_counting_on_acceptance_postgres() {
    if let Some(app) = TestApp::postgres_with(&[("DONGXI_COUNT_ON", "accepted")]).await {
        run(app, CountOn::Accepted).await;
    }
}

/// Two transactions, each counting two sub-orders (one of 普安县's tea, one of 和静县's) whose
/// rollup rows the other writes too, in opposite orders, held open side by side. Two buyers of
/// one donor prefecture, neither paired in March 2021: their entries of one origin share the
/// month rollup's row. Without the ledger's one lock (taken inside each entry's statement, before
/// its first row) each holds the row the other waits for, and PostgreSQL aborts one as deadlocked.
fn counting_in_opposite_orders(app: &TestApp) {
    use dongxi::accounting::ledger;
    use dongxi::orders::model as orders;
    use std::sync::mpsc;
    use std::time::Duration as Wait;

    let start = Utc.with_ymd_and_hms(2021, 3, 1, 2, 0, 0).unwrap().naive_utc();
    let c = ctx(start, CountOn::Paid);
    let mut conn = app.state.db.get().unwrap();
    let cast = set_up(&mut conn, start);
    let (puan, hejing) = (cast.products[0].0.clone(), cast.products[6].0.clone());
    let mut subs_of = |buyer: &Actor, first: &str, second: &str| {
        let order = NewOrder {
            lines: vec![
                LineBody { product_id: first.to_owned(), quantity: 2 },
                LineBody { product_id: second.to_owned(), quantity: 3 },
            ],
            delivery: Delivery { address: "惠州".into(), contact_name: "王".into(), phone: "0752-2222222".into() },
            note: None,
            live_session_id: None,
        };
        let placed = write_tx(&mut conn, |t| placing::place(t, buyer, order, &c)).unwrap();
        let row = orders::find(&mut conn, &placed.id).unwrap().unwrap();
        let mut subs = orders::sub_orders_of(&mut conn, std::slice::from_ref(&placed.id)).unwrap();
        // The sub-order of `first`'s producer first.
        let first_producer = cast.products.iter().find(|(id, _)| id == first).unwrap().1.clone();
        subs.sort_by_key(|s| s.producer_id != first_producer);
        (row, subs)
    };
    // 惠州市教育局 (441300) and 惠阳医院 (441303).
    let one = subs_of(&cast.buyers[0], &puan, &hejing);
    let other = subs_of(&cast.buyers[2], &hejing, &puan);
    drop(conn);
    let (to_other, from_one) = mpsc::channel::<()>();
    let (to_one, from_other) = mpsc::channel::<()>();
    let count_both = move |(order, subs): (orders::OrderRow, Vec<orders::SubOrderRow>),
                           done: mpsc::Sender<()>,
                           other_done: mpsc::Receiver<()>| {
        let db = app.state.db.clone();
        move || {
            let mut conn = db.get().unwrap();
            write_tx(&mut conn, |t| {
                for (i, sub) in subs.iter().enumerate() {
                    ledger::count_sub_order(t, &dongxi::orders::state::sale_of(&order, sub), start, &c)?;
                    if i == 0 {
                        // Each waits (a while at most: with the lock, the other is still waiting
                        // for it) until the other has written its first entry.
                        let _ = done.send(());
                        let _ = other_done.recv_timeout(Wait::from_secs(3));
                    }
                }
                Ok(())
            })
        }
    };
    let first = std::thread::spawn(count_both(one, to_other, from_other));
    let second = std::thread::spawn(count_both(other, to_one, from_one));
    for (name, t) in [("the first", first), ("the second", second)] {
        let outcome = t.join().unwrap();
        assert!(outcome.is_ok(), "{name} transaction failed: {:?}", outcome.err());
    }
    let mut conn = app.state.db.get().unwrap();
    let v = dongxi::accounting::verify::verify(&mut conn, CountOn::Paid, chrono_tz::Asia::Shanghai).unwrap();
    assert_eq!(v.entries, 4);
    assert!(v.drift.iter().all(|d| !d.contains("ledger_sums")), "{:?}", v.drift);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counting_in_opposite_orders_never_deadlocks_postgres() {
    if let Some(app) = TestApp::postgres().await {
        tokio::task::spawn_blocking(move || counting_in_opposite_orders(&app)).await.expect("counting");
    }
}
