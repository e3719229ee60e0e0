//! A year (2021) of the demo agencies' orders, made through the real order and payment paths at
//! the times they happened: canteens buying staples every few weeks, unions buying festival
//! welfare packs, a December rush; most paid, shipped, accepted and rated, some cancelled, some
//! refunded. Then a few open orders from the last days, so producers have work waiting.

use crate::orders::lifecycle;
use crate::orders::placing;
use std::collections::HashMap;

use chrono::{Datelike, Duration, NaiveDateTime};
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::at;
use crate::config::Config;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{products, users};
use crate::error::AppResult;
use crate::identity::Actor;
use crate::identity::actor::actor_for_user;
use crate::identity::model::OrgRow;
use crate::orders::types::{AcceptBody, Delivery, LineBody, NewOrder, RatingBody, Shipment};
use crate::orders::view::OrderView;
use crate::payments::service::{self as payments, OfflinePaymentBody, RefundBody};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Habit {
    /// A canteen restocking staples every few weeks.
    Canteen,
    /// A union buying welfare packs before festivals.
    Welfare,
}

struct DemoBuyer {
    org: &'static str,
    /// Orders in an ordinary month (festival months and December have more).
    per_month: u32,
    habit: Habit,
    goods: &'static [&'static str],
    address: &'static str,
    contact: &'static str,
    phone: &'static str,
}

const BUYERS: &[DemoBuyer] = &[
    DemoBuyer {
        org: "hz_school",
        per_month: 3,
        habit: Habit::Canteen,
        goods: &[
            "册亨干香菇",
            "黔西南黑木耳",
            "晴隆高山土豆",
            "册亨糯米",
            "兴仁薏仁米",
            "册亨鲜香菇",
            "晴隆绿茶 明前毛峰",
        ],
        address: "广东省惠州市惠城区江北三新南路 惠州市第一中学 食堂",
        contact: "陈主任",
        phone: "0752-2801234",
    },
    DemoBuyer {
        org: "hz_hospital",
        per_month: 2,
        habit: Habit::Canteen,
        goods: &["兴仁薏仁米", "册亨干香菇", "茶树菇 干品", "安龙香菇 干品", "晴隆高山土豆", "望谟板栗"],
        address: "广东省惠州市惠城区鹅岭北路41号 惠州市中心人民医院 营养膳食科",
        contact: "李科长",
        phone: "0752-2288888",
    },
    DemoBuyer {
        org: "hz_union",
        per_month: 0,
        habit: Habit::Welfare,
        goods: &["普安红 金芽礼盒", "兴仁薏仁米 礼盒", "贵州刺梨原汁", "普安红茶 明前特级", "顶坛花椒"],
        address: "广东省惠州市惠城区江北文明一路 惠州市总工会 福利部",
        contact: "张干事",
        phone: "0752-2122123",
    },
    DemoBuyer {
        org: "hz_edu",
        per_month: 1,
        habit: Habit::Canteen,
        goods: &["普安红茶 明前特级", "晴隆翠芽", "刺梨干", "册亨花菇"],
        address: "广东省惠州市惠城区江北云山西路 惠州市教育局 机关食堂",
        contact: "黄会计",
        phone: "0752-2809000",
    },
    DemoBuyer {
        org: "nb_jiguan",
        per_month: 2,
        habit: Habit::Canteen,
        goods: &["册亨干香菇", "兴仁薏仁米", "普安红茶 明前特级", "晴隆高山红茶", "安龙黄金耳"],
        address: "浙江省宁波市鄞州区宁穿路 宁波市机关事务管理局 机关食堂",
        contact: "周师傅",
        phone: "0574-89180000",
    },
    DemoBuyer {
        org: "nb_hospital",
        per_month: 1,
        habit: Habit::Canteen,
        goods: &["兴仁薏仁米", "黔西南黑木耳", "贵州刺梨原汁"],
        address: "浙江省宁波市鄞州区百丈东路 鄞州区人民医院 后勤科",
        contact: "吴科长",
        phone: "0574-87016000",
    },
    DemoBuyer {
        org: "qz_jiguan",
        per_month: 2,
        habit: Habit::Canteen,
        goods: &["乌什大米", "乌什大米 10kg装", "乌什薄皮核桃", "四团骏枣", "平武绿茶 雀舌", "平武中蜂蜜"],
        address: "浙江省衢州市柯城区荷花中路 衢州市机关事务服务中心 机关食堂",
        contact: "徐主任",
        phone: "0570-3021234",
    },
    DemoBuyer {
        org: "zjg_union",
        per_month: 0,
        habit: Habit::Welfare,
        goods: &["沿河白茶", "沿河土鸡", "沿河土鸡蛋", "沙子空心李"],
        address: "江苏省张家港市杨舍镇人民中路 张家港市总工会",
        contact: "钱部长",
        phone: "0512-58681234",
    },
    // Two more schools under 惠州市教育局, so its half-yearly bulletin ranks units: one keeps pace,
    // one (惠阳, a county school) buys far less than its share.
    DemoBuyer {
        org: "hz_school8",
        per_month: 2,
        habit: Habit::Canteen,
        goods: &["册亨干香菇", "兴仁薏仁米", "册亨糯米", "晴隆高山土豆", "黔西南黑木耳"],
        address: "广东省惠州市惠城区下埔路 惠州市第八中学 食堂",
        contact: "刘主任",
        phone: "0752-2272100",
    },
    DemoBuyer {
        org: "hz_huiyang",
        per_month: 1,
        habit: Habit::Canteen,
        goods: &["兴仁薏仁米", "册亨糯米"],
        address: "广东省惠州市惠阳区淡水街道 惠州市惠阳高级中学 食堂",
        contact: "叶主任",
        phone: "0752-3312345",
    },
];

