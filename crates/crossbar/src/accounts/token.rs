//! Access tokens of one account: handed out while fresh, refreshed through the token endpoint
//! (`token_url`, Codex's `https://auth.openai.com/oauth/token` by default) when they expire
//! within `REFRESH_MARGIN` or after the upstream answered 401. Refresh tokens rotate (each works
//! once), so one refresh per account runs at a time across the fleet (`lease.rs`): the holder
//! first re-reads the store and takes the tokens another instance refreshed meanwhile (a newer
//! `refresh_gen`) instead of spending its own; the others wait for the lease and take the
//! stored tokens. A refused refresh token (400/401) disables the account in the store, so every
//! instance drops it; the attempt loop then moves to another account.
//! Must never: log a token, spend a refresh token another instance already spent, or hold the
//! account lock across anything but its own refresh.

use super::db::AccountStore;
use super::Account;
use crate::config::secret::{KeyError, Secret};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::time::Duration;

/// Refresh this long before the access token expires.
const REFRESH_MARGIN: u64 = 300;
const WINDOWS_SAVE_SECS: u64 = 30;
/// How long a refresh waits for another instance's refresh of the same account.
const LEASE_WAIT: Duration = Duration::from_secs(45);
const LEASE_POLL: Duration = Duration::from_millis(100);
/// Codex CLI's public OAuth client id.
pub const CODEX_CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
pub const DEFAULT_TOKEN_URL: &str = "https://auth.openai.com/oauth/token";

/// The claims of a JWT, unverified (we only read our own token's expiry and ids).
pub fn jwt_claims(jwt: &str) -> Option<serde_json::Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub fn jwt_expiry(jwt: &str) -> Option<u64> {
    jwt_claims(jwt)?.get("exp")?.as_u64()
}

/// The ChatGPT account id in a token's claims (`https://api.openai.com/auth`.`chatgpt_account_id`).
pub fn chatgpt_account_id(claims: &serde_json::Value) -> Option<String> {
    claims.pointer("/https:~1~1api.openai.com~1auth/chatgpt_account_id")?.as_str().map(str::to_string)
}

pub struct AccountHandle {
    pub id: String,
    /// Which import of the account this handle serves (`Account::imported_at`).
    pub imported_at: u64,
    account: tokio::sync::Mutex<Account>,
    db: AccountStore,
    token_url: String,
    client: reqwest::Client,
    /// Unix seconds of the last write caused by usage windows (they change on every answer).
    windows_saved: std::sync::atomic::AtomicU64,
    /// Each window's readings over time, for the dashboard (`runway.rs`).
    tracks: std::sync::Mutex<super::runway::Tracks>,
    /// The account as last seen unlocked, shown while a refresh holds the lock.
    shown: std::sync::Mutex<Status>,
}

/// What the dashboard shows of an account: no tokens.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub id: String,
    pub email: Option<String>,
    pub disabled: bool,
    pub expires_at: Option<u64>,
    pub last_error: Option<String>,
    pub last_refresh: Option<u64>,
    pub windows: Vec<super::Window>,
    /// Unix seconds of the latest answer that reported windows.
    pub windows_read_at: Option<u64>,
    pub tracks: super::runway::Tracks,
}

impl Status {
    pub fn of(a: &Account) -> Status {
        Status {
            id: a.id.clone(),
            email: a.email.clone(),
            disabled: a.disabled,
            expires_at: a.expires_at,
            last_error: a.last_error.clone(),
            last_refresh: a.last_refresh,
            windows: a.windows.clone(),
            windows_read_at: a.windows_read_at,
            tracks: Default::default(),
        }
    }
}

impl std::fmt::Debug for AccountHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountHandle").field("id", &self.id).finish()
    }
}

impl PartialEq for AccountHandle {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl AccountHandle {
    pub fn new(account: Account, db: AccountStore, token_url: String) -> AccountHandle {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default();
        AccountHandle {
            id: account.id.clone(),
            imported_at: account.imported_at,
            shown: std::sync::Mutex::new(Status::of(&account)),
            account: tokio::sync::Mutex::new(account),
            db,
            token_url,
            client,
            windows_saved: Default::default(),
            tracks: Default::default(),
        }
    }

    /// The account as it is now, for display; never waits (during a refresh, as last seen).
    pub fn status(&self) -> Status {
        let mut s = match self.account.try_lock() {
            Ok(a) => Status::of(&a),
            Err(_) => self.shown.lock().map(|s| s.clone()).unwrap_or_default(),
        };
        if let Ok(t) = self.tracks.lock() {
            s.tracks = t.clone();
            let read = t.0.iter().map(|t| t.read_at_ms / 1000).max();
            s.windows_read_at = s.windows_read_at.max(read);
        }
        s
    }

