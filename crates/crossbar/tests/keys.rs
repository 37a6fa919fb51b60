//! Keys, limits and usage on the embedded SQLite store: every auth failure in every client
//! protocol's shape, limits under concurrency, budgets that run out mid-stream, usage
//! records (including after a graceful shutdown during live streams).

mod common;
use common::*;
use crossbar::store::{GroupBy, KeyLimits, Period};
use futures_util::future::join_all;
use serde_json::{json, Value};

const CONFIG: &str = r#"
[auth]
[[providers]]
name = "mock"
kind = "mock"
[[catalog]]
model = "echo"
input_price = 1000.0
output_price = 100000.0
"#;

#[tokio::test]
async fn every_auth_failure_in_every_protocol_shape() {
    let gw = Gateway::start(CONFIG).await;
    let (good, _) = make_key(&gw, KeyLimits::default(), None).await;
    let (revoked, rid) = make_key(&gw, KeyLimits::default(), None).await;
    gw.state.store.revoke_key(&rid).await.expect("revoke");
    let (expired, _) = make_key(&gw, KeyLimits::default(), Some(1)).await;
    let (narrow, _) =
        make_key(&gw, KeyLimits { models: Some(vec!["mock/other".into()]), ..KeyLimits::default() }, None).await;
    let wrong_secret = format!("{}{}", &good[..good.len() - 4], if good.ends_with("0000") { "1111" } else { "0000" });
    for c in CLIENTS {
        let (s, _, t) = send(&gw, c, "mock/echo", "hi", false, None).await;
        assert_error(c, s, &t, 401, "no key");
        for (k, what) in [
            ("sk-not-ours", "foreign key"),
            (wrong_secret.as_str(), "wrong secret"),
            (revoked.as_str(), "revoked"),
            (expired.as_str(), "expired"),
        ] {
            let (s, _, t) = send(&gw, c, "mock/echo", "hi", false, Some(k)).await;
            assert_error(c, s, &t, 401, what);
        }
        let (s, _, t) = send(&gw, c, "mock/echo", "hi", false, Some(&narrow)).await;
        assert_error(c, s, &t, 403, "model not allowed");
        let (s, _, t) = send(&gw, c, "mock/echo", "hi", false, Some(&good)).await;
        assert_eq!(s, 200, "{c:?}: {t}");
        assert_eq!(text_of(c, &t, false), "echo: hi");
    }
    // Every other way of presenting a key works too.
    let (path, body) = request(Client::Gemini, "mock/echo", "hi", false);
    let r = client().post(format!("{}{path}?key={good}", gw.url)).json(&body).send().await.expect("send");
    assert_eq!(r.status(), 200);
    let (path, body) = request(Client::Anthropic, "mock/echo", "hi", false);
    let r = client().post(format!("{}{path}", gw.url)).bearer_auth(&good).json(&body).send().await.expect("send");
    assert_eq!(r.status(), 200);
    // Model lists need a key too; health does not.
    assert_eq!(client().get(format!("{}/v1/models", gw.url)).send().await.expect("get").status(), 401);
    assert_eq!(
        client().get(format!("{}/v1/models", gw.url)).bearer_auth(&good).send().await.expect("get").status(),
        200
    );
    assert_eq!(client().get(format!("{}/healthz", gw.url)).send().await.expect("get").status(), 200);
    let m = gw.metrics().await;
    assert!(m.contains("crossbar_auth_failures_total{reason=\"revoked\"} 4"), "{m}");
}

