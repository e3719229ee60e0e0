//! The demo catalogue: goods of the seed regions, certified in December 2020 (the reviewer is the
//! coordinator over the origin), a few still pending review.

use crate::catalog::types::Storage;
use crate::db::DbConn;
use crate::error::AppResult;
use crate::identity::model::OrgRow;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cert {
    Certified,
    Pending,
    /// Certified once, lapsed on 2026-06-30.
    Expired,
    Draft,
}

/// (producer, origin, name, category, unit, spec, net g, price fen, tiers, stock, storage, shelf days, certification, description)
type DemoProduct = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    i64,
    &'static [(i64, i64)],
    i64,
    Storage,
    i64,
    Cert,
    &'static str,
);

#[rustfmt::skip]
const PRODUCTS: &[DemoProduct] = &[
    ("puan_tea", "522323", "普安红茶 明前特级", "tea", "罐", "250g/罐", 250, 16800, &[(10, 15800), (50, 14800)], 800, Storage::Ambient, 540, Cert::Certified, "普安县海拔1400米茶园明前采摘，工夫红茶工艺，汤色红亮，蜜香持久。"),
    ("puan_tea", "522323", "普安红 金芽礼盒", "tea", "盒", "500g/盒", 500, 26800, &[(20, 24800)], 300, Storage::Ambient, 540, Cert::Certified, "单芽制作，节日福利礼盒装。"),
    ("puan_tea", "522323", "普安四球古树茶", "tea", "罐", "100g/罐", 100, 9800, &[], 200, Storage::Ambient, 720, Cert::Certified, "四球古茶树鲜叶制作，产量稀少。"),
    ("puan_tea", "522323", "普安高山绿茶 炒青", "tea", "袋", "500g/袋", 500, 7800, &[(20, 7200)], 600, Storage::Ambient, 360, Cert::Pending, "高山云雾炒青绿茶，机关食堂常备。"),
    ("qinglong_tea", "522324", "晴隆绿茶 明前毛峰", "tea", "罐", "250g/罐", 250, 12800, &[(10, 11800)], 500, Storage::Ambient, 360, Cert::Certified, "晴隆县高山茶区明前毛峰，栗香浓郁。"),
    ("qinglong_tea", "522324", "晴隆翠芽", "tea", "罐", "100g/罐", 100, 6800, &[], 400, Storage::Ambient, 360, Cert::Certified, "扁平挺直，嫩绿显毫。"),
    ("qinglong_tea", "522324", "晴隆高山红茶", "tea", "罐", "250g/罐", 250, 9800, &[(10, 9200)], 350, Storage::Ambient, 540, Cert::Certified, "高山红茶，口感醇和。"),
    ("qinglong_tea", "522324", "晴隆高山土豆", "vegetables", "箱", "5kg/箱", 5000, 2800, &[(50, 2500)], 2000, Storage::Ambient, 30, Cert::Certified, "高海拔沙壤土种植，粉糯可口，食堂用量大。"),
    ("ceheng_fungi", "522327", "册亨干香菇", "edible_fungi", "袋", "500g/袋", 500, 6800, &[(20, 6200), (100, 5800)], 1200, Storage::Ambient, 365, Cert::Certified, "椴木栽培干香菇，肉厚柄短。"),
    ("ceheng_fungi", "522327", "册亨花菇", "edible_fungi", "袋", "250g/袋", 250, 5800, &[(20, 5400)], 600, Storage::Ambient, 365, Cert::Certified, "冬季低温出菇，菌盖花纹明显。"),
    ("ceheng_fungi", "522327", "黔西南黑木耳", "edible_fungi", "袋", "250g/袋", 250, 3900, &[(20, 3600)], 900, Storage::Ambient, 540, Cert::Certified, "秋木耳，泡发率高。"),
    ("ceheng_fungi", "522327", "茶树菇 干品", "edible_fungi", "袋", "250g/袋", 250, 3500, &[(20, 3200)], 700, Storage::Ambient, 365, Cert::Certified, "茶树菇干品，煲汤佳品。"),
    ("ceheng_fungi", "522327", "册亨鲜香菇", "edible_fungi", "箱", "5kg/箱", 5000, 12000, &[(10, 11000)], 150, Storage::Chilled, 7, Cert::Certified, "冷链直发，适合食堂批量采购。"),
    ("ceheng_fungi", "522327", "册亨糯米", "grain_oil", "袋", "5kg/袋", 5000, 6500, &[(20, 6000)], 800, Storage::Ambient, 365, Cert::Certified, "布依族传统糯米，适合包粽子。"),
    ("anlong_fungi", "522328", "安龙香菇 干品", "edible_fungi", "袋", "500g/袋", 500, 7200, &[(20, 6600)], 1000, Storage::Ambient, 365, Cert::Certified, "安龙县食用菌产业园出品。"),
    ("anlong_fungi", "522328", "安龙黄金耳", "edible_fungi", "盒", "100g/盒", 100, 4800, &[], 300, Storage::Ambient, 540, Cert::Certified, "金耳干品，胶质丰富。"),
    ("anlong_fungi", "522328", "安龙白芨", "herbs", "袋", "500g/袋", 500, 16800, &[(10, 15800)], 200, Storage::Ambient, 720, Cert::Certified, "林下种植白芨，切片晒干。"),
    ("xingren_yiren", "522302", "兴仁薏仁米", "grain_oil", "袋", "2.5kg/袋", 2500, 5800, &[(20, 5400), (100, 5000)], 3000, Storage::Ambient, 365, Cert::Certified, "中国薏仁米之乡，颗粒饱满。"),
    ("xingren_yiren", "522302", "兴仁薏仁米 礼盒", "grain_oil", "盒", "500g×4/盒", 2000, 8800, &[(20, 8200)], 800, Storage::Ambient, 365, Cert::Certified, "四小袋独立包装，适合工会福利。"),
    ("xingren_yiren", "522302", "薏仁粉", "specialty_food", "罐", "500g/罐", 500, 4500, &[], 600, Storage::Ambient, 365, Cert::Certified, "低温烘焙研磨，冲调即食。"),
    ("xingyi_cili", "522301", "贵州刺梨原汁", "specialty_food", "箱", "250ml×12瓶/箱", 3000, 9600, &[(20, 8800)], 900, Storage::Ambient, 540, Cert::Certified, "刺梨鲜果压榨，维生素C含量高。"),
    ("xingyi_cili", "522301", "刺梨干", "specialty_food", "袋", "200g/袋", 200, 3200, &[(50, 2900)], 800, Storage::Ambient, 365, Cert::Certified, "刺梨切片烘干，酸甜可口。"),
    ("xingyi_cili", "522301", "刺梨果脯", "specialty_food", "袋", "500g/袋", 500, 3800, &[], 500, Storage::Ambient, 365, Cert::Pending, "传统工艺果脯。"),
    ("xingyi_cili", "522301", "布依族手工刺绣香包", "handicraft", "个", "约10cm", 50, 6800, &[], 100, Storage::Ambient, 3650, Cert::Draft, "布依族绣娘手工制作。"),
    ("zhenfeng_pepper", "522325", "顶坛花椒", "specialty_food", "袋", "250g/袋", 250, 5800, &[(20, 5200)], 700, Storage::Ambient, 540, Cert::Certified, "石漠化治理区种植的顶坛青花椒，麻香浓烈。"),
    ("zhenfeng_pepper", "522325", "贞丰糯米粽", "specialty_food", "箱", "10只/箱", 2000, 6800, &[(20, 6200)], 0, Storage::Frozen, 180, Cert::Expired, "灰粽，端午节福利。"),
    ("zhenfeng_pepper", "522325", "贞丰干辣椒", "vegetables", "袋", "500g/袋", 500, 3200, &[(20, 2900)], 600, Storage::Ambient, 365, Cert::Pending, "朝天椒晒干，香辣适中。"),
    ("wangmo_fruit", "522326", "望谟板栗", "fruit", "箱", "2.5kg/箱", 2500, 4800, &[(20, 4400)], 500, Storage::Ambient, 60, Cert::Certified, "油栗品种，粉糯香甜。"),
    ("wangmo_fruit", "522326", "望谟芒果", "fruit", "箱", "5kg/箱", 5000, 8800, &[(20, 8200)], 300, Storage::Chilled, 10, Cert::Certified, "南盘江河谷晚熟芒果。"),
    ("wushi_walnut", "652927", "乌什薄皮核桃", "fruit", "袋", "1kg/袋", 1000, 3800, &[(20, 3500), (100, 3200)], 2000, Storage::Ambient, 365, Cert::Certified, "阿克苏乌什县温185薄皮核桃，手捏即开。"),
    ("wushi_walnut", "652927", "乌什核桃仁", "fruit", "袋", "500g/袋", 500, 4600, &[(20, 4200)], 1000, Storage::Ambient, 270, Cert::Certified, "精选核桃仁，真空包装。"),
    ("wushi_rice", "652927", "乌什大米", "grain_oil", "袋", "5kg/袋", 5000, 6800, &[(20, 6200), (100, 5800)], 3000, Storage::Ambient, 365, Cert::Certified, "托什干河灌溉的乌什稻米。"),
    ("wushi_rice", "652927", "乌什大米 10kg装", "grain_oil", "袋", "10kg/袋", 10000, 12800, &[(20, 11800)], 1500, Storage::Ambient, 365, Cert::Certified, "食堂装。"),
    ("tuan4_dates", "652900-BT1-4", "四团骏枣", "fruit", "袋", "1kg/袋", 1000, 3600, &[(20, 3300)], 1200, Storage::Ambient, 365, Cert::Certified, "兵团一师四团骏枣，个大肉厚。"),
    ("pingwu_tea", "510727", "平武绿茶 雀舌", "tea", "罐", "250g/罐", 250, 12800, &[(10, 11800)], 400, Storage::Ambient, 360, Cert::Certified, "平武高山雀舌，有机认证茶园。"),
    ("pingwu_tea", "510727", "平武中蜂蜜", "specialty_food", "瓶", "500g/瓶", 500, 9800, &[(20, 8800)], 600, Storage::Ambient, 720, Cert::Certified, "中华蜜蜂百花蜜，一年一取。"),
    ("pingwu_tea", "510727", "平武天麻", "herbs", "袋", "250g/袋", 250, 8800, &[], 300, Storage::Ambient, 720, Cert::Certified, "林下仿野生天麻。"),
    ("jiulong_pepper", "513324", "九龙花椒 大红袍", "specialty_food", "袋", "250g/袋", 250, 6800, &[(20, 6200)], 800, Storage::Ambient, 540, Cert::Certified, "甘孜九龙县高山大红袍花椒。"),
    ("jiulong_pepper", "513324", "九龙黄芪", "herbs", "袋", "500g/袋", 500, 5800, &[(10, 5400)], 500, Storage::Ambient, 720, Cert::Certified, "高原黄芪切片。"),
    ("jiulong_pepper", "513324", "九龙牦牛肉干", "meat_eggs", "袋", "250g/袋", 250, 8800, &[(20, 8200)], 600, Storage::Ambient, 270, Cert::Certified, "高原牦牛肉风干。"),
    ("yanhe_plum", "520627", "沙子空心李", "fruit", "箱", "2.5kg/箱", 2500, 6800, &[(20, 6200)], 400, Storage::Chilled, 10, Cert::Certified, "沿河沙子镇空心李，脆甜离核。"),
    ("yanhe_plum", "520627", "沿河土鸡", "meat_eggs", "只", "约1.5kg/只", 1500, 12800, &[(20, 11800)], 300, Storage::Frozen, 180, Cert::Certified, "林下散养土鸡，冷冻发货。"),
    ("yanhe_plum", "520627", "沿河土鸡蛋", "meat_eggs", "箱", "30枚/箱", 1500, 5400, &[(20, 4900)], 500, Storage::Chilled, 30, Cert::Certified, "散养土鸡蛋。"),
    ("yanhe_plum", "520627", "沿河白茶", "tea", "罐", "100g/罐", 100, 8800, &[], 300, Storage::Ambient, 720, Cert::Certified, "乌江沿岸白茶。"),
];

