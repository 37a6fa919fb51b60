//! The database: one `Store` over either an embedded SQLite file (the default, WAL mode, in
//! the data directory) or PostgreSQL (`[storage] url` / `DATABASE_URL`), with one method per
//! use case — keys, batched usage inserts, usage reports, spend totals.
//!
//! Both backends run the same SQL (sqlx binds `$1`-style parameters on SQLite too); the few
//! statements that differ (day bucketing) are chosen here from fixed text, never from input.
//! Migrations (`migrations/{sqlite,postgres}`) are embedded and run once, on first use or at
//! start (`Store::ready`). Times are unix milliseconds, UTC.
//!
//! Must never: log a key secret or its hash; build SQL from caller-supplied strings.

mod accounts;
mod bodies;
mod dash;
mod keys;
mod prices;
mod usage;
pub use accounts::{AccountRow, NOTIFY_CHANNEL};
pub use dash::{LogFilter, LogRow, RollupGroup, Session, Totals, BUCKETS};
pub use keys::{KeyLimits, KeyPatch, KeyRecord, NewKey, Period};
pub use prices::{PricedUsage, RepriceAudit, RepriceReport};
pub use usage::{GroupBy, UsageEntry, UsageRecord, UsageRow};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(String),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    ready: Arc<OnceCell<Result<(), String>>>,
    /// For logs and `/readyz`: `sqlite:<path>` or `postgres://host/db` (no password).
    pub label: String,
}

/// Run `$body` with `$p` bound to whichever pool this store has (the body is compiled once
/// per backend, so sqlx types stay concrete).
macro_rules! with_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($p) => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use with_pool;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Open the store without connecting yet: `url` (sqlite:… or postgres://…) or, without
    /// one, `<data_dir>/crossbar.db`. Connections are made on first use.
    pub fn open(url: Option<&str>, data_dir: &Path) -> Result<Store, StoreError> {
        let url = url.map(str::trim).filter(|u| !u.is_empty());
        let (pool, label) = match url {
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                let opts =
                    PgConnectOptions::from_str(u).map_err(|e| StoreError::Invalid(format!("storage url: {e}")))?;
                let label =
                    format!("postgres://{}:{}/{}", opts.get_host(), opts.get_port(), opts.get_database().unwrap_or(""));
                let pool = PgPoolOptions::new()
                    .max_connections(10)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_lazy_with(opts);
                (Pool::Postgres(pool), label)
            }
            Some(u) if u.starts_with("sqlite:") => {
                let opts =
                    SqliteConnectOptions::from_str(u).map_err(|e| StoreError::Invalid(format!("storage url: {e}")))?;
                (Pool::Sqlite(sqlite_pool(opts)), u.to_string())
            }
            Some(u) => {
                return Err(StoreError::Invalid(format!(
                    "storage url {:?} must start with postgres:// or sqlite:",
                    u.split('@').next_back().unwrap_or("")
                )))
            }
            None => {
                std::fs::create_dir_all(data_dir)
                    .map_err(|e| StoreError::Invalid(format!("cannot create {}: {e}", data_dir.display())))?;
                let path = data_dir.join("crossbar.db");
                let opts = SqliteConnectOptions::new().filename(&path);
                (Pool::Sqlite(sqlite_pool(opts)), format!("sqlite:{}", path.display()))
            }
        };
        Ok(Store { pool, ready: Arc::new(OnceCell::new()), label })
    }

    /// Connect and run the migrations (once per store; later calls return the first result).
    pub async fn ready(&self) -> Result<(), StoreError> {
        let r = self
            .ready
            .get_or_init(|| async {
                let r = match &self.pool {
                    Pool::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await,
                    Pool::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await,
                };
                r.map_err(|e| e.to_string())
            })
            .await;
        r.clone().map_err(StoreError::Migrate)
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// Close the pool (waits for connections to be returned).
    pub async fn close(&self) {
        with_pool!(self, p => p.close().await)
    }
}

fn sqlite_pool(opts: SqliteConnectOptions) -> SqlitePool {
    let opts = opts
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new().max_connections(4).connect_lazy_with(opts)
}

/// Milliseconds since the unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
