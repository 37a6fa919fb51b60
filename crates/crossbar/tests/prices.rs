//! Prices as data: the admin API's table, preview and apply of a price file (picked up by the
//! running gateway at once), requests without a price (unknown cost, counted), and
//! re-pricing recorded usage with its rollups and audit row; then the same from the CLI.

mod common;
use common::*;
use crossbar::store::{Store, UsageRecord};
use serde_json::{json, Value};
use std::process::Command;

const ADMIN: &str = "admin-secret-prices";

const CONFIG: &str = r#"
[storage]
usage_flush_ms = 20
[[providers]]
name = "mock"
kind = "mock"
"#;

async fn admin(gw: &Gateway, method: &str, path: &str, body: Option<String>) -> (u16, Value) {
    let url = format!("{}{path}", gw.url);
    let r = match method {
        "GET" => client().get(url),
        _ => client().post(url).body(body.unwrap_or_default()),
    };
    let r = r.bearer_auth(ADMIN).send().await.expect("send");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
}

fn row<'a>(table: &'a Value, model: &str) -> Option<&'a Value> {
    table["prices"].as_array().and_then(|rows| rows.iter().find(|r| r["model"] == model))
}

/// The newest usage row's cost, once `n` rows are written.
async fn last_cost(gw: &Gateway, n: i64) -> Option<f64> {
    assert_eq!(wait_rows(gw, n).await, n);
    gw.state.store.recent_usage(1).await.expect("rows")[0].cost_usd
}

