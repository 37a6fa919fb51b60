//! Store prices into a running gateway's catalog: loaded at start, reloaded at once by this
//! instance's `/admin/prices/apply`, and every `EVERY` (so other instances pick an update up
//! within a minute). A store that cannot be read keeps the prices already loaded.
//! Must never: keep the gateway alive (it holds a weak reference).

use super::Catalog;
use crate::app::AppState;
use crate::store::{Store, StoreError};
use std::sync::Weak;
use std::time::Duration;

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

/// Reload every `EVERY` until the gateway is gone or `stop` turns true.
pub async fn run(state: Weak<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        let Some((catalog, store)) = state.upgrade().map(|s| (s.catalog.clone(), s.store.clone())) else {
            return;
        };
        if let Err(e) = load(&catalog, &store).await {
            tracing::warn!(error = %e, "prices: reloading the store's prices failed; keeping the loaded ones");
        }
    }
}
