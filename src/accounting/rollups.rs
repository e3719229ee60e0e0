//! The ledger's rollups: sums of its lines by the keys reports ask for, written in the same
//! transaction as every entry (`upserts`), checked by `ledger verify`, read by `facts`.

use std::collections::BTreeMap;

use super::model::LedgerLine;
use crate::db::sql::{Bind, Insert};

/// One rollup: its table, its key columns and its other columns (fixed by the key); each row
/// sums `amount_fen` of the ledger lines with that key. Every column is a ledger line's, except
/// `part` (see `PART`).
pub struct Rollup {
    pub table: &'static str,
    pub key: &'static [&'static str],
    pub rest: &'static [&'static str],
}

/// The key column of the rollups kept per half and per quarter of the year (`H1`, `Q3`): a line
/// counts in two of their rows, its half's and its quarter's. The lines seen that way are the
/// view `ledger_line_parts` (each line twice, with its `part`), which `ledger verify` and the
/// loaders read in place of `ledger_lines`.
pub const PART: &str = "part";

impl Rollup {
    /// Kept per part of the year, not per year.
    pub fn by_part(&self) -> bool {
        self.key.contains(&PART)
    }

    /// What the rollup sums: the lines, or the lines by part of the year.
    pub fn source(&self) -> &'static str {
        if self.by_part() { "ledger_line_parts" } else { "ledger_lines" }
    }
}

/// The rollup of this table.
pub fn find(table: &str) -> Option<&'static Rollup> {
    ROLLUPS.iter().find(|r| r.table == table)
}

/// The half and the quarter a month of the year counts in, as `ledger_line_parts` names them.
pub fn parts_of(month: i32) -> [String; 2] {
    [if month <= 6 { "H1" } else { "H2" }.to_owned(), format!("Q{}", (month + 2) / 3)]
}

/// The rollups, written with every entry, checked by `ledger verify`, read by `facts`.
pub const ROLLUPS: [Rollup; 14] = [
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
    // The three buyer rollups again, per half and per quarter: a half-year's buyers of a province
    // are then the top of an index too, where only the lines know the months of a buyer's sales.
    Rollup {
        table: "ledger_sums_buyer_origin_part",
        key: &["year", PART, "origin_prefecture", "buyer_org_id"],
        rest: &["origin_province"],
    },
    Rollup {
        table: "ledger_sums_buyer_origin_province_part",
        key: &["year", PART, "origin_province", "buyer_org_id"],
        rest: &[],
    },
    Rollup {
        table: "ledger_sums_buyer_donor_part",
        key: &["year", PART, "buyer_prefecture", "buyer_org_id"],
        rest: &["buyer_province"],
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
pub fn upserts(lines: &[LedgerLine]) -> Vec<Insert> {
    ROLLUPS
        .iter()
        .map(|r| {
            let mut sums: BTreeMap<Vec<String>, (Vec<Bind>, i64)> = BTreeMap::new();
            for x in lines {
                let parts: Vec<Option<String>> =
                    if r.by_part() { parts_of(x.month).into_iter().map(Some).collect() } else { vec![None] };
                for part in parts {
                    // Every other rollup column is a line column (the unit test below holds them to it).
                    let values: Vec<Bind> = r
                        .key
                        .iter()
                        .chain(r.rest)
                        .filter_map(|c| if *c == PART { part.clone().map(Bind::Text) } else { x.bind_of(c) })
                        .collect();
                    let order: Vec<String> = values[..r.key.len()].iter().map(sort_form).collect();
                    sums.entry(order).or_insert((values, 0)).1 += x.amount_fen;
                }
            }
            let mut columns: Vec<&'static str> = r.key.to_vec();
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
            Insert { table: r.table, columns, suffix, binds }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{PART, ROLLUPS, parts_of};
    use crate::accounting::model::LedgerLine;
    use crate::accounting::span::Span;

    #[test]
    fn every_rollup_column_is_a_line_column() {
        for r in &ROLLUPS {
            for c in r.key.iter().chain(r.rest).filter(|c| **c != PART) {
                assert!(LedgerLine::COLUMNS.contains(c), "{} names {c}, which no ledger line has", r.table);
            }
        }
    }

    #[test]
    fn a_month_counts_in_the_half_and_the_quarter_that_hold_it() {
        for period in ["H1", "H2", "Q1", "Q2", "Q3", "Q4"] {
            let span = Span::parse(2021, Some(period)).unwrap();
            for month in 1..=12 {
                let inside = span.months().contains(&(month as u32));
                assert_eq!(parts_of(month).contains(&period.to_owned()), inside, "{period} month {month}");
            }
        }
    }
}
