//! An order sheet (订货单): a CSV or XLSX file of lines (product code or name, quantity,
//! delivery address, contact, phone) read, checked line by line against the catalogue as it is
//! now, and placed as one order per delivery, all or none. Checking is pure reading: a preview
//! changes nothing, and placing checks again in its own transaction.

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::accounting::export::as_written;
use crate::catalog::import::read_table_bytes;
use crate::catalog::model::{self as products, ProductRow};
use crate::catalog::types::{MAX_ORDER_QTY, unit_price};
use crate::catalog::view::{CertificationStatus, certification_status};
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{order_sheets as s, products as p};
use crate::error::{AppError, AppResult};
use crate::identity::Actor;
use crate::identity::model::find_orgs;
use crate::ids::new_id;
use crate::orders::placing;
use crate::orders::types::{Delivery, LineBody, MAX_LINES, NewOrder, phone_ok};

/// The largest file taken (under the server's 1 MiB body limit, with room for the form).
pub const MAX_SHEET_BYTES: usize = 1_000_000;
/// The most lines one sheet may hold.
pub const MAX_SHEET_LINES: usize = 5_000;

/// The template's headings, in order; the reader also takes the English names.
pub const HEADINGS: [(&str, &str); 5] = [
    ("商品编码或名称", "product"),
    ("数量", "quantity"),
    ("收货地址", "address"),
    ("收货人", "contact"),
    ("联系电话", "phone"),
];

/// One line as read from the file, every cell as text; `row` as the spreadsheet numbers it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SheetRow {
    pub row: usize,
    pub product: String,
    pub quantity: String,
    pub address: String,
    pub contact: String,
    pub phone: String,
}

/// Why a file cannot be read at all (as opposed to a bad line, which the preview marks).
fn unreadable(message: impl Into<String>) -> AppError {
    AppError::invalid_field("sheet_unreadable", "file", message)
}

fn column_of(heading: &str) -> Option<usize> {
    let h = heading.trim().to_lowercase();
    let aliases: [&[&str]; 5] = [
        &["商品编码或名称", "商品编码", "商品名称", "商品", "product", "product_id", "product_code"],
        &["数量", "quantity"],
        &["收货地址", "地址", "address", "delivery_address"],
        &["收货人", "联系人", "contact", "contact_name"],
        &["联系电话", "电话", "手机", "phone"],
    ];
    aliases.iter().position(|names| names.contains(&h.as_str()))
}

/// Reads an uploaded file: a CSV (UTF-8) or XLSX whose first row holds the headings. Blank
/// lines are skipped; a missing contact or phone is taken from the upload form's defaults.
pub fn read(file_name: &str, bytes: Vec<u8>, default_contact: &str, default_phone: &str) -> AppResult<Vec<SheetRow>> {
    if bytes.is_empty() {
        return Err(unreadable("请选择一个订货单文件（.xlsx 或 .csv）"));
    }
    if bytes.len() > MAX_SHEET_BYTES {
        return Err(too_large(bytes.len()));
    }
    let ext = file_name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    if !matches!(ext.to_ascii_lowercase().as_str(), "csv" | "xlsx") {
        return Err(unreadable(format!("“{file_name}”不是 .xlsx 或 .csv 文件；请用下载的模板填写")));
    }
    let table = read_table_bytes(ext, bytes)
        .map_err(|e| unreadable(format!("文件无法读取（{e}）；请确认是 UTF-8 的 CSV 或 Excel 的 .xlsx")))?;
    let columns: Vec<Option<usize>> = table.headers.iter().map(|h| column_of(h)).collect();
    let place = |i: usize| columns.iter().position(|c| *c == Some(i));
    let (Some(product), Some(quantity), Some(address)) = (place(0), place(1), place(2)) else {
        return Err(unreadable(
            "第 1 行须是表头：商品编码或名称、数量、收货地址（收货人、联系电话可选）；请用下载的模板",
        ));
    };
    let (contact, phone) = (place(3), place(4));
    let cell = |r: &[String], i: Option<usize>| {
        i.and_then(|i| r.get(i)).map(|v| as_written(v.trim()).to_owned()).unwrap_or_default()
    };
    let mut rows = Vec::new();
    for (i, r) in table.rows.iter().enumerate() {
        if r.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if rows.len() == MAX_SHEET_LINES {
            return Err(unreadable(format!("一份订货单最多 {MAX_SHEET_LINES} 行；请分成几份上传")));
        }
        let or = |v: String, d: &str| if v.is_empty() { d.trim().to_owned() } else { v };
        rows.push(SheetRow {
            row: i + 2,
            product: cell(r, Some(product)),
            quantity: cell(r, Some(quantity)),
            address: cell(r, Some(address)),
            contact: or(cell(r, contact), default_contact),
            phone: or(cell(r, phone), default_phone),
        });
    }
    if rows.is_empty() {
        return Err(unreadable("文件里没有订货行"));
    }
    Ok(rows)
}

