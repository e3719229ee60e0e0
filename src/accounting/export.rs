//! Reports as files to send upward: CSV (UTF-8 with a byte-order mark, so Excel reads the
//! Chinese) and XLSX, with Chinese column headers, amounts in yuan with two decimals, and a title
//! row naming the scope, the year and the as-of time.

use super::entries;
use super::progress;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rust_xlsxwriter::{Format, FormatAlign, Workbook};

use super::breakdown::BreakdownView;
use super::bulletin::BulletinView;
use super::entries::EntryView;
use super::entries::LedgerQuery;
use super::laggards::LaggardsView;
use super::progress::ProgressView;
use super::span::{label_of, stem_of};
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::error::{AppError, AppResult};
use crate::http::pagination::PageRequest;
use crate::identity::Actor;
use crate::money::Fen;

pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Json,
    Csv,
    Xlsx,
}

pub fn parse_format(raw: Option<&str>) -> AppResult<FileFormat> {
    match raw {
        None | Some("json") => Ok(FileFormat::Json),
        Some("csv") => Ok(FileFormat::Csv),
        Some("xlsx") => Ok(FileFormat::Xlsx),
        Some(_) => Err(AppError::invalid_field("validation_failed", "format", "must be json, csv or xlsx")),
    }
}

#[derive(Debug, Clone)]
pub enum Cell {
    Text(String),
    Yuan(i64),
    Ratio(f64),
    Int(i64),
    Empty,
}

/// A sheet: a title, optional label/value lines, a header row and rows.
#[derive(Debug, Clone)]
pub struct Table {
    pub title: String,
    pub file_stem: String,
    pub preamble: Vec<(String, Cell)>,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

/// "截至 2021年12月31日 24:00（北京时间）" style, in the deployment's zone.
pub fn as_of_text(at: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    let local = at.with_timezone(&zone);
    let zone_name = if zone == chrono_tz::Asia::Shanghai { "北京时间".to_owned() } else { zone.to_string() };
    format!("截至 {}（{zone_name}）", local.format("%Y年%m月%d日 %H:%M"))
}

/// Text as a spreadsheet shows it, never as a formula: a text that a spreadsheet would read as
/// one (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return; an organisation or a
/// product may be named so) gets a leading `'`, which Excel and LibreOffice take as "text".
/// Numbers are not texts, so a negative amount keeps its sign.
pub fn never_a_formula(s: &str) -> String {
    if starts_like_a_formula(s) { format!("'{s}") } else { s.to_owned() }
}

fn starts_like_a_formula(s: &str) -> bool {
    matches!(s.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r'))
}

/// A cell read back from a sheet we wrote (an order-sheet template filled in): `'=…` is the text
/// `=…` that [`never_a_formula`] guarded; any other cell is itself.
pub fn as_written(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if starts_like_a_formula(rest) => rest,
        _ => s,
    }
}

fn text(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) => never_a_formula(s),
        Cell::Yuan(f) => Fen(*f).yuan(),
        Cell::Ratio(r) => format!("{:.2}%", r * 100.0),
        Cell::Int(n) => n.to_string(),
        Cell::Empty => String::new(),
    }
}

pub fn csv(table: &Table) -> AppResult<Vec<u8>> {
    let mut out = Vec::from("\u{FEFF}".as_bytes());
    {
        let mut w = csv::WriterBuilder::new().flexible(true).from_writer(&mut out);
        let fail = |e: csv::Error| AppError::Unexpected(anyhow::anyhow!("csv: {e}"));
        w.write_record([never_a_formula(&table.title)]).map_err(fail)?;
        for (label, value) in &table.preamble {
            w.write_record([never_a_formula(label), text(value)]).map_err(fail)?;
        }
        w.write_record(&table.headers).map_err(fail)?;
        for row in &table.rows {
            w.write_record(row.iter().map(text)).map_err(fail)?;
        }
        w.flush().map_err(|e| AppError::Unexpected(anyhow::anyhow!("csv: {e}")))?;
    }
    Ok(out)
}

