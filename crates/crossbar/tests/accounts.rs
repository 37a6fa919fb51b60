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

/// The accounts of the store in `data_dir` (SQLite there, as a gateway on it uses).
fn db(data_dir: &Path) -> crossbar::accounts::db::AccountStore {
    let store = crossbar::store::Store::open(None, data_dir).expect("store");
    let sealer = crossbar::accounts::seal::Sealer::open(data_dir).expect("key");
    crossbar::accounts::db::AccountStore::new(store, sealer, None)
}

/// `crossbar accounts list` of the store in `data_dir`.
async fn listing(data_dir: &Path) -> String {
    crossbar::accounts::list(&db(data_dir).all().await.expect("accounts"))
}

/// No file of the store in `data_dir` (the database, its WAL) holds `secret` in the clear.
fn sealed_at_rest(data_dir: &Path, secret: &str) {
    let files = std::fs::read_dir(data_dir).expect("data dir").flatten();
    for f in files.filter(|f| f.file_name().to_string_lossy().starts_with("crossbar.db")) {
        let bytes = std::fs::read(f.path()).unwrap_or_default();
        let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found, "{} holds {secret:?} in the clear", f.path().display());
    }
}

/// Write a Codex auth.json for `account` and import it into `data_dir`'s store.
async fn import(data_dir: &Path, account: &str, access: &str, refresh: &str) {
    let auth = json!({
        "OPENAI_API_KEY": null,
        "tokens": {"access_token": access, "refresh_token": refresh, "account_id": account,
                   "id_token": jwt(json!({"email": format!("{account}@example.com")}))},
        "last_refresh": "2026-01-01T00:00:00Z",
    });
    let file = data_dir.join(format!("{account}.auth.json"));
    std::fs::write(&file, auth.to_string()).expect("write auth.json");
    crossbar::accounts::import(&db(data_dir), &file).await.expect("import");
}

fn pool(mock: &str, x_mock: &str) -> String {
    let headers =
        if x_mock.is_empty() { String::new() } else { format!("headers = {{ \"x-mock\" = \"{x_mock}\" }}\n") };
    format!("[routing]\nbackoff_ms = 0\n\n[[providers]]\nname = \"codex\"\nkind = \"chatgpt\"\nbase_url = \"{mock}\"\ntoken_url = \"{mock}/oauth/token\"\n{headers}")
}

async fn ask(gw: &Gateway, session: &str) -> (u16, String, String) {
    let (status, headers, text) = session_turn(gw, "codex/gpt-5", session).await;
    (status, header_text(&headers, "x-crossbar-provider"), text)
}

fn bearer_of(req: &serde_json::Value) -> String {
    req["headers"]["authorization"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_the_request_retried() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    // An opaque token the gateway cannot date: the backend's 401 triggers the refresh.
    import(dir.path(), "acct-a", "expired-token", "refresh-a").await;
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
    import(dir.path(), "acct-b", &jwt(json!({"exp": 1})), "refresh-b").await;
    let data_dir = dir.path().to_path_buf();
    let gw = Gateway::start_in(&pool(&mock.url(), ""), dir).await;
    assert_eq!(ask(&gw, "s1").await.0, 200);
    assert_eq!(ask(&gw, "s1").await.0, 200);
    let log = mock.requests();
    let paths: Vec<&str> = log.iter().filter_map(|r| r["path"].as_str()).collect();
    assert_eq!(paths, ["/oauth/token", "/backend-api/codex/responses", "/backend-api/codex/responses"]);
    let listing = listing(&data_dir).await;
    assert!(listing.contains("acct-b") && listing.contains("active") && listing.contains("token valid"), "{listing}");
    assert!(!listing.contains("refresh-b"), "no secrets in the listing: {listing}");
    sealed_at_rest(&data_dir, "refresh-b");
    // The mock's log redacts bearer tokens; the account id header proves which account went.
    assert!(bearer_of(&log[1]).contains("redacted"));
}

#[tokio::test]
async fn a_revoked_refresh_token_disables_the_account_and_the_others_serve() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    import(dir.path(), "acct-bad", &jwt(json!({"exp": 1})), "revoked-1").await;
    import(dir.path(), "acct-good", "fresh-token", "refresh-good").await;
    let data_dir = dir.path().to_path_buf();
    let gw = Gateway::start_in(&pool(&mock.url(), ""), dir).await;
    // Conversations are spread at random between equal accounts: ask until one has met the
    // bad account (each is served by the good one all the same).
    for i in 0..64 {
        let (status, provider, body) = ask(&gw, &format!("session-{i}")).await;
        assert_eq!((status, provider.as_str()), (200, "codex:acct-good"), "{body}");
        if i >= 5 && listing(&data_dir).await.contains("refresh token refused") {
            break;
        }
    }
    let listing = listing(&data_dir).await;
    let bad = listing.lines().find(|l| l.starts_with("acct-bad")).expect("listed");
    assert!(bad.contains("disabled") && bad.contains("refresh token refused"), "{listing}");
}

