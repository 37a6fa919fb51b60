//! The dashboard's data path and its open (no-auth) mode: request detail recorded through the
//! real pipeline (request id header, client, attempt chain, refusal rule), rollups kept with
//! the usage rows, and the loopback-only dashboard without `[auth]` (CSP, CSRF on changes).

mod common;
use common::*;
use crossbar::store::{KeyLimits, NewKey};
use serde_json::{json, Value};
use std::time::Duration;

const CONFIG: &str = r#"
[auth]
[[providers]]
name = "mock"
kind = "mock"
[[providers]]
name = "broken"
kind = "mock"
headers = { "x-mock" = "mock:fail-rate=1 mock:fail-status=503" }
[[models]]
name = "flaky"
strategy = "priority"
targets = ["broken/echo", "mock/echo"]
"#;

async fn chat(gw: &Gateway, key: &str, model: &str) -> (u16, reqwest::header::HeaderMap) {
    let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(key)
        .header("user-agent", "curl/8.5.0")
        .json(&body)
        .send()
        .await
        .expect("send");
    (r.status().as_u16(), r.headers().clone())
}

/// The usage row of a request id, once the batch writer has stored it.
#[tokio::test]
async fn requests_carry_their_detail_into_the_log_and_rollups() {
    let gw = Gateway::start(CONFIG).await;
    let g = crossbar::auth::key::generate();
    let limits = KeyLimits { rpm: Some(1), ..KeyLimits::default() };
    let new = NewKey { id: g.id.clone(), name: "t".into(), secret_sha256: g.secret_sha256, limits, expires_at: None };
    gw.state.store.create_key(&new).await.expect("key");

    let (status, h) = chat(&gw, &g.plaintext, "flaky").await;
    assert_eq!(status, 200);
    let id = h.get("x-crossbar-request-id").and_then(|v| v.to_str().ok()).expect("request id header").to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let row = row_of(&gw, &id).await;
    assert_eq!(row.client.as_deref(), Some("curl"));
    assert_eq!(row.key_id.as_deref(), Some(g.id.as_str()));
    let attempts: Vec<Value> = serde_json::from_str(row.attempts.as_deref().expect("attempts")).expect("json");
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!((attempts[0]["provider"].as_str(), attempts[0]["status"].as_u64()), (Some("broken"), Some(503)));
    assert!(attempts[0]["outcome"].as_str().unwrap_or("").starts_with("moved on"), "{attempts:?}");
    assert_eq!((attempts[1]["provider"].as_str(), attempts[1]["outcome"].as_str()), (Some("mock"), Some("served")));
    assert!(row.refusal.is_none());

    let (status, h) = chat(&gw, &g.plaintext, "flaky").await;
    assert_eq!(status, 429, "rpm 1");
    let id = h.get("x-crossbar-request-id").and_then(|v| v.to_str().ok()).expect("refused requests have an id too");
    let row = row_of(&gw, id).await;
    let refusal: Value = serde_json::from_str(row.refusal.as_deref().expect("refusal")).expect("json");
    assert_eq!(refusal["rule"], "rpm");
    assert!(refusal["reset_ms"].as_i64().is_some_and(|t| t > row.ts), "{refusal}");
    assert!(row.attempts.is_none(), "nothing was tried");

    let t = gw.state.store.rollup_totals(0, i64::MAX, None).await.expect("rollups");
    assert_eq!((t.requests, t.errors), (2, 1));
}

#[tokio::test]
async fn without_auth_the_dashboard_is_open_on_loopback_and_changes_need_the_token() {
    let gw = Gateway::start("[[providers]]\nname = \"mock\"\nkind = \"mock\"\n").await;
    let r = client().get(format!("{}/ui/keys", gw.url)).send().await.expect("get");
    assert_eq!(r.status(), 200);
    let csp = r.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.headers().get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
    let page = r.text().await.expect("page");
    assert!(!page.contains("style=\"") && !page.contains("<script>"), "no inline style or script");
    let token = page.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("csrf field");

    let post = |form: Vec<(&'static str, String)>, origin: &str| {
        client().post(format!("{}/ui/keys", gw.url)).header("origin", origin).form(&form).send()
    };
    let origin = gw.url.as_str();
    let r = post(vec![("name", "no token".into())], origin).await.expect("post");
    assert_eq!(r.status(), 403);
    let r =
        post(vec![("name", "cross".into()), ("csrf", token.to_string())], "http://evil.example").await.expect("post");
    assert_eq!(r.status(), 403);
    assert!(gw.state.store.list_keys().await.expect("keys").is_empty());
    let r = post(vec![("name", "ok".into()), ("csrf", token.to_string()), ("rpm", "5".into())], origin)
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let body = r.text().await.expect("body");
    let keys = gw.state.store.list_keys().await.expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].limits.rpm, Some(5));
    assert!(body.contains(&format!("cb-{}-", keys[0].id)), "the secret is shown once, in the answer");
    assert_eq!(client().get(format!("{}/ui/nowhere", gw.url)).send().await.expect("404").status(), 404);
}

#[tokio::test]
async fn retention_purges_old_raw_rows_and_keeps_rollups() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Rows recorded before the gateway starts: two older than a day, one recent.
    let store = crossbar::store::Store::open(None, dir.path()).expect("store");
    let now = crossbar::store::now_ms();
    let rec = |ts: i64| crossbar::store::UsageRecord {
        ts,
        model: "m".into(),
        protocol_in: "openai-chat",
        latency_ms: 5,
        status: 200,
        ..Default::default()
    };
    store.insert_usage(&[rec(now - 3 * 86_400_000), rec(now - 2 * 86_400_000), rec(now - 1000)]).await.expect("seed");
    store.close().await;
    let gw = Gateway::start_in("[storage]\nretention_days = 1\n[[providers]]\nname = \"mock\"\nkind = \"mock\"\n", dir)
        .await;
    for _ in 0..500 {
        if gw.state.store.usage_count().await.expect("count") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gw.state.store.usage_count().await.expect("count"), 1, "only the recent row is kept");
    let t = gw.state.store.rollup_totals(0, i64::MAX, None).await.expect("rollups");
    assert_eq!(t.requests, 3, "rollups keep the whole history");
}

#[test]
fn retention_days_is_validated() {
    let ok = crossbar::config::Config::parse("[storage]\nretention_days = 30\n", "t.toml").expect("valid");
    assert_eq!(ok.storage.retention_days, 30);
    assert_eq!(crossbar::config::Config::parse("", "t.toml").expect("valid").storage.retention_days, 0);
    let e = crossbar::config::Config::parse("[storage]\nretention_days = 1000000\n", "t.toml").expect_err("too many");
    assert!(e.to_string().contains("retention_days"), "{e}");
}

#[tokio::test]
async fn dropped_parameters_are_recorded_with_the_request() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    let body = json!({"model": "up-anthropic/c", "logit_bias": {"50256": -100}, "messages": [{"role": "user", "content": "hi"}]});
    let (status, headers, text) = post(&gw, "/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{text}");
    let id = headers.get("x-crossbar-request-id").and_then(|v| v.to_str().ok()).expect("request id");
    let row = row_of(&gw, id).await;
    assert!(row.dropped.as_deref().is_some_and(|d| d.contains("logit_bias")), "{:?}", row.dropped);
    assert_eq!(row.key_id, None, "no-auth mode");
    assert_eq!(row.protocol_out.as_deref(), Some("anthropic"));
}
