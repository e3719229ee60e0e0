//! Demo data from the seed notices (../shared/seeds): the east–west pairings' places, offices,
//! buyers and producers (here), their goods (`catalog`), pairings, targets and filings
//! (`accounting`), a year of their orders (`orders`) and group purchases (`group_buys`), and
//! that year settled and paid to the producers (`settlement`).

mod accounting;
mod catalog;
mod group_buys;
mod live;
mod orders;
mod settlement;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::clock::Clock;
use crate::config::Config;
use crate::db::{self, DbConn};
use crate::error::AppResult;
use crate::identity::model::OrgRow;
use crate::identity::service::{NewUser, create_org_unchecked, create_user_unchecked};
use crate::identity::types::{Email, OrgKind, Password, Role};
use crate::regions::model as region_model;
use crate::worker::job::Topic;
use crate::worker::payloads::Notice;

pub const DEMO_PASSWORD: &str = "dongxi-demo-2021";
const DEMO_META_KEY: &str = "demo_seeded";

/// Recipient regions in the seeds: 黔西南州 (Ningbo, then Huizhou), 乌什县 (Quzhou), 平武县 (Quzhou Qujiang),
/// 九龙县 (Chengdu Qingbaijiang), 沿河县 (Zhangjiagang).
pub const ASSISTED_REGIONS: [&str; 5] = ["522300", "652927", "510727", "513324", "520627"];

/// Units without a national code: the corps regiment paired with Quzhou.
const UNITS: [(&str, &str, &str, &str); 1] = [("652900-BT1-4", "新疆生产建设兵团第一师四团", "652900", "unit")];

struct DemoOrg {
    key: &'static str,
    name: &'static str,
    kind: OrgKind,
    region: &'static str,
    parent: Option<&'static str>,
    /// (email, name, role)
    users: &'static [(&'static str, &'static str, Role)],
}