/// Products with their certification history: approved requests and events for the certified
/// (applied for on 1 December 2020, decided on the 10th by the coordinator over the origin), open
/// requests for the pending (applied for a week ago), and a fresh draft.
pub fn seed_products(conn: &mut DbConn, orgs: &[(&str, OrgRow)], now: chrono::NaiveDateTime) -> AppResult<()> {
    use diesel::prelude::*;

    use crate::catalog::model::{self as product_model, EventRow, RequestRow};
    use crate::catalog::service::{new_row, validate_fields};
    use crate::catalog::types::{ProductFields, Tier};
    use crate::db::schema::{certification_events, certification_requests, users};

    let org = |key: &str| {
        orgs.iter().find(|(k, _)| *k == key).map(|(_, o)| o.clone()).ok_or_else(|| anyhow::anyhow!("demo org {key}"))
    };
    let first_user = |conn: &mut DbConn, org_id: &str| -> AppResult<String> {
        Ok(users::table.filter(users::org_id.eq(org_id)).select(users::id).order(users::id.asc()).first(conn)?)
    };
    let reviewer_org = |origin: &str| if origin.starts_with("5223") { "qxn" } else { "platform" };
    let valid_until = chrono::NaiveDate::from_ymd_opt(2027, 12, 31).ok_or_else(|| anyhow::anyhow!("date"))?;
    let lapsed = chrono::NaiveDate::from_ymd_opt(2026, 6, 30).ok_or_else(|| anyhow::anyhow!("date"))?;
    let applied = super::at(2020, 12, 1, 10)?;
    let approved = super::at(2020, 12, 10, 15)?;
    for (
        n,
        (producer, origin, name, category, unit, spec, net_g, price, tiers, stock, storage, shelf, cert, description),
    ) in PRODUCTS.iter().enumerate()
    {
        let producer = org(producer)?;
        let mut fields = ProductFields {
            name: (*name).into(),
            category: (*category).into(),
            description: (*description).into(),
            origin_region_code: (*origin).into(),
            unit: (*unit).into(),
            spec: (*spec).into(),
            net_weight_g: Some(*net_g),
            price_fen: *price,
            tiers: tiers.iter().map(|(q, p)| Tier { min_qty: *q, price_fen: *p }).collect(),
            min_order_qty: 1,
            stock: *stock,
            storage: *storage,
            shelf_life_days: Some(*shelf),
            images: vec![format!("https://img.dongxi.example/demo/{}.jpg", n + 1)],
        };
        let path = validate_fields(conn, &mut fields)?;
        let (created, submitted, decided_at) = match cert {
            Cert::Certified | Cert::Expired => (applied, applied, approved),
            Cert::Pending => (now - chrono::Duration::days(10), now - chrono::Duration::days(7), now),
            Cert::Draft => (now - chrono::Duration::days(3), now, now),
        };
        let mut row = new_row(&producer.id, fields, path, created);
        row.updated_at = decided_at.min(now);
        let submitter = first_user(conn, &producer.id)?;
        let reviewer = org(reviewer_org(origin))?;
        let decider = first_user(conn, &reviewer.id)?;
        let request_id = crate::ids::new_id("crq");
        let (status, until) = match cert {
            Cert::Certified => ("approved", Some(valid_until)),
            Cert::Expired => ("approved", Some(lapsed)),
            Cert::Pending => ("pending", None),
            Cert::Draft => ("none", None),
        };
        if *cert != Cert::Draft {
            let certificate_no = until.map(|_| format!("DX-{origin}-2020-{:06}", n + 1));
            if let Some(until) = until {
                row.cert_status = "certified".into();
                row.certificate_no = certificate_no.clone();
                row.cert_valid_until = Some(until);
                row.status = "listed".into();
            } else {
                row.cert_status = "pending".into();
            }
            product_model::insert(conn, &row)?;
            let decided = status == "approved";
            diesel::insert_into(certification_requests::table)
                .values(&RequestRow {
                    id: request_id.clone(),
                    product_id: row.id.clone(),
                    status: status.into(),
                    benefit_mechanism: "合作社吸纳脱贫户务工，按保底价收购脱贫户鲜叶/鲜品，年底按交易量二次分红。".into(),
                    documents: serde_json::json!([{"kind": "检测报告", "name": format!("{name} 质量检测报告"), "url": format!("https://files.dongxi.example/demo/report-{}.pdf", n + 1)}]).to_string(),
                    submitted_by: submitter.clone(),
                    submitted_at: submitted,
                    decided_by: decided.then(|| decider.clone()),
                    decided_at: decided.then_some(decided_at),
                    decision_reason: None,
                    certificate_no: certificate_no.clone(),
                    valid_until: until,
                })
                .execute(conn)?;
            let mut events = vec![(
                "requested",
                submitted,
                Some(submitter.clone()),
                Some(producer.id.clone()),
                serde_json::json!({}),
            )];
            if decided {
                events.push((
                    "approved",
                    decided_at,
                    Some(decider.clone()),
                    Some(reviewer.id.clone()),
                    serde_json::json!({"certificate_no": certificate_no, "valid_until": until}),
                ));
            }
            for (action, at, user, org_id, details) in events {
                diesel::insert_into(certification_events::table)
                    .values(&EventRow {
                        id: crate::ids::new_id("cev"),
                        product_id: row.id.clone(),
                        request_id: Some(request_id.clone()),
                        action: action.into(),
                        actor_user_id: user,
                        actor_org_id: org_id,
                        reason: None,
                        details: details.to_string(),
                        at,
                    })
                    .execute(conn)?;
            }
        } else {
            product_model::insert(conn, &row)?;
        }
        crate::catalog::service::reindex(conn, &row.id, now)?;
    }
    Ok(())
}

