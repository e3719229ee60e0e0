//! Raw SQL on either backend, for the few queries diesel's builder cannot express across both:
//! report sums grouped by a column chosen at run time, and the ledger's writes sent to
//! PostgreSQL in one round trip. Statements are written with `?` placeholders.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp, Untyped};
use diesel::{PgConnection, QueryResult, QueryableByName, RunQueryDsl};

use super::DbConn;
use crate::error::AppResult;

#[derive(Debug, Clone)]
pub enum Bind {
    Text(String),
    OptText(Option<String>),
    Int(i32),
    OptInt(Option<i32>),
    BigInt(i64),
    Time(NaiveDateTime),
}

macro_rules! binds_from {
    ($($t:ty => $variant:ident),* $(,)?) => {
        $(impl From<$t> for Bind {
            fn from(v: $t) -> Bind {
                Bind::$variant(v)
            }
        })*
    };
}

binds_from!(String => Text, Option<String> => OptText, i32 => Int, Option<i32> => OptInt, i64 => BigInt, NaiveDateTime => Time);

/// Declares a row struct that raw SQL also writes: its column list and its values follow its
/// fields (`COLUMNS`, `binds`, `bind_of`), so they are never written out a second time.
#[macro_export]
macro_rules! sql_row {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty),*
        }

        impl $name {
            /// The table's columns this row fills, in field order.
            pub const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// The row's values in `COLUMNS` order, appended to `binds`.
            pub fn binds(&self, binds: &mut Vec<$crate::db::sql::Bind>) {
                $(binds.push($crate::db::sql::Bind::from(self.$field.clone()));)*
            }

            /// The value of one column, by name.
            pub fn bind_of(&self, column: &str) -> Option<$crate::db::sql::Bind> {
                match column {
                    $(stringify!($field) => Some($crate::db::sql::Bind::from(self.$field.clone())),)*
                    _ => None,
                }
            }
        }
    };
}

/// A statement and its values.
#[derive(Debug, Clone, Default)]
pub struct Statement {
    pub sql: String,
    pub binds: Vec<Bind>,
}

macro_rules! bound {
    ($query:expr, $binds:expr) => {{
        let mut q = $query;
        for b in $binds {
            q = match b {
                Bind::Text(v) => q.bind::<Text, _>(v.clone()),
                Bind::OptText(v) => q.bind::<Nullable<Text>, _>(v.clone()),
                Bind::Int(v) => q.bind::<Integer, _>(*v),
                Bind::OptInt(v) => q.bind::<Nullable<Integer>, _>(*v),
                Bind::BigInt(v) => q.bind::<BigInt, _>(*v),
                Bind::Time(v) => q.bind::<Timestamp, _>(*v),
            };
        }
        q
    }};
}

/// Rows of a query.
pub fn query<T>(conn: &mut DbConn, sql: &str, binds: &[Bind]) -> AppResult<Vec<T>>
where
    T: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
{
    Ok(match conn {
        DbConn::Sqlite(c) => {
            bound!(diesel::sql_query(sql.to_owned()).into_boxed::<diesel::sqlite::Sqlite>(), binds).load::<T>(c)?
        }
        DbConn::Postgres(c) => {
            bound!(diesel::sql_query(numbered(sql)).into_boxed::<diesel::pg::Pg>(), binds).load::<T>(c)?
        }
    })
}

/// Runs one data-changing statement written with `?` placeholders; how many rows it changed.
pub fn execute(conn: &mut DbConn, sql: &str, binds: &[Bind]) -> AppResult<usize> {
    Ok(match conn {
        DbConn::Sqlite(c) => {
            bound!(diesel::sql_query(sql.to_owned()).into_boxed::<diesel::sqlite::Sqlite>(), binds).execute(c)?
        }
        DbConn::Postgres(c) => {
            bound!(diesel::sql_query(numbered(sql)).into_boxed::<diesel::pg::Pg>(), binds).execute(c)?
        }
    })
}

