//! The ledger's rows: an entry (one cause: a count or a reversal) and its lines (one per order
//! line, with every attribute reports group by fixed when written). Raw SQL writes them in one
//! round trip, so their columns are declared once, with the fields (`sql_row!`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{ledger_entries as e, ledger_lines as l};

crate::sql_row! {
    #[derive(Debug, Clone, Queryable, Selectable, Insertable, QueryableByName)]
    #[diesel(table_name = e)]
    pub struct EntryRow {
        pub id: String,
        pub cause: String,
        pub kind: String,
        pub order_id: String,
        pub sub_order_id: String,
        pub refund_id: Option<String>,
        pub reverses_id: Option<String>,
        pub amount_fen: i64,
        pub counted_at: NaiveDateTime,
        pub recorded_at: NaiveDateTime,
        pub year: i32,
        pub month: i32,
        pub adjusts_year: Option<i32>,
        pub buyer_org_id: String,
        pub buyer_region_code: String,
        pub producer_id: String,
        pub origin_region_code: String,
        pub pairing_id: Option<String>,
        pub certificate_no: String,
    }
}

crate::sql_row! {
    #[derive(Debug, Clone, Queryable, Selectable, Insertable)]
    #[diesel(table_name = l)]
    pub struct LedgerLine {
        pub entry_id: String,
        pub position: i32,
        pub kind: String,
        pub amount_fen: i64,
        pub year: i32,
        pub month: i32,
        pub recorded_at: NaiveDateTime,
        pub product_id: String,
        pub category: String,
        pub certificate_no: String,
        pub origin_code: String,
        pub origin_path: String,
        pub origin_province: String,
        pub origin_prefecture: String,
        pub origin_county: String,
        pub buyer_org_id: String,
        pub buyer_org_path: String,
        pub buyer_region_path: String,
        pub buyer_province: String,
        pub buyer_prefecture: String,
        pub buyer_county: String,
        pub producer_id: String,
        pub producer_path: String,
        pub pairing_key: String,
        pub channel: String,
    }
}