pub fn too_large(bytes: usize) -> AppError {
    AppError::problem(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("文件 {bytes} 字节，超过 {MAX_SHEET_BYTES} 字节（约 1 MB）的上限；请分成几份上传"),
    )
    .with("max_bytes", MAX_SHEET_BYTES)
}

/// A checked line: what it resolved to, what it costs, or what is wrong with it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckedLine {
    pub row: usize,
    pub typed: SheetRow,
    pub product_id: Option<String>,
    pub product_name: String,
    pub spec: String,
    pub unit: String,
    pub producer: String,
    pub quantity: i64,
    pub unit_price_fen: i64,
    pub subtotal_fen: i64,
    /// Which order of the sheet it lands in (1-based), once the line is good.
    pub order_no: usize,
    pub errors: Vec<String>,
}

/// An order the sheet will place: one delivery, its products with their total quantities.
#[derive(Debug, Clone)]
pub struct PlannedOrder {
    pub delivery: Delivery,
    pub lines: Vec<LineBody>,
    pub total_fen: i64,
}

#[derive(Debug, Clone)]
pub struct Checked {
    pub lines: Vec<CheckedLine>,
    pub orders: Vec<PlannedOrder>,
    pub total_fen: i64,
    pub bad_lines: usize,
}

/// Products by id, and products on sale by exact name.
type Resolved = (HashMap<String, ProductRow>, HashMap<String, Vec<ProductRow>>);

/// Products a sheet names, by id and by exact name, in one or two reads.
fn resolve(conn: &mut DbConn, rows: &[SheetRow]) -> AppResult<Resolved> {
    let mut ids: Vec<String> =
        rows.iter().filter(|r| r.product.starts_with("prd_")).map(|r| r.product.clone()).collect();
    let mut names: Vec<String> = rows
        .iter()
        .filter(|r| !r.product.starts_with("prd_") && !r.product.is_empty())
        .map(|r| r.product.clone())
        .collect();
    for v in [&mut ids, &mut names] {
        v.sort_unstable();
        v.dedup();
    }
    let mut by_id = HashMap::new();
    for chunk in ids.chunks(500) {
        for row in products::find_many(conn, chunk)? {
            by_id.insert(row.id.clone(), row);
        }
    }
    let mut by_name: HashMap<String, Vec<ProductRow>> = HashMap::new();
    for chunk in names.chunks(500) {
        let found: Vec<ProductRow> = p::table
            .filter(p::name.eq_any(chunk))
            .filter(p::status.eq("listed"))
            .select(ProductRow::as_select())
            .load(conn)?;
        for row in found {
            by_name.entry(row.name.clone()).or_default().push(row);
        }
    }
    Ok((by_id, by_name))
}

/// Lines with the same address, contact and phone are one delivery, so one order.
type DeliveryKey = (String, String, String);

fn delivery_of(r: &SheetRow) -> DeliveryKey {
    (r.address.clone(), r.contact.clone(), r.phone.clone())
}

fn char_len_ok(s: &str, max: usize) -> bool {
    !s.is_empty() && s.chars().count() <= max
}