#[tokio::test]
async fn prices_are_previewed_applied_live_and_recorded_usage_is_repriced_explicitly() {
    let gw = Gateway::start_admin(CONFIG, ADMIN).await;
    // The built-in table, with its source.
    let (s, table) = admin(&gw, "GET", "/admin/prices", None).await;
    assert_eq!(s, 200, "{table}");
    let opus = row(&table, "claude-opus-4-5").expect("opus 4.5 row");
    assert_eq!((opus["input_price"].as_f64(), opus["output_price"].as_f64()), (Some(5.0), Some(25.0)));
    assert_eq!((opus["cache_write_price"].as_f64(), opus["source"].as_str()), (Some(6.25), Some("builtin")));
    assert!(row(&table, "echo").is_none());

    // The mock's model has no price: the cost is unknown (NULL), and the request is counted.
    let (s, _, t) = send(&gw, Client::Chat, "mock/echo", "hello there mock:words=5", false, None).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(last_cost(&gw, 1).await, None);
    let m = gw.metrics().await;
    assert!(m.contains("crossbar_unpriced_requests_total{model=\"echo\"} 1"), "{m}");

    // A LiteLLM file: echo is new, Opus 4.5 is as built in, a broken price is no price.
    let file = json!({
        "echo": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, "mode": "chat"},
        "claude-opus-4-5": {"input_cost_per_token": 5e-6, "output_cost_per_token": 2.5e-5,
            "cache_read_input_token_cost": 5e-7, "cache_creation_input_token_cost": 6.25e-6,
            "cache_creation_input_token_cost_above_1hr": 1e-5,
            "max_input_tokens": 200000, "max_output_tokens": 64000, "mode": "chat"},
        "bad": {"input_cost_per_token": "free", "output_cost_per_token": 1e-6, "mode": "chat"}
    })
    .to_string();
    let (s, preview) = admin(&gw, "POST", "/admin/prices/preview", Some(file.clone())).await;
    assert_eq!(s, 200, "{preview}");
    assert_eq!((preview["format"].as_str(), preview["applied"].as_bool()), (Some("litellm"), Some(false)));
    let changes = preview["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "{preview}");
    assert_eq!(changes[0]["model"], "echo");
    assert_eq!(changes[0]["was"], Value::Null);
    assert_eq!(changes[0]["changes"][0], json!({"field": "input", "old": null, "new": 1.0}));
    // A preview changes nothing.
    let (_, table) = admin(&gw, "GET", "/admin/prices", None).await;
    assert!(row(&table, "echo").is_none());

    let (s, applied) = admin(&gw, "POST", "/admin/prices/apply", Some(file.clone())).await;
    assert_eq!(s, 200, "{applied}");
    assert_eq!((applied["changes"].as_array().map(Vec::len), applied["applied"].as_bool()), (Some(1), Some(true)));
    let (_, table) = admin(&gw, "GET", "/admin/prices", None).await;
    let echo = row(&table, "echo").expect("echo now priced");
    assert_eq!((echo["input_price"].as_f64(), echo["source"].as_str()), (Some(1.0), Some("store")));
    // Applying again changes nothing more.
    let (_, again) = admin(&gw, "POST", "/admin/prices/apply", Some(file)).await;
    assert_eq!(again["changes"].as_array().map(Vec::len), Some(0), "{again}");

    // This gateway prices the next request with it at once.
    let (s, _, t) = send(&gw, Client::Chat, "mock/echo", "hello there mock:words=5", false, None).await;
    assert_eq!(s, 200, "{t}");
    let priced = last_cost(&gw, 2).await.expect("priced now");
    assert!(priced > 0.0);
    let m = gw.metrics().await;
    assert!(m.contains("crossbar_unpriced_requests_total{model=\"echo\"} 1"), "not counted again: {m}");

    // The first request keeps its unknown cost until a re-pricing is asked for; a dry run first.
    let range = json!({"from": "2000-01-01", "to": "2999-01-01"}).to_string();
    let (s, dry) = admin(&gw, "POST", "/admin/prices/reprice", Some(range)).await;
    assert_eq!(s, 200, "{dry}");
    assert_eq!(
        (dry["rows"].as_u64(), dry["changed"].as_u64(), dry["applied"].as_bool()),
        (Some(2), Some(1), Some(false))
    );
    let new_total = dry["new_total"].as_f64().expect("new total");
    assert!((dry["old_total"].as_f64().expect("old") - priced).abs() < 1e-12, "{dry}");
    assert!((new_total - 2.0 * priced).abs() < 1e-12, "the same request costs the same: {dry}");
    let rows = gw.state.store.recent_usage(2).await.expect("rows");
    assert_eq!(rows[1].cost_usd, None, "a dry run writes nothing");
    let (_, audit) = admin(&gw, "GET", "/admin/prices/reprices", None).await;
    assert_eq!(audit["reprices"].as_array().map(Vec::len), Some(0));

    let range = json!({"from": "2000-01-01", "to": "2999-01-01", "apply": true}).to_string();
    let (s, done) = admin(&gw, "POST", "/admin/prices/reprice", Some(range)).await;
    assert_eq!((s, done["changed"].as_u64()), (200, Some(1)), "{done}");
    let rows = gw.state.store.recent_usage(2).await.expect("rows");
    assert_eq!(rows[1].cost_usd, Some(priced));
    // The rollups the dashboard reads say the same.
    let totals = gw.state.store.rollup_totals(0, i64::MAX, None).await.expect("totals");
    assert!((totals.cost_usd - new_total).abs() < 1e-12, "{totals:?}");
    let (_, audit) = admin(&gw, "GET", "/admin/prices/reprices", None).await;
    let entry = &audit["reprices"][0];
    assert_eq!(entry["rows_changed"].as_i64(), Some(1), "{audit}");
    assert!((entry["new_total"].as_f64().expect("new") - new_total).abs() < 1e-12);

    // Refusals are JSON errors: not a price file, a bad range, no admin key.
    let (s, e) = admin(&gw, "POST", "/admin/prices/preview", Some("[1, 2]".into())).await;
    assert_eq!((s, e["error"]["type"].as_str()), (400, Some("invalid_request")), "{e}");
    let (s, e) = admin(
        &gw,
        "POST",
        "/admin/prices/reprice",
        Some(json!({"from": "2020-01-02", "to": "2020-01-01"}).to_string()),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    let r = client().get(format!("{}/admin/prices", gw.url)).send().await.expect("send");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn the_dashboard_models_page_shows_each_price_source_and_flags_unpriced_models() {
    let gw = Gateway::start_admin(
        &format!("{CONFIG}\n[[models]]\nname = \"big\"\ntargets = [\"mock/claude-opus-4-5\"]\n[[models]]\nname = \"free\"\ntargets = [\"mock/echo\"]\n"),
        ADMIN,
    )
    .await;
    // No [auth]: loopback is an admin on the dashboard.
    let page = client().get(format!("{}/ui/models", gw.url)).send().await.expect("get").text().await.expect("text");
    assert!(
        page.contains("$6.25") && page.contains("builtin"),
        "Opus 4.5's cache write, from the built-in table: {page}"
    );
    assert!(page.contains("1 served model(s) have no price"), "{page}");

    // Paste a file: the preview lists what would change and writes nothing.
    let token = page.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("csrf field");
    let file =
        json!({"echo": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, "mode": "chat"}}).to_string();
    let post = |form: Vec<(&'static str, String)>| {
        client().post(format!("{}/ui/models/prices", gw.url)).header("origin", gw.url.as_str()).form(&form).send()
    };
    let r = post(vec![("file", file.clone())]).await.expect("post");
    assert_eq!(r.status(), 403, "no CSRF token, no change");
    let r = post(vec![("csrf", token.to_string()), ("file", "{}".into())]).await.expect("post");
    assert_eq!(r.status(), 400);
    let r = post(vec![("csrf", token.to_string()), ("file", file)]).await.expect("post");
    assert_eq!(r.status(), 200);
    let preview = r.text().await.expect("page");
    assert!(preview.contains("1 model(s) would change") && preview.contains("no price"), "{preview}");
    assert!(gw.state.catalog.lookup("echo").is_none(), "a preview writes nothing");
    // Apply carries exactly the previewed rows.
    let rows = preview.split("name=\"file\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("rows field");
    let rows = rows.replace("&quot;", "\"").replace("&amp;", "&");
    let r = post(vec![("csrf", token.to_string()), ("apply", "1".into()), ("file", rows)]).await.expect("post");
    assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
    assert_eq!(gw.state.catalog.lookup("echo").and_then(|i| i.output_price), Some(2.0));
    let page = client().get(format!("{}/ui/models", gw.url)).send().await.expect("get").text().await.expect("text");
    assert!(!page.contains("have no price") && page.contains("store"), "{page}");
}

fn crossbar(cfg: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_crossbar"))
        .args(args)
        .env("CROSSBAR_CONFIG", cfg)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run crossbar");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_updates_from_models_dev_only_with_apply_config_still_wins_and_reprice_is_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\ndata_dir = {:?}\n[[catalog]]\nmodel = \"gpt-5\"\ninput_price = 9.0\noutput_price = 9.0\n",
            data.display().to_string()
        ),
    )
    .expect("write");
    let file = dir.path().join("api.json");
    std::fs::write(
        &file,
        json!({
            "openai": {"id": "openai", "models": {
                "gpt-5-mini": {"id": "gpt-5-mini", "cost": {"input": 0.3, "output": 2.0, "cache_read": 0.025},
                    "limit": {"context": 400000, "output": 128000}},
                "gpt-5": {"id": "gpt-5", "cost": {"input": 1.0, "output": 10.0}}
            }}
        })
        .to_string(),
    )
    .expect("write");

    // Without --apply: the difference, nothing written.
    let (ok, out, err) = crossbar(&cfg, &["prices", "update", "--from", file.to_str().expect("path")]);
    assert!(ok, "{err}");
    assert!(out.contains("gpt-5-mini: input 0.25 → 0.3"), "{out}");
    assert!(err.contains("would update"), "{err}");
    let (ok, list, err) = crossbar(&cfg, &["prices", "list"]);
    assert!(ok, "{err}");
    let line = |list: &str, m: &str| list.lines().find(|l| l.split_whitespace().next() == Some(m)).map(str::to_string);
    assert!(line(&list, "gpt-5-mini").expect("row").ends_with("builtin"), "{list}");

    let (ok, _, err) = crossbar(&cfg, &["prices", "update", "--from", file.to_str().expect("path"), "--apply"]);
    assert!(ok && err.contains("updated 2"), "{err}");
    let (_, list, _) = crossbar(&cfg, &["prices", "list"]);
    let mini = line(&list, "gpt-5-mini").expect("row");
    assert!(mini.contains("0.3") && mini.ends_with("store"), "{mini}");
    // [[catalog]] still wins over the store.
    let gpt5 = line(&list, "gpt-5").expect("row");
    assert!(gpt5.contains('9') && gpt5.ends_with("config"), "{gpt5}");

    // Recorded usage: one gpt-5-mini request priced at the old rate.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = Store::open(None, &data).expect("store");
        let rec = UsageRecord {
            ts: 1_700_000_000_000,
            model: "mini".into(),
            provider: Some("oa".into()),
            upstream_model: Some("gpt-5-mini".into()),
            protocol_in: "openai_chat",
            input_tokens: Some(1_000_000),
            output_tokens: Some(0),
            cost_usd: Some(0.25),
            status: 200,
            ..UsageRecord::default()
        };
        store.insert_usage(&[rec]).await.expect("insert");
        store.close().await;
    });
    let (ok, out, err) = crossbar(&cfg, &["prices", "reprice", "--from", "2023-01-01", "--to", "2024-01-01"]);
    assert!(ok, "{err}");
    assert!(out.contains("1 rows, 1 re-priced") && out.contains("$0.250000 → $0.300000"), "{out}");
    let (_, hist, _) = crossbar(&cfg, &["prices", "history"]);
    assert_eq!(hist.lines().count(), 1, "a dry run leaves no audit row: {hist}");
    let (ok, _, err) = crossbar(&cfg, &["prices", "reprice", "--from", "2023-01-01", "--to", "2024-01-01", "--apply"]);
    assert!(ok, "{err}");
    let (_, hist, _) = crossbar(&cfg, &["prices", "history"]);
    assert!(hist.lines().nth(1).is_some_and(|l| l.contains("0.250000") && l.contains("0.300000")), "{hist}");
    let (ok, _, err) = crossbar(&cfg, &["prices", "update", "--from", cfg.to_str().expect("path")]);
    assert!(!ok && err.contains("not JSON"), "{err}");
}

