//! Sticky sessions across instances: which deployment a conversation went to last. Without
//! Redis it is this instance's memory (`Route::recall` / `remember`); with Redis the record
//! `<prefix>:aff:<route>:<conversation>` = `provider/model` is shared, so a conversation keeps
//! its upstream prompt cache whichever instance it reaches. Reading refreshes its TTL (GETEX);
//! it is written only when the conversation moves, off the request path.
//! Must never: wait on Redis beyond `DEADLINE`, or fail a request because Redis did.

use crate::app::AppState;
use crate::redis_conn::RedisConn;
use crate::routing::Route;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_millis(50);

fn key(redis: &RedisConn, route: &Route, conversation: u64) -> String {
    redis.key("aff", &format!("{}:{conversation:016x}", route.name))
}

/// The conversation's deployment, if one is remembered (Redis first, else this instance's).
pub async fn recall(state: &AppState, route: &Route, conversation: u64, now: u64) -> Option<usize> {
    if let Some(redis) = &state.redis {
        let k = key(redis, route, conversation);
        let ttl = state.config.routing.sticky_ttl.as_millis() as u64;
        let read = async {
            let mut c = redis.conn().await?;
            redis::cmd("GETEX").arg(&k).arg("PX").arg(ttl.max(1)).query_async::<Option<String>>(&mut c).await
        };
        match tokio::time::timeout(DEADLINE, read).await {
            Ok(Ok(Some(name))) => return route.deployments.iter().position(|d| d.is_named(&name)),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "affinity: redis read failed; using this instance's memory"),
            Err(_) => tracing::debug!("affinity: redis read timed out; using this instance's memory"),
        }
    }
    route.recall(conversation, now)
}

/// The conversation went to `index` (committed): remember it here and, when it moved, in Redis.
pub fn remember(state: &AppState, route: &Route, conversation: u64, index: usize, recalled: Option<usize>, now: u64) {
    let ttl = state.config.routing.sticky_ttl.as_millis() as u64;
    route.remember(conversation, index, now, ttl);
    let (Some(redis), Some(d)) = (state.redis.clone(), route.deployments.get(index)) else { return };
    if recalled == Some(index) {
        return;
    }
    let k = key(&redis, route, conversation);
    let v = format!("{}/{}", d.target.provider.name(), d.target.model);
    tokio::spawn(async move {
        let write = async {
            let mut c = redis.conn().await?;
            redis::cmd("SET").arg(&k).arg(&v).arg("PX").arg(ttl.max(1)).query_async::<()>(&mut c).await
        };
        if !matches!(tokio::time::timeout(Duration::from_secs(1), write).await, Ok(Ok(()))) {
            tracing::debug!("affinity: redis write failed; this instance still remembers");
        }
    });
}