#[tokio::test]
async fn an_exhausted_account_is_skipped_until_its_window_resets() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    import(dir.path(), "acct-1", "token-1", "refresh-1").await;
    import(dir.path(), "acct-2", "token-2", "refresh-2").await;
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
    let exhausted = |l: &str| l.contains("primary 100% used (resets in 2 min)") && l.contains("usage limit reached");
    let listing = listing_when(&data_dir, |listing| listing.lines().all(exhausted)).await;
    for line in listing.lines() {
        assert!(exhausted(line), "{listing}");
    }
}

#[tokio::test]
async fn an_accounts_usage_windows_are_recorded_for_the_listing() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    import(dir.path(), "acct-1", "token-1", "refresh-1").await;
    let data_dir = dir.path().to_path_buf();
    let gw = Gateway::start_in(&pool(&mock.url(), "mock:headroom=70"), dir).await;
    assert_eq!(ask(&gw, "s").await.0, 200);
    let listing = listing_when(&data_dir, |l| l.contains("primary 30% used")).await;
    assert!(listing.contains("primary 30% used"), "{listing}");
}

/// The account listing once `ok` holds (usage windows are written in the background, off the
/// request path), or as it is after 5 s.
async fn listing_when(data_dir: &std::path::Path, ok: impl Fn(&str) -> bool) -> String {
    for _ in 0..100 {
        let listing = listing(data_dir).await;
        if ok(&listing) {
            return listing;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    listing(data_dir).await
}

#[tokio::test]
async fn health_checks_reach_each_account_as_a_stream_the_backend_does_not_store() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    import(dir.path(), "acct-1", "token-1", "refresh-1").await;
    import(dir.path(), "acct-2", "token-2", "refresh-2").await;
    let data_dir = dir.path().to_path_buf();
    let cfg = pool(&mock.url(), "mock:headroom=70").replace("[routing]\n", "[routing]\nhealth_check_secs = 1\n")
        + "\n[[models]]\nname = \"m\"\ntargets = [\"codex/gpt-5\"]\n";
    let gw = Gateway::start_in(&cfg, dir).await;
    // Each account is its own deployment, checked without a client request.
    let checked = |m: &str| {
        ["acct-1", "acct-2"]
            .iter()
            .all(|a| m.contains(&format!("crossbar_health_checks_total{{provider=\"codex:{a}\",outcome=\"up\"}}")))
    };
    let mut metrics = String::new();
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        metrics = gw.metrics().await;
        if checked(&metrics) {
            break;
        }
    }
    assert!(checked(&metrics), "{metrics}");
    let log = mock.requests();
    let accounts: std::collections::BTreeSet<&str> =
        log.iter().filter_map(|r| r["headers"]["chatgpt-account-id"].as_str()).collect();
    assert_eq!(accounts.into_iter().collect::<Vec<_>>(), ["acct-1", "acct-2"], "{log:#?}");
    for r in &log {
        assert_eq!(r["path"], "/backend-api/codex/responses");
        let b = &r["body"];
        assert_eq!(
            (b["stream"].as_bool(), b["store"].as_bool(), b["model"].as_str()),
            (Some(true), Some(false), Some("gpt-5")),
            "{b}"
        );
        assert!(b.get("max_output_tokens").is_none() && b.to_string().contains("ping"), "{b}");
    }
    // The answers' usage windows are recorded as a client request's would be.
    let listing = listing_when(&data_dir, |l| l.matches("primary 30% used").count() == 2).await;
    assert_eq!(listing.matches("primary 30% used").count(), 2, "{listing}");
}

