//! The database seam: one code base over SQLite and PostgreSQL, chosen by the URL scheme.
//! Backend-specific statements live here, one function each.

pub mod schema;
pub mod sql;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::{AppError, AppResult};

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> AppResult<Backend> {
        if url.starts_with("sqlite://") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(anyhow::anyhow!("unsupported database URL scheme (want sqlite:// or postgres://)").into())
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Establishes connections ourselves: `MultiConnection::establish` would try every backend
/// and hide the real error.
#[derive(Debug, Clone)]
pub struct Manager {
    url: String,
    backend: Backend,
    /// Connections to a replica refuse writes, so a misrouted write fails loudly instead of
    /// landing somewhere replication would overwrite.
    read_only: bool,
}

impl Manager {
    pub fn new(url: &str) -> AppResult<Self> {
        Ok(Manager { url: url.to_owned(), backend: Backend::of_url(url)?, read_only: false })
    }
}

pub fn establish(url: &str) -> Result<DbConn, ConnectionError> {
    match Backend::of_url(url).map_err(|e| ConnectionError::BadConnection(e.to_string()))? {
        Backend::Postgres => diesel::PgConnection::establish(url).map(DbConn::Postgres),
        Backend::Sqlite => {
            let path = sqlite_path(url);
            if let Some(parent) = std::path::Path::new(path).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)
                    .map_err(|e| ConnectionError::BadConnection(format!("cannot create {}: {e}", parent.display())))?;
            }
            let mut conn = diesel::SqliteConnection::establish(path)?;
            // WAL lets readers run beside the one writer; the busy timeout queues writers instead of failing them.
            conn.batch_execute(
                "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
            )
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConn::Sqlite(conn))
        }
    }
}

fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").unwrap_or(url)
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        let mut conn = establish(&self.url).map_err(r2d2::Error::ConnectionError)?;
        if self.read_only {
            let statement = match self.backend {
                Backend::Postgres => "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
                Backend::Sqlite => "PRAGMA query_only = ON",
            };
            conn.batch_execute(statement).map_err(r2d2::Error::QueryError)?;
        }
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        <DbConn as Connection>::TransactionManager::is_broken_transaction_manager(conn)
    }
}

pub type Pool = r2d2::Pool<Manager>;

fn pool(manager: Manager, max_size: u32) -> Pool {
    r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(5))
        .build_unchecked(manager)
}
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// The connection pool and the backend it talks to; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// A streaming replica (`DATABASE_READ_URL`) for reports and reindexing; `None`: the primary.
    replica: Option<Pool>,
    backend: Backend,
    /// SQLite has one writer at a time. Writers of this process queue here, where a waiter wakes
    /// as soon as the lock is free, instead of in SQLite's busy handler, which sleeps in growing
    /// steps (up to 100 ms) and lets late arrivals overtake: that made the slowest writes wait
    /// close to a second under load.
    sqlite_writer: Option<Arc<Mutex<()>>>,
}

thread_local! {
    /// The writer lock of the database the closure running on this thread works on (see `Db::run`).
    static SQLITE_WRITER: std::cell::RefCell<Option<Arc<Mutex<()>>>> = const { std::cell::RefCell::new(None) };
}

/// Sets the thread's writer lock for the duration of one `Db::run` closure.
struct WriterScope;

impl WriterScope {
    fn enter(lock: Option<Arc<Mutex<()>>>) -> WriterScope {
        SQLITE_WRITER.with(|w| *w.borrow_mut() = lock);
        WriterScope
    }
}

impl Drop for WriterScope {
    fn drop(&mut self) {
        SQLITE_WRITER.with(|w| *w.borrow_mut() = None);
    }
}

/// A connection held by a blocking thread ([`Db::hold`]).
pub struct Held {
    conn: PooledConn,
    _scope: WriterScope,
}

impl std::ops::Deref for Held {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        &self.conn
    }
}

impl std::ops::DerefMut for Held {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.conn
    }
}

