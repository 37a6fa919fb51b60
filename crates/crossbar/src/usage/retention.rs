//! `[storage] retention_days`: raw usage rows older than that are deleted in small batches
//! (each its own short statement, so writers are never blocked for long), once at start and
//! then every `EVERY`. Hourly rollups are kept, so the dashboard's charts and the usage page
//! still cover the whole history; the request log only has what is kept. Captured bodies go
//! the same way after `capture_retention_days` (never later than their rows).
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
        let Some((store, storage)) = state.upgrade().map(|s| (s.store.clone(), s.config.storage.clone())) else {
            return;
        };
        let (days, body_days) = (storage.retention_days, storage.body_retention_days());
        if days == 0 && body_days == 0 {
            return;
        }
        let cutoff = |d: u64| now_ms() - i64::try_from(d).unwrap_or(0).saturating_mul(86_400_000);
        if days > 0 {
            match purge(&store, cutoff(days), &mut stop, Table::Usage).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, days, "usage retention: old rows deleted"),
                Err(e) => tracing::warn!(error = %e, "usage retention: purge failed; will retry"),
            }
        }
        if body_days > 0 {
            match purge(&store, cutoff(body_days), &mut stop, Table::Bodies).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(bodies = n, days = body_days, "usage retention: old captured bodies deleted"),
                Err(e) => tracing::warn!(error = %e, "usage retention: body purge failed; will retry"),
            }
        }
        drop(store);
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
    }
}

/// What a purge deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Raw usage rows.
    Usage,
    /// Captured bodies.
    Bodies,
}

/// Delete rows older than `cutoff` batch by batch; returns how many went.
pub async fn purge(
    store: &Store,
    cutoff: i64,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    table: Table,
) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let n = match table {
            Table::Usage => store.purge_usage(cutoff, BATCH).await?,
            Table::Bodies => store.purge_bodies(cutoff, BATCH).await?,
        };
        total += n;
        if n < BATCH as u64 || *stop.borrow() {
            return Ok(total);
        }
        // Let queued usage writes in between batches.
        tokio::task::yield_now().await;
    }
}