/// Months with festivals (Spring Festival, Dragon Boat, Mid-Autumn) and the year-end rush.
fn month_factor(habit: Habit, month: u32) -> u32 {
    match (habit, month) {
        (Habit::Welfare, 1 | 2 | 6 | 9) => 2,
        (Habit::Welfare, 12) => 1,
        (Habit::Welfare, _) => 0,
        (Habit::Canteen, 12) => 2,
        (Habit::Canteen, _) => 1,
    }
}

struct Cast {
    buyers: HashMap<&'static str, Actor>,
    producers: HashMap<String, Actor>,
    finance: Actor,
    products: HashMap<String, (String, String)>,
}

pub(super) fn first_user(conn: &mut DbConn, org_id: &str) -> AppResult<Actor> {
    let user_id: String =
        users::table.filter(users::org_id.eq(org_id)).select(users::id).order(users::id.asc()).first(conn)?;
    actor_for_user(conn, &user_id)?.ok_or_else(|| anyhow::anyhow!("demo user {user_id} missing").into())
}

fn cast(conn: &mut DbConn, orgs: &[(&str, OrgRow)]) -> AppResult<Cast> {
    let org = |key: &str| orgs.iter().find(|(k, _)| *k == key).map(|(_, o)| o.id.clone());
    let mut buyers = HashMap::new();
    for b in BUYERS {
        let id = org(b.org).ok_or_else(|| anyhow::anyhow!("demo org {}", b.org))?;
        // Orders come from the canteen or welfare desk: the organisation's last user (a member where there is one).
        let user_id: String =
            users::table.filter(users::org_id.eq(&id)).select(users::id).order(users::id.desc()).first(conn)?;
        buyers.insert(b.org, actor_for_user(conn, &user_id)?.ok_or_else(|| anyhow::anyhow!("demo buyer"))?);
    }
    let finance_user: String =
        users::table.filter(users::email.eq("finance@demo.dongxi.cn")).select(users::id).first(conn)?;
    let finance = actor_for_user(conn, &finance_user)?.ok_or_else(|| anyhow::anyhow!("demo finance user"))?;
    let mut producers = HashMap::new();
    for (_, o) in orgs.iter().filter(|(_, o)| o.kind == "producer") {
        producers.insert(o.id.clone(), first_user(conn, &o.id)?);
    }
    let products = products::table
        .select((products::name, products::id, products::producer_id))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(name, id, producer)| (name, (id, producer)))
        .collect();
    Ok(Cast { buyers, producers, finance, products })
}

pub(super) fn ctx_at(now: NaiveDateTime, config: &Config) -> Ctx {
    Ctx::of(now, config)
}

/// One order: when it was placed and what it holds.
struct Plan {
    buyer: usize,
    placed: NaiveDateTime,
    lines: Vec<(String, i64)>,
}

fn quantity(rng: &mut StdRng, habit: Habit, name: &str) -> i64 {
    let (low, high) = match habit {
        Habit::Welfare => (80, 400),
        Habit::Canteen if name.contains("茶") || name.contains("翠芽") => (10, 60),
        Habit::Canteen => (20, 150),
    };
    // Round numbers, as offices order.
    (rng.gen_range(low..=high) / 10).max(1) * 10
}

