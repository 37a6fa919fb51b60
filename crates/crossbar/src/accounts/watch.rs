//! A running gateway follows the account file: `crossbar accounts import | login | remove`
//! (another process) write it, and within `POLL` the `chatgpt` pools and the routing table are
//! rebuilt over the accounts it holds now (`AppState::reload_accounts`): no restart.
//! Must never: keep the gateway alive (it holds a weak reference), or stop on a bad file (it
//! logs and keeps the pools it has).

use super::store::Store;
use crate::app::AppState;
use std::sync::Weak;
use std::time::Duration;

pub const POLL: Duration = Duration::from_secs(1);

/// Watch until the gateway is gone or `stop` turns true.
pub async fn run(state: Weak<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(data_dir) = state.upgrade().map(|s| s.config.server.data_dir.clone()) else { return };
    let store = match Store::open(&data_dir) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the account file");
            return;
        }
    };
    let mut seen = store.stamp();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        let stamp = store.stamp();
        if stamp == seen {
            continue;
        }
        seen = stamp;
        let Some(state) = state.upgrade() else { return };
        match state.reload_accounts() {
            Ok(Some(n)) => tracing::info!(accounts = n, "account file changed: pools rebuilt"),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "account file changed but cannot be loaded; keeping the current pools")
            }
        }
    }
}
