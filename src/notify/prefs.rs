//! Who wants which mail. Each user may refuse each kind of mail except security-relevant mail;
//! digests carry a signed unsubscribe link that works without signing in.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use utoipa::ToSchema;

use crate::db::schema::mail_opt_outs as o;
use crate::db::{DbConn, meta_get};
use crate::error::{AppError, AppResult};

/// The kinds of mail, with their Chinese names; `required` ones cannot be refused.
pub const KINDS: [(&str, &str, bool); 8] = [
    ("order", "订单：下单、发货、退款", false),
    ("certification", "产品认定：结果、证书到期", false),
    ("filing", "预留份额填报：退回", false),
    ("group_buy", "团购：开团、即将截止、结果", false),
    ("digest", "每周进度周报", false),
    ("bulletin", "半年完成情况通报", false),
    ("settlement", "结算：付款到账", false),
    ("account", "账号安全（不可退订）", true),
];

pub fn is_kind(kind: &str) -> bool {
    KINDS.iter().any(|(k, _, _)| *k == kind)
}

/// The Chinese name of a kind of mail.
pub fn kind_name(kind: &str) -> &'static str {
    KINDS.iter().find(|(k, _, _)| *k == kind).map(|(_, name, _)| *name).unwrap_or_default()
}

pub fn is_required(kind: &str) -> bool {
    KINDS.iter().any(|(k, _, required)| *k == kind && *required)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preference {
    pub kind: String,
    pub name: String,
    pub subscribed: bool,
    /// Security-relevant mail is always sent.
    pub required: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preferences {
    pub items: Vec<Preference>,
}

pub fn of_user(conn: &mut DbConn, user_id: &str) -> AppResult<Preferences> {
    let refused: HashSet<String> =
        o::table.filter(o::user_id.eq(user_id)).select(o::kind).load(conn)?.into_iter().collect();
    Ok(Preferences {
        items: KINDS
            .iter()
            .map(|(kind, name, required)| Preference {
                kind: (*kind).into(),
                name: (*name).into(),
                subscribed: *required || !refused.contains(*kind),
                required: *required,
            })
            .collect(),
    })
}

/// Sets the user's wishes (`{"digest": false, …}`); unknown kinds and refusing required mail are 422.
pub fn update(
    conn: &mut DbConn,
    user_id: &str,
    wishes: &HashMap<String, bool>,
    now: NaiveDateTime,
) -> AppResult<Preferences> {
    let mut v = crate::error::Violations::new();
    for (kind, subscribed) in wishes {
        if !is_kind(kind) {
            v.add(kind.clone(), "is not a kind of mail (see GET /me/mail-preferences)");
        } else if is_required(kind) && !subscribed {
            v.add(kind.clone(), "security-relevant mail cannot be refused");
        }
    }
    v.finish("validation_failed")?;
    for (kind, subscribed) in wishes {
        set(conn, user_id, kind, *subscribed, now)?;
    }
    of_user(conn, user_id)
}

fn set(conn: &mut DbConn, user_id: &str, kind: &str, subscribed: bool, now: NaiveDateTime) -> AppResult<()> {
    diesel::delete(o::table.filter(o::user_id.eq(user_id)).filter(o::kind.eq(kind))).execute(conn)?;
    if !subscribed {
        diesel::insert_into(o::table)
            .values((o::user_id.eq(user_id), o::kind.eq(kind), o::created_at.eq(now)))
            .execute(conn)?;
    }
    Ok(())
}

/// Of `user_ids`, those who refused `kind`.
pub fn refusing(conn: &mut DbConn, user_ids: &[String], kind: &str) -> AppResult<HashSet<String>> {
    if is_required(kind) {
        return Ok(HashSet::new());
    }
    Ok(o::table
        .filter(o::user_id.eq_any(user_ids))
        .filter(o::kind.eq(kind))
        .select(o::user_id)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

const SECRET_KEY: &str = "mail_link_secret";

/// The deployment's key for unsubscribe links: made once, kept in the database, so every server
/// signs and checks alike.
fn secret(conn: &mut DbConn) -> AppResult<String> {
    if let Some(s) = meta_get(conn, SECRET_KEY)? {
        return Ok(s);
    }
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let fresh: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    use crate::db::schema::app_meta::dsl as m;
    // Two processes making one at once: the first insert wins and both use it.
    let row = (m::key.eq(SECRET_KEY), m::value.eq(&fresh));
    crate::insert_or_ignore!(conn, m::app_meta, row)?;
    meta_get(conn, SECRET_KEY)?.ok_or_else(|| anyhow::anyhow!("mail link secret missing").into())
}

fn signer(secret: &str, user_id: &str, kind: &str) -> AppResult<Hmac<Sha256>> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| anyhow::anyhow!("hmac: {e}"))?;
    m.update(format!("unsubscribe\n{user_id}\n{kind}").as_bytes());
    Ok(m)
}

/// A token that unsubscribes `user_id` from `kind` (no expiry: it only ever says "no more").
pub fn token(conn: &mut DbConn, user_id: &str, kind: &str) -> AppResult<String> {
    let mac = signer(&secret(conn)?, user_id, kind)?.finalize().into_bytes();
    Ok(format!("{}.{}", URL_SAFE_NO_PAD.encode(format!("{user_id}:{kind}")), URL_SAFE_NO_PAD.encode(mac)))
}

/// The link a digest carries.
pub fn unsubscribe_url(conn: &mut DbConn, base: &str, user_id: &str, kind: &str) -> AppResult<String> {
    Ok(format!("{}/mail/unsubscribe?token={}", base.trim_end_matches('/'), token(conn, user_id, kind)?))
}

/// The (user, kind) a token names, if it is one of ours.
pub fn verify(conn: &mut DbConn, token: &str) -> AppResult<(String, String)> {
    let bad = || AppError::not_found("unsubscribe link");
    let (claim, sig) = token.split_once('.').ok_or_else(bad)?;
    let claim = URL_SAFE_NO_PAD.decode(claim).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(bad)?;
    let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| bad())?;
    let (user_id, kind) = claim.split_once(':').ok_or_else(bad)?;
    signer(&secret(conn)?, user_id, kind)?.verify_slice(&sig).map_err(|_| bad())?;
    if !is_kind(kind) || is_required(kind) {
        return Err(bad());
    }
    Ok((user_id.to_owned(), kind.to_owned()))
}

/// Unsubscribes through a link's token; returns the kind's Chinese name.
pub fn unsubscribe(conn: &mut DbConn, token: &str, now: NaiveDateTime) -> AppResult<&'static str> {
    let (user_id, kind) = verify(conn, token)?;
    set(conn, &user_id, &kind, false, now)?;
    Ok(kind_name(&kind))
}
