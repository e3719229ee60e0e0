//! A producer's bank details for payouts: validated, shown masked to everyone but finance,
//! every change kept (masked) with who made it, and mailed to the producer's administrators.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::model::{self, BankAccountRow};
use crate::clock::utc;
use crate::db::DbConn;
use crate::db::schema::{bank_account_events as ev, bank_accounts as b};
use crate::error::{AppError, AppResult, Violations};
use crate::identity::model::OrgRow;
use crate::identity::types::OrgKind;
use crate::identity::visibility::{OrgFilter, visible_orgs};
use crate::identity::{Actor, Who};
use crate::ids::new_id;
use crate::validate::parse_name;
use crate::worker::job::enqueue;
use crate::worker::payloads::Notice;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankAccountBody {
    /// 户名: the account holder, as the bank has it.
    pub account_name: String,
    /// 开户行: the bank and branch.
    pub bank_name: String,
    /// 账号: 8 to 32 digits (spaces and dashes are ignored).
    pub account_no: String,
    /// A Stripe Connect account (`acct_…`) to be paid by transfer instead; `null` for none.
    #[serde(default)]
    pub stripe_account_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BankAccountView {
    pub org_id: String,
    pub account_name: String,
    pub bank_name: String,
    /// The whole number for platform finance; for everyone else only its last four digits.
    pub account_no: String,
    pub masked: bool,
    pub stripe_account_id: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BankEventView {
    pub id: String,
    /// `set` (first details) or `changed`.
    pub action: String,
    pub actor_user_id: Option<String>,
    pub actor_org_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// `6222021234567890123` → `•••• 0123`.
pub fn mask(account_no: &str) -> String {
    let tail: String = account_no.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("•••• {tail}")
}

fn view(row: BankAccountRow, actor: &Actor) -> BankAccountView {
    let masked = !actor.is_platform_admin();
    BankAccountView {
        account_no: if masked { mask(&row.account_no) } else { row.account_no },
        masked,
        org_id: row.org_id,
        account_name: row.account_name,
        bank_name: row.bank_name,
        stripe_account_id: row.stripe_account_id,
        updated_at: utc(row.updated_at),
    }
}

/// A producer organisation the actor sees, with its region's path (404 otherwise, or when it is
/// no producer).
pub fn producer(conn: &mut DbConn, actor: &Actor, org_id: &str) -> AppResult<(OrgRow, String)> {
    let filter = OrgFilter { id: Some(org_id.to_owned()), ..Default::default() };
    let (org, region_path) =
        visible_orgs(conn, actor, filter, 1)?.pop().ok_or_else(|| AppError::not_found("organization"))?;
    if OrgKind::parse(&org.kind)? != OrgKind::Producer {
        return Err(AppError::not_found("producer"));
    }
    Ok((org, region_path))
}

/// Who may see a producer's money: its own people (and a producer group above it), the
/// platform's staff, and coordinators whose region contains it. Others get 404.
pub fn require_concerned(actor: &Actor, org: &OrgRow, region_path: &str) -> AppResult<()> {
    let coordinator = actor.org_kind == OrgKind::Coordinator && actor.region_contains(region_path);
    if actor.org_kind == OrgKind::Platform || actor.org_contains(org) || coordinator {
        Ok(())
    } else {
        Err(AppError::not_found("producer"))
    }
}

pub fn get(conn: &mut DbConn, actor: &Actor, org_id: &str) -> AppResult<BankAccountView> {
    let (org, region) = producer(conn, actor, org_id)?;
    require_concerned(actor, &org, &region)?;
    let row = model::bank_account(conn, org_id)?.ok_or_else(|| AppError::not_found("bank account"))?;
    Ok(view(row, actor))
}

fn account_number(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    ((8..=32).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())).then_some(digits)
}

/// The producer's administrators (or platform finance) set the bank details.
pub fn set(
    conn: &mut DbConn,
    actor: &Actor,
    org_id: &str,
    body: BankAccountBody,
    now: NaiveDateTime,
) -> AppResult<BankAccountView> {
    let (org, _) = producer(conn, actor, org_id)?;
    let own_admin = actor.is_admin() && actor.org.id == org.id;
    if !(own_admin || actor.is_platform_admin()) {
        return Err(AppError::forbidden("only the producer's administrators or platform finance set its bank details"));
    }
    let mut v = Violations::new();
    let account_name = parse_name(&body.account_name, 100).map_err(|m| v.add("account_name", m)).ok();
    let bank_name = parse_name(&body.bank_name, 100).map_err(|m| v.add("bank_name", m)).ok();
    let account_no = account_number(&body.account_no);
    v.check(account_no.is_some(), "account_no", "must be 8 to 32 digits");
    let stripe = body.stripe_account_id.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    v.check(
        stripe.as_deref().is_none_or(|s| {
            s.len() <= 64
                && s.strip_prefix("acct_")
                    .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric()))
        }),
        "stripe_account_id",
        "must be a Stripe account id (acct_…)",
    );
    v.finish("validation_failed")?;
    let (Some(account_name), Some(bank_name), Some(account_no)) = (account_name, bank_name, account_no) else {
        return Err(anyhow::anyhow!("checked above").into());
    };
    let before = model::bank_account(conn, org_id)?;
    let row = BankAccountRow {
        org_id: org_id.to_owned(),
        account_name,
        bank_name,
        account_no,
        stripe_account_id: stripe,
        updated_at: now,
        updated_by: Some(actor.user_id.clone()),
    };
    diesel::delete(b::table.find(org_id)).execute(conn)?;
    diesel::insert_into(b::table).values(&row).execute(conn)?;
    let shown = |r: &BankAccountRow| json!({"account_name": r.account_name, "bank_name": r.bank_name, "account_no": mask(&r.account_no), "stripe_account_id": r.stripe_account_id});
    let details = json!({"before": before.as_ref().map(shown), "after": shown(&row)});
    let event_id = new_id("bae");
    let who = Who::of(actor);
    diesel::insert_into(ev::table)
        .values((
            ev::id.eq(&event_id),
            ev::org_id.eq(org_id),
            ev::action.eq(if before.is_some() { "changed" } else { "set" }),
            ev::actor_user_id.eq(&who.user_id),
            ev::actor_org_id.eq(&who.org_id),
            ev::details.eq(details.to_string()),
            ev::at.eq(now),
        ))
        .execute(conn)?;
    enqueue(conn, &Notice::BankAccountChanged { event_id }, now)?;
    Ok(view(row, actor))
}

/// The history of a producer's bank details, oldest first (numbers masked).
pub fn events(conn: &mut DbConn, actor: &Actor, org_id: &str) -> AppResult<Vec<BankEventView>> {
    let (org, region) = producer(conn, actor, org_id)?;
    require_concerned(actor, &org, &region)?;
    type Row = (String, String, Option<String>, Option<String>, String, NaiveDateTime);
    let rows: Vec<Row> = ev::table
        .filter(ev::org_id.eq(org_id))
        .order(ev::id.asc())
        .select((ev::id, ev::action, ev::actor_user_id, ev::actor_org_id, ev::details, ev::at))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, action, actor_user_id, actor_org_id, details, at)| BankEventView {
            id,
            action,
            actor_user_id,
            actor_org_id,
            details: serde_json::from_str(&details).unwrap_or_default(),
            at: utc(at),
        })
        .collect())
}