async fn ask_model(gw: &Gateway, model: &str, text: &str) -> (u16, String, String) {
    let (path, body) = request(Client::Responses, model, text, false);
    let r = client().post(format!("{}{path}", gw.url)).json(&body).send().await.expect("send");
    let status = r.status().as_u16();
    let provider = r.headers().get("x-crossbar-provider").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (status, provider, r.text().await.expect("body"))
}

fn accounts_asked(mock: &crossbar_mock::MockServer) -> Vec<String> {
    let log = mock.requests();
    mock.clear();
    log.iter().filter_map(|r| r["headers"]["chatgpt-account-id"].as_str().map(str::to_string)).collect()
}

#[tokio::test]
async fn a_model_only_some_accounts_have_is_served_by_those_and_not_found_only_when_none_has_it() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    for a in ["acct-1", "acct-2", "acct-3"] {
        import(dir.path(), a, &format!("token-{a}"), &format!("refresh-{a}")).await;
    }
    // acct-1 and acct-2 are on a plan with gpt-5 only; acct-3 has everything but o9 exists nowhere.
    let plans =
        "mock:account-models=acct-1:gpt-5 mock:account-models=acct-2:gpt-5 mock:account-models=acct-3:gpt-5+gpt-5-pro";
    let gw = Gateway::start_in(&pool(&mock.url(), plans), dir).await;

    let mut asked = Vec::new();
    for i in 0..6 {
        let (status, provider, body) = ask_model(&gw, "codex/gpt-5-pro", &format!("pro {i}")).await;
        assert_eq!((status, provider.as_str()), (200, "codex:acct-3"), "request {i}: {body}");
        asked.extend(accounts_asked(&mock));
    }
    let count = |a: &str| asked.iter().filter(|x| *x == a).count();
    assert_eq!(count("acct-3"), 6, "{asked:?}");
    assert!(count("acct-1") <= 1 && count("acct-2") <= 1, "an account without the model is asked once: {asked:?}");
    // gpt-5 is on every plan: the pool still shares it.
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..30 {
        let (status, provider, body) = ask_model(&gw, "codex/gpt-5", &format!("conversation {i}")).await;
        assert_eq!(status, 200, "{body}");
        seen.insert(provider);
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    mock.clear();

    // No account has it: a 404 in the client's format, then no upstream calls at all.
    let (status, _, body) = ask_model(&gw, "codex/o9", "o9").await;
    assert_eq!(status, 404, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["error"]["code"], "model_not_found", "{body}");
    assert!(v["error"]["message"].as_str().unwrap_or_default().contains("not supported when using Codex"), "{body}");
    assert_eq!(accounts_asked(&mock).len(), 3, "each account asked once");
    let (status, _, body) = ask_model(&gw, "codex/o9", "o9").await;
    assert_eq!(status, 404, "{body}");
    assert!(accounts_asked(&mock).is_empty());
}