const ORGS: &[DemoOrg] = &[
    DemoOrg {
        key: "platform",
        name: "东西平台运营中心",
        kind: OrgKind::Platform,
        region: "110000",
        parent: None,
        users: &[
            ("admin@demo.dongxi.cn", "平台管理员", Role::Admin),
            ("finance@demo.dongxi.cn", "平台财务", Role::Admin),
        ],
    },
    DemoOrg {
        key: "qxn",
        name: "黔西南州乡村振兴局",
        kind: OrgKind::Coordinator,
        region: "522300",
        parent: None,
        users: &[("qxn@demo.dongxi.cn", "黔西南州协作科", Role::Admin)],
    },
    DemoOrg {
        key: "huizhou",
        name: "惠州市东西部协作工作领导小组办公室",
        kind: OrgKind::Coordinator,
        region: "441300",
        parent: None,
        users: &[("huizhou@demo.dongxi.cn", "惠州市协作办", Role::Admin)],
    },
    DemoOrg {
        key: "ningbo",
        name: "宁波市对口支援和区域合作局",
        kind: OrgKind::Coordinator,
        region: "330200",
        parent: None,
        users: &[("ningbo@demo.dongxi.cn", "宁波市合作局", Role::Admin)],
    },
    DemoOrg {
        key: "quzhou",
        name: "衢州市对口支援工作领导小组办公室",
        kind: OrgKind::Coordinator,
        region: "330800",
        parent: None,
        users: &[("quzhou@demo.dongxi.cn", "衢州市援疆办", Role::Admin)],
    },
    DemoOrg {
        key: "hz_edu",
        name: "惠州市教育局",
        kind: OrgKind::Agency,
        region: "441300",
        parent: None,
        users: &[("edu.hz@demo.dongxi.cn", "惠州市教育局财务科", Role::Admin)],
    },
    DemoOrg {
        key: "hz_school",
        name: "惠州市第一中学",
        kind: OrgKind::Agency,
        region: "441302",
        parent: Some("hz_edu"),
        users: &[
            ("school.hz@demo.dongxi.cn", "惠州一中总务处", Role::Admin),
            ("canteen.hz@demo.dongxi.cn", "惠州一中食堂", Role::Member),
        ],
    },
    DemoOrg {
        key: "hz_school8",
        name: "惠州市第八中学",
        kind: OrgKind::Agency,
        region: "441302",
        parent: Some("hz_edu"),
        users: &[("school8.hz@demo.dongxi.cn", "惠州八中总务处", Role::Admin)],
    },
    DemoOrg {
        key: "hz_huiyang",
        name: "惠州市惠阳高级中学",
        kind: OrgKind::Agency,
        region: "441303",
        parent: Some("hz_edu"),
        users: &[("huiyang.hz@demo.dongxi.cn", "惠阳高级中学总务处", Role::Admin)],
    },
    DemoOrg {
        key: "hz_hospital",
        name: "惠州市中心人民医院",
        kind: OrgKind::Agency,
        region: "441302",
        parent: None,
        users: &[("hospital.hz@demo.dongxi.cn", "惠州市中心人民医院后勤部", Role::Admin)],
    },
    DemoOrg {
        key: "hz_union",
        name: "惠州市总工会",
        kind: OrgKind::Agency,
        region: "441300",
        parent: None,
        users: &[("union.hz@demo.dongxi.cn", "惠州市总工会福利部", Role::Admin)],
    },
    DemoOrg {
        key: "nb_jiguan",
        name: "宁波市机关事务管理局",
        kind: OrgKind::Agency,
        region: "330200",
        parent: None,
        users: &[("jiguan.nb@demo.dongxi.cn", "宁波市机关食堂", Role::Admin)],
    },
    DemoOrg {
        key: "nb_hospital",
        name: "宁波市鄞州区人民医院",
        kind: OrgKind::Agency,
        region: "330212",
        parent: None,
        users: &[("hospital.nb@demo.dongxi.cn", "鄞州区人民医院后勤科", Role::Admin)],
    },
    DemoOrg {
        key: "qz_jiguan",
        name: "衢州市机关事务服务中心",
        kind: OrgKind::Agency,
        region: "330800",
        parent: None,
        users: &[("jiguan.qz@demo.dongxi.cn", "衢州市机关食堂", Role::Admin)],
    },
    DemoOrg {
        key: "zjg_union",
        name: "张家港市总工会",
        kind: OrgKind::Agency,
        region: "320582",
        parent: None,
        users: &[("union.zjg@demo.dongxi.cn", "张家港市总工会", Role::Admin)],
    },
    DemoOrg {
        key: "puan_tea",
        name: "普安县茶源茶叶专业合作社",
        kind: OrgKind::Producer,
        region: "522323",
        parent: None,
        users: &[("tea.puan@demo.dongxi.cn", "普安茶源合作社", Role::Admin)],
    },
    DemoOrg {
        key: "qinglong_tea",
        name: "晴隆县碧痕茶业有限公司",
        kind: OrgKind::Producer,
        region: "522324",
        parent: None,
        users: &[("tea.qinglong@demo.dongxi.cn", "晴隆碧痕茶业", Role::Admin)],
    },
    DemoOrg {
        key: "ceheng_fungi",
        name: "册亨县食用菌产业专业合作社",
        kind: OrgKind::Producer,
        region: "522327",
        parent: None,
        users: &[("fungi.ceheng@demo.dongxi.cn", "册亨食用菌合作社", Role::Admin)],
    },
    DemoOrg {
        key: "xingren_yiren",
        name: "兴仁市薏仁米产业发展有限公司",
        kind: OrgKind::Producer,
        region: "522302",
        parent: None,
        users: &[("yiren.xingren@demo.dongxi.cn", "兴仁薏仁米公司", Role::Admin)],
    },
    DemoOrg {
        key: "wushi_walnut",
        name: "乌什县核桃专业合作社",
        kind: OrgKind::Producer,
        region: "652927",
        parent: None,
        users: &[("walnut.wushi@demo.dongxi.cn", "乌什核桃合作社", Role::Admin)],
    },
    DemoOrg {
        key: "pingwu_tea",
        name: "平武县高山茶业专业合作社",
        kind: OrgKind::Producer,
        region: "510727",
        parent: None,
        users: &[("tea.pingwu@demo.dongxi.cn", "平武高山茶业", Role::Admin)],
    },
    DemoOrg {
        key: "jiulong_pepper",
        name: "九龙县花椒种植专业合作社",
        kind: OrgKind::Producer,
        region: "513324",
        parent: None,
        users: &[("pepper.jiulong@demo.dongxi.cn", "九龙花椒合作社", Role::Admin)],
    },
    DemoOrg {
        key: "yanhe_plum",
        name: "沿河土家族自治县空心李专业合作社",
        kind: OrgKind::Producer,
        region: "520627",
        parent: None,
        users: &[("plum.yanhe@demo.dongxi.cn", "沿河空心李合作社", Role::Admin)],
    },
    DemoOrg {
        key: "anlong_fungi",
        name: "安龙县食用菌产业发展有限公司",
        kind: OrgKind::Producer,
        region: "522328",
        parent: None,
        users: &[("fungi.anlong@demo.dongxi.cn", "安龙食用菌公司", Role::Admin)],
    },
    DemoOrg {
        key: "xingyi_cili",
        name: "兴义市刺梨产业有限公司",
        kind: OrgKind::Producer,
        region: "522301",
        parent: None,
        users: &[("cili.xingyi@demo.dongxi.cn", "兴义刺梨公司", Role::Admin)],
    },
    DemoOrg {
        key: "zhenfeng_pepper",
        name: "贞丰县顶坛花椒专业合作社",
        kind: OrgKind::Producer,
        region: "522325",
        parent: None,
        users: &[("pepper.zhenfeng@demo.dongxi.cn", "贞丰顶坛花椒合作社", Role::Admin)],
    },
    DemoOrg {
        key: "wangmo_fruit",
        name: "望谟县板栗芒果专业合作社",
        kind: OrgKind::Producer,
        region: "522326",
        parent: None,
        users: &[("fruit.wangmo@demo.dongxi.cn", "望谟果品合作社", Role::Admin)],
    },
    DemoOrg {
        key: "wushi_rice",
        name: "乌什县稻米专业合作社",
        kind: OrgKind::Producer,
        region: "652927",
        parent: None,
        users: &[("rice.wushi@demo.dongxi.cn", "乌什稻米合作社", Role::Admin)],
    },
    DemoOrg {
        key: "tuan4_dates",
        name: "一师四团红枣专业合作社",
        kind: OrgKind::Producer,
        region: "652900-BT1-4",
        parent: None,
        users: &[("dates.tuan4@demo.dongxi.cn", "四团红枣合作社", Role::Admin)],
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoSeed {
    Seeded,
    AlreadyThere,
    /// The database holds real organisations; demo data is never mixed into them.
    Refused,
}

/// Seeds the demo into a database that holds nothing but (at most) a platform organisation.
pub fn seed(conn: &mut DbConn, clock: &Clock, config: &Config) -> AppResult<DemoSeed> {
    if db::meta_get(conn, DEMO_META_KEY)?.is_some() {
        return Ok(DemoSeed::AlreadyThere);
    }
    if crate::identity::model::any_non_platform_org(conn)? {
        return Ok(DemoSeed::Refused);
    }
    let now = clock.now_naive();
    let founded = at(2020, 11, 2, 9)?;
    db::write_tx(conn, |conn| {
        for code in ASSISTED_REGIONS {
            region_model::set_assisted_mark(conn, code, true)?;
        }
        for (code, name, parent, level) in UNITS {
            let parent_row =
                region_model::find(conn, parent)?.ok_or_else(|| anyhow::anyhow!("demo region {parent} missing"))?;
            region_model::insert_many(
                conn,
                &[region_model::RegionRow {
                    code: code.into(),
                    name: name.into(),
                    level: level.into(),
                    parent_code: Some(parent.into()),
                    path: format!("{}{code}/", parent_row.path),
                    assisted_mark: true,
                    national: false,
                    created_at: now,
                }],
            )?;
        }
        let mut created: Vec<(&str, OrgRow)> = Vec::new();
        for org in ORGS {
            let parent = org.parent.and_then(|key| created.iter().find(|(k, _)| *k == key).map(|(_, row)| row));
            let row = create_org_unchecked(conn, org.name, org.kind, org.region, parent, founded)?;
            for (email, name, role) in org.users {
                let user = NewUser {
                    email: Email::parse(email).map_err(|m| anyhow::anyhow!("demo email {email} {m}"))?,
                    name: (*name).into(),
                    password: Password::parse(DEMO_PASSWORD)?,
                    role: *role,
                };
                create_user_unchecked(conn, &row.id, &user, founded)?;
            }
            created.push((org.key, row));
        }
        catalog::seed_products(conn, &created, now)?;
        catalog::seed_batches(conn, &created, now)?;
        catalog::seed_labels(conn, &created, now)?;
        accounting::seed_before_orders(conn, &created, config)?;
        orders::seed_orders(conn, &created, config, now)?;
        group_buys::seed_group_buys(conn, &created, config, now)?;
        live::seed_live_2021(conn, &created, config)?;
        settlement::seed_2021(conn, &created, config)?;
        accounting::close_2021(conn, &created, config)?;
        // The demo's past is not news: nobody is mailed about 2021.
        diesel::update(
            crate::db::schema::outbox::table.filter(crate::db::schema::outbox::topic.eq(<Notice as Topic>::TOPIC)),
        )
        .set(crate::db::schema::outbox::done_at.eq(now))
        .execute(conn)?;
        db::meta_set(conn, DEMO_META_KEY, &now.to_string())?;
        Ok(DemoSeed::Seeded)
    })
}

/// An instant given in Beijing time (the demo's history is told in local time).
fn at(year: i32, month: u32, day: u32, hour: u32) -> AppResult<NaiveDateTime> {
    chrono::NaiveDate::from_ymd_opt(year, month, day)
        .and_then(|d| d.and_hms_opt(hour, 0, 0))
        .map(|t| t - chrono::Duration::hours(8))
        .ok_or_else(|| anyhow::anyhow!("bad demo date {year}-{month}-{day}").into())
}

/// The demo sign-ins, for the start-up banner.
pub fn banner(url: &str) -> String {
    let mut out = format!(
        "\nDemo data is loaded. Sign in with POST {url}/api/v1/auth/login, password \"{DEMO_PASSWORD}\" for every account:\n"
    );
    for org in ORGS {
        for (email, _, role) in org.users {
            out.push_str(&format!("  {email:<32} {:<6} {:<11} {}\n", role.as_str(), org.kind.as_str(), org.name));
        }
    }
    out.push_str(&format!(
        "\nDashboard: {url}/dashboard?year=2021 (sign in with qxn@demo.dongxi.cn or huizhou@demo.dongxi.cn)\n"
    ));
    out.push_str(&format!(
        "Producer workplace: {url}/producer (sign in with tea.puan@demo.dongxi.cn); its products' batches link to the public trace page {url}/trace/<code>\n"
    ));
    out.push_str(&format!(
        "Agency workplace: {url}/agency (sign in with school.hz@demo.dongxi.cn or canteen.hz@demo.dongxi.cn)\n"
    ));
    out.push_str(&format!(
        "\nTry: curl -s {url}/api/v1/auth/login -H 'content-type: application/json' -d '{{\"email\":\"qxn@demo.dongxi.cn\",\"password\":\"{DEMO_PASSWORD}\"}}'\n"
    ));
    out
}
