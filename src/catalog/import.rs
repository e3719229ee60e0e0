//! `dongxi import products FILE --producer ID`: CSV or XLSX, every row validated before anything
//! is written, then all rows in one transaction, or none.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDateTime;

use super::categories;
use super::model;
use super::service::new_row;
use super::types::{ProductFields, Storage, Tier};
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult, Violations};
use crate::identity::types::OrgKind;
use crate::regions;

/// Columns, by English name and the Chinese heading a producer's spreadsheet may use instead.
const COLUMNS: [(&str, &str, bool); 14] = [
    ("name", "名称", true),
    ("category", "品类", true),
    ("description", "描述", false),
    ("origin_region_code", "产地代码", true),
    ("unit", "单位", true),
    ("spec", "规格", true),
    ("net_weight_g", "净重克", false),
    ("price_fen", "价格分", true),
    ("tiers", "阶梯价", false),
    ("min_order_qty", "起订量", false),
    ("stock", "库存", true),
    ("storage", "储存", false),
    ("shelf_life_days", "保质期天", false),
    ("images", "图片", false),
];

/// One problem, located as a spreadsheet user would find it: row 1 is the heading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    pub row: usize,
    pub column: String,
    pub message: String,
}

impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row {}, column {}: {}", self.row, self.column, self.message)
    }
}

pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Reads a CSV (UTF-8, with or without BOM) or the first sheet of an XLSX file.
pub fn read_table(path: &Path) -> anyhow::Result<Table> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    read_table_bytes(ext, std::fs::read(path)?)
}

/// [`read_table`] of a file's bytes, its type named by its extension (`csv`, `xlsx` …): what an
/// upload gives.
pub fn read_table_bytes(ext: &str, bytes: Vec<u8>) -> anyhow::Result<Table> {
    match ext.to_ascii_lowercase().as_str() {
        "csv" => {
            let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes.as_slice());
            let headers =
                reader.headers()?.iter().map(|h| h.trim_start_matches('\u{feff}').trim().to_owned()).collect();
            let mut rows = Vec::new();
            for record in reader.records() {
                rows.push(record?.iter().map(str::to_owned).collect());
            }
            Ok(Table { headers, rows })
        }
        "xlsx" | "xls" | "xlsm" | "ods" => {
            use calamine::{Data, Reader, open_workbook_auto_from_rs};
            let mut workbook = open_workbook_auto_from_rs(std::io::Cursor::new(bytes))?;
            let sheet =
                workbook.sheet_names().first().cloned().ok_or_else(|| anyhow::anyhow!("the workbook has no sheet"))?;
            let range = workbook.worksheet_range(&sheet)?;
            let cell = |d: &Data| match d {
                Data::Empty => String::new(),
                Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
                other => other.to_string(),
            };
            let mut iter = range.rows();
            let headers =
                iter.next().map(|r| r.iter().map(|c| cell(c).trim().to_owned()).collect()).unwrap_or_default();
            let rows = iter.map(|r| r.iter().map(cell).collect()).collect();
            Ok(Table { headers, rows })
        }
        other => anyhow::bail!("unsupported file type '.{other}': use .csv or .xlsx"),
    }
}

fn parse_int(value: &str) -> Result<Option<i64>, String> {
    let v = value.trim().replace(',', "");
    if v.is_empty() {
        return Ok(None);
    }
    v.parse::<i64>().map(Some).map_err(|_| format!("'{value}' is not a whole number"))
}