/// Ask until `ok` holds for an answer's provider (the gateway notices the file within ~1 s).
/// A round of new conversations on one routing table answers as the next would: after a round
/// that fails, the next waits for the gateway to swap in a table over the accounts stored now.
async fn eventually(gw: &Gateway, what: &str, ok: impl Fn(&str) -> bool) -> std::collections::BTreeSet<String> {
    // New conversations every time (a known one rightly sticks to its account).
    static CONVERSATIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let table = gw.state.routes();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..12 {
            let n = CONVERSATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (status, provider, body) = ask(gw, &format!("conversation {n}")).await;
            assert_eq!(status, 200, "{body}");
            seen.insert(provider);
        }
        if seen.iter().all(|p| ok(p)) && !seen.is_empty() {
            return seen;
        }
        while std::sync::Arc::ptr_eq(&gw.state.routes(), &table) {
            assert!(std::time::Instant::now() < deadline, "{what}: still {seen:?}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test]
async fn accounts_imported_or_removed_while_running_are_used_without_a_restart() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    import(dir.path(), "acct-1", "token-1", "refresh-1").await;
    let data_dir = dir.path().to_path_buf();
    let gw = Gateway::start_in(&pool(&mock.url(), ""), dir).await;
    eventually(&gw, "one account", |p| p == "codex:acct-1").await;

    import(&data_dir, "acct-2", "token-2", "refresh-2").await;
    let mut both = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while both.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "the new account never served: {both:?}");
        both.extend(eventually(&gw, "two accounts", |p| p.starts_with("codex:acct-")).await);
    }

    assert!(db(&data_dir).remove("acct-1").await.expect("remove"));
    eventually(&gw, "acct-1 removed", |p| p == "codex:acct-2").await;
    assert!(!db(&data_dir).remove("acct-1").await.expect("remove"), "removing twice says so");
}

#[tokio::test]
async fn a_disabled_account_serves_again_once_logged_in_again() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    import(dir.path(), "acct-1", &jwt(json!({"exp": 1})), "revoked-1").await;
    import(dir.path(), "acct-2", "token-2", "refresh-2").await;
    let data_dir = dir.path().to_path_buf();
    let gw = Gateway::start_in(&pool(&mock.url(), ""), dir).await;
    eventually(&gw, "acct-1 disabled", |p| p == "codex:acct-2").await;
    assert!(listing(&data_dir).await.contains("disabled"));

    // A new login for acct-1 (fresh tokens) replaces the disabled one in the running pool.
    import(&data_dir, "acct-1", "token-1b", "refresh-1b").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let seen = eventually(&gw, "any", |p| p.starts_with("codex:acct-")).await;
        if seen.contains("codex:acct-1") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "acct-1 never came back");
    }
    let listing = listing(&data_dir).await;
    assert!(!listing.contains("disabled"), "{listing}");
}

const USERCODE: &str = "/api/accounts/deviceauth/usercode";
const POLL: &str = "/api/accounts/deviceauth/token";

/// The device-code login against `issuer` (polling every 20 ms): its result and its prompt.
async fn login(
    data_dir: &Path,
    issuer: &str,
    token_url: Option<&str>,
) -> (anyhow::Result<crossbar::accounts::Account>, String) {
    let mut opts = crossbar::accounts::login::Options::new(issuer, token_url);
    opts.interval = Some(std::time::Duration::from_millis(20));
    let mut prompt = Vec::new();
    let result = crossbar::accounts::login::login(&db(data_dir), &opts, &mut prompt).await;
    (result, String::from_utf8(prompt).expect("utf-8 prompt"))
}

/// An urlencoded form's fields (only `%3A` and `%2F` decoded: enough for these values).
fn form_fields(body: &str) -> std::collections::HashMap<String, String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%3A", ":").replace("%2F", "/")))
        .collect()
}

