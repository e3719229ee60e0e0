use std::collections::HashMap;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, RegionRow};
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult, Violations};
use crate::http::pagination::{Page, PageRequest};
use crate::identity::Actor;
use crate::identity::policy;
use crate::validate::parse_name;

/// The national list shipped with the code; bump the version when the file changes.
const NATIONAL_DATASET: &str = include_str!("../../migrations/data/regions-gb2260.tsv");
const NATIONAL_DATASET_VERSION: &str = "nbs-2023-gb2260-v1";
const DATASET_META_KEY: &str = "regions_dataset";

/// Names that stand for "the prefecture's own districts" rather than a place; left out of full names.
const PLACEHOLDER_NAMES: [&str; 4] = ["市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegionLevel {
    Province,
    Prefecture,
    County,
    Town,
    Village,
    Unit,
}

impl RegionLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RegionLevel::Province => "province",
            RegionLevel::Prefecture => "prefecture",
            RegionLevel::County => "county",
            RegionLevel::Town => "town",
            RegionLevel::Village => "village",
            RegionLevel::Unit => "unit",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "province" => RegionLevel::Province,
            "prefecture" => RegionLevel::Prefecture,
            "county" => RegionLevel::County,
            "town" => RegionLevel::Town,
            "village" => RegionLevel::Village,
            "unit" => RegionLevel::Unit,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct RegionView {
    pub code: String,
    pub name: String,
    /// The chain from the province down, e.g. `贵州省 黔西南布依族苗族自治州 普安县`.
    pub full_name: String,
    pub level: RegionLevel,
    pub parent_code: Option<String>,
    /// True when this region or one of its ancestors is marked as a recipient (assisted) region.
    pub assisted: bool,
    /// True for units of the national division list; false for units added by coordinators.
    pub national: bool,
}

/// The `/`-joined ancestor chain of a region, used for containment checks by prefix.
pub fn path_of(conn: &mut DbConn, code: &str) -> AppResult<Option<String>> {
    Ok(model::find(conn, code)?.map(|r| r.path))
}

fn ancestor_codes(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty()).collect()
}

/// Builds views for rows, loading every ancestor in one query.
pub fn views(conn: &mut DbConn, rows: Vec<RegionRow>) -> AppResult<Vec<RegionView>> {
    let mut wanted: Vec<&str> = rows.iter().flat_map(|r| ancestor_codes(&r.path)).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let ancestors: HashMap<String, RegionRow> =
        model::find_many(conn, &wanted)?.into_iter().map(|r| (r.code.clone(), r)).collect();
    rows.into_iter()
        .map(|row| {
            let chain: Vec<&RegionRow> = ancestor_codes(&row.path).iter().filter_map(|c| ancestors.get(*c)).collect();
            let full_name = chain
                .iter()
                .filter(|r| r.code == row.code || !PLACEHOLDER_NAMES.contains(&r.name.as_str()))
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let assisted = chain.iter().any(|r| r.assisted_mark);
            let level = RegionLevel::parse(&row.level)
                .ok_or_else(|| AppError::Unexpected(anyhow::anyhow!("bad region level {}", row.level)))?;
            Ok(RegionView {
                code: row.code,
                name: row.name,
                full_name,
                level,
                parent_code: row.parent_code,
                assisted,
                national: row.national,
            })
        })
        .collect()
}

pub fn get(conn: &mut DbConn, code: &str) -> AppResult<RegionView> {
    let row = model::find(conn, code)?.ok_or_else(|| AppError::not_found("region"))?;
    Ok(views(conn, vec![row])?.remove(0))
}

/// Whether goods from this region may be sold as assistance products.
pub fn is_assisted(conn: &mut DbConn, code: &str) -> AppResult<bool> {
    Ok(get(conn, code)?.assisted)
}

pub fn list_children(conn: &mut DbConn, parent: Option<&str>, page: &PageRequest) -> AppResult<Page<RegionView>> {
    if let Some(p) = parent {
        model::find(conn, p)?.ok_or_else(|| AppError::invalid_field("unknown_region", "parent", "no such region"))?;
    }
    let rows = model::children(conn, parent, page.after.as_deref(), page.limit + 1)?;
    let views = views(conn, rows)?;
    Ok(Page::from_rows(views, page, |v| v.code.clone(), |v| v))
}

