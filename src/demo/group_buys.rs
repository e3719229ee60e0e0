//! Demo group purchases, made through the real campaign, pledge, close and order paths: the
//! 惠州 trade union's 2021 Mid-Autumn welfare round (closed, its orders paid, shipped and
//! accepted, so they count in 2021), and an open winter round of the 惠州 coordination office
//! that still needs a few bags to succeed.

use crate::groupbuy::campaigns;
use crate::groupbuy::close;
use crate::groupbuy::pledges;
use crate::orders::lifecycle;
use crate::orders::listing;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::at;
use super::orders::{ctx_at, first_user};
use crate::config::Config;
use crate::db::DbConn;
use crate::db::schema::{products, users};
use crate::error::AppResult;
use crate::groupbuy::close::Closer;
use crate::groupbuy::types::{CampaignTier, NewCampaign, NewPledge};
use crate::identity::actor::actor_for_user;
use crate::identity::model::OrgRow;
use crate::orders::types::{AcceptBody, Delivery, Shipment};
use crate::payments::service::{self as payments, OfflinePaymentBody};

/// (organisation, quantity, address, contact, phone)
type Pledger = (&'static str, i64, &'static str, &'static str, &'static str);

const MID_AUTUMN_PLEDGES: &[Pledger] = &[
    ("hz_union", 50, "广东省惠州市惠城区江北文明一路 惠州市总工会 福利部", "张干事", "0752-2122123"),
    ("hz_edu", 60, "广东省惠州市惠城区江北云山西路 惠州市教育局 工会", "黄会计", "0752-2809000"),
    ("hz_school", 80, "广东省惠州市惠城区江北三新南路 惠州市第一中学 工会", "陈主任", "0752-2801234"),
    ("hz_hospital", 70, "广东省惠州市惠城区鹅岭北路41号 惠州市中心人民医院 工会", "李科长", "0752-2288888"),
];

const WINTER_PLEDGES: &[Pledger] = &[
    ("hz_school", 120, "广东省惠州市惠城区江北三新南路 惠州市第一中学 食堂", "陈主任", "0752-2801234"),
    ("hz_hospital", 60, "广东省惠州市惠城区鹅岭北路41号 惠州市中心人民医院 营养膳食科", "李科长", "0752-2288888"),
];

fn org<'a>(orgs: &'a [(&str, OrgRow)], key: &str) -> AppResult<&'a OrgRow> {
    orgs.iter().find(|(k, _)| *k == key).map(|(_, o)| o).ok_or_else(|| anyhow::anyhow!("demo org {key}").into())
}

fn product(conn: &mut DbConn, name: &str) -> AppResult<(String, i64)> {
    Ok(products::table.filter(products::name.eq(name)).select((products::id, products::stock)).first(conn)?)
}

