//! Overflow: a route's API-key deployments serve only while every subscription account of its
//! pool is exhausted; a conversation keeps the side it started on until its affinity expires;
//! after the window resets new conversations go back to the pool. Mock-backed: the account's
//! first request meets a spent usage window (`mock:usage-limit mock:fail-first=1`), and time
//! passes on crossbar's routing clock (`clock::advance`), never by sleeping.
//! This file moves the process's routing clock: its tests must not share a binary with others.

mod common;
use common::*;
use crossbar::routing::clock;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

fn jwt(claims: serde_json::Value) -> String {
    use base64::Engine;
    let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    format!("{}.{}.sig", e(br#"{"alg":"none"}"#), e(claims.to_string().as_bytes()))
}

/// Import a Codex auth.json for `account` into `data_dir`'s store.
async fn import(data_dir: &Path, account: &str) {
    let auth = json!({
        "OPENAI_API_KEY": null,
        "tokens": {"access_token": format!("token-{account}"), "refresh_token": format!("refresh-{account}"),
                   "account_id": account, "id_token": jwt(json!({"email": format!("{account}@example.com")}))},
        "last_refresh": "2026-01-01T00:00:00Z",
    });
    let file = data_dir.join(format!("{account}.auth.json"));
    std::fs::write(&file, auth.to_string()).expect("write auth.json");
    let store = crossbar::store::Store::open(None, data_dir).expect("store");
    let sealer = crossbar::accounts::seal::Sealer::open(data_dir).expect("key");
    let db = crossbar::accounts::db::AccountStore::new(store, sealer, None);
    crossbar::accounts::import(&db, &file).await.expect("import");
}

/// A pool whose account's window is spent for its first request (resetting in 300 s), with an
/// API-key deployment as the route's overflow.
fn config(mock: &str, extra: &str) -> String {
    format!(
        "[routing]\nbackoff_ms = 0\nsticky_ttl_secs = 1000\n\n\
         [[providers]]\nname = \"codex\"\nkind = \"chatgpt\"\nbase_url = \"{mock}\"\ntoken_url = \"{mock}/oauth/token\"\n\
         headers = {{ \"x-mock\" = \"mock:usage-limit mock:fail-first=1 mock:ratelimit-reset=300\" }}\n\n\
         [[providers]]\nname = \"paid\"\nkind = \"openai\"\nbase_url = \"{mock}/v1\"\napi_key = \"sk-paid\"\n\n\
         [[models]]\nname = \"gpt\"\ntargets = [\"codex/gpt-5\"]\noverflow = [\"paid/gpt-5\"]\n{extra}"
    )
}

/// One turn of conversation `session`: status, serving provider, request id.
async fn turn(gw: &Gateway, session: &str) -> (u16, String, String) {
    let (status, headers, text) = session_turn(gw, "gpt", session).await;
    assert_eq!(status, 200, "{session}: {text}");
    (status, header_text(&headers, "x-crossbar-provider"), header_text(&headers, "x-crossbar-request-id"))
}

fn backend_calls(mock: &crossbar_mock::MockServer) -> usize {
    mock.requests().iter().filter(|r| r["path"] == "/backend-api/codex/responses").count()
}

/// The tests move the process's routing clock: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn a_spent_pool_overflows_to_the_api_key_and_comes_back_after_the_reset() {
    let _one = SERIAL.lock().await;
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    import(dir.path(), "acct-1").await;
    let gw = Gateway::start_in(&config(&mock.url(), ""), dir).await;

    // The account's window is spent: the same request moves on to the overflow side.
    let (_, provider, id) = turn(&gw, "a").await;
    assert_eq!(provider, "paid");
    assert_eq!(backend_calls(&mock), 1);
    let row = row_of(&gw, &id).await;
    assert_eq!(row.route_side.as_deref(), Some("overflow"));
    let attempts: serde_json::Value = serde_json::from_str(row.attempts.as_deref().unwrap_or("[]")).expect("attempts");
    assert_eq!(attempts[0]["side"], "primary");
    assert_eq!(attempts[1]["side"], "overflow");
    assert_eq!(attempts[1]["side_why"], crossbar::routing::side::EXHAUSTED);

    // While it is spent, new conversations start on the overflow side without asking the pool.
    let (_, provider, id) = turn(&gw, "b").await;
    assert_eq!(provider, "paid");
    assert_eq!(backend_calls(&mock), 1, "the spent account is not asked again");
    assert_eq!(row_of(&gw, &id).await.route_side.as_deref(), Some("overflow"));

    // The live view says where new conversations go, and why.
    let routes = crossbar::admin::deployments::routes_json(&gw.state);
    let gpt = routes.as_array().and_then(|r| r.iter().find(|r| r["name"] == "gpt")).expect("route").clone();
    assert_eq!(gpt["overflow"]["new_conversations"], "overflow", "{gpt}");
    assert_eq!(gpt["deployments"][0]["side"], "primary");
    assert_eq!(gpt["deployments"][1]["side"], "overflow");

    // The window resets: a new conversation is served by the account again …
    clock::advance(Duration::from_secs(301));
    let (_, provider, id) = turn(&gw, "c").await;
    assert_eq!(provider, "codex:acct-1");
    assert_eq!(backend_calls(&mock), 2);
    assert_eq!(row_of(&gw, &id).await.route_side.as_deref(), Some("primary"));
    // … while the conversations that started on the overflow side stay there.
    for session in ["a", "b"] {
        let (_, provider, id) = turn(&gw, session).await;
        assert_eq!(provider, "paid", "{session} keeps its side");
        let row = row_of(&gw, &id).await;
        let attempts: serde_json::Value = serde_json::from_str(row.attempts.as_deref().unwrap_or("[]")).expect("json");
        assert_eq!(attempts[0]["side_why"], crossbar::routing::side::KEPT_OVERFLOW);
    }
    assert_eq!(backend_calls(&mock), 2);
    // Once its affinity expires, an overflow conversation goes back to the pool too.
    clock::advance(Duration::from_secs(1001));
    let (_, provider, _) = turn(&gw, "a").await;
    assert_eq!(provider, "codex:acct-1");
}

#[tokio::test]
async fn a_conversation_started_on_the_pool_keeps_it_and_unavailable_is_not_spent() {
    let _one = SERIAL.lock().await;
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    import(dir.path(), "acct-1").await;
    // No spent window here: only `overflow_on` differs, and the pool serves.
    let text =
        config(&mock.url(), "overflow_on = \"unavailable\"\n").replace("mock:usage-limit mock:fail-first=1 ", "");
    let gw = Gateway::start_in(&text, dir).await;
    let (_, provider, _) = turn(&gw, "p").await;
    assert_eq!(provider, "codex:acct-1");
    let (_, provider, id) = turn(&gw, "p").await;
    assert_eq!(provider, "codex:acct-1");
    let row = row_of(&gw, &id).await;
    assert_eq!(row.route_side.as_deref(), Some("primary"));
    let attempts: serde_json::Value = serde_json::from_str(row.attempts.as_deref().unwrap_or("[]")).expect("json");
    assert_eq!(attempts[0]["side_why"], crossbar::routing::side::KEPT_PRIMARY);
    // With `overflow_on = "unavailable"`, a failing (cooling) account overflows too.
    let routes = gw.state.routes();
    let route = routes.resolve("gpt").expect("route");
    route.deployments[0].state.health.failure(clock::now_ms(), 1, 60_000);
    let (_, provider, id) = turn(&gw, "q").await;
    assert_eq!(provider, "paid");
    let row = row_of(&gw, &id).await;
    let attempts: serde_json::Value = serde_json::from_str(row.attempts.as_deref().unwrap_or("[]")).expect("json");
    assert_eq!(attempts[0]["side_why"], crossbar::routing::side::UNAVAILABLE);
}