fn plans_for_2021(rng: &mut StdRng, cast: &Cast) -> AppResult<Vec<Plan>> {
    let mut plans = Vec::new();
    for (i, buyer) in BUYERS.iter().enumerate() {
        for month in 1..=12u32 {
            let n = match buyer.habit {
                Habit::Canteen => buyer.per_month * month_factor(buyer.habit, month),
                Habit::Welfare => month_factor(buyer.habit, month),
            };
            for _ in 0..n {
                let day = rng.gen_range(1..=28);
                let placed = at(2021, month, day, rng.gen_range(9..=17))?;
                let kinds = rng.gen_range(1..=3.min(buyer.goods.len()));
                let mut goods: Vec<&str> = buyer.goods.to_vec();
                let mut lines = Vec::new();
                for _ in 0..kinds {
                    let name = goods.remove(rng.gen_range(0..goods.len()));
                    // Fresh plums only in their July season.
                    if name == "沙子空心李" && month != 7 {
                        continue;
                    }
                    let (id, _) =
                        cast.products.get(name).ok_or_else(|| anyhow::anyhow!("demo product {name} missing"))?;
                    lines.push((id.clone(), quantity(rng, buyer.habit, name)));
                }
                if !lines.is_empty() {
                    plans.push(Plan { buyer: i, placed, lines });
                }
            }
        }
    }
    plans.sort_by_key(|p| p.placed);
    Ok(plans)
}

fn place(conn: &mut DbConn, cast: &Cast, plan: &Plan, config: &Config) -> AppResult<OrderView> {
    let buyer = &BUYERS[plan.buyer];
    let order = NewOrder {
        lines: plan.lines.iter().map(|(id, q)| LineBody { product_id: id.clone(), quantity: *q }).collect(),
        delivery: Delivery {
            address: buyer.address.into(),
            contact_name: buyer.contact.into(),
            phone: buyer.phone.into(),
        },
        note: None,
        live_session_id: None,
    };
    placing::place(conn, &cast.buyers[buyer.org], order, &ctx_at(plan.placed, config))
}

fn pay(conn: &mut DbConn, cast: &Cast, order: &OrderView, paid: NaiveDateTime, config: &Config) -> AppResult<()> {
    let body = OfflinePaymentBody {
        amount_fen: order.total_fen,
        reference: format!("HZ{}{:04}", paid.format("%Y%m%d"), order.lines.len() * 37 % 10_000),
        paid_at: paid.and_utc(),
    };
    payments::record_offline(conn, &cast.finance, &order.id, body, &ctx_at(paid + Duration::hours(2), config))?;
    Ok(())
}

const CARRIERS: [&str; 4] = ["顺丰速运", "中国邮政", "德邦物流", "京东物流"];

/// What happens to an order after it is placed, drawn once per order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    CancelledUnpaid,
    CancelledPaid,
    Completed,
    /// Completed, then a partial refund for a damaged parcel.
    PartlyRefunded,
    /// Paid, then one sub-order refunded in full before shipping (the producer ran short).
    SubOrderRefunded,
}

fn fate(rng: &mut StdRng) -> Fate {
    match rng.gen_range(0..100) {
        0..=4 => Fate::CancelledUnpaid,
        5..=6 => Fate::CancelledPaid,
        7..=11 => Fate::PartlyRefunded,
        12 => Fate::SubOrderRefunded,
        _ => Fate::Completed,
    }
}

