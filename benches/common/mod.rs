//! What the group-purchase and mail benchmarks both set up, written straight into the database.

use chrono::{NaiveDate, NaiveDateTime};
use dongxi::db::DbConn;
use dongxi::identity::model::{UserRow, insert_user};

/// An administrator of `org_id` without the (deliberately slow) password hash: nobody signs in here.
pub fn user(conn: &mut DbConn, org_id: &str, now: NaiveDateTime) -> String {
    let id = dongxi::ids::new_id("usr");
    let row = UserRow {
        id: id.clone(),
        org_id: org_id.into(),
        email: format!("{}@bench.dongxi.cn", id.to_lowercase()),
        name: "王老师".into(),
        role: "admin".into(),
        password_hash: "-".into(),
        created_at: now,
    };
    insert_user(conn, &row).expect("user");
    id
}

/// 普安红茶 (¥168 a tin) of `producer_id`, listed and certified until 2099, with plenty in stock.
pub fn certified_tea(conn: &mut DbConn, producer_id: &str, now: NaiveDateTime) -> String {
    dongxi::regions::model::set_assisted_mark(conn, "522300", true).expect("assisted");
    let mut p = dongxi::catalog::service::new_row(
        producer_id,
        dongxi::catalog::types::ProductFields {
            name: "普安红茶 明前特级".into(),
            category: "tea".into(),
            description: String::new(),
            origin_region_code: "522323".into(),
            unit: "罐".into(),
            spec: "250g/罐".into(),
            net_weight_g: Some(250),
            price_fen: 16800,
            tiers: vec![],
            min_order_qty: 1,
            stock: 10_000_000,
            storage: dongxi::catalog::types::Storage::Ambient,
            shelf_life_days: Some(540),
            images: vec![],
        },
        dongxi::regions::service::path_of(conn, "522323").expect("path").expect("522323"),
        now,
    );
    p.status = "listed".into();
    p.cert_status = "certified".into();
    p.certificate_no = Some(format!("DX-522323-2026-{}", &p.id[p.id.len() - 6..]));
    p.cert_valid_until = NaiveDate::from_ymd_opt(2099, 12, 31);
    dongxi::catalog::model::insert(conn, &p).expect("product");
    p.id
}