fn parse_tiers(value: &str) -> Result<Vec<Tier>, String> {
    value
        .split([';', '；'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|part| {
            let (q, p) = part.split_once([':', '：']).ok_or_else(|| format!("'{part}' is not min_qty:price_fen"))?;
            let min_qty = q.trim().parse().map_err(|_| format!("'{q}' is not a quantity"))?;
            let price_fen = p.trim().parse().map_err(|_| format!("'{p}' is not a price in fen"))?;
            Ok(Tier { min_qty, price_fen })
        })
        .collect()
}

/// A row that passed every check, with its origin's region path.
pub type ValidRow = (ProductFields, String);

struct RegionCheck {
    path: String,
    assisted: bool,
}

/// Validates every row; either all rows as product fields with their origin paths, or every problem.
pub fn validate_table(
    conn: &mut DbConn,
    table: &Table,
    mut progress: impl FnMut(),
) -> AppResult<Result<Vec<ValidRow>, Vec<RowProblem>>> {
    let mut problems = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (code, chinese, required) in COLUMNS {
        match table.headers.iter().position(|h| h == code || h == chinese) {
            Some(i) => {
                index.insert(code, i);
            }
            None if required => {
                problems.push(RowProblem { row: 1, column: code.into(), message: "required column is missing".into() })
            }
            None => {}
        }
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let mut regions_seen: HashMap<String, Option<RegionCheck>> = HashMap::new();
    let mut out = Vec::with_capacity(table.rows.len());
    for (n, cells) in table.rows.iter().enumerate() {
        progress();
        let row_no = n + 2;
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let get =
            |col: &str| index.get(col).and_then(|i| cells.get(*i)).map(|s| s.trim().to_owned()).unwrap_or_default();
        let mut row_problems = Vec::new();
        let int = |col: &str, problems: &mut Vec<RowProblem>| match parse_int(&get(col)) {
            Ok(v) => v,
            Err(message) => {
                problems.push(RowProblem { row: row_no, column: col.into(), message });
                None
            }
        };
        let net_weight_g = int("net_weight_g", &mut row_problems);
        let price_fen = int("price_fen", &mut row_problems);
        let min_order_qty = int("min_order_qty", &mut row_problems);
        let stock = int("stock", &mut row_problems);
        let shelf_life_days = int("shelf_life_days", &mut row_problems);
        let tiers = parse_tiers(&get("tiers")).unwrap_or_else(|message| {
            row_problems.push(RowProblem { row: row_no, column: "tiers".into(), message });
            Vec::new()
        });
        let storage_text = get("storage");
        let storage = if storage_text.is_empty() {
            Storage::Ambient
        } else {
            Storage::parse(&storage_text).unwrap_or_else(|| {
                row_problems.push(RowProblem {
                    row: row_no,
                    column: "storage".into(),
                    message: "must be ambient, chilled or frozen (常温/冷藏/冷冻)".into(),
                });
                Storage::Ambient
            })
        };
        let category_text = get("category");
        let category =
            categories::find_by_code_or_name(&category_text).map(|c| c.code.to_owned()).unwrap_or(category_text);
        let mut fields = ProductFields {
            name: get("name"),
            category,
            description: get("description"),
            origin_region_code: get("origin_region_code"),
            unit: get("unit"),
            spec: get("spec"),
            net_weight_g,
            price_fen: price_fen.unwrap_or(0),
            tiers,
            min_order_qty: min_order_qty.unwrap_or(1),
            stock: stock.unwrap_or(0),
            storage,
            shelf_life_days,
            images: get("images").split('|').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        };
        let mut v = Violations::new();
        fields.validate(&mut v);
        if let Err(AppError::Problem(p)) = v.finish("validation_failed") {
            for e in p.errors {
                if !row_problems.iter().any(|rp| e.field.starts_with(&rp.column)) {
                    row_problems.push(RowProblem { row: row_no, column: e.field, message: e.message });
                }
            }
        }
        let code = fields.origin_region_code.clone();
        if !regions_seen.contains_key(&code) {
            let check = match regions::model::find(conn, &code)? {
                Some(r) => Some(RegionCheck { assisted: regions::service::is_assisted(conn, &code)?, path: r.path }),
                None => None,
            };
            regions_seen.insert(code.clone(), check);
        }
        let origin_path = match regions_seen.get(&code).and_then(|c| c.as_ref()) {
            None => {
                row_problems.push(RowProblem {
                    row: row_no,
                    column: "origin_region_code".into(),
                    message: format!("unknown region '{code}'"),
                });
                String::new()
            }
            Some(c) if !c.assisted => {
                row_problems.push(RowProblem {
                    row: row_no,
                    column: "origin_region_code".into(),
                    message: format!("region {code} is not assisted"),
                });
                String::new()
            }
            Some(c) => c.path.clone(),
        };
        if row_problems.is_empty() {
            out.push((fields, origin_path));
        } else {
            problems.extend(row_problems);
        }
    }
    Ok(if problems.is_empty() { Ok(out) } else { Err(problems) })
}

pub enum ImportOutcome {
    Imported(usize),
    Rejected(Vec<RowProblem>),
}

/// Imports drafts for `producer_id`: all rows, or, when any row is bad, none.
pub fn import(
    conn: &mut DbConn,
    producer_id: &str,
    table: &Table,
    now: NaiveDateTime,
    mut on_validated: impl FnMut(),
    mut on_written: impl FnMut(u64),
) -> AppResult<ImportOutcome> {
    let (org, _) = crate::identity::model::find_org(conn, producer_id)?.ok_or_else(|| {
        AppError::invalid_field("validation_failed", "producer", format!("no organisation {producer_id}"))
    })?;
    if org.kind != OrgKind::Producer.as_str() {
        return Err(AppError::invalid_field(
            "validation_failed",
            "producer",
            format!("{} is not a producer", org.name),
        ));
    }
    let rows = match validate_table(conn, table, &mut on_validated)? {
        Ok(rows) => rows,
        Err(problems) => return Ok(ImportOutcome::Rejected(problems)),
    };
    let rows: Vec<_> = rows.into_iter().map(|(fields, path)| new_row(producer_id, fields, path, now)).collect();
    let count = rows.len();
    db::write_tx(conn, |conn| {
        for chunk in rows.chunks(1000) {
            model::insert_many(conn, chunk)?;
            on_written(chunk.len() as u64);
        }
        Ok(())
    })?;
    Ok(ImportOutcome::Imported(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_parse_in_either_punctuation() {
        assert_eq!(
            parse_tiers("10:6500; 100：6000；").unwrap(),
            vec![Tier { min_qty: 10, price_fen: 6500 }, Tier { min_qty: 100, price_fen: 6000 }]
        );
        assert!(parse_tiers("10-6500").is_err());
        assert_eq!(parse_tiers("").unwrap(), vec![]);
    }

    #[test]
    fn integers_allow_thousands_separators() {
        assert_eq!(parse_int("1,200"), Ok(Some(1200)));
        assert_eq!(parse_int(" "), Ok(None));
        assert!(parse_int("12.5").is_err());
    }
}
