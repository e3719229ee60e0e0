//! Demo data from the seed notices (../shared/seeds): the east–west pairings' places, offices,
//! buyers and producers. Later capabilities extend this one module.

use crate::catalog::types::Storage;
use crate::clock::Clock;
use crate::db::{self, DbConn};
use crate::error::AppResult;
use crate::identity::model::OrgRow;
use crate::identity::service::{NewUser, create_org_unchecked, create_user_unchecked};
use crate::identity::types::{Email, OrgKind, Password, Role};
use crate::regions::model as region_model;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoSeed {
    Seeded,
    AlreadyThere,
    /// The database holds real organisations; demo data is never mixed into them.
    Refused,
}

/// Seeds the demo into a database that holds nothing but (at most) a platform organisation.
pub fn seed(conn: &mut DbConn, clock: &Clock) -> AppResult<DemoSeed> {
    if db::meta_get(conn, DEMO_META_KEY)?.is_some() {
        return Ok(DemoSeed::AlreadyThere);
    }
    if crate::identity::model::any_non_platform_org(conn)? {
        return Ok(DemoSeed::Refused);
    }
    let now = clock.now_naive();
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
            let row = create_org_unchecked(conn, org.name, org.kind, org.region, parent, now)?;
            for (email, name, role) in org.users {
                let user = NewUser {
                    email: Email::parse(email).map_err(|m| anyhow::anyhow!("demo email {email} {m}"))?,
                    name: (*name).into(),
                    password: Password::parse(DEMO_PASSWORD)?,
                    role: *role,
                };
                create_user_unchecked(conn, &row.id, &user, now)?;
            }
            created.push((org.key, row));
        }
        seed_products(conn, &created, now)?;
        db::meta_set(conn, DEMO_META_KEY, &now.to_string())?;
        Ok(DemoSeed::Seeded)
    })
}

/// Products with their certification history: approved requests and events for the certified
/// (decided by the coordinator over the origin), open requests for the pending.
fn seed_products(conn: &mut DbConn, orgs: &[(&str, OrgRow)], now: chrono::NaiveDateTime) -> AppResult<()> {
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
        let mut row = new_row(&producer.id, fields, path, now);
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
            let certificate_no = until.map(|_| format!("DX-{origin}-2026-{:06}", n + 1));
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
                    submitted_at: now,
                    decided_by: decided.then(|| decider.clone()),
                    decided_at: decided.then_some(now),
                    decision_reason: None,
                    certificate_no: certificate_no.clone(),
                    valid_until: until,
                })
                .execute(conn)?;
            let mut events =
                vec![("requested", Some(submitter.clone()), Some(producer.id.clone()), serde_json::json!({}))];
            if decided {
                events.push((
                    "approved",
                    Some(decider.clone()),
                    Some(reviewer.id.clone()),
                    serde_json::json!({"certificate_no": certificate_no, "valid_until": until}),
                ));
            }
            for (action, user, org_id, details) in events {
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
                        at: now,
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
        "\nTry: curl -s {url}/api/v1/auth/login -H 'content-type: application/json' -d '{{\"email\":\"qxn@demo.dongxi.cn\",\"password\":\"{DEMO_PASSWORD}\"}}'\n"
    ));
    out
}