/// A demo producer's first user as an actor, and its product of that name.
fn producer_and_product(
    conn: &mut DbConn,
    orgs: &[(&str, OrgRow)],
    producer: &str,
    name: &str,
) -> AppResult<(crate::identity::Actor, String)> {
    use diesel::prelude::*;

    use crate::db::schema::{products, users};
    use crate::identity::actor::actor_for_user;

    let org = orgs
        .iter()
        .find(|(k, _)| *k == producer)
        .map(|(_, o)| o)
        .ok_or_else(|| anyhow::anyhow!("demo org {producer}"))?;
    let product: String = products::table
        .filter(products::producer_id.eq(&org.id))
        .filter(products::name.eq(name))
        .select(products::id)
        .first(conn)?;
    let user: String =
        users::table.filter(users::org_id.eq(&org.id)).select(users::id).order(users::id.asc()).first(conn)?;
    let actor = actor_for_user(conn, &user)?.ok_or_else(|| anyhow::anyhow!("demo user {user}"))?;
    Ok((actor, product))
}

/// (producer, product name, batch number, produced on (year, month, day), quantity)
type DemoBatch = (&'static str, &'static str, &'static str, (i32, u32, u32), i64);

const BATCHES: &[DemoBatch] = &[
    ("puan_tea", "普安红茶 明前特级", "PA-HC-20210328", (2021, 3, 28), 1200),
    ("puan_tea", "普安红茶 明前特级", "PA-HC-20210412", (2021, 4, 12), 900),
    ("puan_tea", "普安红 金芽礼盒", "PA-JY-20210406", (2021, 4, 6), 400),
    ("ceheng_fungi", "册亨干香菇", "CH-XG-20210515", (2021, 5, 15), 3000),
];

/// Batches of the spring 2021 harvest, registered through the batch service, so the producer's
/// product pages show trace codes and the public trace page has something to open.
pub fn seed_batches(conn: &mut DbConn, orgs: &[(&str, OrgRow)], now: chrono::NaiveDateTime) -> AppResult<()> {
    use crate::catalog::trace::{self, NewBatchBody};
    for (producer, name, batch_no, (y, m, d), quantity) in BATCHES {
        let (actor, product) = producer_and_product(conn, orgs, producer, name)?;
        let produced_on = chrono::NaiveDate::from_ymd_opt(*y, *m, *d).ok_or_else(|| anyhow::anyhow!("date"))?;
        let body = NewBatchBody {
            batch_no: (*batch_no).into(),
            produced_on,
            quantity: *quantity,
            inspection_report_url: Some(format!("https://docs.dongxi.example/demo/inspection/{batch_no}.pdf")),
        };
        trace::create(conn, &actor, &product, body, now, now.date())?;
    }
    Ok(())
}

/// (producer, product name, kind, issuer, certificate number, valid from, valid until)
type DemoLabel =
    (&'static str, &'static str, &'static str, &'static str, &'static str, (i32, u32, u32), (i32, u32, u32));

#[rustfmt::skip]
const LABELS: &[DemoLabel] = &[
    ("puan_tea", "普安红茶 明前特级", "geo_indication", "农业农村部", "AGI2019-02-2556", (2019, 8, 1), (2029, 7, 31)),
    ("puan_tea", "普安红茶 明前特级", "green_food", "中国绿色食品发展中心", "LB-35-20120532004A", (2020, 12, 1), (2023, 11, 30)),
    ("ceheng_fungi", "册亨干香菇", "green_food", "中国绿色食品发展中心", "LB-18-21031200117A", (2021, 3, 1), (2027, 2, 28)),
];

/// Quality labels of the notices' goods (普安红's geographical indication, green-food marks),
/// added through the label service; the tea's green-food mark has lapsed, as one does.
pub fn seed_labels(conn: &mut DbConn, orgs: &[(&str, OrgRow)], now: chrono::NaiveDateTime) -> AppResult<()> {
    use crate::catalog::labels::{self, NewLabelBody};

    let date =
        |(y, m, d): (i32, u32, u32)| chrono::NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| anyhow::anyhow!("date"));
    for (producer, name, kind, issuer, certificate_no, from, until) in LABELS {
        let (actor, product) = producer_and_product(conn, orgs, producer, name)?;
        let body = NewLabelBody {
            kind: (*kind).into(),
            issuer: (*issuer).into(),
            certificate_no: (*certificate_no).into(),
            valid_from: date(*from)?,
            valid_until: date(*until)?,
            document_url: Some(format!("https://docs.dongxi.example/demo/labels/{certificate_no}.pdf")),
        };
        labels::add(conn, &actor, &product, body, now, now.date())?;
    }
    Ok(())
}