fn live(conn: &mut DbConn, cast: &Cast, plan: &Plan, rng: &mut StdRng, config: &Config) -> AppResult<()> {
    let order = place(conn, cast, plan, config)?;
    let buyer = &cast.buyers[BUYERS[plan.buyer].org];
    let fate = fate(rng);
    let mut t = plan.placed + Duration::hours(rng.gen_range(4..=72));
    if fate == Fate::CancelledUnpaid {
        crate::payments::cancel::cancel(conn, buyer, &order.id, &ctx_at(t, config))?;
        return Ok(());
    }
    pay(conn, cast, &order, t, config)?;
    if fate == Fate::CancelledPaid {
        t += Duration::hours(rng.gen_range(3..=30));
        crate::payments::cancel::cancel(conn, buyer, &order.id, &ctx_at(t, config))?;
        return Ok(());
    }
    for (n, sub) in order.sub_orders.iter().enumerate() {
        let producer = &cast.producers[&sub.producer_id];
        let mut t = t + Duration::hours(rng.gen_range(24..=72));
        if fate == Fate::SubOrderRefunded && n == 0 {
            let body = RefundBody { amount_fen: sub.total_fen, reason: "库存不足，无法按期发货".into() };
            payments::refund_sub_order(conn, producer, &sub.id, body, &ctx_at(t, config))?;
            continue;
        }
        let shipment = Shipment {
            carrier: CARRIERS[rng.gen_range(0..CARRIERS.len())].into(),
            tracking_no: format!("DX{}{:06}", t.format("%y%m%d"), rng.gen_range(0..1_000_000)),
            invoice_no: Some(format!("{:08}", rng.gen_range(10_000_000..100_000_000))),
        };
        lifecycle::ship(conn, producer, &sub.id, shipment, &ctx_at(t, config))?;
        t += Duration::hours(rng.gen_range(48..=120));
        let note = rng.gen_bool(0.3).then(|| "数量、包装无误".to_owned());
        lifecycle::accept(conn, buyer, &sub.id, AcceptBody { note }, &ctx_at(t, config))?;
        if rng.gen_bool(0.6) {
            t += Duration::hours(rng.gen_range(1..=48));
            let stars = [5, 5, 5, 4, 4, 3][rng.gen_range(0..6)];
            let comment = match stars {
                5 => "品质很好，食堂师傅反映不错",
                4 => "整体满意，物流稍慢",
                _ => "部分包装破损，其余尚可",
            };
            lifecycle::rate(
                conn,
                buyer,
                &sub.id,
                RatingBody { stars, comment: Some(comment.into()) },
                &ctx_at(t, config),
            )?;
        }
        if fate == Fate::PartlyRefunded && n == 0 {
            t += Duration::hours(rng.gen_range(2..=24));
            let amount = (sub.total_fen / 10).max(1);
            let body =
                RefundBody { amount_fen: amount, reason: "运输途中部分包装破损，按比例退款".into() };
            payments::refund_sub_order(conn, producer, &sub.id, body, &ctx_at(t, config))?;
        }
    }
    Ok(())
}

/// Orders of the last days that are still under way: waiting for payment, shipment or acceptance.
fn open_orders(conn: &mut DbConn, cast: &Cast, rng: &mut StdRng, config: &Config, now: NaiveDateTime) -> AppResult<()> {
    let recent = [(0usize, 9i64, 0u8), (0, 6, 1), (1, 5, 2), (4, 4, 1), (6, 3, 0), (7, 2, 2), (0, 1, 0)];
    for (buyer, days_ago, stage) in recent {
        let goods = BUYERS[buyer].goods;
        let name = goods[rng.gen_range(0..goods.len())];
        let (id, _) = cast.products.get(name).ok_or_else(|| anyhow::anyhow!("demo product {name} missing"))?;
        let placed = now - Duration::days(days_ago);
        let plan = Plan { buyer, placed, lines: vec![(id.clone(), quantity(rng, BUYERS[buyer].habit, name))] };
        let order = place(conn, cast, &plan, config)?;
        if stage == 0 {
            continue;
        }
        let paid = placed + Duration::hours(20);
        pay(conn, cast, &order, paid, config)?;
        if stage == 2 {
            let sub = &order.sub_orders[0];
            let shipment = Shipment {
                carrier: "顺丰速运".into(),
                tracking_no: format!("SF{}", 1_300_000_000 + days_ago),
                invoice_no: None,
            };
            lifecycle::ship(
                conn,
                &cast.producers[&sub.producer_id],
                &sub.id,
                shipment,
                &ctx_at(paid + Duration::hours(20), config),
            )?;
        }
    }
    Ok(())
}

pub fn seed_orders(conn: &mut DbConn, orgs: &[(&str, OrgRow)], config: &Config, now: NaiveDateTime) -> AppResult<()> {
    let cast = cast(conn, orgs)?;
    let mut rng = StdRng::seed_from_u64(2021);
    // 2021's goods were restocked many times over; today's stock is the catalogue's.
    let stock: Vec<(String, i64)> = products::table.select((products::id, products::stock)).load(conn)?;
    diesel::update(products::table).set(products::stock.eq(products::stock + 1_000_000)).execute(conn)?;
    for plan in plans_for_2021(&mut rng, &cast)? {
        debug_assert_eq!(plan.placed.year(), 2021);
        live(conn, &cast, &plan, &mut rng, config)?;
    }
    for (id, n) in stock {
        diesel::update(products::table.find(id)).set(products::stock.eq(n)).execute(conn)?;
    }
    open_orders(conn, &cast, &mut rng, config, now)
}
