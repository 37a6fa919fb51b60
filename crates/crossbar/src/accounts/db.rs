//! Accounts in the store (`store/accounts.rs`, SQLite or PostgreSQL): each row's tokens sealed
//! with the accounts key (`seal.rs`), bound to the account id. What the CLI, the admin API, the
//! dashboard and the pools read and write. The account file of earlier versions is imported
//! once, on the first start that finds it (`import_file`), and left in place.
//! Must never: return, log or store a token unsealed; put back older tokens over stored ones.

use super::seal::Sealer;
use super::{Account, Window};
use crate::redis_conn::RedisConn;
use crate::store::{AccountRow, Store};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

#[derive(Clone)]
pub struct AccountStore {
    pub store: Store,
    pub(crate) sealer: Sealer,
    /// With Redis: refresh leases live there (`lease.rs`).
    pub redis: Option<Arc<RedisConn>>,
}

impl std::fmt::Debug for AccountStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountStore").field("store", &self.store.label).finish()
    }
}

/// What is sealed in a row.
#[derive(serde::Serialize, serde::Deserialize)]
struct Tokens {
    access_token: String,
    refresh_token: String,
    #[serde(default)]
    id_token: Option<String>,
}

impl AccountStore {
    pub fn new(store: Store, sealer: Sealer, redis: Option<Arc<RedisConn>>) -> AccountStore {
        AccountStore { store, sealer, redis }
    }

    /// For the CLI: the config's store and data dir (no Redis: leases fall back to the row).
    pub fn for_config(config: &crate::config::Config) -> anyhow::Result<AccountStore> {
        let store = crate::app::open_store(config)?;
        Ok(AccountStore::new(store, Sealer::open(&config.server.data_dir)?, None))
    }

    pub fn seal(&self, a: &Account) -> anyhow::Result<String> {
        let t = Tokens {
            access_token: a.access_token.clone(),
            refresh_token: a.refresh_token.clone(),
            id_token: a.id_token.clone(),
        };
        self.sealer.seal(&serde_json::to_vec(&t)?, a.id.as_bytes())
    }

    fn row(&self, a: &Account) -> anyhow::Result<AccountRow> {
        Ok(AccountRow {
            id: a.id.clone(),
            email: a.email.clone(),
            sealed: self.seal(a)?,
            expires_at: a.expires_at.map(to_i64),
            disabled: a.disabled,
            last_error: a.last_error.clone(),
            last_refresh: a.last_refresh.map(to_i64),
            windows: serde_json::to_string(&a.windows)?,
            windows_read_at: a.windows_read_at.map(to_i64),
            imported_at: to_i64(a.imported_at),
            refresh_gen: 0,
        })
    }

    /// The account of a row; an error when its tokens cannot be opened with this key.
    fn account(&self, r: AccountRow) -> anyhow::Result<Account> {
        let t: Tokens =
            self.sealer.unseal(&r.sealed, r.id.as_bytes()).and_then(|p| serde_json::from_slice(&p).ok()).ok_or_else(
                || {
                    anyhow::anyhow!(
                    "account {}: its tokens cannot be opened with this key (CROSSBAR_ACCOUNTS_KEY or the gateway key)",
                    r.id
                )
                },
            )?;
        Ok(Account {
            windows: serde_json::from_str::<Vec<Window>>(&r.windows).unwrap_or_default(),
            id: r.id,
            email: r.email,
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            id_token: t.id_token,
            expires_at: r.expires_at.map(to_u64),
            disabled: r.disabled,
            last_error: r.last_error,
            last_refresh: r.last_refresh.map(to_u64),
            windows_read_at: r.windows_read_at.map(to_u64),
            imported_at: to_u64(r.imported_at),
            refresh_gen: r.refresh_gen,
        })
    }

    /// Every stored account. One that this key cannot open is skipped with a warning (the
    /// others still serve).
    pub async fn all(&self) -> anyhow::Result<Vec<Account>> {
        let rows = self.store.accounts().await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            match self.account(r) {
                Ok(a) => out.push(a),
                Err(e) => tracing::warn!(error = %e, "accounts: skipping an account"),
            }
        }
        Ok(out)
    }

    pub async fn get(&self, id: &str) -> anyhow::Result<Option<Account>> {
        match self.store.account(id).await? {
            Some(r) => Ok(Some(self.account(r)?)),
            None => Ok(None),
        }
    }

    /// Store a new login (import or device-code login), replacing one with the same id. Every
    /// running gateway pools it within a second or two.
    pub async fn add(&self, mut account: Account) -> anyhow::Result<Account> {
        account.imported_at = super::unix_ms();
        account.refresh_gen = 0;
        self.store.put_account(&self.row(&account)?).await?;
        Ok(account)
    }

    /// Forget an account; false when there was none.
    pub async fn remove(&self, id: &str) -> anyhow::Result<bool> {
        Ok(self.store.remove_account(id).await?)
    }

    /// Disable (by an admin, or after a refused refresh token, with `reason`) or enable.
    pub async fn set_disabled(&self, id: &str, disabled: bool, reason: Option<&str>) -> anyhow::Result<bool> {
        Ok(self.store.set_account_disabled(id, disabled, reason).await?)
    }

    pub async fn version(&self) -> anyhow::Result<i64> {
        Ok(self.store.accounts_version().await?)
    }

    /// Write a refresh's tokens over the generation the refresh started from; false when the
    /// row moved on (then the caller takes what is stored).
    pub async fn put_refreshed(&self, a: &Account, seen_gen: i64) -> anyhow::Result<bool> {
        let sealed = self.seal(a)?;
        let written = self
            .store
            .put_refreshed(
                &a.id,
                to_i64(a.imported_at),
                seen_gen,
                &sealed,
                a.expires_at.map(to_i64),
                a.last_refresh.map_or(0, to_i64),
            )
            .await?;
        Ok(written)
    }

    /// Record an account's usage windows and last error (never its tokens).
    pub async fn put_windows(&self, a: &Account) -> anyhow::Result<()> {
        let windows = serde_json::to_string(&a.windows)?;
        let read_at = a.windows_read_at.map(to_i64);
        self.store
            .put_account_windows(&a.id, to_i64(a.imported_at), &windows, read_at, a.last_error.as_deref())
            .await?;
        Ok(())
    }

    /// Import `<data_dir>/accounts.sealed` once: its accounts not stored yet are added, the
    /// file is left where it is, and its digest remembered so it is not imported again (an
    /// account removed later stays removed). Says what it did in the log.
    pub async fn import_file(&self, data_dir: &Path) -> anyhow::Result<()> {
        let sealer = self.sealer.clone();
        let dir = data_dir.to_path_buf();
        let read = tokio::task::spawn_blocking(move || super::file::read(&dir, &sealer)).await??;
        let Some((text, accounts)) = read else { return Ok(()) };
        let digest = hex::encode(Sha256::digest(text.as_bytes()));
        let rows = accounts.iter().map(|a| self.row(a)).collect::<anyhow::Result<Vec<_>>>()?;
        let path = super::file::path(data_dir);
        if let Some(added) = self.store.import_account_file(&digest, &path.display().to_string(), &rows).await? {
            tracing::info!(
                file = %path.display(),
                accounts = accounts.len(),
                added,
                "accounts: imported the account file into the store (the file is left in place and not read again)"
            );
        }
        Ok(())
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