/// Loads the national division list once per dataset version: inserts missing units and
/// follows renames, never deleting (organisations and history refer to old codes).
pub fn load_national(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<usize> {
    if db::meta_get(conn, DATASET_META_KEY)?.as_deref() == Some(NATIONAL_DATASET_VERSION) {
        return Ok(0);
    }
    db::write_tx(conn, |conn| {
        let existing: HashMap<String, String> = model::all_codes(conn)?.into_iter().collect();
        let mut paths: HashMap<String, String> = HashMap::new();
        let mut new_rows = Vec::new();
        for (n, line) in NATIONAL_DATASET.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            let [code, name, level, parent] = cols[..] else {
                return Err(anyhow::anyhow!("regions data line {}: want 4 columns", n + 1).into());
            };
            let parent_code = (!parent.is_empty()).then(|| parent.to_owned());
            let parent_path = match &parent_code {
                Some(p) => paths
                    .get(p)
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("regions data line {}: parent {p} not listed before", n + 1))?,
                None => String::new(),
            };
            let path = format!("{parent_path}{code}/");
            paths.insert(code.to_owned(), path.clone());
            match existing.get(code) {
                Some(old_name) if old_name != name => model::rename(conn, code, name)?,
                Some(_) => {}
                None => new_rows.push(RegionRow {
                    code: code.to_owned(),
                    name: name.to_owned(),
                    level: level.to_owned(),
                    parent_code,
                    path,
                    assisted_mark: false,
                    national: true,
                    created_at: now,
                }),
            }
        }
        let inserted = model::insert_many(conn, &new_rows)?;
        db::meta_set(conn, DATASET_META_KEY, NATIONAL_DATASET_VERSION)?;
        Ok(inserted)
    })
}

pub fn national_dataset_loaded(conn: &mut DbConn) -> AppResult<bool> {
    Ok(db::meta_get(conn, DATASET_META_KEY)?.as_deref() == Some(NATIONAL_DATASET_VERSION))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRegionBody {
    /// 2 to 32 characters of digits, letters and `-`; six-digit codes belong to the national list.
    #[schema(pattern = r"^[0-9A-Za-z][0-9A-Za-z-]{1,31}$")]
    pub code: String,
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    pub parent_code: String,
    /// `town`, `village` or `unit`.
    #[schema(pattern = r"^(town|village|unit)$")]
    pub level: String,
}

pub fn create_unit(conn: &mut DbConn, actor: &Actor, body: NewRegionBody, now: NaiveDateTime) -> AppResult<RegionView> {
    let mut v = Violations::new();
    let code = body.code.trim().to_uppercase();
    let code_ok = (2..=32).contains(&code.len())
        && code.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase() || c == '-')
        && !code.starts_with('-');
    v.check(code_ok, "code", "must be 2 to 32 characters of digits, letters and '-'");
    v.check(
        !(code.len() == 6 && code.chars().all(|c| c.is_ascii_digit())),
        "code",
        "six-digit codes are reserved for the national division list",
    );
    let name = parse_name(&body.name, 64).map_err(|m| v.add("name", m)).ok();
    let level = match RegionLevel::parse(&body.level) {
        Some(l @ (RegionLevel::Town | RegionLevel::Village | RegionLevel::Unit)) => Some(l),
        _ => {
            v.add("level", "must be town, village or unit");
            None
        }
    };
    v.finish("validation_failed")?;
    let (Some(name), Some(level)) = (name, level) else {
        return Err(AppError::unprocessable("validation_failed", "invalid region"));
    };

    let parent = model::find(conn, &body.parent_code)?
        .ok_or_else(|| AppError::invalid_field("unknown_region", "parent_code", "no such region"))?;
    policy::require_region_admin(actor, &parent.path)?;
    let parent_level = RegionLevel::parse(&parent.level);
    let fits = match level {
        RegionLevel::Town => parent_level == Some(RegionLevel::County),
        RegionLevel::Village => matches!(parent_level, Some(RegionLevel::County | RegionLevel::Town)),
        _ => parent_level != Some(RegionLevel::Village) || level == RegionLevel::Unit,
    };
    if !fits {
        return Err(AppError::invalid_field(
            "validation_failed",
            "level",
            format!("a {} cannot sit under a {}", level.as_str(), parent.level),
        ));
    }
    if model::find(conn, &code)?.is_some() {
        return Err(AppError::conflict("region_exists", format!("region {code} already exists")));
    }
    let row = RegionRow {
        path: format!("{}{code}/", parent.path),
        code,
        name,
        level: level.as_str().to_owned(),
        parent_code: Some(parent.code),
        assisted_mark: false,
        national: false,
        created_at: now,
    };
    model::insert_many(conn, std::slice::from_ref(&row)).map_err(|e| match e {
        AppError::Database(d) => {
            crate::error::on_unique_violation(d, || AppError::conflict("region_exists", "region already exists"))
        }
        other => other,
    })?;
    Ok(views(conn, vec![row])?.remove(0))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchRegionBody {
    pub assisted: bool,
}

pub fn set_assisted(conn: &mut DbConn, actor: &Actor, code: &str, body: PatchRegionBody) -> AppResult<RegionView> {
    policy::require_platform_admin(actor)?;
    if model::set_assisted_mark(conn, code, body.assisted)? == 0 {
        return Err(AppError::not_found("region"));
    }
    get(conn, code)
}