#[test]
fn check_config_warns_about_targets_without_a_price() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        r#"
[[providers]]
name = "oa"
kind = "openai"
api_key = "sk-test"
[[providers]]
name = "mock"
kind = "mock"
[[models]]
name = "known"
targets = ["oa/gpt-5"]
[[models]]
name = "mystery"
targets = ["oa/gpt-9-preview", "mock/echo"]
"#,
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_crossbar"))
        .args(["check-config", cfg.to_str().expect("path")])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("\"mystery\" → oa/gpt-9-preview has no price"), "{err}");
    assert!(!err.contains("gpt-5 ") && !err.contains("echo"), "priced and mock targets are not flagged: {err}");
}

#[tokio::test]
async fn another_instance_on_the_same_database_picks_an_update_up_without_a_restart() {
    let db = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}?mode=rwc", db.path().join("shared.db").display());
    let config =
        format!("[storage]\nurl = {url:?}\nusage_flush_ms = 20\n[[providers]]\nname = \"mock\"\nkind = \"mock\"\n");
    let a = Gateway::start_admin(&config, ADMIN).await;
    let b = Gateway::start_admin(&config, ADMIN).await;
    assert!(b.state.catalog.lookup("echo").is_none());
    let file = json!({"models": [{"model": "echo", "input": 3.0, "output": 4.0}]}).to_string();
    let (s, applied) = admin(&a, "POST", "/admin/prices/apply", Some(file)).await;
    assert_eq!((s, applied["format"].as_str()), (200, Some("crossbar")), "{applied}");
    // B polls the table's fingerprint every two seconds (a timer, nothing to wait on): look at
    // its catalog until the price shows, up to a deadline generous on a loaded machine.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut priced = None;
    while priced.is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        priced = b.state.catalog.lookup("echo").and_then(|i| i.input_price);
    }
    assert_eq!(priced, Some(3.0), "the other instance reloaded within 20 s");
    let (_, table) = admin(&b, "GET", "/admin/prices", None).await;
    assert_eq!(row(&table, "echo").and_then(|r| r["source"].as_str()), Some("store"));
}

