//! The demo's accounting: the seed notices' pairings (with the 2021 handover of 黔西南州 from
//! 宁波 to 惠州), 2021 targets, and the demo agencies' reserved-share filings, made through the
//! real services at the times they happened, before the year's orders count against them.
//! Afterwards 2021 is closed, as a province would close it in February 2022.

use chrono::NaiveDate;
use diesel::prelude::*;

use super::at;
use crate::accounting::filings::{self, FilingBody, ReturnBody};
use crate::accounting::pairings::{self, NewPairingBody};
use crate::accounting::periods;
use crate::accounting::targets::{self, NewTargetBody};
use crate::config::Config;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::users;
use crate::error::AppResult;
use crate::identity::Actor;
use crate::identity::actor::actor_for_user;
use crate::identity::model::OrgRow;

type Ymd = (i32, u32, u32);

/// (donor region or demo organisation key, recipient, from, to, note)
const PAIRINGS: &[(&str, &str, Ymd, Option<Ymd>, &str)] = &[
    ("330200", "522300", (2016, 1, 1), Some((2021, 6, 30)), "东西部扶贫协作：宁波市帮扶黔西南州"),
    ("441300", "522300", (2021, 7, 1), None, "新一轮东西部协作：惠州市7个县（区）结对黔西南州7个脱贫县"),
    ("330800", "652927", (2020, 1, 1), Some((2022, 12, 31)), "衢州市援疆：乌什县深度贫困乡（村）结对帮扶"),
    ("330800", "652900-BT1-4", (2020, 1, 1), Some((2022, 12, 31)), "衢州市援疆：一师四团困难连队结对帮扶"),
    (
        "org:qz_jiguan",
        "652900-BT1-4",
        (2020, 1, 1),
        Some((2022, 12, 31)),
        "市级单位结对：衢州市机关事务服务中心—一师四团",
    ),
    ("330803", "510727", (2018, 1, 1), Some((2020, 12, 31)), "衢江区—平武县“3年1亿”协作帮扶规划"),
    ("510113", "513324", (2018, 1, 1), None, "青白江区对口帮扶九龙县"),
    ("320582", "520627", (2017, 3, 1), None, "张家港市—沿河县东西部扶贫协作"),
];

/// (scope kind, region code or demo organisation key, amount in yuan)
const TARGETS_2021: &[(&str, &str, i64)] = &[
    ("recipient", "522300", 370_000_000),
    ("recipient", "522327", 500_000),
    ("recipient", "522323", 300_000),
    // Donor targets scaled to the demo's few buying units.
    ("donor", "441300", 1_500_000),
    ("donor", "330200", 250_000),
];

/// (agency key, canteen budget in yuan, share in basis points, no canteen, exemption reason)
const FILINGS_2021: &[(&str, i64, i32, bool, Option<&str>)] = &[
    ("hz_edu", 800_000, 1000, false, None),
    ("hz_school", 3_000_000, 1000, false, None),
    ("hz_school8", 1_800_000, 1000, false, None),
    ("hz_huiyang", 2_200_000, 1000, false, None),
    ("hz_hospital", 2_000_000, 1000, false, None),
    ("hz_union", 0, 0, true, None),
    ("nb_jiguan", 1_500_000, 1200, false, None),
    ("nb_hospital", 2_000_000, 1000, false, None),
    ("qz_jiguan", 1_400_000, 1500, false, None),
    ("zjg_union", 0, 0, true, None),
];

fn day((y, m, d): Ymd) -> AppResult<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| anyhow::anyhow!("bad demo date").into())
}

fn ctx_at(now: chrono::NaiveDateTime, config: &Config) -> Ctx {
    Ctx::of(now, config)
}

fn admin_of(conn: &mut DbConn, org_id: &str) -> AppResult<Actor> {
    let user: String = users::table
        .filter(users::org_id.eq(org_id))
        .filter(users::role.eq("admin"))
        .select(users::id)
        .order(users::id.asc())
        .first(conn)?;
    actor_for_user(conn, &user)?.ok_or_else(|| anyhow::anyhow!("demo admin missing").into())
}

