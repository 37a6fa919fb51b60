//! ChatGPT account pools: accounts imported from Codex `auth.json` files, tokens refreshed
//! through the (mock) token endpoint, each account a deployment of a `kind = "chatgpt"` provider.

mod common;
use common::*;
use serde_json::json;
use std::path::Path;

fn jwt(claims: serde_json::Value) -> String {
    use base64::Engine;
    let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    format!("{}.{}.sig", e(br#"{"alg":"none"}"#), e(claims.to_string().as_bytes()))
}

/// Write a Codex auth.json for `account` and import it into `data_dir`.
fn import(data_dir: &Path, account: &str, access: &str, refresh: &str) {
    let auth = json!({
        "OPENAI_API_KEY": null,
        "tokens": {"access_token": access, "refresh_token": refresh, "account_id": account,
                   "id_token": jwt(json!({"email": format!("{account}@example.com")}))},
        "last_refresh": "2026-01-01T00:00:00Z",
    });
    let file = data_dir.join(format!("{account}.auth.json"));
    std::fs::write(&file, auth.to_string()).expect("write auth.json");
    crossbar::accounts::import(data_dir, &file).expect("import");
}

fn pool(mock: &str, x_mock: &str) -> String {
    let headers = if x_mock.is_empty() { String::new() } else { format!("headers = {{ \"x-mock\" = \"{x_mock}\" }}\n") };
    format!("[routing]\nbackoff_ms = 0\n\n[[providers]]\nname = \"codex\"\nkind = \"chatgpt\"\nbase_url = \"{mock}\"\ntoken_url = \"{mock}/oauth/token\"\n{headers}")
}

async fn ask(gw: &Gateway, session: &str) -> (u16, String, String) {
    let (path, body) = request(Client::Responses, "codex/gpt-5", "hello", false);
    let r = client().post(format!("{}{path}", gw.url)).header("session_id", session).json(&body).send().await.expect("send");
    let status = r.status().as_u16();
    let provider = r.headers().get("x-crossbar-provider").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (status, provider, r.text().await.expect("body"))
}

fn bearer_of(req: &serde_json::Value) -> String {
    req["headers"]["authorization"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_the_request_retried() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    // An opaque token the gateway cannot date: the backend's 401 triggers the refresh.
    import(dir.path(), "acct-a", "expired-token", "refresh-a");
    let gw = Gateway::start_in(&pool(&mock.url(), ""), dir).await;
    let (status, provider, body) = ask(&gw, "s1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(provider, "codex:acct-a");
    let log = mock.requests();
    let paths: Vec<&str> = log.iter().filter_map(|r| r["path"].as_str()).collect();
    assert_eq!(paths, ["/backend-api/codex/responses", "/oauth/token", "/backend-api/codex/responses"], "{log:#?}");
    assert_eq!(log[2]["headers"]["chatgpt-account-id"], "acct-a");
    assert_eq!(log[1]["body"]["grant_type"], "refresh_token");

    // A token known to expire soon is refreshed before it is used; the new one is kept.
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    import(dir.path(), "acct-b", &jwt(json!({"exp": 1})), "refresh-b");
    let data_dir = dir.path().to_path_buf();
    let gw = Gateway::start_in(&pool(&mock.url(), ""), dir).await;
    assert_eq!(ask(&gw, "s1").await.0, 200);
    assert_eq!(ask(&gw, "s1").await.0, 200);
    let log = mock.requests();
    let paths: Vec<&str> = log.iter().filter_map(|r| r["path"].as_str()).collect();
    assert_eq!(paths, ["/oauth/token", "/backend-api/codex/responses", "/backend-api/codex/responses"]);
    let listing = crossbar::accounts::list(&data_dir).expect("list");
    assert!(listing.contains("acct-b") && listing.contains("active") && listing.contains("token valid"), "{listing}");
    assert!(!listing.contains("refresh-b"), "no secrets in the listing: {listing}");
    let file = std::fs::read_to_string(data_dir.join("accounts.sealed")).expect("sealed file");
    assert!(!file.contains("refresh-b") && !file.contains("acct-b"), "sealed at rest");
    // The mock's log redacts bearer tokens; the account id header proves which account went.
    assert!(bearer_of(&log[1]).contains("redacted"));
}

#[tokio::test]
async fn a_revoked_refresh_token_disables_the_account_and_the_others_serve() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    import(dir.path(), "acct-bad", &jwt(json!({"exp": 1})), "revoked-1");
    import(dir.path(), "acct-good", "fresh-token", "refresh-good");
    let data_dir = dir.path().to_path_buf();
    let gw = Gateway::start_in(&pool(&mock.url(), ""), dir).await;
    for i in 0..6 {
        let (status, provider, body) = ask(&gw, &format!("session-{i}")).await;
        assert_eq!((status, provider.as_str()), (200, "codex:acct-good"), "{body}");
    }
    let listing = crossbar::accounts::list(&data_dir).expect("list");
    let bad = listing.lines().find(|l| l.starts_with("acct-bad")).expect("listed");
    assert!(bad.contains("disabled") && bad.contains("refresh token refused"), "{listing}");
}

#[tokio::test]
async fn an_exhausted_account_is_skipped_until_its_window_resets() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    import(dir.path(), "acct-1", "token-1", "refresh-1");
    import(dir.path(), "acct-2", "token-2", "refresh-2");
    let data_dir = dir.path().to_path_buf();
    // Every account of this provider answers with a usage limit: the first request sees both
    // exhausted, and the gateway then answers 429 itself with the window's reset.
    let gw = Gateway::start_in(&pool(&mock.url(), "mock:usage-limit mock:ratelimit-reset=120"), dir).await;
    let (status, _, body) = ask(&gw, "s").await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("usage_limit_reached"), "{body}");
    let upstream_calls = mock.requests().len();
    assert_eq!(upstream_calls, 2, "both accounts tried once");
    let (status, _, body) = ask(&gw, "s").await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("rate limited"), "{body}");
    assert_eq!(mock.requests().len(), upstream_calls, "parked accounts are not asked again");
    let listing = crossbar::accounts::list(&data_dir).expect("list");
    for line in listing.lines() {
        assert!(line.contains("primary 100% used (resets in 2 min)") && line.contains("usage limit reached"), "{listing}");
    }
}

#[tokio::test]
async fn an_accounts_usage_windows_are_recorded_for_the_listing() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    import(dir.path(), "acct-1", "token-1", "refresh-1");
    let data_dir = dir.path().to_path_buf();
    let gw = Gateway::start_in(&pool(&mock.url(), "mock:headroom=70"), dir).await;
    assert_eq!(ask(&gw, "s").await.0, 200);
    let listing = crossbar::accounts::list(&data_dir).expect("list");
    assert!(listing.contains("primary 30% used"), "{listing}");
}
