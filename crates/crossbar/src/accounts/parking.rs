//! An account parked on one instance (its usage window spent: a 429 with the reset) is parked
//! on every instance at once, when Redis is configured: the instance that learnt it sets
//! `<prefix>:acct-park:<id>` (the reset, unix ms; expiring with it) and publishes
//! `<id> <reset>` on `<prefix>:acct-parks`; every instance's `run` parks its deployments of
//! that account until then, and on (re)subscribing reads the keys of its pooled accounts, so a
//! restarted instance or one that missed a message still skips them. Cooling (breaker) state
//! stays per instance. The parking covers every model of the account, including routes this
//! instance has not served yet (`Routes::park_provider`).
//! Must never: wait on Redis in a request (announcing is a background task), or re-announce
//! what it received.

use crate::app::AppState;
use crate::routing::clock;
use futures_util::StreamExt;
use std::sync::{Arc, Weak};
use std::time::Duration;

const REDIS_WAIT: Duration = Duration::from_millis(250);
const RESUBSCRIBE: Duration = Duration::from_secs(5);

fn unix_ms() -> u64 {
    super::unix_ms()
}

/// Tell the other instances that account `id` is parked for `park` from now (no-op without Redis).
pub fn announce(state: &AppState, id: &str, park: Duration) {
    let Some(redis) = state.redis.clone() else { return };
    let until = unix_ms().saturating_add(park.as_millis() as u64);
    let (key, channel) = (redis.key("acct-park", id), redis.key("acct-parks", "all"));
    let message = format!("{id} {until}");
    let id = id.to_string();
    tokio::spawn(async move {
        let send = async {
            let mut c = redis.conn().await?;
            redis::pipe()
                .cmd("SET")
                .arg(&key)
                .arg(until)
                .arg("PX")
                .arg(park.as_millis().max(1) as u64)
                .ignore()
                .cmd("PUBLISH")
                .arg(&channel)
                .arg(&message)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        };
        match tokio::time::timeout(REDIS_WAIT, send).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(account = %id, error = %e, "parking not shared (redis failed)"),
            Err(_) => tracing::debug!(account = %id, "parking not shared (redis slow)"),
        }
    });
}

/// Park this instance's deployments of account `id` until `until` (unix ms).
fn park_here(state: &AppState, id: &str, until: u64) -> usize {
    let now_unix = unix_ms();
    if until <= now_unix {
        return 0;
    }
    let until_mono = clock::now_ms().saturating_add(until - now_unix);
    let routes = state.routes();
    let members = routes.providers().iter().flat_map(|p| p.pool.iter());
    let mine: Vec<String> =
        members.filter(|m| m.account().is_some_and(|a| a.id == id)).map(|m| m.name().to_string()).collect();
    mine.iter().map(|name| routes.park_provider(name, until_mono)).sum::<usize>().max(mine.len())
}

/// Follow the other instances' parkings until the gateway is gone or `stop` turns true.
pub async fn run(state: Weak<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let Some(redis) = state.upgrade().and_then(|s| s.redis.clone()) else { return };
        if let Err(e) = follow(&state, &redis, &mut stop).await {
            tracing::debug!(error = %e, "account parkings: redis subscription lost; retrying");
        }
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(RESUBSCRIBE) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
    }
}

async fn follow(
    state: &Weak<AppState>,
    redis: &Arc<crate::redis_conn::RedisConn>,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> redis::RedisResult<()> {
    let mut pubsub = redis.pubsub().await?;
    pubsub.subscribe(redis.key("acct-parks", "all")).await?;
    // What was announced before we listened.
    if let Some(s) = state.upgrade() {
        let ids: Vec<String> = s
            .routes()
            .providers()
            .iter()
            .flat_map(|p| p.pool.iter().filter_map(|m| m.account().map(|a| a.id.clone())))
            .collect();
        let mut c = redis.conn().await?;
        for id in ids {
            let until: Option<u64> = redis::cmd("GET").arg(redis.key("acct-park", &id)).query_async(&mut c).await?;
            if let Some(until) = until {
                park_here(&s, &id, until);
            }
        }
    }
    let mut messages = pubsub.on_message();
    loop {
        let msg = tokio::select! {
            m = messages.next() => m,
            _ = stop.wait_for(|v| *v) => return Ok(()),
        };
        let Some(msg) = msg else { return Ok(()) };
        let Ok(text) = msg.get_payload::<String>() else { continue };
        let Some((id, until)) = text.split_once(' ') else { continue };
        let Ok(until) = until.parse::<u64>() else { continue };
        let Some(s) = state.upgrade() else { return Ok(()) };
        let n = park_here(&s, id, until);
        if n > 0 {
            tracing::info!(account = %id, deployments = n, "account parked by another instance (usage window spent)");
        }
    }
}
