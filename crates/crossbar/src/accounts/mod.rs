//! ChatGPT (Codex subscription) accounts: imported from Codex's own `auth.json` or signed in
//! with the device-code login (`login.rs`), stored in the database with their tokens sealed
//! (`db.rs`, `seal.rs`; `file.rs` is the file of earlier versions, imported once), their access
//! tokens refreshed before expiry, one refresh fleet-wide at a time (`token.rs`, `lease.rs`),
//! followed by every instance (`watch.rs`), each one a deployment of every `kind = "chatgpt"`
//! provider, so routing balances across them, parks an exhausted one until its usage window
//! resets (`x-codex-*` headers) and skips disabled ones.
//! Must never: log or print a token (`Debug` redacts them).

pub mod action;
pub mod db;
pub mod device;
pub mod file;
pub mod lease;
pub mod login;
pub mod runway;
pub mod seal;
pub mod token;
pub mod watch;

use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Serialize, Deserialize, Default)]
pub struct Account {
    /// ChatGPT account id (the `chatgpt-account-id` header).
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    pub access_token: String,
    pub refresh_token: String,
    #[serde(default)]
    pub id_token: Option<String>,
    /// Unix seconds when the access token expires, if known.
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// Set when the refresh token was refused: the account serves nothing until re-imported.
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub last_refresh: Option<u64>,
    /// Usage windows as the Codex backend last reported them (`x-codex-primary-*`, `-secondary-*`).
    #[serde(default)]
    pub windows: Vec<Window>,
    /// Unix seconds of the latest answer that reported `windows` (saved with them).
    #[serde(default)]
    pub windows_read_at: Option<u64>,
    /// Unix ms of the import (or login) that stored these tokens: a running gateway takes a
    /// changed value as a new login and starts afresh with it.
    #[serde(default)]
    pub imported_at: u64,
    /// How many times this login's tokens were refreshed (the store's `refresh_gen`): a refresh
    /// writes its tokens only over the generation it started from.
    #[serde(default, skip_serializing)]
    pub refresh_gen: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Window {
    /// `primary` (the short window, 5 h) or `secondary` (weekly).
    pub name: String,
    pub used_percent: f64,
    pub window_minutes: Option<u64>,
    /// Unix seconds.
    pub resets_at: Option<u64>,
}

impl Window {
    /// The windows in a response's headers.
    pub fn read(h: &axum::http::HeaderMap, unix_now: u64) -> Vec<Window> {
        let get = |n: String| {
            h.get(n).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<f64>().ok()).filter(|v| v.is_finite())
        };
        ["primary", "secondary"]
            .iter()
            .filter_map(|w| {
                let used = get(format!("x-codex-{w}-used-percent"))?;
                let resets_at = get(format!("x-codex-{w}-reset-at"))
                    .map(|t| t.max(0.0) as u64)
                    .or_else(|| get(format!("x-codex-{w}-reset-after-seconds")).map(|s| unix_now + s.max(0.0) as u64));
                Some(Window {
                    name: w.to_string(),
                    used_percent: used,
                    window_minutes: get(format!("x-codex-{w}-window-minutes")).map(|m| m.max(0.0) as u64),
                    resets_at,
                })
            })
            .collect()
    }
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("disabled", &self.disabled)
            .finish()
    }
}

impl Account {
    /// From a Codex `auth.json` (`{"tokens": {"access_token", "refresh_token", "id_token", "account_id"}}`).
    pub fn from_codex_auth(text: &str) -> anyhow::Result<Account> {
        #[derive(Deserialize)]
        struct File {
            tokens: Option<Tokens>,
        }
        #[derive(Deserialize)]
        struct Tokens {
            access_token: String,
            refresh_token: String,
            id_token: Option<String>,
            account_id: Option<String>,
        }
        let f: File = serde_json::from_str(text).map_err(|e| anyhow::anyhow!("not a Codex auth.json: {e}"))?;
        let t = f.tokens.ok_or_else(|| {
            anyhow::anyhow!(
                "no ChatGPT login in this auth.json (\"tokens\" is missing; API-key logins cannot be pooled)"
            )
        })?;
        let claims = t.id_token.as_deref().and_then(token::jwt_claims);
        let id = t
            .account_id
            .or_else(|| claims.as_ref().and_then(token::chatgpt_account_id))
            .ok_or_else(|| anyhow::anyhow!("the auth.json names no ChatGPT account id"))?;
        let email = claims.as_ref().and_then(|c| c.get("email")?.as_str().map(str::to_string));
        Ok(Account {
            expires_at: token::jwt_expiry(&t.access_token),
            id,
            email,
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            id_token: t.id_token,
            ..Account::default()
        })
    }
}

