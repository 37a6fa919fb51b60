//! What one instance learns about upstreams, shared with the fleet through Redis (when
//! configured), so the others skip an exhausted account or a failing deployment at once
//! instead of each spending requests to learn it:
//! - **parking**: an account whose usage window is spent (a 429 with its reset, or windows read
//!   at 100 %) is parked on every instance until the reset, including routes not served yet
//!   (`Routes::park_provider`); `<prefix>:acct-park:<id>` (the reset, unix ms, expiring with
//!   it) lets an instance that (re)subscribes later skip it too;
//! - **cooling**: a deployment whose breaker opened (`routing::health`) cools on every
//!   instance until the same time (`Routes::cool`; each instance then probes it itself);
//! - **usage windows**: an account's window readings (`x-codex-*` headers), so every
//!   instance's Accounts page and runway forecast see them.
//!
//! Each event is one JSON message on `<prefix>:fleet:all`, tagged with the sending instance
//! (`Fleet::id`), which ignores its own. Announcing puts the event on a bounded queue
//! (`QUEUE`; full: dropped and counted in `crossbar_fleet_events_dropped_total`, the request
//! path never waits) that one task publishes,
//! each Redis call under the 250 ms deadline of the rest of the Redis code. Times travel as
//! unix ms and become this instance's monotonic ms on arrival.
//! Must never: wait on Redis in a request, queue without bound, or re-announce what it received.

use crate::accounts::Window;
use crate::app::AppState;
use crate::routing::clock;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

const REDIS_WAIT: Duration = Duration::from_millis(250);
const RESUBSCRIBE: Duration = Duration::from_secs(5);
/// Events waiting to be published; past it new ones are dropped (and counted).
const QUEUE: usize = 256;

fn unix_ms() -> u64 {
    crate::accounts::unix_ms()
}

/// One thing learnt, as it travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// Account `account`'s usage window is spent until `until` (unix ms).
    Park { account: String, until: u64 },
    /// The breaker of `provider/model` opened until `until` (unix ms).
    Cool { provider: String, model: String, until: u64 },
    /// Account `account`'s usage windows as last read.
    Windows { account: String, windows: Vec<Window> },
}

#[derive(Debug, Serialize, Deserialize)]
struct Message {
    from: String,
    #[serde(flatten)]
    event: Event,
}

/// This instance's side of the fleet channel: its id and the publish queue.
pub struct Fleet {
    pub id: String,
    tx: mpsc::Sender<Event>,
    rx: Mutex<Option<mpsc::Receiver<Event>>>,
}

impl Default for Fleet {
    fn default() -> Fleet {
        let (tx, rx) = mpsc::channel(QUEUE);
        Fleet { id: uuid::Uuid::new_v4().simple().to_string(), tx, rx: Mutex::new(Some(rx)) }
    }
}

/// Queue `event` for the other instances (no-op without Redis; never waits).
pub fn announce(state: &AppState, event: Event) {
    if state.redis.is_none() {
        return;
    }
    if state.fleet.tx.try_send(event).is_err() {
        state.metrics.fleet_events_dropped.inc();
        tracing::debug!("fleet: publish queue full; an event was not shared");
    }
}

/// Account `id` is parked for `park` from now.
pub fn park(state: &AppState, id: &str, park: Duration) {
    let until = unix_ms().saturating_add(park.as_millis().min(u64::MAX as u128) as u64);
    announce(state, Event::Park { account: id.to_string(), until });
}

/// The breaker of `provider/model` opened for `cooldown` from now.
pub fn cool(state: &AppState, provider: &str, model: &str, cooldown: Duration) {
    let until = unix_ms().saturating_add(cooldown.as_millis().min(u64::MAX as u128) as u64);
    announce(state, Event::Cool { provider: provider.to_string(), model: model.to_string(), until });
}

/// Account `id`'s windows changed; a spent one (with its reset) also parks it fleet-wide.
pub fn windows(state: &AppState, id: &str, windows: &[Window]) {
    if state.redis.is_none() {
        return;
    }
    let now = unix_ms();
    let spent = windows
        .iter()
        .filter(|w| w.used_percent >= 100.0)
        .filter_map(|w| w.resets_at.map(|s| s.saturating_mul(1000)))
        .filter(|until| *until > now)
        .max();
    if let Some(until) = spent {
        announce(state, Event::Park { account: id.to_string(), until });
    }
    announce(state, Event::Windows { account: id.to_string(), windows: windows.to_vec() });
}

