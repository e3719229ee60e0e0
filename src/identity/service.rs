use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::actor::Actor;
use super::model::{self, OrgRow, UserRecord, UserRow};
use super::password::{hash_password, new_token, token_hash};
use super::policy;
use super::types::{Email, OrgKind, Password, Role};
use super::visibility::{OrgFilter, visible_orgs};
use crate::clock::utc;
use crate::db::DbConn;
use crate::error::{AppError, AppResult, Violations, on_unique_violation};
use crate::http::pagination::{Page, PageRequest};
use crate::ids::new_id;
use crate::validate::parse_name;
use crate::worker::job::enqueue;
use crate::worker::payloads::Notice;

pub const LOGIN_WINDOW_MINUTES: i64 = 15;
pub const LOGIN_MAX_FAILURES: i64 = 10;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub organization_id: String,
    pub created_at: DateTime<Utc>,
}

impl UserView {
    pub fn from_record(u: UserRecord) -> AppResult<Self> {
        Ok(UserView {
            role: Role::parse(&u.role)?,
            id: u.id,
            email: u.email,
            name: u.name,
            organization_id: u.org_id,
            created_at: utc(u.created_at),
        })
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub kind: OrgKind,
    pub region_code: String,
    pub parent_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl OrgView {
    pub fn from_row(o: OrgRow) -> AppResult<Self> {
        Ok(OrgView {
            kind: OrgKind::parse(&o.kind)?,
            id: o.id,
            name: o.name,
            region_code: o.region_code,
            parent_id: o.parent_id,
            created_at: utc(o.created_at),
        })
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeUser {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeOrganization {
    pub id: String,
    pub name: String,
    pub kind: OrgKind,
    pub region_code: String,
    pub parent_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeView {
    pub user: MeUser,
    pub organization: MeOrganization,
}

pub fn me(actor: &Actor) -> MeView {
    MeView {
        user: MeUser {
            id: actor.user_id.clone(),
            email: actor.email.clone(),
            name: actor.name.clone(),
            role: actor.role,
        },
        organization: MeOrganization {
            id: actor.org.id.clone(),
            name: actor.org.name.clone(),
            kind: actor.org_kind,
            region_code: actor.org.region_code.clone(),
            parent_id: actor.org.parent_id.clone(),
        },
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: UserView,
}

fn invalid_credentials() -> AppError {
    AppError::problem(axum::http::StatusCode::UNAUTHORIZED, "invalid_credentials", "the email or password is wrong")
}

/// First half of a login: refuses a throttled email and returns the account, if any.
/// The password is checked outside the database connection (hashing is slow).
pub fn login_lookup(conn: &mut DbConn, email: &str, now: NaiveDateTime) -> AppResult<Option<UserRow>> {
    let window_start = now - Duration::minutes(LOGIN_WINDOW_MINUTES);
    if model::count_recent_failures(conn, email, window_start)? >= LOGIN_MAX_FAILURES {
        let oldest = model::oldest_recent_failure(conn, email, window_start)?.unwrap_or(now);
        let retry = (oldest + Duration::minutes(LOGIN_WINDOW_MINUTES) - now).num_seconds().max(1) as u64;
        return Err(AppError::too_many(
            "too_many_attempts",
            format!("too many failed sign-ins for this email; try again in {} minutes", retry.div_ceil(60)),
            retry,
        ));
    }
    model::find_user_by_email(conn, email)
}

/// Records a failed attempt; returns the error to report once the record is committed.
pub fn login_failed(conn: &mut DbConn, email: &str, now: NaiveDateTime) -> AppResult<AppError> {
    let window_start = now - Duration::minutes(LOGIN_WINDOW_MINUTES);
    model::record_failure(conn, &new_id("lgf"), email, now, window_start)?;
    Ok(invalid_credentials())
}

pub fn login_succeeded(
    conn: &mut DbConn,
    user: UserRow,
    now: NaiveDateTime,
    ttl: std::time::Duration,
) -> AppResult<LoginResponse> {
    let token = new_token();
    let expires_at = now + Duration::seconds(ttl.as_secs() as i64);
    model::insert_session(conn, &token_hash(&token), &user.id, now, expires_at)?;
    // Sessions are few per user; sweeping expired ones here keeps the table small without a job.
    model::delete_expired_sessions(conn, now)?;
    let record = UserRecord {
        id: user.id,
        org_id: user.org_id,
        email: user.email,
        name: user.name,
        role: user.role,
        created_at: user.created_at,
    };
    Ok(LoginResponse { token, expires_at: utc(expires_at), user: UserView::from_record(record)? })
}

pub fn parse_login_email(raw: &str) -> AppResult<Email> {
    Email::parse(raw).map_err(|_| invalid_credentials())
}

pub fn logout(conn: &mut DbConn, actor: &Actor) -> AppResult<()> {
    model::delete_session(conn, &actor.token_hash)?;
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrgBody {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    pub kind: OrgKind,
    #[schema(pattern = r"^[0-9]{6}$")]
    pub region_code: String,
    pub parent_id: Option<String>,
}

/// Which parent kinds may supervise which: a department over agencies, a group over its producers.
fn parent_fits(child: OrgKind, parent: OrgKind) -> bool {
    matches!(
        (child, parent),
        (OrgKind::Agency, OrgKind::Agency | OrgKind::Coordinator)
            | (OrgKind::Producer, OrgKind::Producer)
            | (OrgKind::Coordinator, OrgKind::Coordinator)
    )
}

pub fn create_org(conn: &mut DbConn, actor: &Actor, body: NewOrgBody, now: NaiveDateTime) -> AppResult<OrgView> {
    let name = parse_name(&body.name, 100).map_err(|m| AppError::invalid_field("validation_failed", "name", m))?;
    let region_path = model::region_path(conn, &body.region_code)?
        .ok_or_else(|| AppError::invalid_field("unknown_region", "region_code", "no such region"))?;
    policy::require_org_creation(actor, body.kind, &region_path)?;

    let id = new_id("org");
    let (parent_id, path) = match body.parent_id {
        None => (None, format!("{id}/")),
        Some(parent_id) => {
            let filter = OrgFilter { id: Some(parent_id.clone()), ..Default::default() };
            let (parent, _) = visible_orgs(conn, actor, filter, 1)?
                .pop()
                .ok_or_else(|| AppError::invalid_field("validation_failed", "parent_id", "no such organisation"))?;
            if !parent_fits(body.kind, OrgKind::parse(&parent.kind)?) {
                return Err(AppError::invalid_field(
                    "validation_failed",
                    "parent_id",
                    format!("a {} cannot be placed under a {}", body.kind.as_str(), parent.kind),
                ));
            }
            (Some(parent.id), format!("{}{id}/", parent.path))
        }
    };
    let row = OrgRow {
        id,
        name,
        kind: body.kind.as_str().to_owned(),
        region_code: body.region_code,
        parent_id,
        path,
        created_at: now,
    };
    model::insert_org(conn, &row)?;
    OrgView::from_row(row)
}

/// Creates an organisation with no acting user: bootstrap, demo data and the CLI.
pub fn create_org_unchecked(
    conn: &mut DbConn,
    name: &str,
    kind: OrgKind,
    region_code: &str,
    parent: Option<&OrgRow>,
    now: NaiveDateTime,
) -> AppResult<OrgRow> {
    model::region_path(conn, region_code)?.ok_or_else(|| anyhow::anyhow!("unknown region {region_code}"))?;
    let id = new_id("org");
    let row = OrgRow {
        path: format!("{}{id}/", parent.map(|p| p.path.as_str()).unwrap_or("")),
        id,
        name: name.to_owned(),
        kind: kind.as_str().to_owned(),
        region_code: region_code.to_owned(),
        parent_id: parent.map(|p| p.id.clone()),
        created_at: now,
    };
    model::insert_org(conn, &row)?;
    Ok(row)
}

pub fn get_org(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<OrgView> {
    let filter = OrgFilter { id: Some(id.to_owned()), ..Default::default() };
    let (row, _) = visible_orgs(conn, actor, filter, 1)?.pop().ok_or_else(|| AppError::not_found("organization"))?;
    OrgView::from_row(row)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrgListQuery {
    pub kind: Option<OrgKind>,
    /// A region code: organisations located inside it.
    pub region: Option<String>,
    pub parent_id: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

crate::paged!(OrgListQuery);

pub fn list_orgs(
    conn: &mut DbConn,
    actor: &Actor,
    kind: Option<OrgKind>,
    region: Option<String>,
    parent_id: Option<String>,
    page: &PageRequest,
) -> AppResult<Page<OrgView>> {
    let region_path = match region {
        Some(code) => Some(
            model::region_path(conn, &code)?
                .ok_or_else(|| AppError::invalid_field("unknown_region", "region", "no such region"))?,
        ),
        None => None,
    };
    let filter = OrgFilter { id: None, kind, region_path, parent_id, after_id: page.after.clone() };
    let rows = visible_orgs(conn, actor, filter, page.limit + 1)?;
    let rows: Vec<OrgRow> = rows.into_iter().map(|(o, _)| o).collect();
    let page = Page::from_rows(rows, page, |o| o.id.clone(), |o| o);
    Ok(Page {
        items: page.items.into_iter().map(OrgView::from_row).collect::<AppResult<_>>()?,
        next_cursor: page.next_cursor,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// At least 10 characters.
    #[schema(min_length = 10, max_length = 200)]
    pub password: String,
    pub role: Role,
}

/// A new user's fields, parsed.
pub struct NewUser {
    pub email: Email,
    pub name: String,
    pub password: Password,
    pub role: Role,
}

impl TryFrom<NewUserBody> for NewUser {
    type Error = AppError;
    fn try_from(body: NewUserBody) -> AppResult<NewUser> {
        let password = Password::parse(&body.password)?;
        let mut v = Violations::new();
        let email = Email::parse(&body.email).map_err(|m| v.add("email", m)).ok();
        let name = parse_name(&body.name, 64).map_err(|m| v.add("name", m)).ok();
        v.finish("validation_failed")?;
        match (email, name) {
            (Some(email), Some(name)) => Ok(NewUser { email, name, password, role: body.role }),
            _ => Err(AppError::unprocessable("validation_failed", "invalid user")),
        }
    }
}

/// Loads an organisation the actor can see and may manage the users of.
pub fn authorize_user_management(conn: &mut DbConn, actor: &Actor, org_id: &str) -> AppResult<OrgRow> {
    let filter = OrgFilter { id: Some(org_id.to_owned()), ..Default::default() };
    let (org, region_path) =
        visible_orgs(conn, actor, filter, 1)?.pop().ok_or_else(|| AppError::not_found("organization"))?;
    policy::require_user_management(actor, &org, OrgKind::parse(&org.kind)?, &region_path)?;
    Ok(org)
}

/// Checks everything about a new user that needs the database, before the slow password hash.
pub fn prepare_user(conn: &mut DbConn, actor: &Actor, org_id: &str, user: &NewUser) -> AppResult<()> {
    authorize_user_management(conn, actor, org_id)?;
    if model::email_exists(conn, user.email.as_str())? {
        return Err(email_taken());
    }
    Ok(())
}

fn email_taken() -> AppError {
    AppError::conflict("email_taken", "a user with this email already exists")
}

/// Inserts a user whose password is already hashed.
pub fn insert_user(
    conn: &mut DbConn,
    org_id: &str,
    user: &NewUser,
    password_hash: String,
    now: NaiveDateTime,
) -> AppResult<UserView> {
    let row = UserRow {
        id: new_id("usr"),
        org_id: org_id.to_owned(),
        email: user.email.as_str().to_owned(),
        name: user.name.clone(),
        role: user.role.as_str().to_owned(),
        password_hash,
        created_at: now,
    };
    model::insert_user(conn, &row).map_err(|e| match e {
        AppError::Database(d) => on_unique_violation(d, email_taken),
        other => other,
    })?;
    // Security-relevant: the person learns that an account was opened in their name.
    enqueue(conn, &Notice::AccountCreated { user_id: row.id.clone() }, now)?;
    UserView::from_record(UserRecord {
        id: row.id,
        org_id: row.org_id,
        email: row.email,
        name: row.name,
        role: row.role,
        created_at: row.created_at,
    })
}

/// Creates a user with no acting user (bootstrap, demo data, CLI); hashes inline.
pub fn create_user_unchecked(
    conn: &mut DbConn,
    org_id: &str,
    user: &NewUser,
    now: NaiveDateTime,
) -> AppResult<UserView> {
    if model::email_exists(conn, user.email.as_str())? {
        return Err(email_taken());
    }
    let hash = hash_password(&user.password)?;
    insert_user(conn, org_id, user, hash, now)
}

pub fn list_users(conn: &mut DbConn, actor: &Actor, org_id: &str, page: &PageRequest) -> AppResult<Page<UserView>> {
    authorize_user_management(conn, actor, org_id)?;
    let rows = model::users_of_org(conn, org_id, page.after.as_deref(), page.limit + 1)?;
    let page = Page::from_rows(rows, page, |u| u.id.clone(), |u| u);
    Ok(Page {
        items: page.items.into_iter().map(UserView::from_record).collect::<AppResult<_>>()?,
        next_cursor: page.next_cursor,
    })
}

/// Creates the first platform organisation and admin from the environment, once.
pub fn bootstrap_admin(
    conn: &mut DbConn,
    admin: &crate::config::BootstrapAdmin,
    now: NaiveDateTime,
) -> AppResult<bool> {
    let email = Email::parse(&admin.email).map_err(|m| anyhow::anyhow!("DONGXI_BOOTSTRAP_ADMIN_EMAIL {m}"))?;
    if model::find_user_by_email(conn, email.as_str())?.is_some() {
        return Ok(false);
    }
    let password = Password::parse(&admin.password.0)
        .map_err(|_| anyhow::anyhow!("DONGXI_BOOTSTRAP_ADMIN_PASSWORD must have at least 10 characters"))?;
    let hash = hash_password(&password)?;
    crate::db::write_tx(conn, |conn| {
        let org = create_org_unchecked(conn, "东西平台运营", OrgKind::Platform, &admin.region_code, None, now)?;
        let user = NewUser { email, name: "平台管理员".into(), password, role: Role::Admin };
        insert_user(conn, &org.id, &user, hash, now)?;
        Ok(true)
    })
}