fn org<'a>(orgs: &'a [(&str, OrgRow)], key: &str) -> AppResult<&'a OrgRow> {
    orgs.iter().find(|(k, _)| *k == key).map(|(_, o)| o).ok_or_else(|| anyhow::anyhow!("demo org {key}").into())
}

pub fn seed_before_orders(conn: &mut DbConn, orgs: &[(&str, OrgRow)], config: &Config) -> AppResult<()> {
    let platform = admin_of(conn, &org(orgs, "platform")?.id)?;
    let set_up = ctx_at(at(2020, 11, 20, 10)?, config);
    for (donor, recipient, from, to, note) in PAIRINGS {
        let (donor_region_code, donor_org_id) = match donor.strip_prefix("org:") {
            Some(key) => (None, Some(org(orgs, key)?.id.clone())),
            None => (Some((*donor).to_owned()), None),
        };
        let body = NewPairingBody {
            donor_region_code,
            donor_org_id,
            recipient_region_code: (*recipient).to_owned(),
            valid_from: day(*from)?,
            valid_to: to.map(day).transpose()?,
            note: Some((*note).to_owned()),
        };
        pairings::create(conn, &platform, body, &set_up)?;
    }
    let planning = ctx_at(at(2021, 1, 8, 10)?, config);
    for (kind, scope, yuan) in TARGETS_2021 {
        let body =
            NewTargetBody { year: 2021, scope_kind: (*kind).into(), scope_id: (*scope).into(), amount_fen: yuan * 100 };
        targets::create(conn, &platform, body, &planning)?;
    }
    // The 惠州→黔西南 pairing's own target for its first half-year.
    let pairing: String = crate::db::schema::pairings::table
        .filter(crate::db::schema::pairings::donor_region_code.eq("441300"))
        .select(crate::db::schema::pairings::id)
        .first(conn)?;
    let body = NewTargetBody { year: 2021, scope_kind: "pairing".into(), scope_id: pairing, amount_fen: 100_000_000 };
    targets::create(conn, &platform, body, &planning)?;

    for (key, budget, share, no_canteen, reason) in FILINGS_2021 {
        let agency = org(orgs, key)?;
        let filer = admin_of(conn, &agency.id)?;
        // Reviewed by the supervising organisation where there is one, else the coordinator of its city.
        let reviewer_org = match &agency.parent_id {
            Some(parent) => parent.clone(),
            None => org(
                orgs,
                if agency.region_code.starts_with("4413") {
                    "huizhou"
                } else if agency.region_code.starts_with("3302") {
                    "ningbo"
                } else if agency.region_code.starts_with("3308") {
                    "quzhou"
                } else {
                    "platform"
                },
            )?
            .id
            .clone(),
        };
        let reviewer = admin_of(conn, &reviewer_org)?;
        let body = |share_bp: i32, reason: Option<&str>| FilingBody {
            canteen_budget_fen: budget * 100,
            share_bp,
            no_canteen: *no_canteen,
            exemption_reason: reason.map(str::to_owned),
        };
        if *key == "hz_hospital" {
            // First filed below 10% for an outsourced canteen, sent back, then filed at 10%.
            filings::put(
                conn,
                &filer,
                &agency.id,
                2021,
                body(800, Some("食堂已外包经营")),
                &ctx_at(at(2021, 1, 15, 9)?, config),
            )?;
            let back = ReturnBody {
                reason: "外包食堂的食材采购同样纳入预留份额，请按不低于10%填报".into()
            };
            filings::send_back(conn, &reviewer, &agency.id, 2021, back, &ctx_at(at(2021, 1, 18, 15)?, config))?;
        }
        filings::put(conn, &filer, &agency.id, 2021, body(*share, *reason), &ctx_at(at(2021, 1, 20, 9)?, config))?;
        filings::approve(conn, &reviewer, &agency.id, 2021, &ctx_at(at(2021, 1, 25, 16)?, config))?;
    }
    Ok(())
}

/// The province closes 2021 once its corrections are in.
pub fn close_2021(conn: &mut DbConn, orgs: &[(&str, OrgRow)], config: &Config) -> AppResult<()> {
    let platform = admin_of(conn, &org(orgs, "platform")?.id)?;
    periods::close(conn, &platform, 2021, &ctx_at(at(2022, 2, 15, 10)?, config))?;
    Ok(())
}