/// A 1-hour prompt-cache write costs 2x input, a 5-minute one 1.25x: an Anthropic request
/// with a `ttl: "1h"` breakpoint (the mock reports `usage.cache_creation` split by TTL) is
/// recorded with its 1-hour part and priced with it.
#[tokio::test]
async fn one_hour_cache_writes_are_recorded_and_priced_at_twice_the_input() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let config = format!(
        "[storage]\nusage_flush_ms = 20\n[[providers]]\nname = \"claude\"\nkind = \"anthropic\"\nbase_url = \"{}\"\napi_key = \"sk-ant-test\"\n",
        mock.url()
    );
    let gw = Gateway::start(&config).await;
    // Built in: Claude's 1-hour write is twice its input price.
    for (model, hour) in [("claude-opus-4-5", 10.0), ("claude-sonnet-4-5", 6.0), ("claude-haiku-4-5", 2.0)] {
        let info = gw.state.catalog.lookup(model).expect("priced");
        assert_eq!(info.cache_write_1h_price, Some(hour), "{model}");
    }
    let body = json!({
        "model": "claude/claude-opus-4-5", "max_tokens": 64,
        "system": [
            {"type": "text", "text": "a".repeat(6000), "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {"type": "text", "text": "b".repeat(6000), "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [{"role": "user", "content": "hello mock:cache"}],
    });
    let (status, headers, text) = post(&gw, "/v1/messages", &body).await;
    assert_eq!(status, 200, "{text}");
    let reply: Value = serde_json::from_str(&text).expect("json");
    let usage = &reply["usage"];
    let hour = usage["cache_creation"]["ephemeral_1h_input_tokens"].as_i64().expect("split by TTL");
    let five = usage["cache_creation"]["ephemeral_5m_input_tokens"].as_i64().expect("split by TTL");
    assert!(hour >= 1024 && five > 0, "{usage}");
    let id = headers.get("x-crossbar-request-id").and_then(|v| v.to_str().ok()).expect("id").to_string();
    assert!(wait_rows(&gw, 1).await >= 1);
    let f = crossbar::store::LogFilter { request_id: Some(id), limit: 1, ..Default::default() };
    let row = gw.state.store.usage_log(&f).await.expect("log").pop().expect("row");
    assert_eq!(row.cache_write_1h_tokens, Some(hour));
    assert_eq!(row.cache_write_tokens, Some(hour + five));
    let input = row.input_tokens.expect("input");
    let fresh = input - hour - five;
    let want = (fresh as f64 * 5.0
        + five as f64 * 6.25
        + hour as f64 * 10.0
        + row.output_tokens.expect("output") as f64 * 25.0)
        / 1e6;
    let cost = row.cost_usd.expect("cost");
    assert!((cost - want).abs() < 1e-12, "{cost} != {want}");
    // The same writes all at the 5-minute price would cost less by 3.75 $/M on the 1-hour part.
    assert!((cost - (want - hour as f64 * 3.75 / 1e6)).abs() > 1e-9);
}