/// Runs `f` holding this process's SQLite writer lock, when the current closure has one.
fn with_sqlite_writer<T>(f: impl FnOnce() -> T) -> T {
    let lock = SQLITE_WRITER.with(|w| w.borrow().clone());
    let _guard = lock.as_ref().map(|m| m.lock().unwrap_or_else(|p| p.into_inner()));
    f()
}

impl Db {
    pub fn connect(url: &str, max_size: u32) -> AppResult<Db> {
        let manager = Manager::new(url)?;
        let backend = manager.backend;
        let pool = pool(manager, max_size);
        let sqlite_writer = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        Ok(Db { pool, replica: None, backend, sqlite_writer })
    }

    /// Sends [`Db::read`] work to a replica at `url` (same backend as the primary), when given.
    pub fn with_replica(mut self, url: Option<&str>, max_size: u32) -> AppResult<Db> {
        if let Some(url) = url {
            let manager = Manager { read_only: true, ..Manager::new(url)? };
            if manager.backend != self.backend {
                return Err(anyhow::anyhow!("DATABASE_READ_URL must use the same backend as DATABASE_URL").into());
            }
            self.replica = Some(pool(manager, max_size));
        }
        Ok(self)
    }

    /// A connection for read-only work: from the replica when there is one.
    pub fn get_read(&self) -> AppResult<PooledConn> {
        match &self.replica {
            Some(replica) => replica.get().map_err(|e| AppError::Unavailable(e.to_string())),
            None => self.get(),
        }
    }

    pub fn has_replica(&self) -> bool {
        self.replica.is_some()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool_state(&self) -> r2d2::State {
        self.pool.state()
    }

    pub fn get(&self) -> AppResult<PooledConn> {
        self.pool.get().map_err(|e| AppError::Unavailable(e.to_string()))
    }

    pub fn get_timeout(&self, timeout: Duration) -> AppResult<PooledConn> {
        self.pool.get_timeout(timeout).map_err(|e| AppError::Unavailable(e.to_string()))
    }

    /// Runs blocking database work off the async runtime.
    pub async fn run<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConn) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.get()?;
            let _scope = WriterScope::enter(db.sqlite_writer.clone());
            f(&mut conn)
        })
        .await
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("database task failed: {e}")))?
    }

    /// A pooled connection for this blocking thread to keep across many transactions (the
    /// batches of a rush), with the process's SQLite writer lock known to its writes.
    pub fn hold(&self) -> AppResult<Held> {
        Ok(Held { conn: self.get()?, _scope: WriterScope::enter(self.sqlite_writer.clone()) })
    }

    /// Runs read-only work where reads scale: on the replica when there is one (its figures may
    /// trail the primary by the replication lag), else like [`Db::run`]. Writing from `f` fails.
    pub async fn read<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConn) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        if self.replica.is_none() {
            return self.run(f).await;
        }
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.get_read()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("database task failed: {e}")))?
    }

    /// Runs `f` in a write transaction (see [`write_tx`]).
    pub async fn write<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConn) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.run(move |conn| write_tx(conn, f)).await
    }
}

/// A write transaction. On SQLite it is `BEGIN IMMEDIATE`, so the write lock is taken up front
/// and two writers never deadlock upgrading from a read lock.
pub fn write_tx<T, F>(conn: &mut DbConn, f: F) -> AppResult<T>
where
    F: FnOnce(&mut DbConn) -> AppResult<T>,
{
    // The outermost write takes this process's SQLite writer lock; one inside it already holds it.
    if matches!(conn, DbConn::Sqlite(_)) && !in_transaction(conn)? {
        return with_sqlite_writer(|| transaction(conn, f));
    }
    transaction(conn, f)
}

/// A read that sees one snapshot of the database across several statements, so that figures
/// read apart (a breakdown's rows and its total) agree although payments land meanwhile: on
/// PostgreSQL `REPEATABLE READ READ ONLY`, on SQLite a deferred transaction (WAL readers keep
/// the snapshot of their first read). Inside a transaction already, that one's snapshot serves.
pub fn read_tx<T, F>(conn: &mut DbConn, f: F) -> AppResult<T>
where
    F: FnOnce(&mut DbConn) -> AppResult<T>,
{
    if in_transaction(conn)? {
        return f(conn);
    }
    match conn {
        DbConn::Postgres(inner) => {
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?
        }
        DbConn::Sqlite(inner) => AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN DEFERRED")?,
    }
    let done = f(conn);
    finish(conn, done)
}

