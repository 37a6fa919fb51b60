//! PostgreSQL + Redis: the store and the limits shared by several instances.
//!
//! Needs PostgreSQL at `CROSSBAR_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, a role that may create databases) and Redis at
//! `CROSSBAR_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`); `scripts/services.sh` starts
//! both. Each test gets its own database and Redis key prefix, so tests run in parallel. When
//! the servers are absent the tests say so and pass — unless `CROSSBAR_REQUIRE_SERVICES=1`
//! (set by `.ci/run`), where their absence fails.

mod common;
use common::services::{drop_database as drop_db, fresh_database as services, redis_url};
use common::*;
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn config(pg: &str, prefix: &str) -> String {
    format!(
        r#"
[auth]
cache_ttl_ms = 500
[storage]
url = "{pg}"
usage_flush_ms = 100
[redis]
url = "{redis}"
prefix = "{prefix}"
[[providers]]
name = "mock"
kind = "mock"
[[catalog]]
model = "echo"
input_price = 1.0
output_price = 2.0
"#,
        redis = redis_url()
    )
}

async fn create_key(gw: &Gateway, body: Value) -> (String, String) {
    let r =
        client().post(format!("{}/admin/keys", gw.url)).bearer_auth("adm").json(&body).send().await.expect("create");
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.expect("json");
    (v["key"].as_str().expect("key").to_string(), v["record"]["id"].as_str().expect("id").to_string())
}

async fn chat(url: &str, key: &str, text: &str) -> u16 {
    let (path, body) = request(Client::Chat, "mock/echo", text, false);
    client().post(format!("{url}{path}")).bearer_auth(key).json(&body).send().await.expect("send").status().as_u16()
}

#[tokio::test]
async fn postgres_store_serves_keys_usage_and_budgets() {
    let Some(pg) = services().await else { return };
    let prefix = format!("cbt-{}", uuid::Uuid::new_v4().simple());
    let mut gw = Gateway::start_admin(&config(&pg, &prefix), "adm").await;
    assert!(gw.state.store.is_postgres());
    let (k, id) = create_key(&gw, json!({"name": "pg", "budget_usd": 0.0001, "budget_period": "day"})).await;
    for c in CLIENTS {
        let (path, body) = request(c, "mock/echo", "hi mock:words=30", true);
        let r = client()
            .post(format!("{}{path}", gw.url))
            .bearer_auth(&k)
            .header("x-api-key", &k)
            .json(&body)
            .send()
            .await
            .expect("send");
        // 30 output words at $2/M = $0.00006: under the budget twice, then spent.
        let s = r.status().as_u16();
        let _ = r.text().await;
        assert!(s == 200 || s == 402, "{c:?} {s}");
    }
    until_budget_spent(&gw, &id).await;
    assert_eq!(chat(&gw.url, &k, "hi").await, 402);
    gw.shutdown();
    (&mut gw.handle).await.expect("join").expect("server");
    let rows =
        gw.state.store.usage_report(crossbar::store::GroupBy::Key, 0, i64::MAX, Some(&id)).await.expect("report");
    assert_eq!(rows[0].requests, 5);
    let day = gw.state.store.usage_report(crossbar::store::GroupBy::Day, 0, i64::MAX, None).await.expect("report");
    assert_eq!(day[0].group.len(), 10, "{day:?}");
    assert!(gw.state.store.spend(&id, 0).await.expect("spend") >= 0.0001);
    gw.state.store.close().await;
    drop_db(&pg).await;
}