#[tokio::test]
async fn a_device_code_login_stores_the_account_and_the_gateway_serves_through_it() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().to_path_buf();
    let (account, prompt) = login(&data_dir, &mock.url(), None).await;
    let account = account.expect("login");
    assert!(account.id.starts_with("mock-account-"), "{account:?}");

    let log = mock.requests();
    let paths: Vec<&str> = log.iter().filter_map(|r| r["path"].as_str()).collect();
    assert_eq!(paths, [USERCODE, POLL, POLL, "/oauth/token"], "one pending poll, then the code: {log:#?}");
    assert_eq!(log[0]["body"], json!({"client_id": crossbar::accounts::token::CODEX_CLIENT_ID}));
    let user_code = log[1]["body"]["user_code"].as_str().expect("user_code");
    assert_eq!(log[1]["body"], log[2]["body"], "both polls name the same login");
    assert!(prompt.contains(&format!("{}/codex/device", mock.url())) && prompt.contains(user_code), "{prompt}");
    let exchange = &log[3];
    assert_eq!(exchange["headers"]["content-type"], "application/x-www-form-urlencoded");
    let form = form_fields(exchange["body"].as_str().expect("a form body"));
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["client_id"], crossbar::accounts::token::CODEX_CLIENT_ID);
    assert_eq!(form["redirect_uri"], format!("{}/deviceauth/callback", mock.url()));
    assert!(form["code"].starts_with("mock-code-") && form["code_verifier"].starts_with("mock-verifier-"), "{form:?}");

    let listing = listing(&data_dir).await;
    let line = listing.lines().find(|l| l.starts_with(&account.id)).unwrap_or_else(|| panic!("listed: {listing}"));
    assert!(line.contains("@example.com") && line.contains("active") && line.contains("token valid"), "{listing}");
    sealed_at_rest(&data_dir, "mock-refresh");

    // The new account serves, with the token it was given (no refresh needed).
    let gw = Gateway::start_in(&pool(&mock.url(), ""), dir).await;
    let (status, provider, body) = ask(&gw, "s1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(provider, format!("codex:{}", account.id));
    let log = mock.requests();
    let last = log.last().expect("a request");
    assert_eq!(
        (last["path"].as_str(), last["headers"]["chatgpt-account-id"].as_str()),
        (Some("/backend-api/codex/responses"), Some(account.id.as_str()))
    );
    assert_eq!(log.iter().filter(|r| r["path"] == "/oauth/token").count(), 1, "only the exchange");
}

#[tokio::test]
async fn a_failed_device_code_login_says_why_and_stores_nothing() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");

    // An issuer without device-code login (the mock answers 404 under another path).
    let (result, prompt) = login(dir.path(), &format!("{}/elsewhere", mock.url()), None).await;
    let err = format!("{:#}", result.expect_err("no device login there"));
    assert!(err.contains("device-code login is not enabled") && err.contains("HTTP 404"), "{err}");
    assert!(prompt.is_empty(), "no code to show: {prompt}");

    // The token endpoint refuses the code (another mock never issued it).
    let other = crossbar_mock::spawn().await.expect("mock");
    let (result, prompt) = login(dir.path(), &mock.url(), Some(&format!("{}/oauth/token", other.url()))).await;
    let err = format!("{:#}", result.expect_err("the exchange is refused"));
    assert!(err.contains("refused the authorization code") && err.contains("HTTP 400: invalid_grant"), "{err}");
    assert!(!err.contains("mock-code") && !err.contains("mock-verifier"), "no secrets in the error: {err}");
    assert!(prompt.contains("/codex/device"), "the code was shown: {prompt}");
    assert_eq!(other.requests().len(), 1, "one exchange attempt");

    let listing = listing(dir.path()).await;
    assert!(listing.starts_with("no accounts"), "{listing}");
}

