//! Access tokens of one account: handed out while fresh, refreshed through the token endpoint
//! (`token_url`, Codex's `https://auth.openai.com/oauth/token` by default) when they expire
//! within `REFRESH_MARGIN` or after the upstream answered 401. Refresh tokens rotate (each works
//! once), so before refreshing, and before giving up on a refused one, the handle takes the
//! tokens another process stored for the same login (a second instance on the same file).
//! A refused refresh token (400/401) otherwise disables the account, persistently; the attempt
//! loop then moves to another account.
//! Must never: log a token, or hold the account lock across anything but its own refresh.

use super::store::Store;
use super::Account;
use crate::config::secret::{KeyError, Secret};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::sync::Arc;
use std::time::Duration;

/// Refresh this long before the access token expires.
const REFRESH_MARGIN: u64 = 300;
const WINDOWS_SAVE_SECS: u64 = 30;
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
    store: Arc<Store>,
    token_url: String,
    client: reqwest::Client,
    /// Unix seconds of the last write caused by usage windows (they change on every answer).
    windows_saved: std::sync::atomic::AtomicU64,
    /// Each window's readings over time, for the dashboard (`runway.rs`).
    tracks: std::sync::Mutex<super::runway::Tracks>,
}

/// What the dashboard shows of an account: no tokens.
#[derive(Debug, Clone)]
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
    pub fn new(account: Account, store: Arc<Store>, token_url: String) -> AccountHandle {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default();
        AccountHandle {
            id: account.id.clone(),
            imported_at: account.imported_at,
            account: tokio::sync::Mutex::new(account),
            store,
            token_url,
            client,
            windows_saved: Default::default(),
            tracks: Default::default(),
        }
    }

    /// The account as it is now, for display; never waits (during a refresh, the stored copy).
    pub fn status(&self) -> Status {
        let mut s = match self.account.try_lock() {
            Ok(a) => Status::of(&a),
            Err(_) => match self.store.load().ok().and_then(|all| all.into_iter().find(|a| a.id == self.id)) {
                Some(a) => Status::of(&a),
                None => Status { id: self.id.clone(), ..Status::of(&Account::default()) },
            },
        };
        if let Ok(t) = self.tracks.lock() {
            s.tracks = t.clone();
            let read = t.0.iter().map(|t| t.read_at_ms / 1000).max();
            s.windows_read_at = s.windows_read_at.max(read);
        }
        s
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
        self.refresh_locked(&mut a).await
    }

    async fn refresh_locked(&self, a: &mut Account) -> Result<(), KeyError> {
        // Another gateway on this file (or a second instance) may have refreshed this login
        // already: refresh tokens rotate, so ours may be spent. Take its tokens if they are fresh.
        if self.adopt_stored(a).await && a.expires_at.is_some_and(|t| t > crate::pipeline::unix_now() + REFRESH_MARGIN)
        {
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
        if (status == 400 || status == 401) && self.adopt_stored(a).await {
            // Refused because another process rotated it meanwhile: use what it stored.
            return Ok(());
        }
        if status == 400 || status == 401 {
            a.disabled = true;
            a.last_error = Some(format!("refresh token refused (HTTP {status}); re-import the account"));
            tracing::warn!(account = %a.id, status, "refresh token refused; account disabled");
            self.persist(a).await;
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
        self.persist(a).await;
        Ok(())
    }

    /// Take the tokens stored for this same login when another process has refreshed them
    /// since (a different refresh token, not disabled). True when it did.
    async fn adopt_stored(&self, a: &mut Account) -> bool {
        // Reading and opening the sealed file is blocking work: off the runtime's threads.
        let store = self.store.clone();
        let Ok(Ok(all)) = tokio::task::spawn_blocking(move || store.load()).await else { return false };
        let Some(s) = all.into_iter().find(|x| x.id == a.id && x.imported_at == a.imported_at) else { return false };
        if s.disabled || s.refresh_token == a.refresh_token {
            return false;
        }
        a.access_token = s.access_token;
        a.refresh_token = s.refresh_token;
        a.id_token = s.id_token;
        a.expires_at = s.expires_at;
        a.last_refresh = s.last_refresh;
        true
    }

    /// Record the usage windows an answer reported. Saved at most every `WINDOWS_SAVE_SECS`,
    /// and at once when a window is used up (so `crossbar accounts list` shows why).
    pub fn observe_windows(&self, headers: &axum::http::HeaderMap) {
        let now = crate::pipeline::unix_now();
        let windows = super::Window::read(headers, now);
        if windows.is_empty() {
            return;
        }
        if let Ok(mut t) = self.tracks.lock() {
            t.observe(&windows, super::unix_ms());
        }
        // Never wait: a refresh in progress holds the lock, and these numbers come again.
        let Ok(mut a) = self.account.try_lock() else { return };
        a.windows_read_at = Some(now);
        if a.windows == windows {
            return;
        }
        let exhausted = windows.iter().any(|w| w.used_percent >= 100.0);
        a.windows = windows;
        if exhausted {
            a.last_error = Some("usage limit reached".to_string());
        }
        let last = self.windows_saved.load(std::sync::atomic::Ordering::Relaxed);
        if exhausted || now >= last + WINDOWS_SAVE_SECS {
            self.windows_saved.store(now, std::sync::atomic::Ordering::Relaxed);
            self.persist_windows(&a);
        }
    }

    /// Write this account back into the file (others as they are on disk). Not when the file
    /// holds a newer login of it, or none (removed): those win over this handle.
    /// Write this account (tokens, state) to the sealed file, off the runtime's threads; the
    /// caller holds the account's lock, so writes of one account never overtake each other.
    async fn persist(&self, a: &Account) {
        let (store, a) = (self.store.clone(), a.clone());
        let id = a.id.clone();
        let written = tokio::task::spawn_blocking(move || save(&store, &a, |stored, a| *stored = a.clone())).await;
        if let Ok(Err(e)) | Err(e) = written.map_err(anyhow::Error::from) {
            tracing::warn!(account = %id, error = %e, "cannot save the account file");
        }
    }

    /// Write only the usage windows and last error (they change on every answer), in the
    /// background: never the tokens, so a late write cannot undo a refresh.
    fn persist_windows(&self, a: &Account) {
        let (store, a) = (self.store.clone(), a.clone());
        let write = move || {
            let r = save(&store, &a, |stored, a| {
                stored.windows = a.windows.clone();
                stored.last_error = a.last_error.clone();
            });
            if let Err(e) = r {
                tracing::warn!(account = %a.id, error = %e, "cannot save the account file");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => drop(h.spawn_blocking(write)),
            Err(_) => write(),
        }
    }
}

/// Load the sealed file, apply `update` to this import of `a`'s account, save (under the file lock).
fn save(store: &Store, a: &Account, update: impl FnOnce(&mut Account, &Account)) -> anyhow::Result<()> {
    let _g = super::store::FILE_LOCK.lock().map_err(|_| anyhow::anyhow!("account file lock poisoned"))?;
    let mut all = store.load()?;
    match all.iter_mut().find(|x| x.id == a.id) {
        Some(x) if x.imported_at == a.imported_at => update(x, a),
        _ => return Ok(()),
    }
    store.save(&all)
}