/// Checks every line against the catalogue today: unknown product, not certified, below the
/// minimum (per order), out of stock (over the whole sheet), a bad quantity or delivery.
pub fn check(conn: &mut DbConn, rows: &[SheetRow], today: chrono::NaiveDate) -> AppResult<Checked> {
    let (by_id, by_name) = resolve(conn, rows)?;
    let mut lines: Vec<CheckedLine> = Vec::with_capacity(rows.len());
    let mut chosen: HashMap<String, ProductRow> = HashMap::new();
    for r in rows {
        let mut errors = Vec::new();
        let quantity = match r.quantity.replace(',', "").parse::<i64>() {
            Ok(q) if (1..=MAX_ORDER_QTY).contains(&q) => q,
            _ => {
                errors.push(format!("数量“{}”须是 1 到 {MAX_ORDER_QTY} 的整数", r.quantity));
                0
            }
        };
        let product = if r.product.is_empty() {
            errors.push("缺少商品编码或名称".to_owned());
            None
        } else if r.product.starts_with("prd_") {
            by_id.get(&r.product).filter(|p| p.status == "listed")
        } else {
            match by_name.get(&r.product).map(Vec::as_slice) {
                Some([one]) => Some(one),
                Some(many) if many.len() > 1 => {
                    errors.push(format!("有 {} 个商品叫“{}”，请填写商品编码", many.len(), r.product));
                    None
                }
                _ => None,
            }
        };
        if product.is_none() && !r.product.is_empty() && errors.iter().all(|e| !e.contains("请填写商品编码")) {
            errors.push(format!("没有在售的商品“{}”", r.product));
        }
        if let Some(p) = product {
            if certification_status(p, today) != CertificationStatus::Certified {
                errors.push("商品未通过帮扶产品认证或认证已过期，不能下单".to_owned());
            }
            chosen.entry(p.id.clone()).or_insert_with(|| p.clone());
        }
        if !char_len_ok(&r.address, 200) {
            errors.push("收货地址须填写，最多 200 字".to_owned());
        }
        if !char_len_ok(&r.contact, 50) {
            errors.push("收货人须填写（表中或上传时的默认收货人），最多 50 字".to_owned());
        }
        if !phone_ok(&r.phone) {
            errors.push(format!("联系电话“{}”不是电话号码", r.phone));
        }
        lines.push(CheckedLine {
            row: r.row,
            typed: r.clone(),
            product_id: product.map(|p| p.id.clone()),
            product_name: product.map(|p| p.name.clone()).unwrap_or_default(),
            spec: product.map(|p| p.spec.clone()).unwrap_or_default(),
            unit: product.map(|p| p.unit.clone()).unwrap_or_default(),
            producer: product.map(|p| p.producer_id.clone()).unwrap_or_default(),
            quantity,
            unit_price_fen: 0,
            subtotal_fen: 0,
            order_no: 0,
            errors,
        });
    }
    let producer_ids: Vec<String> = {
        let mut v: Vec<String> = chosen.values().map(|p| p.producer_id.clone()).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let producer_names: HashMap<String, String> =
        find_orgs(conn, &producer_ids)?.into_iter().map(|o| (o.id, o.name)).collect();

    // Stock over the whole sheet: placing it takes all of it at once.
    let mut wanted: HashMap<String, i64> = HashMap::new();
    // A line whose quantity is unreadable counts for nothing (its own error says why).
    for l in lines.iter().filter(|l| l.quantity > 0) {
        if let Some(id) = &l.product_id {
            *wanted.entry(id.clone()).or_default() += l.quantity;
        }
    }
    // Deliveries in the order they first appear; per delivery, each product's total.
    let mut deliveries: Vec<DeliveryKey> = Vec::new();
    let mut per_delivery: HashMap<DeliveryKey, BTreeMap<String, i64>> = HashMap::new();
    for l in lines.iter().filter(|l| l.quantity > 0) {
        let Some(id) = &l.product_id else { continue };
        let key = delivery_of(&l.typed);
        if !per_delivery.contains_key(&key) {
            deliveries.push(key.clone());
        }
        *per_delivery.entry(key).or_default().entry(id.clone()).or_default() += l.quantity;
    }
    let mut prices: HashMap<(usize, String), i64> = HashMap::new();
    for (d, key) in deliveries.iter().enumerate() {
        for (id, qty) in &per_delivery[key] {
            let p = &chosen[id];
            prices.insert((d, id.clone()), unit_price(p.price_fen, &p.tiers()?, *qty));
        }
    }
    let delivery_no: HashMap<&DeliveryKey, usize> = deliveries.iter().enumerate().map(|(i, k)| (k, i)).collect();
    for l in &mut lines {
        let Some(id) = l.product_id.clone() else { continue };
        let p = &chosen[&id];
        l.producer = producer_names.get(&p.producer_id).cloned().unwrap_or_default();
        if l.quantity == 0 {
            continue;
        }
        let key = delivery_of(&l.typed);
        let d = delivery_no[&key];
        let in_order = per_delivery[&key][&id];
        if in_order < p.min_order_qty {
            l.errors.push(format!(
                "低于起订量：{} 起订 {}{}，本收货地址共 {}{}",
                p.name, p.min_order_qty, p.unit, in_order, p.unit
            ));
        }
        if wanted[&id] > p.stock {
            l.errors.push(format!(
                "库存不足：{} 现有 {}{}，本订货单各行共要 {}{}",
                p.name, p.stock, p.unit, wanted[&id], p.unit
            ));
        }
        l.unit_price_fen = prices[&(d, id)];
        l.subtotal_fen = l.unit_price_fen * l.quantity;
    }
    // Orders: one per delivery, split at the API's 100 products per order (a product stays whole
    // in one order, so its tier price is the one shown).
    let mut orders = Vec::new();
    let mut order_of_delivery: Vec<usize> = Vec::new();
    for key in &deliveries {
        order_of_delivery.push(orders.len() + 1);
        let products: Vec<(&String, &i64)> = per_delivery[key].iter().collect();
        for chunk in products.chunks(MAX_LINES) {
            let d = delivery_no[key];
            let total_fen = chunk.iter().map(|(id, q)| prices[&(d, (*id).clone())] * **q).sum();
            orders.push(PlannedOrder {
                delivery: Delivery { address: key.0.clone(), contact_name: key.1.clone(), phone: key.2.clone() },
                lines: chunk.iter().map(|(id, q)| LineBody { product_id: (*id).clone(), quantity: **q }).collect(),
                total_fen,
            });
        }
    }
    for l in &mut lines {
        if l.product_id.is_some() && l.quantity > 0 {
            let key = delivery_of(&l.typed);
            l.order_no = order_of_delivery[delivery_no[&key]];
        }
    }
    let bad_lines = lines.iter().filter(|l| !l.errors.is_empty()).count();
    let total_fen = lines.iter().map(|l| l.subtotal_fen).sum();
    Ok(Checked { lines, orders, total_fen, bad_lines })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = s)]