    fn show(&self, a: &Account) {
        if let Ok(mut s) = self.shown.lock() {
            *s = Status::of(a);
        }
    }

    /// A fresh access token (refreshed first when it is about to expire).
    pub async fn access_token(&self) -> Result<Secret, KeyError> {
        let mut a = self.account.lock().await;
        if a.disabled {
            return Err(KeyError::Account(format!(
                "account {} is disabled: {}",
                a.id,
                a.last_error.as_deref().unwrap_or("re-import it")
            )));
        }
        let now = crate::pipeline::unix_now();
        if a.expires_at.is_some_and(|t| t <= now + REFRESH_MARGIN) {
            self.refresh_locked(&mut a).await?;
        }
        Ok(Secret::new(a.access_token.clone()))
    }

    /// The upstream refused the token (401): refresh now.
    pub async fn refresh(&self) -> Result<(), KeyError> {
        let mut a = self.account.lock().await;
        if a.disabled {
            return Err(KeyError::Account(format!("account {} is disabled", a.id)));
        }
        // Another instance may have refreshed since we read the tokens: its token is the one to try.
        if self.take_stored(&mut a).await? {
            return Ok(());
        }
        self.refresh_locked(&mut a).await
    }

    async fn refresh_locked(&self, a: &mut Account) -> Result<(), KeyError> {
        let r = self.refresh_fleet_wide(a).await;
        self.show(a);
        r
    }

    /// Wait for the account's lease (taking the tokens of whoever refreshed meanwhile), then
    /// refresh under it.
    async fn refresh_fleet_wide(&self, a: &mut Account) -> Result<(), KeyError> {
        let deadline = tokio::time::Instant::now() + LEASE_WAIT;
        let lease = loop {
            if self.take_stored(a).await? && fresh(a) {
                return Ok(());
            }
            match super::lease::acquire(&self.db, &a.id, a.imported_at).await {
                Ok(Some(lease)) => break lease,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(account = %a.id, error = %e, "refresh lease: the store failed");
                    return Err(KeyError::Account(format!("account {}: the account store is unavailable", a.id)));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(KeyError::Account(format!("account {}: another instance is still refreshing it", a.id)));
            }
            tokio::time::sleep(LEASE_POLL).await;
        };
        let r = self.refresh_leased(a).await;
        lease.release(&self.db).await;
        r
    }

    async fn refresh_leased(&self, a: &mut Account) -> Result<(), KeyError> {
        // The previous holder may have written its tokens between our read and our lease.
        if self.take_stored(a).await? && fresh(a) {
            return Ok(());
        }
        let body = serde_json::json!({
            "client_id": CODEX_CLIENT_ID,
            "grant_type": "refresh_token",
            "refresh_token": a.refresh_token,
            "scope": "openid profile email",
        });
        let resp = self.client.post(&self.token_url).json(&body).send().await;
        let resp = match resp {
            Ok(r) => r,
            Err(_) => return Err(KeyError::Account(format!("account {}: the token endpoint is unreachable", a.id))),
        };
        let status = resp.status().as_u16();
        if status == 400 || status == 401 {
            if self.take_stored(a).await? {
                // Refused because the token was rotated elsewhere after all: use what was stored.
                return Ok(());
            }
            let reason = format!("refresh token refused (HTTP {status}); log in again or re-import the account");
            a.disabled = true;
            a.last_error = Some(reason.clone());
            tracing::warn!(account = %a.id, status, "refresh token refused; account disabled");
            if let Err(e) = self.db.set_disabled(&a.id, true, Some(&reason)).await {
                tracing::warn!(account = %a.id, error = %e, "cannot record the disabled account");
            }
            return Err(KeyError::Account(format!("account {}: refresh token refused", a.id)));
        }
        #[derive(serde::Deserialize)]
        struct Fresh {
            access_token: String,
            refresh_token: Option<String>,
            id_token: Option<String>,
            expires_in: Option<u64>,
        }
        let fresh: Fresh = match (status, resp.json().await) {
            (200..=299, Ok(f)) => f,
            _ => return Err(KeyError::Account(format!("account {}: token refresh failed (HTTP {status})", a.id))),
        };
        let now = crate::pipeline::unix_now();
        a.expires_at = jwt_expiry(&fresh.access_token).or(fresh.expires_in.map(|s| now + s));
        a.access_token = fresh.access_token;
        if let Some(r) = fresh.refresh_token {
            a.refresh_token = r;
        }
        if fresh.id_token.is_some() {
            a.id_token = fresh.id_token;
        }
        a.last_refresh = Some(now);
        a.last_error = None;
        match self.db.put_refreshed(a, a.refresh_gen).await {
            Ok(true) => a.refresh_gen += 1,
            // Our lease outlived itself and someone refreshed meanwhile, or a new login
            // replaced this one: the tokens we hold work now; the store keeps its own.
            Ok(false) => tracing::warn!(account = %a.id, "refreshed tokens not stored: the account changed meanwhile"),
            Err(e) => tracing::warn!(account = %a.id, error = %e, "cannot store the refreshed tokens"),
        }
        Ok(())
    }