/// `crossbar accounts import PATH | login | list | remove ID | disable ID | enable ID` (with
/// `--config FILE` anywhere): the text to print, or the error. `login` prints its prompt to
/// stdout as it goes.
pub async fn command(config: Option<&Path>, action: crate::cli::AccountsAction) -> Result<String, String> {
    let config = match config.map(crate::config::Config::load) {
        Some(Ok(c)) => c,
        Some(Err(e)) => return Err(e.to_string()),
        None => crate::config::defaults::embedded(),
    };
    let result = async {
        let db = db::AccountStore::for_config(&config)?;
        db.import_file(&config.server.data_dir).await?;
        let done = |verb: &str, a: &Account| {
            format!("{verb} account {} ({})\n", a.id, a.email.as_deref().unwrap_or("no email"))
        };
        let out = match action {
            crate::cli::AccountsAction::Import { path } => done("imported", &import(&db, &path).await?),
            crate::cli::AccountsAction::Login { issuer, token_url } => {
                let opts = login::Options::new(&issuer, token_url.as_deref());
                let a = login::login(&db, &opts, &mut std::io::stdout()).await?;
                format!("logged in: {}", done("", &a).trim_start())
            }
            crate::cli::AccountsAction::List => list(&db.all().await?),
            crate::cli::AccountsAction::Remove { id } => {
                if !db.remove(&id).await? {
                    anyhow::bail!("no account {id:?} (see `crossbar accounts list`)");
                }
                format!("removed account {id}\n")
            }
            crate::cli::AccountsAction::Disable { id } => {
                set_disabled(&db, &id, true).await?;
                format!("disabled account {id}\n")
            }
            crate::cli::AccountsAction::Enable { id } => {
                set_disabled(&db, &id, false).await?;
                format!("enabled account {id}\n")
            }
        };
        db.store.close().await;
        anyhow::Ok(out)
    };
    result.await.map_err(|e| format!("crossbar: {e:#}\n"))
}

/// `crossbar accounts import PATH`: add or replace (by account id) the account of a Codex
/// `auth.json`.
pub async fn import(db: &db::AccountStore, path: &Path) -> anyhow::Result<Account> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    db.add(Account::from_codex_auth(&text)?).await
}

/// Disable or enable an account by hand (an admin's, not a refused token's).
pub async fn set_disabled(db: &db::AccountStore, id: &str, disabled: bool) -> anyhow::Result<()> {
    let reason = disabled.then_some("disabled by an admin");
    if !db.set_disabled(id, disabled, reason).await? {
        anyhow::bail!("no account {id:?} (see `crossbar accounts list`)");
    }
    Ok(())
}

pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `crossbar accounts list`: one line per account, no secrets.
pub fn list(all: &[Account]) -> String {
    if all.is_empty() {
        return "no accounts (add one with `crossbar accounts login` or `crossbar accounts import ~/.codex/auth.json`)\n"
            .to_string();
    }
    let now = crate::pipeline::unix_now();
    let mut out = String::new();
    for a in all {
        let state = if a.disabled { "disabled" } else { "active" };
        let expiry = match a.expires_at {
            Some(t) if t > now => format!("token valid {} min", (t - now) / 60),
            Some(_) => "token expired (refreshed on next use)".to_string(),
            None => "token expiry unknown".to_string(),
        };
        out.push_str(&format!("{}  {}  {}  {}", a.id, a.email.as_deref().unwrap_or("-"), state, expiry));
        for w in &a.windows {
            out.push_str(&format!("  {} {:.0}% used", w.name, w.used_percent));
            if let Some(t) = w.resets_at.filter(|t| *t > now) {
                out.push_str(&format!(" (resets in {} min)", (t - now).div_ceil(60)));
            }
        }
        if let Some(e) = &a.last_error {
            out.push_str(&format!("  last error: {e}"));
        }
        out.push('\n');
    }
    out
}