#[tokio::test]
async fn three_instances_behave_as_one_gateway() {
    let Some(pg) = services().await else { return };
    let prefix = format!("cbt-{}", uuid::Uuid::new_v4().simple());
    let cfg = config(&pg, &prefix);
    let mut gws = Vec::new();
    for _ in 0..3 {
        gws.push(Gateway::start_admin(&cfg, "adm").await);
    }

    // RPM across instances: 50 concurrent requests on each of three, limit 60.
    let (k, id) = create_key(&gws[0], json!({"name": "shared", "rpm": 60})).await;
    let urls: Vec<String> = gws.iter().map(|g| g.url.clone()).collect();
    let statuses = join_all((0..150).map(|i| {
        let (url, k) = (urls[i % 3].clone(), k.clone());
        async move { chat(&url, &k, "hi").await }
    }))
    .await;
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "{statuses:?}");
    // Redis answers within its deadline on a quiet machine; on a loaded one an admission may
    // be counted on the instance's own counters instead (the documented fallback, counted by
    // crossbar_limit_fallbacks_total): only those may go over the shared limit.
    let mut fallbacks = 0;
    for g in &gws {
        fallbacks += metric(&g.metrics().await, "crossbar_limit_fallbacks_total");
    }
    assert!(
        admitted >= 59 && admitted <= 61 + fallbacks,
        "admitted {admitted} of a 60 rpm limit across three instances ({fallbacks} local fallbacks)"
    );

    // Parallel slots across instances.
    let (kp, _) = create_key(&gws[1], json!({"name": "parallel", "max_parallel": 2})).await;
    let statuses = join_all((0..9).map(|i| {
        let (url, k) = (urls[i % 3].clone(), kp.clone());
        async move { chat(&url, &k, "slow mock:stall=500").await }
    }))
    .await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 2, "{statuses:?}");

    // Revocation on one instance is seen by all within a second.
    let (kr, rid) = create_key(&gws[2], json!({"name": "to-revoke"})).await;
    for url in &urls {
        assert_eq!(chat(url, &kr, "warm the cache").await, 200);
    }
    let r = client().delete(format!("{}/admin/keys/{rid}", urls[0])).bearer_auth("adm").send().await.expect("revoke");
    assert_eq!(r.status(), 200);
    let revoked_at = Instant::now();
    let mut refused = [false; 3];
    while !refused.iter().all(|r| *r) && revoked_at.elapsed() < Duration::from_secs(3) {
        for (i, url) in urls.iter().enumerate() {
            if !refused[i] && chat(url, &kr, "still?").await == 401 {
                refused[i] = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = revoked_at.elapsed();
    assert!(refused.iter().all(|r| *r) && took < Duration::from_secs(1), "refused by {refused:?} after {took:?}");

    // Usage adds up exactly: every request served, on whichever instance, is one row.
    for g in &mut gws {
        g.shutdown();
    }
    for g in &mut gws {
        (&mut g.handle).await.expect("join").expect("server");
    }
    let rows =
        gws[0].state.store.usage_report(crossbar::store::GroupBy::Key, 0, i64::MAX, Some(&id)).await.expect("report");
    assert_eq!(rows[0].requests, 150);
    assert_eq!(rows[0].requests - rows[0].errors, admitted as i64);
    assert_eq!(rows[0].output_tokens, 2 * admitted as i64, "\"echo: hi\" is 2 words");
    for g in &gws {
        g.state.store.close().await;
    }
    drop_db(&pg).await;
}

/// Wait (up to 20 s) until `gw`'s limiter refuses key `id` for its budget: a stream's cost is
/// settled in the background once it has ended, after its client has the last byte.
async fn until_budget_spent(gw: &Gateway, id: &str) {
    let key = std::sync::Arc::new(gw.state.store.get_key(id).await.expect("get key").expect("the key exists"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = crossbar::store::now_ms();
        match gw.state.limiter.admit(&key, &gw.state.store, now).await {
            Err(d) if d.kind == crossbar::limits::DenialKind::Budget => return,
            // Not spent yet: give back what this look took (it is no request).
            Ok(r) => gw.state.limiter.settle(r, 0, 0.0, now).await,
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "the key's budget was never spent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait (up to 20 s) until Redis holds `provider`'s deployment as the affinity of
/// `conversation` on route `m` (`<prefix>:aff:<route>:<conversation>`): the instance that moved
/// it writes it off the request path.
async fn until_affinity(prefix: &str, conversation: &str, provider: &str) {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("session_id", conversation.parse().expect("header value"));
    let hash = crossbar::routing::sticky::session_key(&headers, b"{}", None).expect("a conversation key");
    let (key, want) = (format!("{prefix}:aff:m:{hash:016x}"), format!("{provider}/x"));
    let client = redis::Client::open(redis_url()).expect("redis url");
    let mut c = client.get_multiplexed_async_connection().await.expect("redis");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut c).await.expect("get");
        if v.as_deref() == Some(want.as_str()) {
            return;
        }
        assert!(Instant::now() < deadline, "{key} is {v:?}, never {want}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Redis alone is enough for shared affinity.
async fn redis_up() -> bool {
    let required = std::env::var("CROSSBAR_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
    let up = match redis::Client::open(redis_url()) {
        Ok(c) => c.get_multiplexed_async_connection().await.is_ok(),
        Err(_) => false,
    };
    assert!(up || !required, "CROSSBAR_REQUIRE_SERVICES=1 but Redis is down");
    if !up {
        eprintln!("SKIPPED: Redis is down (run scripts/services.sh)");
    }
    up
}

async fn provider_for(url: &str, conversation: &str) -> String {
    let (path, body) = request(Client::Responses, "m", "hello", false);
    let r = client()
        .post(format!("{url}{path}"))
        .header("session_id", conversation)
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    r.headers()["x-crossbar-provider"].to_str().expect("header").to_string()
}

#[tokio::test]
async fn a_conversation_stays_on_one_deployment_whichever_instance_it_reaches() {
    if !redis_up().await {
        return;
    }
    let prefix = format!("cbt-{}", uuid::Uuid::new_v4().simple());
    let cfg = format!(
        "[redis]\nurl = \"{}\"\nprefix = \"{prefix}\"\n\n\
         [[providers]]\nname = \"a\"\nkind = \"mock\"\n\n[[providers]]\nname = \"b\"\nkind = \"mock\"\n\n\
         [[providers]]\nname = \"c\"\nkind = \"mock\"\n\n\
         [[models]]\nname = \"m\"\nstrategy = \"weighted\"\nsticky = true\ntargets = [\"a/x\", \"b/x\", \"c/x\"]\n",
        redis_url()
    );
    let gws = [Gateway::start(&cfg).await, Gateway::start(&cfg).await, Gateway::start(&cfg).await];
    let mut first = Vec::new();
    for i in 0..20 {
        let conv = format!("conversation-{i}");
        let p = provider_for(&gws[i % 3].url, &conv).await;
        for gw in &gws {
            assert_eq!(provider_for(&gw.url, &conv).await, p, "{conv} moved between instances");
        }
        first.push(p);
    }
    let spread: std::collections::BTreeSet<_> = first.iter().collect();
    assert!(spread.len() > 1, "conversations are still balanced: {spread:?}");

    // Instance 1 sees conversation-0's deployment failing and moves it; the others follow.
    let route = gws[1].state.routes().resolve("m").expect("route");
    let i = route.deployments.iter().position(|d| d.target.provider.name() == first[0]).expect("deployment");
    route.deployments[i].state.health.failure(crossbar::routing::clock::now_ms(), 1, 60_000);
    let moved = provider_for(&gws[1].url, "conversation-0").await;
    assert_ne!(moved, first[0]);
    until_affinity(&prefix, "conversation-0", &moved).await;
    assert_eq!(provider_for(&gws[0].url, "conversation-0").await, moved, "instance 0 follows the move");
    assert_eq!(provider_for(&gws[2].url, "conversation-0").await, moved, "instance 2 follows the move");
}

/// The value of an unlabelled counter or gauge in a `/metrics` text (0 when absent).
fn metric(text: &str, name: &str) -> usize {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as usize)
}