#[tokio::test]
async fn crossbar_accounts_login_on_the_command_line() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, format!("[server]\ndata_dir = {:?}\n", dir.path().join("data").display().to_string()))
        .expect("write config");
    let run = move |args: Vec<String>| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_crossbar"))
            .args(args)
            .env_remove("CROSSBAR_ACCOUNTS_KEY")
            .output()
            .expect("run crossbar");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let args = |a: &[&str]| {
        [&["accounts", "--config", cfg.to_str().expect("utf-8 path")], a]
            .concat()
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    // The binary polls at the mock's own interval ("1", a string), so this takes a second;
    // the mock must keep serving meanwhile, hence the blocking thread.
    let (login_args, list_args) = (args(&["login", "--issuer", &mock.url()]), args(&["list"]));
    let (ok, out, err) = tokio::task::spawn_blocking(move || run(login_args)).await.expect("join");
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("{}/codex/device", mock.url())) && out.contains("logged in: account mock-account-"),
        "{out}"
    );
    assert!(
        !out.contains("mock-refresh") && !out.contains("eyJ") && !err.contains("eyJ"),
        "no tokens printed: {out}{err}"
    );
    let (ok, listing, err) = tokio::task::spawn_blocking(move || run(list_args)).await.expect("join");
    assert!(ok, "{err}");
    assert!(listing.contains("mock-account-") && listing.contains("active"), "{listing}");
}