    /// Take the tokens another instance refreshed for this login (a newer `refresh_gen`):
    /// true when it did. An error when the login is disabled, removed or replaced in the store
    /// (this handle then serves nothing; the pools drop it within seconds).
    async fn take_stored(&self, a: &mut Account) -> Result<bool, KeyError> {
        let s = match self.db.get(&a.id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(account = %a.id, error = %e, "cannot read the account store");
                return Err(KeyError::Account(format!("account {}: the account store is unavailable", a.id)));
            }
        };
        let Some(s) = s.filter(|s| s.imported_at == a.imported_at) else {
            return Err(KeyError::Account(format!("account {} was removed or logged in again", a.id)));
        };
        if s.disabled {
            a.disabled = true;
            a.last_error = s.last_error.clone();
            return Err(KeyError::Account(format!(
                "account {} is disabled: {}",
                a.id,
                s.last_error.as_deref().unwrap_or("log in again")
            )));
        }
        if s.refresh_gen <= a.refresh_gen {
            return Ok(false);
        }
        a.access_token = s.access_token;
        a.refresh_token = s.refresh_token;
        a.id_token = s.id_token;
        a.expires_at = s.expires_at;
        a.last_refresh = s.last_refresh;
        a.refresh_gen = s.refresh_gen;
        Ok(true)
    }

    /// Record the usage windows an answer reported; returns them when they changed (for the
    /// fleet, `crate::fleet::windows`). Saved at most every `WINDOWS_SAVE_SECS`, and at once
    /// when a window is used up (so `crossbar accounts list` shows why).
    pub fn observe_windows(&self, headers: &axum::http::HeaderMap) -> Option<Vec<super::Window>> {
        let windows = super::Window::read(headers, crate::pipeline::unix_now());
        if windows.is_empty() {
            return None;
        }
        self.take_windows(&windows, true).then_some(windows)
    }

    /// Take in window readings (an answer's, or another instance's with `persist` false: the
    /// instance that read them saves them); true when they changed.
    pub fn take_windows(&self, windows: &[super::Window], persist: bool) -> bool {
        let now = crate::pipeline::unix_now();
        if let Ok(mut t) = self.tracks.lock() {
            t.observe(windows, super::unix_ms());
        }
        // Never wait: a refresh in progress holds the lock, and these numbers come again.
        let Ok(mut a) = self.account.try_lock() else { return false };
        a.windows_read_at = Some(now);
        if a.windows == windows {
            return false;
        }
        let exhausted = windows.iter().any(|w| w.used_percent >= 100.0);
        a.windows = windows.to_vec();
        if exhausted {
            a.last_error = Some("usage limit reached".to_string());
        }
        self.show(&a);
        if !persist {
            return true;
        }
        let last = self.windows_saved.load(std::sync::atomic::Ordering::Relaxed);
        if exhausted || now >= last + WINDOWS_SAVE_SECS {
            self.windows_saved.store(now, std::sync::atomic::Ordering::Relaxed);
            self.persist_windows(&a);
        }
        true
    }

    /// Write only the usage windows and last error (they change on every answer), in the
    /// background: never the tokens, so a late write cannot undo a refresh.
    fn persist_windows(&self, a: &Account) {
        let (db, a) = (self.db.clone(), a.clone());
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        rt.spawn(async move {
            if let Err(e) = db.put_windows(&a).await {
                tracing::warn!(account = %a.id, error = %e, "cannot save the account's usage windows");
            }
        });
    }
}

/// The access token is good for longer than the refresh margin.
fn fresh(a: &Account) -> bool {
    a.expires_at.is_some_and(|t| t > crate::pipeline::unix_now() + REFRESH_MARGIN)
}