pub fn xlsx(table: &Table) -> AppResult<Vec<u8>> {
    let fail = |e: rust_xlsxwriter::XlsxError| AppError::Unexpected(anyhow::anyhow!("xlsx: {e}"));
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("报表").map_err(fail)?;
    let title = Format::new().set_bold().set_font_size(14);
    let bold = Format::new().set_bold().set_align(FormatAlign::Center);
    let yuan = Format::new().set_num_format("#,##0.00");
    let percent = Format::new().set_num_format("0.00%");
    let columns = table.headers.len().max(2) as u16;
    sheet.merge_range(0, 0, 0, columns - 1, &table.title, &title).map_err(fail)?;
    let mut r: u32 = 1;
    let put = |sheet: &mut rust_xlsxwriter::Worksheet, r: u32, c: u16, cell: &Cell| -> AppResult<()> {
        match cell {
            Cell::Text(s) => sheet.write_string(r, c, s).map(|_| ()),
            Cell::Yuan(f) => sheet.write_number_with_format(r, c, *f as f64 / 100.0, &yuan).map(|_| ()),
            Cell::Ratio(x) => sheet.write_number_with_format(r, c, *x, &percent).map(|_| ()),
            Cell::Int(n) => sheet.write_number(r, c, *n as f64).map(|_| ()),
            Cell::Empty => Ok(()),
        }
        .map_err(fail)
    };
    for (label, value) in &table.preamble {
        sheet.write_string_with_format(r, 0, label, &Format::new().set_bold()).map_err(fail)?;
        put(sheet, r, 1, value)?;
        r += 1;
    }
    if !table.preamble.is_empty() {
        r += 1;
    }
    for (c, h) in table.headers.iter().enumerate() {
        sheet.write_string_with_format(r, c as u16, *h, &bold).map_err(fail)?;
    }
    r += 1;
    for row in &table.rows {
        for (c, cell) in row.iter().enumerate() {
            put(sheet, r, c as u16, cell)?;
        }
        r += 1;
    }
    for c in 0..columns {
        sheet.set_column_width(c, if c == 0 { 28 } else { 16 }).map_err(fail)?;
    }
    book.save_to_buffer().map_err(fail)
}

/// The file as a download.
pub fn download(table: &Table, format: FileFormat) -> AppResult<Response> {
    let (body, content_type, ext) = match format {
        FileFormat::Csv => (csv(table)?, "text/csv; charset=utf-8", "csv"),
        FileFormat::Xlsx => (xlsx(table)?, XLSX_TYPE, "xlsx"),
        FileFormat::Json => return Err(AppError::Unexpected(anyhow::anyhow!("json is not a download"))),
    };
    attachment(body, content_type, &table.file_stem, &table.title, ext)
}

/// A file as a download named `{stem}.{ext}` (ASCII) and `{title}.{ext}` for clients that read
/// RFC 5987 names (Chinese titles).
pub fn attachment(
    body: Vec<u8>,
    content_type: &'static str,
    stem: &str,
    title: &str,
    ext: &str,
) -> AppResult<Response> {
    let encoded: String = title
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{stem}.{ext}\"; filename*=UTF-8''{encoded}.{ext}");
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

pub fn progress_table(p: &ProgressView, zone: chrono_tz::Tz) -> Table {
    let mut running = 0;
    Table {
        title: format!(
            "{} {} 消费帮扶进度（{}）",
            p.scope_name,
            label_of(p.year, &p.period),
            as_of_text(p.as_of, zone)
        ),
        file_stem: format!("progress-{}-{}", p.scope_id, stem_of(p.year, &p.period)),
        preamble: vec![
            ("范围".into(), Cell::Text(format!("{}：{}", p.scope_kind.label(), p.scope_name))),
            ("期间".into(), Cell::Text(format!("{} 至 {}", p.starts_on, p.ends_on))),
            ("年度目标（元）".into(), p.year_target_fen.map(Cell::Yuan).unwrap_or(Cell::Text("未设目标".into()))),
            ("本期目标（元）".into(), p.target_fen.map(Cell::Yuan).unwrap_or(Cell::Empty)),
            ("已计入（元）".into(), Cell::Yuan(p.counted_fen)),
            ("完成率".into(), p.ratio.map(Cell::Ratio).unwrap_or(Cell::Empty)),
            ("序时进度（元）".into(), p.expected_to_date_fen.map(Cell::Yuan).unwrap_or(Cell::Empty)),
            (
                if p.period == "year" { "预计全年（元）" } else { "预计期末（元）" }.into(),
                Cell::Yuan(p.projected_year_end_fen),
            ),
            ("状态".into(), Cell::Text(p.status.label().into())),
        ],
        headers: vec!["月份", "当月计入（元）", "累计计入（元）"],
        rows: p
            .by_month
            .iter()
            .map(|m| {
                running += m.counted_fen;
                vec![Cell::Text(m.month.clone()), Cell::Yuan(m.counted_fen), Cell::Yuan(running)]
            })
            .collect(),
    }
}

