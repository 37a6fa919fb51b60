//! The operations behind `crossbar prices …` and `/admin/prices/…`, shared so the terminal and
//! the API say the same thing: load a price file (preview or apply), re-price recorded usage.

use super::import::{self, Change, Format};
use super::Catalog;
use crate::store::{RepriceReport, Store, StoreError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{0}")]
    File(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a price file does (or did) to the table.
#[derive(Debug, Serialize)]
pub struct Update {
    pub format: Format,
    /// Priced rows read from the file.
    pub rows: usize,
    /// Rows that differ from the prices in effect (the ones written when applied).
    pub changes: Vec<Change>,
    pub applied: bool,
}

/// Read `text` (LiteLLM, models.dev or crossbar shape) and compare it with the prices in
/// effect; with `apply`, write the changed rows to the store and reload `catalog`'s store layer.
pub async fn update(catalog: &Catalog, store: &Store, text: &str, apply: bool) -> Result<Update, UpdateError> {
    let (format, rows) = import::parse(text).map_err(UpdateError::File)?;
    let n = rows.len();
    let changes = import::diff(catalog, rows);
    if apply && !changes.is_empty() {
        let rows: Vec<_> = changes.iter().map(|c| c.row.clone()).collect();
        store.upsert_prices(&rows, format.name()).await?;
        super::refresh::load(catalog, store).await?;
    }
    Ok(Update { format, rows: n, changes, applied: apply })
}

/// Recompute the cost of usage in `[from, to)` from its stored tokens with `catalog`'s prices
/// now (by upstream model); with `apply`, write it (and an audit row).
pub async fn reprice(
    catalog: &Catalog,
    store: &Store,
    from: i64,
    to: i64,
    apply: bool,
) -> Result<RepriceReport, StoreError> {
    store
        .reprice(from, to, apply, |r| {
            let info = catalog.lookup(r.upstream_model.as_deref()?)?;
            let usage = crossbar_protocol::canonical::Usage {
                input: r.input,
                output: r.output,
                cache_read: r.cache_read,
                cache_write: r.cache_write,
                cache_write_1h: r.cache_write_1h,
                reasoning: None,
            };
            crate::usage::pricing::cost(Some(&info), &usage)
        })
        .await
}