fn tiers(tiers: &[(i64, i64)]) -> Vec<CampaignTier> {
    tiers
        .iter()
        .map(|(min_qty, unit_price_fen)| CampaignTier { min_qty: *min_qty, unit_price_fen: *unit_price_fen })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn pledge_all(
    conn: &mut DbConn,
    orgs: &[(&str, OrgRow)],
    campaign: &str,
    pledgers: &[Pledger],
    from: NaiveDateTime,
    config: &Config,
) -> AppResult<()> {
    for (n, (key, quantity, address, contact, phone)) in pledgers.iter().enumerate() {
        let actor = first_user(conn, &org(orgs, key)?.id)?;
        let pledge = NewPledge {
            quantity: *quantity,
            delivery: Delivery { address: (*address).into(), contact_name: (*contact).into(), phone: (*phone).into() },
            note: None,
        };
        pledges::pledge(conn, &actor, campaign, pledge, &ctx_at(from + Duration::hours(20 * n as i64 + 2), config))?;
    }
    Ok(())
}

/// The union's Mid-Autumn round of 2021: 260 gift boxes of 普安红 reach the ¥238 tier; each
/// pledge's order is paid by bank transfer, shipped and accepted before the festival.
fn mid_autumn_2021(conn: &mut DbConn, orgs: &[(&str, OrgRow)], config: &Config) -> AppResult<()> {
    let union = first_user(conn, &org(orgs, "hz_union")?.id)?;
    let (product_id, stock) = product(conn, "普安红 金芽礼盒")?;
    // 2021's stock was restocked many times over; today's is the catalogue's.
    diesel::update(products::table.find(&product_id)).set(products::stock.eq(stock + 10_000)).execute(conn)?;
    let (opens, closes) = (at(2021, 8, 23, 9)?, at(2021, 9, 6, 18)?);
    let campaign = NewCampaign {
        title: "2021年中秋工会福利 普安红金芽礼盒团购".into(),
        description: "市总工会统一组织，各单位工会按职工人数认购；总量越大单价越低，所有单位同享成交价。".into(),
        product_id: product_id.clone(),
        tiers: tiers(&[(1, 25800), (100, 24800), (200, 23800)]),
        min_total_qty: 100,
        max_total_qty: 400,
        min_pledge_qty: 10,
        opens_at: opens,
        closes_at: closes,
        eligible_region_code: "441300".into(),
    };
    let created = campaigns::create(conn, &union, campaign, &ctx_at(opens - Duration::days(3), config))?;
    pledge_all(conn, orgs, &created.id, MID_AUTUMN_PLEDGES, opens, config)?;
    close::close(conn, &created.id, Closer::Worker, &ctx_at(closes + Duration::seconds(1), config))?;

    let finance_id: String =
        users::table.filter(users::email.eq("finance@demo.dongxi.cn")).select(users::id).first(conn)?;
    let finance = actor_for_user(conn, &finance_id)?.ok_or_else(|| anyhow::anyhow!("demo finance user"))?;
    let producer = first_user(conn, &org(orgs, "puan_tea")?.id)?;
    let placed = crate::orders::model::list_visible(
        conn,
        &finance,
        crate::orders::model::OrderFilter { group_buy_id: Some(created.id.clone()), ..Default::default() },
        100,
    )?;
    for (n, order) in placed.into_iter().enumerate() {
        let buyer = actor_for_user(conn, &order.buyer_user_id)?.ok_or_else(|| anyhow::anyhow!("demo buyer"))?;
        let paid = closes + Duration::hours(40 + 3 * n as i64);
        let body = OfflinePaymentBody {
            amount_fen: order.total_fen,
            reference: format!("ICBC{}{:04}", paid.format("%Y%m%d"), 8100 + n),
            paid_at: paid.and_utc(),
        };
        payments::record_offline(conn, &finance, &order.id, body, &ctx_at(paid + Duration::hours(1), config))?;
        let view = listing::get(conn, &finance, &order.id)?;
        let sub = &view.sub_orders[0];
        let shipped = paid + Duration::days(2);
        let shipment = Shipment {
            carrier: "顺丰速运".into(),
            tracking_no: format!("SF{}", 1_402_108_800 + n),
            invoice_no: Some(format!("{:08}", 44_210_900 + n)),
        };
        lifecycle::ship(conn, &producer, &sub.id, shipment, &ctx_at(shipped, config))?;
        let note = Some("礼盒完好，数量无误".to_owned());
        lifecycle::accept(conn, &buyer, &sub.id, AcceptBody { note }, &ctx_at(shipped + Duration::days(3), config))?;
    }
    diesel::update(products::table.find(&product_id)).set(products::stock.eq(stock)).execute(conn)?;
    Ok(())
}

/// The coordination office's winter round, open now: 180 of the 200 bags it needs are pledged.
fn winter_round(conn: &mut DbConn, orgs: &[(&str, OrgRow)], config: &Config, now: NaiveDateTime) -> AppResult<()> {
    let office = first_user(conn, &org(orgs, "huizhou")?.id)?;
    let (product_id, _) = product(conn, "册亨干香菇")?;
    let opens = now - Duration::days(3);
    let campaign = NewCampaign {
        title: "惠州市冬季消费帮扶集中采购 册亨干香菇".into(),
        description: "下半年集中采购：市直机关、学校、医院食堂联合认购黔西南州册亨县椴木干香菇，成团后各单位分别下单、付款、验收。"
            .into(),
        product_id,
        tiers: tiers(&[(1, 6500), (200, 6000), (400, 5500)]),
        min_total_qty: 200,
        max_total_qty: 800,
        min_pledge_qty: 20,
        opens_at: opens,
        closes_at: now + Duration::days(11),
        eligible_region_code: "441300".into(),
    };
    let created = campaigns::create(conn, &office, campaign, &ctx_at(opens, config))?;
    pledge_all(conn, orgs, &created.id, WINTER_PLEDGES, opens, config)
}

pub fn seed_group_buys(
    conn: &mut DbConn,
    orgs: &[(&str, OrgRow)],
    config: &Config,
    now: NaiveDateTime,
) -> AppResult<()> {
    mid_autumn_2021(conn, orgs, config)?;
    winter_round(conn, orgs, config, now)
}