pub struct SheetRecord {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub file_name: String,
    pub rows: String,
    pub line_count: i64,
    pub created_at: chrono::NaiveDateTime,
    pub placed_at: Option<chrono::NaiveDateTime>,
    pub order_ids: String,
}

impl SheetRecord {
    pub fn rows(&self) -> AppResult<Vec<SheetRow>> {
        serde_json::from_str(&self.rows).map_err(|e| anyhow::anyhow!("order sheet rows unreadable: {e}").into())
    }

    pub fn order_ids(&self) -> AppResult<Vec<String>> {
        serde_json::from_str(&self.order_ids).map_err(|e| anyhow::anyhow!("order sheet orders unreadable: {e}").into())
    }
}

/// Keeps an uploaded sheet for its preview; returns its id.
pub fn store(conn: &mut DbConn, actor: &Actor, file_name: &str, rows: &[SheetRow], ctx: &Ctx) -> AppResult<String> {
    placing::require_agency(actor)?;
    let id = new_id("sht");
    let json = serde_json::to_string(rows).map_err(|e| anyhow::anyhow!("order sheet rows: {e}"))?;
    diesel::insert_into(s::table)
        .values((
            s::id.eq(&id),
            s::org_id.eq(&actor.org.id),
            s::user_id.eq(&actor.user_id),
            s::file_name.eq(file_name.chars().take(200).collect::<String>()),
            s::rows.eq(json),
            s::line_count.eq(rows.len() as i64),
            s::created_at.eq(ctx.now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// One of the caller's organisation's sheets; another organisation's is not found.
pub fn get(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<SheetRecord> {
    s::table
        .filter(s::id.eq(id))
        .filter(s::org_id.eq(&actor.org.id))
        .select(SheetRecord::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("order sheet"))
}

/// The organisation's latest sheets.
pub fn recent(conn: &mut DbConn, actor: &Actor, limit: i64) -> AppResult<Vec<SheetRecord>> {
    Ok(s::table
        .filter(s::org_id.eq(&actor.org.id))
        .order((s::created_at.desc(), s::id.desc()))
        .limit(limit)
        .select(SheetRecord::as_select())
        .load(conn)?)
}

/// Places a sheet, in the caller's write transaction: checked again, then every order or none.
/// A sheet is placed once: a second request (a double click) waits on the first and gets its
/// orders back.
pub fn place(conn: &mut DbConn, actor: &Actor, id: &str, ctx: &Ctx) -> AppResult<Vec<String>> {
    placing::require_agency(actor)?;
    crate::db::xact_lock(conn, &format!("order_sheet:{id}"), false)?;
    let sheet = get(conn, actor, id)?;
    if sheet.placed_at.is_some() {
        return sheet.order_ids();
    }
    let checked = check(conn, &sheet.rows()?, ctx.today)?;
    if checked.bad_lines > 0 {
        return Err(AppError::unprocessable(
            "sheet_has_errors",
            format!("订货单有 {} 行有误；改正后重新上传", checked.bad_lines),
        ));
    }
    let mut ids = Vec::with_capacity(checked.orders.len());
    for (i, planned) in checked.orders.into_iter().enumerate() {
        let note = Some(format!("订货单 {}（第 {} 单）", sheet.file_name, i + 1).chars().take(500).collect());
        let order = NewOrder { lines: planned.lines, delivery: planned.delivery, note, live_session_id: None };
        ids.push(placing::place(conn, actor, order, ctx)?.id);
    }
    let json = serde_json::to_string(&ids).map_err(|e| anyhow::anyhow!("order ids: {e}"))?;
    diesel::update(s::table.filter(s::id.eq(id)))
        .set((s::placed_at.eq(Some(ctx.now)), s::order_ids.eq(json)))
        .execute(conn)?;
    Ok(ids)
}