pub fn breakdown_table(b: &BreakdownView, zone: chrono_tz::Tz) -> Table {
    let mut rows: Vec<Vec<Cell>> = b
        .rows
        .iter()
        .map(|r| {
            vec![
                Cell::Text(r.name.clone()),
                Cell::Text(r.key.clone()),
                Cell::Yuan(r.counted_fen),
                r.target_fen.map(Cell::Yuan).unwrap_or(Cell::Empty),
                r.ratio.map(Cell::Ratio).unwrap_or(Cell::Empty),
            ]
        })
        .collect();
    rows.push(vec![Cell::Text("合计".into()), Cell::Empty, Cell::Yuan(b.total_fen), Cell::Empty, Cell::Empty]);
    Table {
        title: format!(
            "{} {} 消费帮扶分{}统计（{}）",
            b.scope_name,
            label_of(b.year, &b.period),
            b.by.label(),
            as_of_text(b.as_of, zone)
        ),
        file_stem: format!("breakdown-{}-{}-{}", b.by.as_str(), b.scope_id, stem_of(b.year, &b.period)),
        preamble: vec![],
        headers: vec![b.by.label(), "代码", "已计入（元）", "目标（元）", "完成率"],
        rows,
    }
}

pub fn bulletin_table(b: &BulletinView, zone: chrono_tz::Tz) -> Table {
    let counts = format!(
        "已完成 {}，进度正常 {}，进度滞后 {}，未设目标 {}（共 {} 个单位）",
        b.achieved, b.on_track, b.behind, b.no_target, b.units
    );
    Table {
        title: format!(
            "{} {} 消费帮扶预留份额完成情况通报（{}）",
            b.org_name,
            label_of(b.year, &b.period),
            as_of_text(b.as_of, zone)
        ),
        file_stem: format!("bulletin-{}-{}", b.org_id, stem_of(b.year, &b.period)),
        preamble: vec![
            ("期间".into(), Cell::Text(format!("{} 至 {}", b.starts_on, b.ends_on))),
            ("单位".into(), Cell::Text(counts)),
            ("合计目标（元）".into(), Cell::Yuan(b.target_fen)),
            ("合计计入（元）".into(), Cell::Yuan(b.counted_fen)),
            ("完成率".into(), b.ratio.map(Cell::Ratio).unwrap_or(Cell::Empty)),
        ],
        headers: vec!["排名", "单位", "本期目标（元）", "已计入（元）", "完成率", "序时进度（元）", "状态"],
        rows: b
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.rank.map(|n| Cell::Int(n.into())).unwrap_or(Cell::Empty),
                    Cell::Text(r.name.clone()),
                    r.target_fen.map(Cell::Yuan).unwrap_or(Cell::Text("未设目标".into())),
                    Cell::Yuan(r.counted_fen),
                    r.ratio.map(Cell::Ratio).unwrap_or(Cell::Empty),
                    r.expected_to_date_fen.map(Cell::Yuan).unwrap_or(Cell::Empty),
                    Cell::Text(r.status.label().into()),
                ]
            })
            .collect(),
    }
}

pub fn laggards_table(l: &LaggardsView, zone: chrono_tz::Tz) -> Table {
    Table {
        title: format!(
            "{} {} 预留份额进度排名（{}）",
            l.scope_name,
            label_of(l.year, &l.period),
            as_of_text(l.as_of, zone)
        ),
        file_stem: format!("laggards-{}-{}", l.scope_id, stem_of(l.year, &l.period)),
        preamble: vec![],
        headers: vec!["单位", "类型", "目标（元）", "已计入（元）", "完成率", "序时进度（元）", "状态"],
        rows: l
            .rows
            .iter()
            .map(|r| {
                vec![
                    Cell::Text(r.name.clone()),
                    Cell::Text(r.target_kind.label().into()),
                    Cell::Yuan(r.target_fen),
                    Cell::Yuan(r.counted_fen),
                    Cell::Ratio(r.ratio),
                    Cell::Yuan(r.expected_to_date_fen),
                    Cell::Text(r.status.label().into()),
                ]
            })
            .collect(),
    }
}

