//! Who a mail goes to, and one rendered mail per recipient who has not refused its kind (with
//! an unsubscribe link where the kind allows one).

use diesel::prelude::*;
use serde_json::{Value, json};

use super::{Mail, prefs, templates};
use crate::db::DbConn;
use crate::db::schema::users;
use crate::error::AppResult;
use crate::identity::model::UserRecord;

/// Who a mail goes to.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub user_id: String,
    pub email: String,
    pub name: String,
}

impl From<UserRecord> for Recipient {
    fn from(u: UserRecord) -> Self {
        Recipient { user_id: u.id, email: u.email, name: u.name }
    }
}

/// The administrators of these organisations: the people who act for them.
pub fn admins_of(conn: &mut DbConn, org_ids: &[String]) -> AppResult<Vec<Recipient>> {
    Ok(users::table
        .filter(users::org_id.eq_any(org_ids))
        .filter(users::role.eq("admin"))
        .order(users::id.asc())
        .select(UserRecord::as_select())
        .load::<UserRecord>(conn)?
        .into_iter()
        .map(Recipient::from)
        .collect())
}

/// Renders `template` for every recipient who has not refused `kind`; with `unsubscribe_base`,
/// each mail carries its recipient's unsubscribe link.
pub(super) fn mails(
    conn: &mut DbConn,
    recipients: Vec<Recipient>,
    kind: &str,
    template: &str,
    context: &Value,
    unsubscribe_base: Option<&str>,
) -> AppResult<Vec<Mail>> {
    let ids: Vec<String> = recipients.iter().map(|r| r.user_id.clone()).collect();
    let refusing = prefs::refusing(conn, &ids, kind)?;
    let mut out = Vec::new();
    for r in recipients.into_iter().filter(|r| !refusing.contains(&r.user_id)) {
        let unsubscribe_url = match unsubscribe_base {
            Some(base) => Some(prefs::unsubscribe_url(conn, base, &r.user_id, kind)?),
            None => None,
        };
        let mut c = context.clone();
        c["recipient_name"] = json!(r.name);
        c["unsubscribe_url"] = json!(unsubscribe_url);
        let rendered = templates::render(template, &c)?;
        out.push(Mail {
            template: template.into(),
            kind: kind.into(),
            user_id: r.user_id,
            to_email: r.email,
            to_name: r.name,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            unsubscribe_url,
        });
    }
    Ok(out)
}