/// Runs data-changing statements: on PostgreSQL as one statement (each a `WITH` part, so one
/// round trip), on SQLite one after the other (each a local call).
pub fn execute_all(conn: &mut DbConn, statements: &[Statement]) -> AppResult<()> {
    match conn {
        DbConn::Sqlite(c) => {
            for s in statements {
                bound!(diesel::sql_query(s.sql.clone()).into_boxed::<diesel::sqlite::Sqlite>(), &s.binds).execute(c)?;
            }
        }
        DbConn::Postgres(c) => {
            let parts: Vec<String> =
                statements.iter().enumerate().map(|(i, s)| format!("w{i} AS ({})", s.sql)).collect();
            let sql = format!("WITH {} SELECT 1", parts.join(", "));
            let binds: Vec<Bind> = statements.iter().flat_map(|s| s.binds.iter().cloned()).collect();
            Prepared { sql: &sql, binds: &binds }.execute(c)?;
        }
    }
    Ok(())
}

/// An `INSERT … VALUES` of some rows, `suffix` (an `ON CONFLICT` clause) after them.
#[derive(Debug, Clone)]
pub struct Insert {
    pub table: &'static str,
    pub columns: Vec<&'static str>,
    pub suffix: String,
    /// The rows' values, a row after the other.
    pub binds: Vec<Bind>,
}

impl Insert {
    fn rows(&self) -> usize {
        self.binds.len() / self.columns.len().max(1)
    }

    pub fn statement(&self) -> Statement {
        Statement { sql: insert_sql(self.table, &self.columns, self.rows(), &self.suffix), binds: self.binds.clone() }
    }

    /// The same rows, selected beside `part` (a `WITH` part of one row): PostgreSQL reads that
    /// part before it has a first row to insert.
    fn after(&self, part: &str) -> Statement {
        let sql = format!(
            "INSERT INTO {} ({}) SELECT v.* FROM {part}, (VALUES {}) AS v{}",
            self.table,
            self.columns.join(", "),
            value_rows(self.columns.len(), self.rows()),
            self.suffix
        );
        Statement { sql, binds: self.binds.clone() }
    }
}

/// Runs inserts once the transaction holds the lock on `lock` (until it ends; see
/// `db::xact_lock`): on PostgreSQL in one statement, one round trip, whose first `WITH` part takes
/// the lock and whose every insert selects its rows beside that part, so no row is written, nor
/// any row lock taken, before the lock is held. On SQLite one after the other, without a lock
/// (its write transactions already run one at a time).
pub fn execute_all_locked(conn: &mut DbConn, lock: &str, inserts: &[Insert]) -> AppResult<()> {
    let statements: Vec<Statement> = match conn {
        DbConn::Sqlite(_) => inserts.iter().map(Insert::statement).collect(),
        DbConn::Postgres(_) => {
            let held = Statement {
                sql: "SELECT pg_advisory_xact_lock(?) AS held".into(),
                binds: vec![Bind::BigInt(super::lock_key(lock))],
            };
            // `execute_all` names the parts `w0`, `w1`, …: the lock is the first.
            std::iter::once(held).chain(inserts.iter().map(|i| i.after("w0"))).collect()
        }
    };
    execute_all(conn, &statements)
}

/// One value a data-changing statement returned, and which statement it came from.
#[derive(QueryableByName)]
struct Returned {
    #[diesel(sql_type = Integer)]
    part: i32,
    #[diesel(sql_type = BigInt)]
    v: i64,
}