fn in_transaction(conn: &mut DbConn) -> AppResult<bool> {
    Ok(<DbConn as Connection>::TransactionManager::transaction_manager_status_mut(conn).transaction_depth()?.is_some())
}

fn transaction<T, F>(conn: &mut DbConn, f: F) -> AppResult<T>
where
    F: FnOnce(&mut DbConn) -> AppResult<T>,
{
    // Inside a transaction already (work that commits piecewise, called from one that holds it
    // all, such as the demo seed), a savepoint: `BEGIN IMMEDIATE` is for the outermost only.
    let nested = in_transaction(conn)?;
    match conn {
        DbConn::Sqlite(inner) if !nested => AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?,
        _ => <DbConn as Connection>::TransactionManager::begin_transaction(conn)?,
    }
    let done = f(conn);
    finish(conn, done)
}

/// Commits the transaction `f` ran in when it succeeded, else rolls it back.
fn finish<T>(conn: &mut DbConn, done: AppResult<T>) -> AppResult<T> {
    match done {
        Ok(value) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(err) => {
            // A rollback that fails too (the connection was lost: that is usually why `f` failed)
            // leaves the connection marked broken for the pool to drop; `f`'s error says why.
            if let Err(rollback) = <DbConn as Connection>::TransactionManager::rollback_transaction(conn) {
                tracing::warn!(error = %rollback, cause = %err, "rollback failed");
            }
            Err(err)
        }
    }
}

/// The session-level advisory lock that migrating processes take on PostgreSQL ("dongxi-mg").
const MIGRATION_LOCK: i64 = 0x646f_6e67_7869_6d67;

/// Applies pending schema migrations; returns how many ran. On PostgreSQL, processes started
/// together (several servers and a worker after an upgrade) migrate one at a time: the others
/// wait for the lock, then find nothing pending, instead of failing on a table the first made.
pub fn run_migrations(conn: &mut DbConn) -> AppResult<usize> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        DbConn::Postgres(c) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(c)?;
            let applied = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len());
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(c)?;
            applied
        }
    };
    applied.map_err(|e| AppError::Unexpected(anyhow::anyhow!("migration failed: {e}")))
}

