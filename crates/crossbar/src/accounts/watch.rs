//! Every instance follows the stored accounts: an account added, logged in again, disabled,
//! enabled or removed anywhere (CLI, admin API, dashboard, another instance disabling a refused
//! token) bumps `accounts_version`, which this task polls every `POLL` (one single-row read);
//! on PostgreSQL a `NOTIFY` wakes it at once. When the version moved, the `chatgpt` pools and
//! the routing table are rebuilt over the accounts stored now (`AppState::reload_accounts`):
//! no restart. Token refreshes do not move it (they are taken from the store when needed).
//! Must never: keep the gateway alive (it holds a weak reference), or stop on a store error
//! (it logs and keeps the pools it has).

use crate::app::AppState;
use std::sync::Weak;
use std::time::Duration;

pub const POLL: Duration = Duration::from_secs(1);
/// A lost `LISTEN` connection is tried again after this long (polling goes on meanwhile).
const RELISTEN: Duration = Duration::from_secs(30);

/// Follow the store until the gateway is gone or `stop` turns true.
pub async fn run(state: Weak<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(db) = state.upgrade().map(|s| s.accounts.clone()) else { return };
    // The first round reloads: a change between the start's load and here is not missed.
    let mut seen: Option<i64> = None;
    let mut listener = listen(&db).await;
    let mut relisten = tokio::time::Instant::now() + RELISTEN;
    loop {
        let notified = async {
            match listener.as_mut() {
                Some(l) => l.recv().await.map(drop),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            r = notified => if let Err(e) = r {
                tracing::debug!(error = %e, "accounts: lost the change notifications; polling");
                listener = None;
            },
            _ = stop.wait_for(|v| *v) => return,
        }
        if listener.is_none() && tokio::time::Instant::now() >= relisten {
            listener = listen(&db).await;
            relisten = tokio::time::Instant::now() + RELISTEN;
        }
        let version = match db.version().await {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "accounts: the store cannot be read; keeping the current pools");
                continue;
            }
        };
        if seen == Some(version) {
            continue;
        }
        let Some(state) = state.upgrade() else { return };
        match state.reload_accounts().await {
            Ok(Some(n)) => tracing::info!(accounts = n, "accounts changed: pools rebuilt"),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "accounts changed but cannot be loaded; keeping the current pools");
                continue;
            }
        }
        seen = Some(version);
    }
}

async fn listen(db: &super::db::AccountStore) -> Option<sqlx::postgres::PgListener> {
    match db.store.account_listener().await {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(error = %e, "accounts: no change notifications; polling");
            None
        }
    }
}