/// Runs data-changing statements, each with `RETURNING` the integer expression beside it, and
/// gives what each returned (one value per row it changed): on PostgreSQL one statement of
/// `WITH` parts, so one round trip however many there are; on SQLite one after the other. A
/// caller that needs a part to have changed its row checks that it returned a value.
pub fn returning_all(conn: &mut DbConn, statements: &[(Statement, &str)]) -> AppResult<Vec<Vec<i64>>> {
    let returning = |i: usize, (s, value): &(Statement, &str)| {
        format!("{} RETURNING {i} AS part, CAST({value} AS BIGINT) AS v", s.sql)
    };
    let mut out = vec![Vec::new(); statements.len()];
    match conn {
        DbConn::Sqlite(_) => {
            for (i, part) in statements.iter().enumerate() {
                out[i] =
                    query::<Returned>(conn, &returning(i, part), &part.0.binds)?.into_iter().map(|r| r.v).collect();
            }
        }
        DbConn::Postgres(c) => {
            let parts: Vec<String> =
                statements.iter().enumerate().map(|(i, s)| format!("w{i} AS ({})", returning(i, s))).collect();
            let reads: Vec<String> = (0..statements.len()).map(|i| format!("SELECT part, v FROM w{i}")).collect();
            let sql = format!("WITH {} {}", parts.join(", "), reads.join(" UNION ALL "));
            let binds: Vec<Bind> = statements.iter().flat_map(|(s, _)| s.binds.iter().cloned()).collect();
            let prepared = Prepared { sql: &sql, binds: &binds };
            for r in prepared.load::<Returned>(c)? {
                if let Some(values) = usize::try_from(r.part).ok().and_then(|i| out.get_mut(i)) {
                    values.push(r.v);
                }
            }
        }
    }
    Ok(out)
}

/// Raw SQL that PostgreSQL parses and plans once per connection: diesel never caches a
/// `sql_query`, and the many-part statements of the ledger and the rush cost more to parse and
/// plan than to run. Cached by their text, whose shapes are few (they vary only with a number of
/// rows), and each looks rows up by key, so a generic plan serves them as well as a custom one.
struct Prepared<'a> {
    sql: &'a str,
    binds: &'a [Bind],
}

impl QueryFragment<Pg> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let mut pieces = self.sql.split('?');
        out.push_sql(pieces.next().unwrap_or_default());
        let mut binds = self.binds.iter();
        for piece in pieces {
            let Some(b) = binds.next() else {
                return Err(diesel::result::Error::QueryBuilderError("fewer values than placeholders".into()));
            };
            match b {
                Bind::Text(v) => out.push_bind_param::<Text, _>(v)?,
                Bind::OptText(v) => out.push_bind_param::<Nullable<Text>, _>(v)?,
                Bind::Int(v) => out.push_bind_param::<Integer, _>(v)?,
                Bind::OptInt(v) => out.push_bind_param::<Nullable<Integer>, _>(v)?,
                Bind::BigInt(v) => out.push_bind_param::<BigInt, _>(v)?,
                Bind::Time(v) => out.push_bind_param::<Timestamp, _>(v)?,
            }
            out.push_sql(piece);
        }
        match binds.next() {
            Some(_) => Err(diesel::result::Error::QueryBuilderError("more values than placeholders".into())),
            None => Ok(()),
        }
    }
}

impl QueryId for Prepared<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared<'_> {
    type SqlType = Untyped;
}

impl RunQueryDsl<PgConnection> for Prepared<'_> {}

/// `?` placeholders as PostgreSQL's `$1, $2, …` (none of our SQL has `?` inside a literal).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// `INSERT INTO table (columns) VALUES (?, …), …` for `rows` rows, with `suffix` after it.
pub fn insert_sql(table: &str, columns: &[&str], rows: usize, suffix: &str) -> String {
    format!("INSERT INTO {table} ({}) VALUES {}{suffix}", columns.join(", "), value_rows(columns.len(), rows))
}

/// `(?, …), …`: `rows` rows of `columns` placeholders.
fn value_rows(columns: usize, rows: usize) -> String {
    let one = format!("({})", vec!["?"; columns].join(", "));
    vec![one; rows].join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(super::numbered("a = ? AND b LIKE ? ESCAPE '\\'"), "a = $1 AND b LIKE $2 ESCAPE '\\'");
    }

    #[test]
    fn inserts_have_a_placeholder_per_value() {
        assert_eq!(
            super::insert_sql("t", &["a", "b"], 2, " ON CONFLICT DO NOTHING"),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) ON CONFLICT DO NOTHING"
        );
    }
}