#[tokio::test]
async fn rate_and_parallel_limits_hold_under_concurrency() {
    let gw = Gateway::start(CONFIG).await;
    let (k, _) = make_key(&gw, KeyLimits { rpm: Some(10), ..KeyLimits::default() }, None).await;
    let results = join_all((0..40).map(|i| {
        let c = CLIENTS[i % 4];
        let (gw, k) = (&gw, k.clone());
        async move { (c, send(gw, c, "mock/echo", "hi", false, Some(&k)).await) }
    }))
    .await;
    let ok = results.iter().filter(|(_, (s, _, _))| *s == 200).count();
    assert_eq!(ok, 10, "exactly the rpm limit is admitted");
    for (c, (s, h, t)) in results.iter().filter(|(_, (s, _, _))| *s != 200) {
        assert_error(*c, *s, t, 429, "rpm");
        let retry: u64 = h["retry-after"].to_str().expect("ascii").parse().expect("seconds");
        assert!((1..=60).contains(&retry), "{retry}");
        assert_eq!(h["x-ratelimit-limit-requests"], "10");
        assert_eq!(h["x-ratelimit-remaining-requests"], "0");
    }

    let (k, _) = make_key(&gw, KeyLimits { max_parallel: Some(3), ..KeyLimits::default() }, None).await;
    let results =
        join_all((0..12).map(|_| send(&gw, Client::Chat, "mock/echo", "hi mock:stall=400", false, Some(&k)))).await;
    let ok = results.iter().filter(|(s, _, _)| *s == 200).count();
    assert_eq!(ok, 3, "{:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());
    // Slots come back when requests end.
    let (s, _, t) = send(&gw, Client::Chat, "mock/echo", "hi", false, Some(&k)).await;
    assert_eq!(s, 200, "{t}");
}

#[tokio::test]
async fn tpm_counts_tokens_actually_used() {
    let gw = Gateway::start(CONFIG).await;
    let (k, _) = make_key(&gw, KeyLimits { tpm: Some(50), ..KeyLimits::default() }, None).await;
    // The mock reports about 20 input + 40 output tokens: one request passes, then the minute is spent.
    let (s, _, t) = send(&gw, Client::Anthropic, "mock/echo", "hi mock:words=40", false, Some(&k)).await;
    assert_eq!(s, 200, "{t}");
    let (s, h, t) = send(&gw, Client::Anthropic, "mock/echo", "hi", false, Some(&k)).await;
    assert_error(Client::Anthropic, s, &t, 429, "tpm");
    assert_eq!(h["x-ratelimit-limit-tokens"], "50");
}

#[tokio::test]
async fn a_stream_that_starts_under_budget_finishes_and_the_next_request_is_refused() {
    let gw = Gateway::start(CONFIG).await;
    // "echo" costs $100 000 per million output tokens: 200 words ≈ $20.
    let (k, id) =
        make_key(&gw, KeyLimits { budget_usd: Some(1.0), budget_period: Period::Day, ..KeyLimits::default() }, None)
            .await;
    for c in [Client::Anthropic, Client::Chat] {
        let (s, _, t) = send(&gw, c, "mock/echo", "go mock:words=200 mock:slow=1", true, Some(&k)).await;
        if c == Client::Anthropic {
            assert_eq!(s, 200, "{t}");
            assert_eq!(text_of(c, &t, true).split_whitespace().count(), 200, "the whole stream arrives");
        } else {
            assert_error(c, s, &t, 402, "budget spent");
        }
    }
    for c in CLIENTS {
        let (s, _, t) = send(&gw, c, "mock/echo", "hi", false, Some(&k)).await;
        assert_error(c, s, &t, 402, "budget spent");
    }
    wait_rows(&gw, 6).await;
    let spent = gw.state.store.spend(&id, 0).await.expect("spend");
    assert!(spent > 1.0, "the finished stream's full cost is recorded: {spent}");
}

#[tokio::test]
async fn usage_records_carry_what_happened() {
    let gw = Gateway::start(CONFIG).await;
    let (k, id) = make_key(&gw, KeyLimits::default(), None).await;
    for c in CLIENTS {
        for stream in [false, true] {
            let (s, _, t) = send(&gw, c, "mock/echo", "count me mock:words=5", stream, Some(&k)).await;
            assert_eq!(s, 200, "{t}");
        }
    }
    let (s, _, _) = send(&gw, Client::Chat, "mock/echo", "mock:error=500", false, Some(&k)).await;
    assert_eq!(s, 500);
    assert_eq!(wait_rows(&gw, 9).await, 9);
    let by_key = gw.state.store.usage_report(GroupBy::Key, 0, i64::MAX, None).await.expect("report");
    assert_eq!(by_key.len(), 1);
    let row = &by_key[0];
    assert_eq!((row.group.as_str(), row.requests, row.errors), (id.as_str(), 9, 1));
    // Every success is counted, Chat streams without include_usage too (crossbar asks for usage).
    assert_eq!(row.output_tokens, 40, "{row:?}");
    assert!(row.cost_usd > 0.0);
    let by_provider = gw.state.store.usage_report(GroupBy::Provider, 0, i64::MAX, None).await.expect("report");
    assert_eq!(by_provider[0].group, "mock");
    let by_day = gw.state.store.usage_report(GroupBy::Day, 0, i64::MAX, None).await.expect("report");
    assert_eq!(by_day.len(), 1);
    assert_eq!(by_day[0].group.len(), 10, "YYYY-MM-DD: {}", by_day[0].group);
}

#[tokio::test]
async fn graceful_shutdown_during_100_live_streams_loses_no_usage_record() {
    let mut gw = Gateway::start(CONFIG).await;
    let (k, _) = make_key(&gw, KeyLimits::default(), None).await;
    let (started_tx, mut started_rx) = tokio::sync::mpsc::channel::<()>(100);
    let streams: Vec<_> = (0..100)
        .map(|i| {
            let c = CLIENTS[i % 4];
            let (url, k, started) = (gw.url.clone(), k.clone(), started_tx.clone());
            tokio::spawn(async move {
                let (path, body) = request(c, "mock/echo", "long mock:words=20 mock:slow=25", true);
                let mut r = client().post(format!("{url}{path}")).json(&body).bearer_auth(&k);
                if c == Client::Anthropic {
                    r = r.header("x-api-key", &k);
                }
                let resp = r.send().await.expect("send");
                let _ = started.send(()).await;
                let status = resp.status().as_u16();
                (c, status, resp.text().await.unwrap_or_default())
            })
        })
        .collect();
    // Wait until every stream is live (headers received), then ask for a graceful shutdown.
    for _ in 0..100 {
        started_rx.recv().await.expect("a stream started");
    }
    gw.shutdown();
    for s in join_all(streams).await {
        let (c, status, body) = s.expect("join");
        assert_eq!(status, 200, "{c:?}: {body}");
        assert_eq!(text_of(c, &body, true).split_whitespace().count(), 20, "{c:?} finished");
    }
    (&mut gw.handle).await.expect("join").expect("server");
    assert_eq!(usage_rows(&gw).await, 100, "one record per stream, all written at shutdown");
}

#[tokio::test]
async fn no_auth_mode_still_records_usage_without_a_key() {
    let gw = Gateway::start("[[providers]]\nname = \"mock\"\nkind = \"mock\"\n").await;
    let (s, _, _) = send(&gw, Client::Chat, "mock/echo", "hi", false, None).await;
    assert_eq!(s, 200);
    assert_eq!(wait_rows(&gw, 1).await, 1);
    let rows = gw.state.store.usage_report(GroupBy::Key, 0, i64::MAX, None).await.expect("report");
    assert_eq!(rows[0].group, "-");
}

#[tokio::test]
async fn admin_api_manages_keys_and_rejects_hostile_input() {
    let gw = Gateway::start_admin(CONFIG, "admin-secret").await;
    let admin =
        |m: reqwest::Method, path: &str| client().request(m, format!("{}{path}", gw.url)).bearer_auth("admin-secret");
    let r = admin(reqwest::Method::POST, "/admin/keys")
        .json(&json!({"name": "alice'); DROP TABLE keys;--", "rpm": 5, "models": ["mock/echo"], "budget_usd": 3.5, "budget_period": "month"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.expect("json");
    let key = v["key"].as_str().expect("plaintext once").to_string();
    let id = v["record"]["id"].as_str().expect("id").to_string();
    assert!(v["record"].get("secret_sha256").is_none(), "{v}");
    assert_eq!(v["record"]["name"], "alice'); DROP TABLE keys;--");

    // A client key is never an admin key; no key, wrong key → 401 JSON.
    for bad in [Some(key.as_str()), Some("nope"), None] {
        let mut r = client().get(format!("{}/admin/keys", gw.url));
        if let Some(b) = bad {
            r = r.bearer_auth(b);
        }
        let r = r.send().await.expect("get");
        assert_eq!(r.status(), 401);
        let v: Value = r.json().await.expect("json error");
        assert!(v["error"]["message"].is_string());
    }

    let hostile = [
        json!({"name": "x".repeat(100_000)}),
        json!({"name": ""}),
        json!({"name": "ok", "rpm": "ten"}),
        json!({"name": "ok", "rpm": -1}),
        json!({"name": "ok", "rpm": 0}),
        json!({"name": "ok", "budget_usd": "1e999"}),
        json!({"name": "ok", "budget_period": "week"}),
        json!({"name": "ok", "models": "mock/echo"}),
        json!({"name": "ok", "surprise": true}),
        json!(["name"]),
        json!({"name": "a\u{0}b"}),
    ];
    for body in hostile {
        let r = admin(reqwest::Method::POST, "/admin/keys").json(&body).send().await.expect("post");
        assert_eq!(r.status(), 400, "{}", &body.to_string()[..body.to_string().len().min(80)]);
        let v: Value = r.json().await.expect("json error");
        assert!(v["error"]["message"].is_string(), "{v}");
    }
    let r = admin(reqwest::Method::POST, "/admin/keys").body("{not json").send().await.expect("post");
    assert_eq!(r.status(), 400);
    for path in [
        "/admin/keys/' OR '1'='1",
        "/admin/keys/%27%3B%20DROP%20TABLE%20usage%3B--",
        &format!("/admin/keys/{}", "z".repeat(5000)),
    ] {
        let r = admin(reqwest::Method::GET, path).send().await.expect("get");
        assert_eq!(r.status(), 404, "{path}");
        let r = admin(reqwest::Method::DELETE, path).send().await.expect("delete");
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = admin(reqwest::Method::GET, "/admin/usage?group_by=key;DROP TABLE usage").send().await.expect("get");
    assert_eq!(r.status(), 400);
    let r = admin(reqwest::Method::GET, "/admin/usage?group_by=day&from=yesterday").send().await.expect("get");
    assert_eq!(r.status(), 400);

    // Update (null clears a limit), list, use, revoke.
    let r = admin(reqwest::Method::PATCH, &format!("/admin/keys/{id}"))
        .json(&json!({"rpm": null, "tpm": 1000}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!((v["rpm"].clone(), v["tpm"].clone()), (Value::Null, json!(1000)));
    let r = admin(reqwest::Method::PATCH, &format!("/admin/keys/{id}"))
        .json(&json!({"rpm": "x"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 400);
    let v: Value = admin(reqwest::Method::GET, "/admin/keys").send().await.expect("list").json().await.expect("json");
    assert_eq!(v["keys"].as_array().map(Vec::len), Some(1));
    let (s, _, _) = send(&gw, Client::Chat, "mock/echo", "hi", false, Some(&key)).await;
    assert_eq!(s, 200);
    let r = admin(reqwest::Method::DELETE, &format!("/admin/keys/{id}")).send().await.expect("revoke");
    assert_eq!(r.status(), 200);
    let (s, _, t) = send(&gw, Client::Chat, "mock/echo", "hi", false, Some(&key)).await;
    assert_error(Client::Chat, s, &t, 401, "revoked via admin");
    wait_rows(&gw, 2).await;
    let v: Value = admin(reqwest::Method::GET, "/admin/usage?group_by=model")
        .send()
        .await
        .expect("usage")
        .json()
        .await
        .expect("json");
    assert_eq!(v["rows"][0]["group"], "mock/echo", "{v}");
    assert_eq!(v["rows"][0]["requests"], 1, "{v}");
}

#[tokio::test]
async fn admin_api_is_closed_without_an_admin_key() {
    let gw = Gateway::start(CONFIG).await;
    let r = client().get(format!("{}/admin/keys", gw.url)).bearer_auth("anything").send().await.expect("get");
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn records_name_protocols_route_timing_and_disconnects() {
    let gw = Gateway::start(CONFIG).await;
    let (k, id) = make_key(&gw, KeyLimits::default(), None).await;
    let (s, _, _) = send(&gw, Client::Anthropic, "mock/echo", "hello mock:words=3", true, Some(&k)).await;
    assert_eq!(s, 200);
    wait_rows(&gw, 1).await;
    // A client that goes away mid-stream is still recorded, as a disconnect.
    let (path, body) = request(Client::Gemini, "mock/echo", "long mock:words=50 mock:slow=20", true);
    let mut resp =
        client().post(format!("{}{path}", gw.url)).header("x-goog-api-key", &k).json(&body).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let _ = resp.chunk().await.expect("first chunk");
    drop(resp);
    wait_rows(&gw, 2).await;
    let rows = gw.state.store.recent_usage(10).await.expect("rows");
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (gone, done) = (&rows[0], &rows[1]);
    assert_eq!(done.key_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        (done.model.as_str(), done.provider.as_deref(), done.upstream_model.as_deref()),
        ("mock/echo", Some("mock"), Some("echo"))
    );
    assert_eq!((done.protocol_in.as_str(), done.protocol_out.as_deref()), ("anthropic", Some("anthropic")));
    assert_eq!((done.status, done.output_tokens, done.error_class.as_deref()), (200, Some(3), None));
    assert!(done.input_tokens.is_some_and(|n| n > 0) && done.cost_usd.is_some_and(|c| c > 0.0));
    assert!(done.ttft_ms.is_some_and(|t| t <= done.latency_ms), "{done:?}");
    assert_eq!(
        (gone.protocol_in.as_str(), gone.error_class.as_deref()),
        ("gemini", Some("client_disconnect")),
        "{gone:?}"
    );
}