pub fn ledger_table(
    title_scope: &str,
    (year, period): (i32, &str),
    at: DateTime<Utc>,
    entries: &[EntryView],
    zone: chrono_tz::Tz,
) -> Table {
    let local = |t: DateTime<Utc>| t.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S").to_string();
    Table {
        title: format!("{title_scope} {} 消费帮扶台账（{}）", label_of(year, period), as_of_text(at, zone)),
        file_stem: format!("ledger-{}", stem_of(year, period)),
        preamble: vec![],
        headers: vec![
            "记账编号",
            "类型",
            "订单号",
            "子订单号",
            "金额（元）",
            "业务时间",
            "记账时间",
            "年度",
            "月份",
            "调整年度",
            "采购单位",
            "采购单位地区",
            "供应商",
            "产地",
            "结对关系",
            "认定证书号",
        ],
        rows: entries
            .iter()
            .map(|e| {
                vec![
                    Cell::Text(e.id.clone()),
                    Cell::Text(if e.kind == "count" { "计入".into() } else { "冲减".into() }),
                    Cell::Text(e.order_id.clone()),
                    Cell::Text(e.sub_order_id.clone()),
                    Cell::Yuan(e.amount_fen),
                    Cell::Text(local(e.counted_at)),
                    Cell::Text(local(e.recorded_at)),
                    Cell::Int(e.year as i64),
                    Cell::Int(e.month as i64),
                    e.adjusts_year.map(|y| Cell::Int(y as i64)).unwrap_or(Cell::Empty),
                    Cell::Text(e.buyer_org_id.clone()),
                    Cell::Text(e.buyer_region_code.clone()),
                    Cell::Text(e.producer_id.clone()),
                    Cell::Text(e.origin_region_code.clone()),
                    Cell::Text(e.pairing_id.clone().unwrap_or_default()),
                    Cell::Text(e.certificate_no.clone()),
                ]
            })
            .collect(),
    }
}

/// Rows an export may hold: enough for any province's year, small enough to build in memory.
const MAX_EXPORT_ROWS: usize = 200_000;

/// Every entry a ledger query selects, as a table to download.
pub fn ledger_export(conn: &mut DbConn, actor: &Actor, q: &LedgerQuery, ctx: &Ctx) -> AppResult<Table> {
    let mut all: Vec<EntryView> = Vec::new();
    let mut page = PageRequest { limit: 1000, after: None };
    loop {
        let batch = entries::ledger(conn, actor, q, &page, ctx)?;
        all.extend(batch.items);
        if all.len() > MAX_EXPORT_ROWS {
            return Err(AppError::invalid_field(
                "validation_failed",
                "format",
                "more than 200,000 entries; narrow the scope or the year",
            ));
        }
        match batch.next_cursor {
            Some(_) => page.after = all.last().map(|e| e.id.clone()),
            None => break,
        }
    }
    let title = match (&q.scope_kind, &q.scope_id) {
        (Some(kind), Some(id)) => {
            let scope = progress::visible_scope(conn, actor, kind, id)?;
            progress::scope_name(conn, &scope)?
        }
        _ => "全部".to_owned(),
    };
    let at = q.as_of.unwrap_or_else(|| crate::clock::utc(ctx.now));
    Ok(ledger_table(&title, (q.year, q.period.as_deref().unwrap_or("year")), at, &all, ctx.zone))
}

#[cfg(test)]
mod tests {
    use super::{Cell, Table, as_written, csv, never_a_formula};

    #[test]
    fn a_guarded_cell_reads_back_as_written() {
        for s in ["=HYPERLINK(\"http://x.cn\")", "+1", "-2", "@A1", "普安红茶", "'quoted", "'", ""] {
            assert_eq!(as_written(&never_a_formula(s)), s, "{s:?}");
        }
        assert_eq!(as_written("'=1"), "=1");
        assert_eq!(as_written("'普安"), "'普安", "an apostrophe before a plain text is the text's own");
    }

    #[test]
    fn a_csv_cell_is_never_a_formula() {
        let names = ["=HYPERLINK(\"http://x.cn\",\"点此\")", "+1+1", "-2+3", "@SUM(A1)", "\tX", "普安红茶", "a=b"];
        let table = Table {
            title: "=标题".into(),
            file_stem: "t".into(),
            preamble: vec![("@说明".into(), Cell::Text("-备注".into()))],
            headers: vec!["单位", "金额"],
            rows: names.iter().map(|n| vec![Cell::Text((*n).into()), Cell::Yuan(-1234)]).collect(),
        };
        let out = String::from_utf8(csv(&table).unwrap()).unwrap();
        let mut reader = ::csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(out.as_bytes());
        let records: Vec<Vec<String>> =
            reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
        assert_eq!(records[0][0], "'=标题");
        assert_eq!(records[1], ["'@说明", "'-备注"]);
        let cells: Vec<&str> = records[3..].iter().map(|r| r[0].as_str()).collect();
        assert_eq!(
            cells,
            ["'=HYPERLINK(\"http://x.cn\",\"点此\")", "'+1+1", "'-2+3", "'@SUM(A1)", "'\tX", "普安红茶", "a=b"]
        );
        // An amount is a number: its minus sign stays.
        assert!(records[3..].iter().all(|r| r[1] == "-12.34"), "{records:?}");
    }
}
