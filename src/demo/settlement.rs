//! The demo's 2021 settled as the producers lived it: each producer's bank account, a run every
//! Monday at 02:00 over what was owed a day before, and finance's bank transfer the next morning.
//! 普安茶源 refunds part of a June sub-order three weeks after it was settled, so its next
//! statement carries the deduction.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::at;
use super::orders::first_user;
use crate::config::Config;
use crate::ctx::Ctx;
use crate::db::schema::{settlements, sub_orders, users};
use crate::db::{DbConn, write_tx};
use crate::error::AppResult;
use crate::identity::actor::actor_for_user;
use crate::identity::model::OrgRow;
use crate::payments::service::{self as payments, RefundBody};
use crate::settlement::bank::{self, BankAccountBody};
use crate::settlement::{payouts, runs};

/// The late refund: a sub-order of 普安茶源 accepted in June, refunded on 2021-07-16.
fn late_refund(conn: &mut DbConn, puan: &OrgRow, config: &Config) -> AppResult<()> {
    let june = at(2021, 6, 1, 0)?;
    let july = at(2021, 7, 1, 0)?;
    let found: Option<(String, i64)> = sub_orders::table
        .filter(sub_orders::producer_id.eq(&puan.id))
        .filter(sub_orders::status.eq("accepted"))
        .filter(sub_orders::accepted_at.ge(june))
        .filter(sub_orders::accepted_at.lt(july))
        .filter(sub_orders::refunded_fen.eq(0))
        .order(sub_orders::accepted_at.asc())
        .select((sub_orders::id, sub_orders::total_fen))
        .first(conn)
        .optional()?;
    let Some((sub, total)) = found else { return Ok(()) };
    let producer = first_user(conn, &puan.id)?;
    let body =
        RefundBody { amount_fen: (total / 20).max(100), reason: "食堂反馈一箱受潮，协商退款".into() };
    let ctx = Ctx::of(at(2021, 7, 16, 15)?, config);
    write_tx(conn, |c| payments::refund_sub_order(c, &producer, &sub, body, &ctx).map(|_| ()))
}

pub fn seed_2021(conn: &mut DbConn, orgs: &[(&str, OrgRow)], config: &Config) -> AppResult<()> {
    let finance_user: String =
        users::table.filter(users::email.eq("finance@demo.dongxi.cn")).select(users::id).first(conn)?;
    let finance = actor_for_user(conn, &finance_user)?.ok_or_else(|| anyhow::anyhow!("demo finance user"))?;
    let opened = at(2020, 12, 20, 10)?;
    for (i, (_, org)) in orgs.iter().filter(|(_, o)| o.kind == "producer").enumerate() {
        let body = BankAccountBody {
            account_name: org.name.clone(),
            bank_name: [
                "贵州银行黔西南分行",
                "中国农业银行普安县支行",
                "贵州普安农村商业银行",
                "中国邮政储蓄银行册亨县支行",
            ][i % 4]
                .into(),
            account_no: format!("622848{:013}", 5_221_000_000_000u64 + i as u64 * 7_919),
            stripe_account_id: None,
        };
        write_tx(conn, |c| bank::set(c, &finance, &org.id, body, opened).map(|_| ()))?;
    }
    if let Some((_, puan)) = orgs.iter().find(|(k, _)| *k == "puan_tea") {
        late_refund(conn, puan, config)?;
    }
    // Mondays 02:00 Beijing from the first week of 2021 to the first of 2022.
    let mut monday: NaiveDateTime = at(2021, 1, 4, 2)?;
    let last = at(2022, 1, 10, 2)?;
    let mut paid = 0;
    while monday <= last {
        let run = write_tx(conn, |c| runs::queue(c, "scheduled", monday - Duration::days(1), None, monday))?;
        runs::perform(conn, &run.id, false, monday)?;
        let due: Vec<String> = settlements::table
            .filter(settlements::status.eq("scheduled"))
            .order(settlements::id.asc())
            .select(settlements::id)
            .load(conn)?;
        let morning = monday + Duration::hours(8);
        let ctx = Ctx::of(morning, config);
        for id in due {
            paid += 1;
            let reference = format!("QXNRCB{}{:05}", morning.format("%Y%m%d"), paid);
            let body = payouts::PaidBody { reference, paid_at: morning.and_utc() };
            write_tx(conn, |c| payouts::record_paid(c, &finance, &id, body, &ctx).map(|_| ()))?;
        }
        monday += Duration::days(7);
    }
    Ok(())
}
