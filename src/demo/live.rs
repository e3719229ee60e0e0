//! The demo's live session, made through the real session, order and payment paths: the 2021
//! farmers' harvest festival (中国农民丰收节, 23 September) evening show of 黔西南州, selling 册亨
//! dried shiitake and 普安 red tea at live prices to 惠州 and 宁波 buyers, ended by the worker's
//! own step, so its summary is frozen and its orders count under the channel `live`.

use chrono::Duration;
use diesel::prelude::*;

use super::at;
use super::orders::{ctx_at, first_user};
use crate::config::Config;
use crate::db::DbConn;
use crate::db::schema::{products, users};
use crate::error::AppResult;
use crate::identity::actor::actor_for_user;
use crate::identity::model::OrgRow;
use crate::live::sessions::{self, LiveItemBody, NewSessionBody};
use crate::orders::placing;
use crate::orders::types::{Delivery, LineBody, NewOrder};
use crate::payments::service::{self as payments, OfflinePaymentBody};

/// (buyer, minutes after the start, [(product, quantity)], address, contact, phone)
type LiveBuy = (&'static str, i64, &'static [(&'static str, i64)], &'static str, &'static str, &'static str);

const BUYS: &[LiveBuy] = &[
    (
        "hz_school",
        25,
        &[("册亨干香菇", 120)],
        "广东省惠州市惠城区江北三新南路 惠州市第一中学 食堂",
        "陈主任",
        "0752-2801234",
    ),
    (
        "hz_union",
        40,
        &[("普安红茶 明前特级", 40)],
        "广东省惠州市惠城区江北文明一路 惠州市总工会 福利部",
        "张干事",
        "0752-2122123",
    ),
    (
        "hz_hospital",
        55,
        &[("册亨干香菇", 60), ("普安红茶 明前特级", 20)],
        "广东省惠州市惠城区鹅岭北路41号 惠州市中心人民医院 营养膳食科",
        "李科长",
        "0752-2288888",
    ),
    (
        "nb_jiguan",
        80,
        &[("册亨干香菇", 80), ("普安红茶 明前特级", 30)],
        "浙江省宁波市鄞州区宁穿路 宁波市机关事务管理局 机关食堂",
        "周师傅",
        "0574-89180000",
    ),
];

fn org<'a>(orgs: &'a [(&str, OrgRow)], key: &str) -> AppResult<&'a OrgRow> {
    orgs.iter().find(|(k, _)| *k == key).map(|(_, o)| o).ok_or_else(|| anyhow::anyhow!("demo org {key}").into())
}

pub fn seed_live_2021(conn: &mut DbConn, orgs: &[(&str, OrgRow)], config: &Config) -> AppResult<()> {
    let organiser = first_user(conn, &org(orgs, "qxn")?.id)?;
    let (start, end) = (at(2021, 9, 23, 19)?, at(2021, 9, 23, 21)?);
    let mut ids = std::collections::HashMap::new();
    let mut stocks = Vec::new();
    for name in ["册亨干香菇", "普安红茶 明前特级"] {
        let (id, stock): (String, i64) =
            products::table.filter(products::name.eq(name)).select((products::id, products::stock)).first(conn)?;
        // 2021's stock was restocked many times over; today's is the catalogue's.
        diesel::update(products::table.find(&id)).set(products::stock.eq(stock + 10_000)).execute(conn)?;
        stocks.push((id.clone(), stock));
        ids.insert(name, id);
    }
    let body = NewSessionBody {
        title: "2021年中国农民丰收节 黔西南州消费帮扶直播专场".into(),
        host: "册亨县、普安县分管副县长".into(),
        starts_at: start.and_utc(),
        ends_at: (end + Duration::minutes(30)).and_utc(),
        items: vec![
            LiveItemBody { product_id: ids["册亨干香菇"].clone(), live_price_fen: 5500, stock_cap: Some(400) },
            LiveItemBody {
                product_id: ids["普安红茶 明前特级"].clone(), live_price_fen: 14500, stock_cap: Some(200)
            },
        ],
    };
    let session = sessions::create(conn, &organiser, body, &ctx_at(at(2021, 9, 16, 10)?, config))?;
    let finance_id: String =
        users::table.filter(users::email.eq("finance@demo.dongxi.cn")).select(users::id).first(conn)?;
    let finance = actor_for_user(conn, &finance_id)?.ok_or_else(|| anyhow::anyhow!("demo finance user"))?;
    for (n, (key, minutes, lines, address, contact, phone)) in BUYS.iter().enumerate() {
        let buyer = first_user(conn, &org(orgs, key)?.id)?;
        let order = NewOrder {
            lines: lines.iter().map(|(name, q)| LineBody { product_id: ids[name].clone(), quantity: *q }).collect(),
            delivery: Delivery { address: (*address).into(), contact_name: (*contact).into(), phone: (*phone).into() },
            note: Some("丰收节直播下单".into()),
            live_session_id: Some(session.id.clone()),
        };
        let placed = placing::place(conn, &buyer, order, &ctx_at(start + Duration::minutes(*minutes), config))?;
        let paid = at(2021, 9, 24, 10)? + Duration::minutes(20 * n as i64);
        let payment = OfflinePaymentBody {
            amount_fen: placed.total_fen,
            reference: format!("ICBC{}{:04}", paid.format("%Y%m%d"), 9230 + n),
            paid_at: paid.and_utc(),
        };
        payments::record_offline(conn, &finance, &placed.id, payment, &ctx_at(paid + Duration::hours(1), config))?;
    }
    sessions::advance(conn, end + Duration::minutes(30))?;
    for (id, stock) in stocks {
        diesel::update(products::table.find(&id)).set(products::stock.eq(stock)).execute(conn)?;
    }
    Ok(())
}