/// The Codex backend only streams, only with `store: false`, and refuses output limits and
/// sampling parameters; the mock enforces that on its backend path.
#[tokio::test]
async fn every_client_reaches_the_codex_backend_in_the_shape_it_takes() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    import(dir.path(), "acct-1", "token-1", "refresh-1").await;
    let gw = Gateway::start_in(&pool(&mock.url(), ""), dir).await;
    for c in CLIENTS {
        for stream in [false, true] {
            let (path, mut body) = request(c, "codex/gpt-5", "hello", stream);
            match c {
                Client::Chat => {
                    body["max_tokens"] = json!(50);
                    body["temperature"] = json!(0.2);
                }
                Client::Responses => {
                    body["max_output_tokens"] = json!(50);
                    body["top_p"] = json!(0.9);
                }
                Client::Anthropic => body["temperature"] = json!(0.2),
                Client::Gemini => body["generationConfig"] = json!({"maxOutputTokens": 50, "temperature": 0.2}),
            }
            mock.clear();
            let r = client().post(format!("{}{path}", gw.url)).json(&body).send().await.expect("send");
            let status = r.status().as_u16();
            let dropped =
                r.headers().get("x-crossbar-dropped").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let text = r.text().await.expect("body");
            assert_eq!(status, 200, "{c:?} stream={stream}: {text}");
            assert!(!text_of(c, &text, stream).is_empty(), "{c:?} stream={stream}: {text}");
            assert!(
                dropped.contains("max_output_tokens") || dropped.contains("temperature") || dropped.contains("top_p"),
                "{c:?}: dropped {dropped:?}"
            );
            let sent = &mock.requests()[0];
            assert_eq!(sent["path"], "/backend-api/codex/responses");
            let b = &sent["body"];
            assert_eq!(
                (b["stream"].as_bool(), b["store"].as_bool(), b["model"].as_str()),
                (Some(true), Some(false), Some("gpt-5")),
                "{c:?}: {b}"
            );
            for refused in ["max_output_tokens", "temperature", "top_p"] {
                assert!(b.get(refused).is_none(), "{c:?} sent {refused}: {b}");
            }
            let h = &sent["headers"];
            assert_eq!(h["originator"], "codex_cli_rs", "{c:?}: {h}");
            assert_eq!(h["accept"], "text/event-stream", "{c:?}: the backend only streams: {h}");
            assert!(
                h["session-id"].as_str().is_some_and(|s| s.starts_with("crossbar-")),
                "{c:?}: a conversation id for the backend's cache: {h}"
            );
            assert_eq!(b["prompt_cache_key"], h["session-id"], "{c:?}: one id for session and cache");
        }
    }

    // Both stay the same as the conversation grows, turn after turn.
    let mut ids = Vec::new();
    for extra in [0, 1, 2] {
        let mut messages =
            vec![json!({"role": "system", "content": "be brief"}), json!({"role": "user", "content": "hi"})];
        for i in 0..extra {
            messages.push(json!({"role": "assistant", "content": format!("answer {i}")}));
            messages.push(json!({"role": "user", "content": format!("more {i}")}));
        }
        mock.clear();
        let body = json!({"model": "codex/gpt-5", "messages": messages});
        let r = client().post(format!("{}/v1/chat/completions", gw.url)).json(&body).send().await.expect("send");
        assert_eq!(r.status(), 200);
        let _ = r.text().await;
        let sent = &mock.requests()[0];
        ids.push((sent["headers"]["session-id"].clone(), sent["body"]["prompt_cache_key"].clone()));
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");

    // Codex's own request already complies: relayed as sent, only `model` swapped.
    let codex = json!({"model": "codex/gpt-5", "instructions": "be brief", "stream": true, "store": false,
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        "include": ["reasoning.encrypted_content"], "prompt_cache_key": "thread-1", "tool_choice": "auto"});
    mock.clear();
    let r = client()
        .post(format!("{}/v1/responses", gw.url))
        .header("originator", "codex_exec")
        .header("session-id", "thread-1")
        .header("x-codex-turn-metadata", r#"{"turn_id":"t1"}"#)
        .json(&codex)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let _ = r.text().await;
    let mut expected = codex.clone();
    expected["model"] = json!("gpt-5");
    let sent = &mock.requests()[0];
    assert_eq!(sent["body"], expected);
    let h = &sent["headers"];
    assert_eq!((h["originator"].as_str(), h["session-id"].as_str()), (Some("codex_exec"), Some("thread-1")), "{h}");
    assert_eq!(h["x-codex-turn-metadata"], r#"{"turn_id":"t1"}"#);
}

#[tokio::test]
async fn a_backend_error_inside_the_stream_reaches_a_non_streaming_client_as_an_error() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    import(dir.path(), "acct-1", "token-1", "refresh-1").await;
    let gw = Gateway::start_in(&pool(&mock.url(), ""), dir).await;
    let (path, body) = request(Client::Chat, "codex/gpt-5", "hello mock:midstream-error", false);
    let r = client().post(format!("{}{path}", gw.url)).json(&body).send().await.expect("send");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    assert!(status >= 400, "{status}: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json error");
    assert!(v["error"]["message"].is_string(), "{text}");
}

/// Refresh tokens rotate (each works once). Two gateways on one store: the second must
/// take the tokens the first refreshed, not spend the old refresh token and lose the account.
#[tokio::test]
async fn two_gateways_on_one_store_share_a_rotated_refresh_token() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    import(dir.path(), "acct-1", &jwt(json!({"exp": 1})), "refresh-1").await;
    let data_dir = dir.path().to_path_buf();
    let second_dir = tempfile::tempdir().expect("tempdir");
    let a = Gateway::start_in(&pool(&mock.url(), ""), dir).await;
    // The second gateway uses the first one's data dir (its own temp dir stays empty).
    let mut cfg = crossbar::config::Config::parse(&pool(&mock.url(), ""), "second.toml").expect("config");
    cfg.server.data_dir = data_dir.clone();
    let b = Gateway::start_with(cfg, second_dir).await;
    assert_eq!(b.state.config.server.data_dir, data_dir, "both gateways read one store");

    let (status, _, body) = ask(&a, "s1").await;
    assert_eq!(status, 200, "{body}");
    let (status, provider, body) = ask(&b, "s2").await;
    assert_eq!((status, provider.as_str()), (200, "codex:acct-1"), "{body}");
    let refreshes = mock.requests().iter().filter(|r| r["path"] == "/oauth/token").count();
    assert_eq!(refreshes, 1, "the second gateway took the first one's fresh token");
    let listing = listing(&data_dir).await;
    assert!(listing.contains("active") && !listing.contains("disabled"), "{listing}");
}
