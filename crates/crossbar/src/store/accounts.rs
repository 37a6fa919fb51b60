//! The `accounts` table: ChatGPT accounts as rows whose tokens arrive here already sealed
//! (`accounts/db.rs` seals and opens them; this file never sees a token in the clear). Every
//! change of the pool's membership bumps `accounts_version` in its own transaction (and, on
//! PostgreSQL, sends `NOTIFY crossbar_accounts`), so running gateways notice it at once.
//! Refreshes are guarded twice: a lease on the row (when Redis is not there to hold one) and a
//! compare-and-swap of `refresh_gen` when the refreshed tokens are written.

use super::{now_ms, with_pool, Store, StoreError};

/// Bump the membership version inside the transaction `$tx` (and, with `$notify`, notify
/// PostgreSQL listeners: delivered at commit). A macro: the body is compiled per backend.
macro_rules! bump {
    ($tx:ident, $notify:expr) => {{
        sqlx::query("UPDATE accounts_version SET version = version + 1 WHERE id = 1").execute(&mut *$tx).await?;
        if $notify {
            sqlx::query(concat!("NOTIFY ", "crossbar_accounts")).execute(&mut *$tx).await?;
        }
    }};
}

/// The channel `NOTIFY` speaks on after a membership change (PostgreSQL only).
pub const NOTIFY_CHANNEL: &str = "crossbar_accounts";

/// One row as stored: the tokens sealed, the rest in the clear (no secrets).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: String,
    pub email: Option<String>,
    pub sealed: String,
    pub expires_at: Option<i64>,
    pub disabled: bool,
    pub last_error: Option<String>,
    pub last_refresh: Option<i64>,
    /// JSON list of usage windows.
    pub windows: String,
    pub windows_read_at: Option<i64>,
    pub imported_at: i64,
    pub refresh_gen: i64,
}

const COLUMNS: &str = "id, email, sealed, expires_at, disabled, last_error, last_refresh, windows, \
                       windows_read_at, imported_at, refresh_gen";

