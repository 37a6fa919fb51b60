//! The refresh lease: one token refresh per account at a time across every instance. With
//! Redis, `SET <prefix>:acct-refresh:<id> <owner> NX PX` first (released by a compare-and-delete
//! script), so instances queue in Redis; the lease on the account's row (`lease_owner`,
//! `lease_until`: taken by a conditional `UPDATE`) is taken too, always: it is the one every
//! instance shares even while Redis fails for some of them (they fall back to the row alone
//! when Redis does not answer within `REDIS_WAIT`). Both expire by themselves after `LEASE`, so
//! a crashed holder blocks nobody for long. The refreshed tokens are then written only over the
//! refresh generation they were read with (`store/accounts.rs`), so even a holder that outlived
//! its lease cannot overwrite a newer refresh.
//! Must never: wait on Redis longer than `REDIS_WAIT`.

use super::db::AccountStore;
use std::time::Duration;

/// Longer than a refresh can take (the token endpoint's 30 s timeout).
pub const LEASE: Duration = Duration::from_secs(60);
const REDIS_WAIT: Duration = Duration::from_millis(250);

const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

pub struct Lease {
    id: String,
    owner: String,
    /// The Redis key, when Redis holds the lease too.
    redis_key: Option<String>,
}

/// Take the lease on this login of account `id`; `None` when another holds it.
pub async fn acquire(db: &AccountStore, id: &str, imported_at: u64) -> anyhow::Result<Option<Lease>> {
    let owner = uuid::Uuid::new_v4().simple().to_string();
    let mut redis_key = None;
    if let Some(r) = &db.redis {
        let key = r.key("acct-refresh", id);
        let set = async {
            let mut c = r.conn().await?;
            redis::cmd("SET")
                .arg(&key)
                .arg(&owner)
                .arg("NX")
                .arg("PX")
                .arg(LEASE.as_millis() as u64)
                .query_async::<Option<String>>(&mut c)
                .await
        };
        match tokio::time::timeout(REDIS_WAIT, set).await {
            Ok(Ok(None)) => return Ok(None),
            Ok(Ok(Some(_))) => redis_key = Some(key),
            Ok(Err(e)) => {
                tracing::warn!(account = %id, error = %e, "refresh lease: redis failed; using the row's lease")
            }
            Err(_) => tracing::warn!(account = %id, "refresh lease: redis is slow; using the row's lease"),
        }
    }
    let until = crate::store::now_ms().saturating_add(LEASE.as_millis() as i64);
    let imported_at = i64::try_from(imported_at).unwrap_or(i64::MAX);
    let lease = Lease { id: id.to_string(), owner, redis_key };
    match db.store.lease_account(id, imported_at, &lease.owner, until).await {
        Ok(true) => Ok(Some(lease)),
        // An instance without Redis just now holds the row: wait for it.
        Ok(false) => {
            lease.release(db).await;
            Ok(None)
        }
        Err(e) => {
            lease.release(db).await;
            Err(e.into())
        }
    }
}

impl Lease {
    /// Give the lease back (a failure only delays the next refresh until it expires).
    pub async fn release(self, db: &AccountStore) {
        if let Err(e) = db.store.release_account(&self.id, &self.owner).await {
            tracing::debug!(account = %self.id, error = %e, "row lease not released; it expires by itself");
        }
        let (Some(key), Some(r)) = (&self.redis_key, &db.redis) else { return };
        let del = async {
            let mut c = r.conn().await?;
            redis::Script::new(RELEASE).key(key).arg(&self.owner).invoke_async::<i64>(&mut c).await
        };
        match tokio::time::timeout(REDIS_WAIT, del).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::debug!(account = %self.id, error = %e, "redis lease not released; it expires by itself")
            }
            Err(_) => tracing::debug!(account = %self.id, "redis lease not released (slow); it expires by itself"),
        }
    }
}
