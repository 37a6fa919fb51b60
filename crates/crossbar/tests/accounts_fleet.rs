//! One ChatGPT pool for a fleet: gateways on one PostgreSQL database (and one Redis), two of
//! them on different data directories sharing only the key. An account signed in through one
//! instance's admin API serves on the others within seconds; disabled or removed anywhere, it
//! leaves every pool; a refresh raced by every instance at once spends the refresh token once
//! (with the Redis lease, and with the row lease when there is no Redis).
//! Needs the services of `shared_store.rs` (skips, passing, without them).

mod common;
use common::services::{drop_database, fresh_database, redis_url};
use common::*;
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const ADMIN: &str = "adm";

fn config(pg: &str, redis_prefix: Option<&str>, mock: &str) -> String {
    let redis =
        redis_prefix.map_or(String::new(), |p| format!("[redis]\nurl = \"{}\"\nprefix = \"{p}\"\n", redis_url()));
    format!(
        "[storage]\nurl = \"{pg}\"\n{redis}[routing]\nbackoff_ms = 0\n\n[[providers]]\nname = \"codex\"\nkind = \"chatgpt\"\n\
         base_url = \"{mock}\"\ntoken_url = \"{mock}/oauth/token\"\nissuer = \"{mock}\"\n"
    )
}

/// A gateway on `text` in `dir` (its data directory), with the admin key.
async fn start(text: &str, dir: tempfile::TempDir) -> Gateway {
    let mut cfg = crossbar::config::Config::parse(text, "fleet.toml").expect("config");
    cfg.server.data_dir = dir.path().to_path_buf();
    Gateway::start_inner(cfg, dir, Some(ADMIN)).await
}

/// A data directory holding the same accounts key as `like` (as hosts would share it).
fn same_key_dir(like: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(like.join("gateway.key"), dir.path().join("gateway.key")).expect("copy the key");
    dir
}