impl Store {
    pub async fn accounts(&self) -> Result<Vec<AccountRow>, StoreError> {
        self.ready().await?;
        let sql = format!("SELECT {COLUMNS} FROM accounts ORDER BY id");
        Ok(with_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)?)
    }

    pub async fn account(&self, id: &str) -> Result<Option<AccountRow>, StoreError> {
        self.ready().await?;
        let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1");
        Ok(with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// The pool's membership version (one row, bumped by every add, disable, enable, remove).
    pub async fn accounts_version(&self) -> Result<i64, StoreError> {
        self.ready().await?;
        let v: (i64,) = with_pool!(self, p => sqlx::query_as("SELECT version FROM accounts_version WHERE id = 1").fetch_one(p).await)?;
        Ok(v.0)
    }

    /// Insert or replace (by id) an account: a new login, with a fresh refresh generation.
    pub async fn put_account(&self, row: &AccountRow) -> Result<(), StoreError> {
        self.ready().await?;
        let sql = format!(
            "INSERT INTO accounts ({COLUMNS}, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11) \
             ON CONFLICT (id) DO UPDATE SET email = excluded.email, sealed = excluded.sealed, \
             expires_at = excluded.expires_at, disabled = excluded.disabled, last_error = excluded.last_error, \
             last_refresh = excluded.last_refresh, windows = excluded.windows, \
             windows_read_at = excluded.windows_read_at, imported_at = excluded.imported_at, refresh_gen = 0, \
             lease_owner = NULL, lease_until = 0, updated_at = excluded.updated_at"
        );
        let notify = self.is_postgres();
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(&sql)
                .bind(&row.id)
                .bind(&row.email)
                .bind(&row.sealed)
                .bind(row.expires_at)
                .bind(row.disabled)
                .bind(&row.last_error)
                .bind(row.last_refresh)
                .bind(&row.windows)
                .bind(row.windows_read_at)
                .bind(row.imported_at)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            bump!(tx, notify);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Remove an account; false when there was none.
    pub async fn remove_account(&self, id: &str) -> Result<bool, StoreError> {
        self.ready().await?;
        let notify = self.is_postgres();
        let n = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query("DELETE FROM accounts WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
            if n > 0 {
                bump!(tx, notify);
            }
            tx.commit().await?;
            n
        });
        Ok(n > 0)
    }

    /// Disable (with the reason shown in listings) or enable an account; false when there is none.
    pub async fn set_account_disabled(
        &self,
        id: &str,
        disabled: bool,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.ready().await?;
        let notify = self.is_postgres();
        let n = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE accounts SET disabled = $2, last_error = $3, lease_owner = NULL, lease_until = 0, \
                 updated_at = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(disabled)
            .bind(reason)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n > 0 {
                bump!(tx, notify);
            }
            tx.commit().await?;
            n
        });
        Ok(n > 0)
    }

    /// Take the row's refresh lease for `owner` until `until_ms` when it is free (or expired).
    pub async fn lease_account(
        &self,
        id: &str,
        imported_at: i64,
        owner: &str,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        self.ready().await?;
        let n = with_pool!(self, p => sqlx::query(
            "UPDATE accounts SET lease_owner = $3, lease_until = $4 \
             WHERE id = $1 AND imported_at = $2 AND (lease_until < $5 OR lease_owner = $3)",
        )
        .bind(id)
        .bind(imported_at)
        .bind(owner)
        .bind(until_ms)
        .bind(now_ms())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Give the row's lease back (only `owner`'s).
    pub async fn release_account(&self, id: &str, owner: &str) -> Result<(), StoreError> {
        self.ready().await?;
        with_pool!(self, p => sqlx::query(
            "UPDATE accounts SET lease_owner = NULL, lease_until = 0 WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .execute(p)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Write refreshed tokens over generation `seen` of this login (and give the row lease
    /// back). False when the row moved on meanwhile (another refresh, a new login, removed).
    pub async fn put_refreshed(
        &self,
        id: &str,
        imported_at: i64,
        seen: i64,
        sealed: &str,
        expires_at: Option<i64>,
        last_refresh: i64,
    ) -> Result<bool, StoreError> {
        self.ready().await?;
        let n = with_pool!(self, p => sqlx::query(
            "UPDATE accounts SET sealed = $4, expires_at = $5, last_refresh = $6, last_error = NULL, \
             refresh_gen = refresh_gen + 1, lease_owner = NULL, lease_until = 0, updated_at = $7 \
             WHERE id = $1 AND imported_at = $2 AND refresh_gen = $3",
        )
        .bind(id)
        .bind(imported_at)
        .bind(seen)
        .bind(sealed)
        .bind(expires_at)
        .bind(last_refresh)
        .bind(now_ms())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Record usage windows and the last error of this login (not a membership change).
    pub async fn put_account_windows(
        &self,
        id: &str,
        imported_at: i64,
        windows: &str,
        windows_read_at: Option<i64>,
        last_error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.ready().await?;
        with_pool!(self, p => sqlx::query(
            "UPDATE accounts SET windows = $3, windows_read_at = $4, last_error = $5 \
             WHERE id = $1 AND imported_at = $2",
        )
        .bind(id)
        .bind(imported_at)
        .bind(windows)
        .bind(windows_read_at)
        .bind(last_error)
        .execute(p)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Whether the account file with this digest was imported already; if not, record it and
    /// store its accounts (those not stored yet), all in one transaction. Returns how many
    /// accounts were added, `None` when the file had been imported before.
    pub async fn import_account_file(
        &self,
        digest: &str,
        path: &str,
        rows: &[AccountRow],
    ) -> Result<Option<usize>, StoreError> {
        self.ready().await?;
        let notify = self.is_postgres();
        let sql = format!(
            "INSERT INTO accounts ({COLUMNS}, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11) \
             ON CONFLICT (id) DO NOTHING"
        );
        let added = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let first = sqlx::query(
                "INSERT INTO account_file_imports (digest, path, accounts, imported_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (digest) DO NOTHING",
            )
            .bind(digest)
            .bind(path)
            .bind(rows.len() as i64)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if first == 0 {
                return Ok(None);
            }
            let mut added = 0;
            for row in rows {
                added += sqlx::query(&sql)
                    .bind(&row.id)
                    .bind(&row.email)
                    .bind(&row.sealed)
                    .bind(row.expires_at)
                    .bind(row.disabled)
                    .bind(&row.last_error)
                    .bind(row.last_refresh)
                    .bind(&row.windows)
                    .bind(row.windows_read_at)
                    .bind(row.imported_at)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected() as usize;
            }
            if added > 0 {
                bump!(tx, notify);
            }
            tx.commit().await?;
            added
        });
        Ok(Some(added))
    }
}

impl Store {
    /// On PostgreSQL, a connection listening for account changes (`NOTIFY_CHANNEL`); `None` on SQLite.
    pub async fn account_listener(&self) -> Result<Option<sqlx::postgres::PgListener>, StoreError> {
        self.ready().await?;
        match &self.pool {
            super::Pool::Postgres(p) => {
                let mut l = sqlx::postgres::PgListener::connect_with(p).await?;
                l.listen(NOTIFY_CHANNEL).await?;
                Ok(Some(l))
            }
            super::Pool::Sqlite(_) => Ok(None),
        }
    }
}