/// Take in an event from another instance; how many deployments it changed.
pub fn apply(state: &AppState, event: &Event) -> usize {
    match event {
        Event::Park { account, until } => park_here(state, account, *until),
        Event::Cool { provider, model, until } => {
            let Some(until) = monotonic(*until) else { return 0 };
            usize::from(state.routes().cool(provider, model, until))
        }
        Event::Windows { account, windows } => {
            let routes = state.routes();
            let members = routes.providers().iter().flat_map(|p| p.pool.iter());
            let mut n = 0;
            for a in members.filter_map(|m| m.account()).filter(|a| a.id == *account) {
                a.take_windows(windows, false);
                n += 1;
            }
            n
        }
    }
}

/// Unix ms → this instance's monotonic ms (`None`: already past).
fn monotonic(until: u64) -> Option<u64> {
    let now_unix = unix_ms();
    (until > now_unix).then(|| clock::now_ms().saturating_add(until - now_unix))
}

/// Park this instance's deployments of account `id` until `until` (unix ms).
fn park_here(state: &AppState, id: &str, until: u64) -> usize {
    let Some(until_mono) = monotonic(until) else { return 0 };
    let routes = state.routes();
    let members = routes.providers().iter().flat_map(|p| p.pool.iter());
    let mine: Vec<String> =
        members.filter(|m| m.account().is_some_and(|a| a.id == id)).map(|m| m.name().to_string()).collect();
    mine.iter().map(|name| routes.park_provider(name, until_mono)).sum::<usize>().max(mine.len())
}

/// Publish the queue and follow the other instances until the gateway is gone or `stop`.
pub async fn run(state: Weak<AppState>, stop: tokio::sync::watch::Receiver<bool>) {
    let Some(s) = state.upgrade() else { return };
    let (Some(redis), Some(rx)) = (s.redis.clone(), s.fleet.rx.lock().ok().and_then(|mut r| r.take())) else {
        return;
    };
    let from = s.fleet.id.clone();
    drop(s);
    tokio::spawn(publish(redis, from, rx));
    subscribe(state, stop).await;
}

/// Send each queued event: one `PUBLISH` (and for a parking the key late joiners read).
async fn publish(redis: Arc<crate::redis_conn::RedisConn>, from: String, mut rx: mpsc::Receiver<Event>) {
    let channel = redis.key("fleet", "all");
    while let Some(event) = rx.recv().await {
        let key = match &event {
            Event::Park { account, until } => Some((redis.key("acct-park", account), *until)),
            _ => None,
        };
        let Ok(text) = serde_json::to_string(&Message { from: from.clone(), event }) else { continue };
        let send = async {
            let mut c = redis.conn().await?;
            let mut pipe = redis::pipe();
            if let Some((key, until)) = &key {
                let px = until.saturating_sub(unix_ms()).max(1);
                pipe.cmd("SET").arg(key).arg(*until).arg("PX").arg(px).ignore();
            }
            pipe.cmd("PUBLISH").arg(&channel).arg(&text).ignore();
            pipe.query_async::<()>(&mut c).await
        };
        match tokio::time::timeout(REDIS_WAIT, send).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "fleet: event not shared (redis failed)"),
            Err(_) => tracing::debug!("fleet: event not shared (redis slow)"),
        }
    }
}

async fn subscribe(state: Weak<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let Some(redis) = state.upgrade().and_then(|s| s.redis.clone()) else { return };
        if let Err(e) = follow(&state, &redis, &mut stop).await {
            tracing::debug!(error = %e, "fleet: redis subscription lost; retrying");
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
    pubsub.subscribe(redis.key("fleet", "all")).await?;
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
        let Ok(m) = serde_json::from_str::<Message>(&text) else { continue };
        let Some(s) = state.upgrade() else { return Ok(()) };
        if m.from == s.fleet.id {
            continue;
        }
        let n = apply(&s, &m.event);
        match &m.event {
            Event::Park { account, .. } if n > 0 => {
                tracing::info!(account = %account, deployments = n, "account parked by another instance (usage window spent)")
            }
            Event::Cool { provider, model, .. } if n > 0 => {
                tracing::info!(provider = %provider, model = %model, "deployment cooling: another instance's breaker opened")
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_travel_as_tagged_json() {
        let m = Message { from: "a".into(), event: Event::Cool { provider: "p".into(), model: "m".into(), until: 5 } };
        let text = serde_json::to_string(&m).expect("json");
        assert_eq!(text, r#"{"from":"a","kind":"cool","provider":"p","model":"m","until":5}"#);
        let back: Message = serde_json::from_str(&text).expect("parse");
        assert_eq!(back.event, m.event);
        assert!(serde_json::from_str::<Message>(r#"{"from":"a","kind":"nope"}"#).is_err());
    }

    #[test]
    fn a_full_queue_drops_instead_of_waiting() {
        let f = Fleet::default();
        let refused = (0..QUEUE + 10)
            .filter(|i| f.tx.try_send(Event::Park { account: i.to_string(), until: 1 }).is_err())
            .count();
        assert_eq!(refused, 10);
    }
}
