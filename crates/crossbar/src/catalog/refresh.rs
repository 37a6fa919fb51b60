//! Store prices into a running gateway's catalog: loaded at start, reloaded at once by this
//! instance's `/admin/prices/apply`, and on other instances when the table's fingerprint
//! (row count, newest change) moves: polled every `POLL` (one tiny aggregate query), with a
//! full reload every `EVERY` regardless. A store that cannot be read keeps the prices loaded.
//! Must never: keep the gateway alive (it holds a weak reference).

use super::Catalog;
use crate::app::AppState;
use crate::store::{Store, StoreError};
use std::sync::Weak;
use std::time::{Duration, Instant};

pub const POLL: Duration = Duration::from_secs(2);
pub const EVERY: Duration = Duration::from_secs(60);

/// Load the store's prices into `catalog`; returns how many rows it has.
pub async fn load(catalog: &Catalog, store: &Store) -> Result<usize, StoreError> {
    let rows: Vec<_> = store.load_prices().await?.into_iter().map(|(info, _)| info).collect();
    let n = rows.len();
    if *catalog.stored() != rows {
        catalog.set_stored(rows);
    }
    Ok(n)
}

/// Follow the store until the gateway is gone or `stop` turns true.
pub async fn run(state: Weak<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut seen: Option<(i64, i64)> = None;
    let mut loaded = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        let Some((catalog, store)) = state.upgrade().map(|s| (s.catalog.clone(), s.store.clone())) else {
            return;
        };
        let version = match store.prices_version().await {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "prices: the store cannot be read; keeping the loaded prices");
                continue;
            }
        };
        if seen == Some(version) && loaded.elapsed() < EVERY {
            continue;
        }
        match load(&catalog, &store).await {
            Ok(n) => {
                if seen.is_some_and(|s| s != version) {
                    tracing::info!(rows = n, "prices: reloaded the store's prices");
                }
                seen = Some(version);
                loaded = Instant::now();
            }
            Err(e) => {
                tracing::warn!(error = %e, "prices: reloading the store's prices failed; keeping the loaded ones")
            }
        }
    }
}