pub fn has_pending_migrations(conn: &mut DbConn) -> AppResult<bool> {
    let pending = match conn {
        DbConn::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
        DbConn::Postgres(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
    };
    pending.map_err(|e| AppError::Unavailable(e.to_string()))
}

/// Reads one value of the key/value `app_meta` table.
pub fn meta_get(conn: &mut DbConn, key: &str) -> AppResult<Option<String>> {
    use schema::app_meta::dsl as m;
    Ok(m::app_meta.filter(m::key.eq(key)).select(m::value).first::<String>(conn).optional()?)
}

/// Upsert of one `app_meta` value.
pub fn meta_set(conn: &mut DbConn, key: &str, value: &str) -> AppResult<()> {
    use schema::app_meta::dsl as m;
    let updated = diesel::update(m::app_meta.filter(m::key.eq(key))).set(m::value.eq(value)).execute(conn)?;
    if updated == 0 {
        diesel::insert_into(m::app_meta).values((m::key.eq(key), m::value.eq(value))).execute(conn)?;
    }
    Ok(())
}

/// A `LIKE` pattern matching strings that start with `prefix`, with wildcards escaped (use `.escape('\\')`).
pub fn prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A multi-row `INSERT`: the multi-backend connection cannot express one, so this dispatches
/// to the concrete connection. Evaluates to `QueryResult<usize>`.
#[macro_export]
macro_rules! insert_batch {
    ($conn:expr, $table:expr, $rows:expr) => {{
        use diesel::RunQueryDsl as _;
        match $conn {
            $crate::db::DbConn::Sqlite(c) => diesel::insert_into($table).values($rows).execute(c),
            $crate::db::DbConn::Postgres(c) => diesel::insert_into($table).values($rows).execute(c),
        }
    }};
}

/// `INSERT … ON CONFLICT DO NOTHING` of `values`: the first writer wins and a twin changes
/// nothing. Evaluates to `QueryResult<usize>` (rows inserted: 0 when the row was there).
#[macro_export]
macro_rules! insert_or_ignore {
    ($conn:expr, $table:expr, $values:expr) => {{
        use diesel::RunQueryDsl as _;
        match $conn {
            $crate::db::DbConn::Sqlite(c) => {
                diesel::insert_into($table).values($values).on_conflict_do_nothing().execute(c)
            }
            $crate::db::DbConn::Postgres(c) => {
                diesel::insert_into($table).values($values).on_conflict_do_nothing().execute(c)
            }
        }
    }};
}

/// Claims up to `limit` due outbox rows of `topic` for `lease`: rows another worker holds are
/// skipped (PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite serialises writers). Returns (id, payload).
pub fn claim_outbox(
    conn: &mut DbConn,
    topic: &str,
    now: chrono::NaiveDateTime,
    lease: chrono::Duration,
    limit: i64,
) -> AppResult<Vec<(String, String)>> {
    use schema::outbox::dsl as o;
    macro_rules! due {
        () => {
            o::outbox
                .filter(o::topic.eq(topic))
                .filter(o::done_at.is_null())
                .filter(o::dead_at.is_null())
                .filter(o::available_at.le(now))
                .filter(o::locked_until.is_null().or(o::locked_until.lt(now)))
                .order(o::id.asc())
                .limit(limit)
                .select((o::id, o::payload))
        };
    }
    macro_rules! claim {
        ($ids:expr) => {
            diesel::update(o::outbox.filter(o::id.eq_any($ids)))
                .set((o::locked_until.eq(now + lease), o::attempts.eq(o::attempts + 1)))
        };
    }
    let rows = match conn {
        DbConn::Postgres(c) => c.transaction(|c| {
            let rows: Vec<(String, String)> = due!().for_update().skip_locked().load(c)?;
            let ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
            if !ids.is_empty() {
                claim!(&ids).execute(c)?;
            }
            Ok::<_, diesel::result::Error>(rows)
        })?,
        DbConn::Sqlite(c) => with_sqlite_writer(|| {
            c.immediate_transaction(|c| {
                let rows: Vec<(String, String)> = due!().load(c)?;
                let ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
                if !ids.is_empty() {
                    claim!(&ids).execute(c)?;
                }
                Ok::<_, diesel::result::Error>(rows)
            })
        })?,
    };
    Ok(rows)
}

/// Claims `period` of a job that runs once per period (the weekly digest, the daily settlement
/// run) whatever the number of workers: true for the one caller that got it.
pub fn claim_period(conn: &mut DbConn, job: &str, period: &str, now: chrono::NaiveDateTime) -> AppResult<bool> {
    use schema::scheduled_runs as r;
    let row = (r::job.eq(job), r::period.eq(period), r::ran_at.eq(now));
    let inserted = crate::insert_or_ignore!(conn, r::table, row)?;
    Ok(inserted == 1)
}

/// Bytes SQLite has allocated in this process: mostly each connection's page cache, which fills
/// as the database grows (at most `cache_size`, 2 MiB by default, per connection).
pub fn sqlite_memory_used() -> i64 {
    // SAFETY: a thread-safe read of SQLite's allocation counter; it takes no arguments.
    unsafe { libsqlite3_sys::sqlite3_memory_used() }
}

/// The advisory lock's number for a name.
fn lock_key(name: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// A lock on a name until the transaction ends: a PostgreSQL advisory lock, shared or
/// exclusive. SQLite needs none (its write transactions already run one at a time).
pub fn xact_lock(conn: &mut DbConn, name: &str, shared: bool) -> AppResult<()> {
    if let DbConn::Postgres(c) = conn {
        let key = lock_key(name);
        let function = if shared { "pg_advisory_xact_lock_shared" } else { "pg_advisory_xact_lock" };
        diesel::sql_query(format!("SELECT {function}($1)")).bind::<diesel::sql_types::BigInt, _>(key).execute(c)?;
    }
    Ok(())
}
