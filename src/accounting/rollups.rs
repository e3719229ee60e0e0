//! The ledger's rollups: sums of its lines by the keys reports ask for, written in the same
//! transaction as every entry (`upserts`), checked by `ledger verify`, read by `facts`.

use std::collections::BTreeMap;

use super::model::LedgerLine;
use crate::db::sql::{self, Bind, Statement};

/// One rollup: its table, its key columns and its other columns (fixed by the key); each row
/// sums `amount_fen` of the ledger lines with that key. Every column is a ledger line's.
pub struct Rollup {
    pub table: &'static str,
    pub key: &'static [&'static str],
    pub rest: &'static [&'static str],
}

/// The rollups, written with every entry, checked by `ledger verify`, read by `facts`.
pub const ROLLUPS: [Rollup; 11] = [
    Rollup {
        table: "ledger_sums_month",
        key: &["year", "month", "origin_prefecture", "buyer_prefecture", "category", "pairing_key"],
        rest: &["origin_province", "buyer_province"],
    },
    Rollup {
        table: "ledger_sums_month_province",
        key: &["year", "month", "origin_province", "buyer_province", "category", "pairing_key"],
        rest: &[],
    },
    Rollup {
        table: "ledger_sums_pref",
        key: &["year", "origin_prefecture", "buyer_prefecture", "pairing_key"],
        rest: &["origin_province", "buyer_province"],
    },
    Rollup {
        table: "ledger_sums_county",
        key: &["year", "origin_county", "buyer_county", "pairing_key"],
        rest: &["origin_province", "origin_prefecture", "buyer_province", "buyer_prefecture"],
    },
    Rollup {
        table: "ledger_sums_buyer",
        key: &["year", "origin_prefecture", "buyer_org_id", "pairing_key"],
        rest: &["origin_province", "buyer_province", "buyer_prefecture"],
    },
    // A buyer's total per recipient prefecture, recipient province and donor prefecture, without
    // the pairing: one row per buyer, so a breakdown's largest buyers are the top of an index.
    Rollup {
        table: "ledger_sums_buyer_origin",
        key: &["year", "origin_prefecture", "buyer_org_id"],
        rest: &["origin_province"],
    },
    Rollup { table: "ledger_sums_buyer_origin_province", key: &["year", "origin_province", "buyer_org_id"], rest: &[] },
    Rollup {
        table: "ledger_sums_buyer_donor",
        key: &["year", "buyer_prefecture", "buyer_org_id"],
        rest: &["buyer_province"],
    },
    Rollup {
        table: "ledger_sums_channel",
        key: &["year", "month", "origin_prefecture", "buyer_prefecture", "pairing_key", "channel"],
        rest: &["origin_province", "buyer_province"],
    },
    Rollup {
        table: "ledger_sums_producer",
        key: &["year", "origin_prefecture", "producer_id", "buyer_prefecture", "pairing_key"],
        rest: &["origin_province", "buyer_province"],
    },
    Rollup {
        table: "ledger_sums_producer_province",
        key: &["year", "origin_province", "producer_id", "buyer_province", "pairing_key"],
        rest: &[],
    },
];

/// A comparable form of a column's value, for ordering keys.
fn sort_form(b: &Bind) -> String {
    match b {
        Bind::Int(n) => format!("{n:010}"),
        Bind::Text(t) => t.clone(),
        _ => String::new(),
    }
}

/// Upserts adding the lines to each rollup, one row per key, in key order (so concurrent
/// payments lock rollup rows in the same order and never deadlock).
pub fn upserts(lines: &[LedgerLine]) -> Vec<Statement> {
    ROLLUPS
        .iter()
        .map(|r| {
            let mut sums: BTreeMap<Vec<String>, (Vec<Bind>, i64)> = BTreeMap::new();
            for x in lines {
                // Every rollup column is a line column (the unit test below holds them to it).
                let values: Vec<Bind> = r.key.iter().chain(r.rest).filter_map(|c| x.bind_of(c)).collect();
                let order: Vec<String> = values[..r.key.len()].iter().map(sort_form).collect();
                sums.entry(order).or_insert((values, 0)).1 += x.amount_fen;
            }
            let mut columns: Vec<&str> = r.key.to_vec();
            columns.extend_from_slice(r.rest);
            columns.push("amount_fen");
            let suffix = format!(
                " ON CONFLICT ({}) DO UPDATE SET amount_fen = {table}.amount_fen + excluded.amount_fen",
                r.key.join(", "),
                table = r.table
            );
            let mut binds = Vec::new();
            for (values, amount) in sums.into_values() {
                binds.extend(values);
                binds.push(Bind::BigInt(amount));
            }
            Statement { sql: sql::insert_sql(r.table, &columns, binds.len() / columns.len(), &suffix), binds }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::ROLLUPS;
    use crate::accounting::model::LedgerLine;

    #[test]
    fn every_rollup_column_is_a_line_column() {
        for r in &ROLLUPS {
            for c in r.key.iter().chain(r.rest) {
                assert!(LedgerLine::COLUMNS.contains(c), "{} names {c}, which no ledger line has", r.table);
            }
        }
    }
}