async fn admin(gw: &Gateway, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = client().request(method, format!("{}{path}", gw.url)).bearer_auth(ADMIN);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.expect("admin request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Which provider served one Responses request through the pool (`None`: not served).
async fn served_by(gw: &Gateway) -> Option<String> {
    let (path, body) = request(Client::Responses, "codex/gpt-5", "hello", false);
    let r = client().post(format!("{}{path}", gw.url)).json(&body).send().await.expect("send");
    let provider = r.headers().get("x-crossbar-provider").and_then(|v| v.to_str().ok()).map(str::to_string);
    (r.status() == 200).then_some(provider).flatten()
}

fn pool_of(gw: &Gateway) -> Vec<String> {
    let mut names: Vec<String> =
        gw.state.routes().providers().iter().flat_map(|p| p.pool.iter().map(|m| m.name().to_string())).collect();
    names.sort();
    names
}

/// Poll `gw`'s pool until `ok` (the event), failing after 10 s; how long it took.
async fn pool_until(gw: &Gateway, what: &str, ok: impl Fn(&[String]) -> bool) -> Duration {
    let start = Instant::now();
    while !ok(&pool_of(gw)) {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}: pool is {:?}", pool_of(gw));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

#[tokio::test]
async fn an_account_signed_in_on_one_instance_serves_on_all_and_leaves_all_when_removed() {
    let Some(pg) = fresh_database().await else { return };
    let mock = crossbar_mock::spawn().await.expect("mock");
    let prefix = format!("cbt-{}", uuid::Uuid::new_v4().simple());
    let text = config(&pg, Some(&prefix), &mock.url());
    let first_dir = tempfile::tempdir().expect("tempdir");
    let first_path = first_dir.path().to_path_buf();
    let a = start(&text, first_dir).await;
    // B on another data directory (another host: only the key is shared); C on A's.
    let b = start(&text, same_key_dir(&first_path)).await;
    let mut c_cfg = crossbar::config::Config::parse(&text, "fleet.toml").expect("config");
    c_cfg.server.data_dir = first_path.clone();
    let c = Gateway::start_inner(c_cfg, tempfile::tempdir().expect("tempdir"), Some(ADMIN)).await;
    for gw in [&a, &b, &c] {
        assert!(pool_of(gw).is_empty());
    }

    // Sign in through A's admin API: a code to show, pending until the user entered it.
    let (status, started) = admin(&a, reqwest::Method::POST, "/admin/accounts/login", None).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["verification_url"], format!("{}/codex/device", mock.url()));
    let ticket = started["ticket"].as_str().expect("ticket").to_string();
    assert!(!ticket.contains("mock-device"), "the device login is sealed: {ticket}");
    let check = json!({"ticket": ticket});
    let (status, pending) = admin(&b, reqwest::Method::POST, "/admin/accounts/login/check", Some(check.clone())).await;
    assert_eq!((status, pending["status"].as_str()), (200, Some("pending")), "{pending}");
    assert_eq!(pending["user_code"], started["user_code"]);
    // Checked on another instance than the one that started it: the ticket carries the login.
    let (status, done) = admin(&c, reqwest::Method::POST, "/admin/accounts/login/check", Some(check.clone())).await;
    assert_eq!((status, done["status"].as_str()), (200, Some("done")), "{done}");
    let id = done["account"]["id"].as_str().expect("id").to_string();
    let member = format!("codex:{id}");

    // It serves on every instance within seconds (C stored it and rebuilt at once).
    let mut took = Vec::new();
    for gw in [&a, &b, &c] {
        let start = Instant::now();
        loop {
            if served_by(gw).await.as_deref() == Some(member.as_str()) {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "{} never served {member}", gw.url);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        took.push(start.elapsed());
    }
    eprintln!("added on C: served on A after {:?}, B {:?}, C {:?}", took[0], took[1], took[2]);
    assert!(took.iter().all(|t| *t < Duration::from_secs(3)), "{took:?}");

    // The listing shows it everywhere, without a token.
    let (status, listing) = admin(&b, reqwest::Method::GET, "/admin/accounts", None).await;
    assert_eq!(status, 200);
    assert_eq!(listing["data"][0]["id"], id.as_str());
    assert_eq!(listing["data"][0]["pooled"], true);
    let text = listing.to_string();
    assert!(!text.contains("mock-refresh") && !text.contains("eyJ") && !text.contains("token\":"), "{text}");

    // Disabled on B: it leaves A's and C's pools; enabled on A: back everywhere.
    let (status, _) = admin(&b, reqwest::Method::POST, &format!("/admin/accounts/{id}/disable"), None).await;
    assert_eq!(status, 200);
    for gw in [&a, &b, &c] {
        let t = pool_until(gw, "disabled", |p| p.is_empty()).await;
        eprintln!("disabled on B: out of {}'s pool after {t:?}", gw.url);
    }
    let (status, _) = admin(&a, reqwest::Method::POST, &format!("/admin/accounts/{id}/enable"), None).await;
    assert_eq!(status, 200);
    for gw in [&a, &b, &c] {
        pool_until(gw, "enabled", |p| p == [member.clone()]).await;
    }

    // An action that is not one of the three is a 404 and changes nothing.
    let (status, _) = admin(&a, reqwest::Method::POST, &format!("/admin/accounts/{id}/delete"), None).await;
    assert_eq!(status, 404);
    let (_, listing) = admin(&a, reqwest::Method::GET, "/admin/accounts", None).await;
    assert_eq!(listing["data"][0]["id"], id.as_str(), "still there");

    // Removed on C: gone from every pool; removing again is 404.
    let (status, _) = admin(&c, reqwest::Method::DELETE, &format!("/admin/accounts/{id}"), None).await;
    assert_eq!(status, 200);
    for gw in [&a, &b, &c] {
        pool_until(gw, "removed", |p| p.is_empty()).await;
    }
    let (status, body) = admin(&a, reqwest::Method::DELETE, &format!("/admin/accounts/{id}"), None).await;
    assert_eq!((status, body["error"]["type"].as_str()), (404, Some("not_found")), "{body}");
    // A forged ticket is refused in the admin API's error shape.
    let forged = json!({"ticket": "bm90IGEgdGlja2V0"});
    let (status, body) = admin(&a, reqwest::Method::POST, "/admin/accounts/login/check", Some(forged)).await;
    assert_eq!((status, body["error"]["type"].as_str()), (400, Some("login_failed")), "{body}");

    for gw in [&a, &b, &c] {
        gw.state.store.close().await;
    }
    drop_database(&pg).await;
}

/// Add `account` to the fleet's store (sealed with the key in `key_dir`).
async fn add_account(pg: &str, key_dir: &Path, account: crossbar::accounts::Account) {
    let store = crossbar::store::Store::open(Some(pg), key_dir).expect("store");
    let sealer = crossbar::accounts::seal::Sealer::open(key_dir).expect("key");
    crossbar::accounts::db::AccountStore::new(store.clone(), sealer, None).add(account).await.expect("add");
    store.close().await;
}

/// Import an account whose access token has expired into the fleet's store.
async fn expired_account(pg: &str, key_dir: &Path, id: &str, refresh: &str) {
    use base64::Engine;
    let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwt = format!("{}.{}.sig", e(br#"{"alg":"none"}"#), e(br#"{"exp":1}"#));
    let account = crossbar::accounts::Account {
        id: id.to_string(),
        access_token: jwt,
        refresh_token: refresh.to_string(),
        expires_at: Some(1),
        ..Default::default()
    };
    add_account(pg, key_dir, account).await;
}

#[tokio::test]
async fn a_refresh_raced_by_every_instance_spends_the_refresh_token_once() {
    let Some(pg) = fresh_database().await else { return };
    for lease in ["redis", "row"] {
        let mock = crossbar_mock::spawn().await.expect("mock");
        let prefix = format!("cbt-{}", uuid::Uuid::new_v4().simple());
        let text = config(&pg, (lease == "redis").then_some(prefix.as_str()), &mock.url());
        let first_dir = tempfile::tempdir().expect("tempdir");
        let first_path = first_dir.path().to_path_buf();
        let mut gws = vec![start(&text, first_dir).await];
        for _ in 0..2 {
            gws.push(start(&text, same_key_dir(&first_path)).await);
        }
        let id = format!("acct-race-{lease}");
        expired_account(&pg, &first_path, &id, &format!("refresh-{lease}")).await;
        let member = format!("codex:{id}");
        for gw in &gws {
            pool_until(gw, "imported", |p| p.contains(&member)).await;
        }
        // Every instance needs a fresh token at the same moment, four requests each.
        let asks = gws.iter().flat_map(|gw| (0..4).map(move |_| served_by(gw)));
        let served = join_all(asks).await;
        assert!(served.iter().all(|s| s.as_deref() == Some(member.as_str())), "{lease}: {served:?}");
        let log = mock.requests();
        let refreshes: Vec<&Value> = log.iter().filter(|r| r["path"] == "/oauth/token").collect();
        assert_eq!(refreshes.len(), 1, "{lease}: one refresh for the fleet: {refreshes:#?}");
        let stored = gws[1].state.accounts.get(&id).await.expect("read").expect("stored");
        assert!(!stored.disabled, "{lease}: {:?}", stored.last_error);
        assert_eq!(stored.refresh_gen, 1);
        assert!(stored.refresh_token.starts_with(&format!("refresh-{lease}~")), "the rotated token is stored");
        assert!(gws[0].state.accounts.remove(&id).await.expect("remove"));
        for gw in &gws {
            gw.state.store.close().await;
        }
    }
    drop_database(&pg).await;
}

/// With Redis, an account whose usage window one instance found spent is skipped by the
/// others at once, without each of them spending a request to learn it.
#[tokio::test]
async fn an_account_parked_on_one_instance_is_skipped_by_the_others() {
    let Some(pg) = fresh_database().await else { return };
    let mock = crossbar_mock::spawn().await.expect("mock");
    let prefix = format!("cbt-{}", uuid::Uuid::new_v4().simple());
    let plain = config(&pg, Some(&prefix), &mock.url());
    // A's requests all meet a spent usage window (resetting in two minutes); B's would not.
    let spent = plain
        .replace("issuer = ", "headers = { \"x-mock\" = \"mock:usage-limit mock:ratelimit-reset=120\" }\nissuer = ");
    let first_dir = tempfile::tempdir().expect("tempdir");
    let first_path = first_dir.path().to_path_buf();
    let a = start(&spent, first_dir).await;
    let b = start(&plain, same_key_dir(&first_path)).await;
    let account = crossbar::accounts::Account {
        id: "acct-spent".to_string(),
        access_token: "token-spent".to_string(),
        refresh_token: "refresh-spent".to_string(),
        ..Default::default()
    };
    add_account(&pg, &first_path, account).await;
    for gw in [&a, &b] {
        pool_until(gw, "pooled", |p| p == ["codex:acct-spent".to_string()]).await;
    }

    assert_eq!(served_by(&a).await, None, "A meets the spent window");
    let backend = |m: &crossbar_mock::MockServer| {
        m.requests().iter().filter(|r| r["path"] == "/backend-api/codex/responses").count()
    };
    let seen = backend(&mock);
    assert!(seen >= 1);
    // B learns it from A: its deployment is parked for about the window's two minutes.
    eprintln!("parked on B {:?} after A's answer", parked_within(&b).await);
    let (path, body) = request(Client::Responses, "codex/gpt-5", "hello", false);
    let r = client().post(format!("{}{path}", b.url)).json(&body).send().await.expect("send");
    assert_eq!(r.status(), 429, "B answers for the parked pool itself");
    assert_eq!(backend(&mock), seen, "B sent nothing to the backend");

    // A gateway started later learns the parking from Redis too.
    let c = start(&plain, same_key_dir(&first_path)).await;
    pool_until(&c, "pooled", |p| p == ["codex:acct-spent".to_string()]).await;
    parked_within(&c).await;
    let r = client().post(format!("{}{path}", c.url)).json(&body).send().await.expect("send");
    assert_eq!(r.status(), 429);
    assert_eq!(backend(&mock), seen, "C sent nothing to the backend");
    for gw in [&a, &b, &c] {
        gw.state.store.close().await;
    }
    drop_database(&pg).await;
}

/// Wait until `gw` has its pooled account parked for more than 100 s (the two-minute window).
async fn parked_within(gw: &Gateway) -> Duration {
    parked_member_within(gw, "codex:acct-spent").await
}

/// Wait until `gw` has `member` parked for more than 100 s (the two-minute window).
async fn parked_member_within(gw: &Gateway, member: &str) -> Duration {
    let parked = || {
        let until = gw.state.routes().provider_parked_until(member);
        until.is_some_and(|t| t > crossbar::routing::clock::now_ms() + 100_000)
    };
    let start = Instant::now();
    while !parked() {
        assert!(start.elapsed() < Duration::from_secs(5), "{} never parked the account", gw.url);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

/// Wait until `n` gateways listen on the fleet channel of `prefix` (their subscriptions are up).
async fn fleet_listeners(prefix: &str, n: i64) {
    let client = redis::Client::open(redis_url()).expect("redis url");
    let mut c = client.get_multiplexed_async_connection().await.expect("redis");
    let channel = format!("{prefix}:fleet:all");
    let start = Instant::now();
    loop {
        let counts: Vec<(String, i64)> =
            redis::cmd("PUBSUB").arg("NUMSUB").arg(&channel).query_async(&mut c).await.expect("numsub");
        if counts.first().is_some_and(|(_, k)| *k >= n) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "fewer than {n} listeners on {channel}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The state (`ready`, `cooling`, `parked`) of `member`'s `gpt-5` deployment on `gw`.
fn deployment_state(gw: &Gateway, member: &str) -> Option<String> {
    let routes = crossbar::admin::deployments::routes_json(&gw.state);
    let all = routes.as_array()?.iter().flat_map(|r| r["deployments"].as_array().cloned().unwrap_or_default());
    let d = all.into_iter().find(|d| d["provider"] == member)?;
    d["state"].as_str().map(str::to_string)
}

/// With Redis, three instances share what one learns: an account's usage windows (as read
/// from its answers), a deployment's open breaker, and a spent window — each of the others
/// skips or shows it at once, without spending a request of its own.
#[tokio::test]
async fn three_instances_share_windows_breakers_and_spent_accounts() {
    let Some(pg) = fresh_database().await else { return };
    let mock = crossbar_mock::spawn().await.expect("mock");
    let prefix = format!("cbt-{}", uuid::Uuid::new_v4().simple());
    let plain = config(&pg, Some(&prefix), &mock.url())
        .replace("backoff_ms = 0\n", "backoff_ms = 0\nfailures_to_cooldown = 1\nretries = 0\n");
    // A's answers report the window 30 % used; B's requests fail (5xx); C's meet a spent window.
    let with = |x: &str| plain.replace("issuer = ", &format!("headers = {{ \"x-mock\" = \"{x}\" }}\nissuer = "));
    let first_dir = tempfile::tempdir().expect("tempdir");
    let first_path = first_dir.path().to_path_buf();
    let a = start(&with("mock:headroom=70"), first_dir).await;
    let b = start(&with("mock:error=503"), same_key_dir(&first_path)).await;
    let c = start(&with("mock:usage-limit mock:ratelimit-reset=120"), same_key_dir(&first_path)).await;
    let account = crossbar::accounts::Account {
        id: "acct-fleet".to_string(),
        access_token: "token-fleet".to_string(),
        refresh_token: "refresh-fleet".to_string(),
        ..Default::default()
    };
    add_account(&pg, &first_path, account).await;
    let member = "codex:acct-fleet".to_string();
    for gw in [&a, &b, &c] {
        pool_until(gw, "pooled", |p| p == std::slice::from_ref(&member)).await;
    }
    fleet_listeners(&prefix, 3).await;
    for gw in [&a, &b, &c] {
        gw.state.routes().resolve("codex/gpt-5").expect("route");
    }

    // Windows read by A reach B and C.
    assert!(served_by(&a).await.is_some(), "A is served");
    let windows_of = |gw: &Gateway| {
        let routes = gw.state.routes();
        let member = routes.providers().iter().flat_map(|p| p.pool.iter()).find_map(|m| m.account().cloned());
        member.map(|a| a.status().windows.iter().map(|w| w.used_percent).collect::<Vec<_>>()).unwrap_or_default()
    };
    for gw in [&b, &c] {
        let start = Instant::now();
        while windows_of(gw) != [30.0] {
            assert!(start.elapsed() < Duration::from_secs(5), "{} never saw A's windows: {:?}", gw.url, windows_of(gw));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    // B's breaker opens on a 5xx: A and C cool the deployment too.
    assert_eq!(served_by(&b).await, None, "B's upstream fails");
    for gw in [&a, &c] {
        let start = Instant::now();
        while deployment_state(gw, &member).as_deref() != Some("cooling") {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{} never cooled: {:?}",
                gw.url,
                deployment_state(gw, &member)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    // C meets the spent window: A and B park the account and answer 429 without asking.
    for gw in [&a, &b, &c] {
        gw.state.routes().resolve("codex/gpt-5").expect("route").deployments[0].state.health.success();
    }
    let backend = || mock.requests().iter().filter(|r| r["path"] == "/backend-api/codex/responses").count();
    assert_eq!(served_by(&c).await, None, "C meets the spent window");
    let seen = backend();
    for gw in [&a, &b] {
        parked_member_within(gw, &member).await;
        let (path, body) = request(Client::Responses, "codex/gpt-5", "hello", false);
        let r = client().post(format!("{}{path}", gw.url)).json(&body).send().await.expect("send");
        assert_eq!(r.status(), 429, "{} answers for the spent pool itself", gw.url);
    }
    assert_eq!(backend(), seen, "A and B sent nothing to the backend");
    for gw in [&a, &b, &c] {
        gw.state.store.close().await;
    }
    drop_database(&pg).await;
}
