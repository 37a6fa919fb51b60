//! `[storage] retention_days`: raw usage rows older than that are deleted in small batches
//! (each its own short statement, so writers are never blocked for long), once at start and
//! then every `EVERY`. Hourly rollups are kept, so the dashboard's charts and the usage page
//! still cover the whole history; the request log only has what is kept.
//! Must never: keep the gateway alive (it holds a weak reference).

use crate::app::AppState;
use crate::store::{now_ms, Store, StoreError};
use std::sync::Weak;
use std::time::Duration;

const EVERY: Duration = Duration::from_secs(600);
const BATCH: i64 = 1_000;

/// Purge until the gateway is gone or `stop` turns true.
pub async fn run(state: Weak<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let Some((store, days)) = state.upgrade().map(|s| (s.store.clone(), s.config.storage.retention_days)) else {
            return;
        };
        if days == 0 {
            return;
        }
        let cutoff = now_ms() - i64::try_from(days).unwrap_or(0).saturating_mul(86_400_000);
        match purge(&store, cutoff, &mut stop).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, days, "usage retention: old rows deleted"),
            Err(e) => tracing::warn!(error = %e, "usage retention: purge failed; will retry"),
        }
        drop(store);
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
    }
}

/// Delete rows older than `cutoff` batch by batch; returns how many went.
pub async fn purge(
    store: &Store,
    cutoff: i64,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let n = store.purge_usage(cutoff, BATCH).await?;
        total += n;
        if n < BATCH as u64 || *stop.borrow() {
            return Ok(total);
        }
        // Let queued usage writes in between batches.
        tokio::task::yield_now().await;
    }
}
