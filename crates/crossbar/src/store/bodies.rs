//! Captured bodies (`[storage] capture_bodies`): written with their usage batch
//! (`insert_usage`), read by the request detail, purged by `usage::retention`.

use super::{with_pool, Store, StoreError};
use crate::usage::capture::Capture;
use sqlx::Row;

impl Store {
    /// The captured bodies of a request, if any were stored.
    pub async fn usage_body(&self, request_id: &str) -> Result<Option<Capture>, StoreError> {
        self.ready().await?;
        let q =
            "SELECT request, response, request_truncated, response_truncated FROM usage_bodies WHERE request_id = $1";
        let c = with_pool!(self, p => {
            match sqlx::query(q).bind(request_id).fetch_optional(p).await? {
                Some(r) => Some(Capture {
                    request: r.try_get("request")?,
                    response: r.try_get("response")?,
                    request_truncated: r.try_get::<i64, _>("request_truncated")? != 0,
                    response_truncated: r.try_get::<i64, _>("response_truncated")? != 0,
                }),
                None => None,
            }
        });
        Ok(c)
    }

    /// Delete up to `batch` captured bodies older than `cutoff`; call again until it returns
    /// less than `batch`.
    pub async fn purge_bodies(&self, cutoff: i64, batch: i64) -> Result<u64, StoreError> {
        self.ready().await?;
        let q = "DELETE FROM usage_bodies WHERE request_id IN \
                 (SELECT request_id FROM usage_bodies WHERE ts < $1 ORDER BY ts LIMIT $2)";
        let n = with_pool!(self, p => sqlx::query(q).bind(cutoff).bind(batch).execute(p).await?.rows_affected());
        Ok(n)
    }
}
