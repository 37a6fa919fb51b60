//! Accounts in the store: the account file of earlier versions is imported once and left in
//! place, and `crossbar accounts` works on the store with `--config` in any position.

mod common;
use common::*;
use serde_json::json;
use std::path::Path;

fn db(data_dir: &Path) -> crossbar::accounts::db::AccountStore {
    let store = crossbar::store::Store::open(None, data_dir).expect("store");
    let sealer = crossbar::accounts::seal::Sealer::open(data_dir).expect("key");
    crossbar::accounts::db::AccountStore::new(store, sealer, None)
}

fn account(id: &str, refresh: &str) -> crossbar::accounts::Account {
    crossbar::accounts::Account {
        id: id.to_string(),
        email: Some(format!("{id}@example.com")),
        access_token: format!("access-{id}"),
        refresh_token: refresh.to_string(),
        imported_at: 1,
        ..Default::default()
    }
}

fn pool(mock: &str) -> String {
    format!("[[providers]]\nname = \"codex\"\nkind = \"chatgpt\"\nbase_url = \"{mock}\"\ntoken_url = \"{mock}/oauth/token\"\n")
}

async fn providers_served(gw: &Gateway) -> Vec<String> {
    let mut names: Vec<String> =
        gw.state.routes().providers().iter().flat_map(|p| p.pool.iter().map(|m| m.name().to_string())).collect();
    names.sort();
    names
}

#[tokio::test]
async fn an_account_file_is_imported_once_on_first_start_and_left_in_place() {
    let mock = crossbar_mock::spawn().await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().to_path_buf();
    let sealer = crossbar::accounts::seal::Sealer::open(&data_dir).expect("key");
    let accounts = [account("acct-1", "refresh-1"), account("acct-2", "refresh-2")];
    crossbar::accounts::file::write(&data_dir, &sealer, &accounts).expect("old file");
    let before = std::fs::read(crossbar::accounts::file::path(&data_dir)).expect("file");

    let mut gw = Gateway::start_in(&pool(&mock.url()), dir).await;
    assert_eq!(providers_served(&gw).await, ["codex:acct-1", "codex:acct-2"]);
    let after = std::fs::read(crossbar::accounts::file::path(&data_dir)).expect("file left in place");
    assert_eq!(before, after, "the file is not changed");
    let stored = db(&data_dir).all().await.expect("stored");
    assert_eq!(stored.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["acct-1", "acct-2"]);
    assert_eq!(stored[0].refresh_token, "refresh-1", "tokens open with the same key");

    // Removed after the import, it stays removed: the file is not imported again.
    assert!(db(&data_dir).remove("acct-1").await.expect("remove"));
    gw.shutdown();
    let _ = (&mut gw.handle).await;
    let mut cfg = crossbar::config::Config::parse(&pool(&mock.url()), "again.toml").expect("config");
    cfg.server.data_dir = data_dir.clone();
    let again = Gateway::start_with(cfg, tempfile::tempdir().expect("tempdir")).await;
    assert_eq!(providers_served(&again).await, ["codex:acct-2"]);

    // A store that already holds an account keeps its (newer) tokens over a file's.
    let other = tempfile::tempdir().expect("tempdir");
    let other_dir = other.path().to_path_buf();
    std::fs::copy(data_dir.join("gateway.key"), other_dir.join("gateway.key")).expect("same key");
    let newer = db(&other_dir).add(account("acct-2", "refresh-2-newer")).await.expect("add");
    crossbar::accounts::file::write(&other_dir, &sealer, &accounts).expect("old file");
    db(&other_dir).import_file(&other_dir).await.expect("import");
    let stored = db(&other_dir).all().await.expect("stored");
    let kept = stored.iter().find(|a| a.id == "acct-2").expect("acct-2");
    assert_eq!((kept.refresh_token.as_str(), kept.imported_at), ("refresh-2-newer", newer.imported_at));
    assert!(stored.iter().any(|a| a.id == "acct-1"), "the others are added");
}

#[tokio::test]
async fn the_accounts_command_takes_config_in_any_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("c.toml");
    let data = dir.path().join("data");
    std::fs::write(&cfg, format!("[server]\ndata_dir = {:?}\n", data.display().to_string())).expect("config");
    let auth = dir.path().join("auth.json");
    let jwt = |claims: serde_json::Value| {
        use base64::Engine;
        let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        format!("{}.{}.sig", e(br#"{"alg":"none"}"#), e(claims.to_string().as_bytes()))
    };
    let text = json!({"tokens": {"access_token": "a", "refresh_token": "secret-refresh", "account_id": "acct-cli",
                       "id_token": jwt(json!({"email": "cli@example.com"}))}});
    std::fs::write(&auth, text.to_string()).expect("auth.json");
    let cfg = cfg.to_str().expect("utf-8").to_string();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_crossbar"))
            .args(args)
            .env_remove("CROSSBAR_CONFIG")
            .env_remove("DATABASE_URL")
            .env_remove("CROSSBAR_ACCOUNTS_KEY")
            .output()
            .expect("run crossbar");
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let auth = auth.to_str().expect("utf-8");
    let (ok, out) = run(&["accounts", "import", auth, "--config", &cfg]);
    assert!(ok && out.contains("imported account acct-cli (cli@example.com)"), "{out}");
    let (ok, out) = run(&["accounts", "disable", "--config", &cfg, "acct-cli"]);
    assert!(ok && out.contains("disabled account acct-cli"), "{out}");
    let (ok, out) = run(&["accounts", "--config", &cfg, "list"]);
    assert!(ok && out.contains("acct-cli") && out.contains("disabled"), "{out}");
    assert!(!out.contains("secret-refresh"), "no secrets: {out}");
    let (ok, out) = run(&["--config", &cfg, "accounts", "list"]);
    assert!(ok && out.contains("acct-cli") && out.contains("disabled"), "before the command too: {out}");
    let (ok, out) = run(&["accounts", "enable", "acct-cli", "--config", &cfg]);
    assert!(ok && out.contains("enabled account acct-cli"), "{out}");
    let (ok, out) = run(&["accounts", "list", "--config", &cfg]);
    assert!(ok && out.contains("active"), "{out}");
    let (ok, out) = run(&["accounts", "remove", "acct-cli", "--config", &cfg]);
    assert!(ok && out.contains("removed account acct-cli"), "{out}");
    let (ok, out) = run(&["accounts", "remove", "acct-cli", "--config", &cfg]);
    assert!(!ok && out.contains("no account \"acct-cli\""), "{out}");
    // The other commands take it anywhere too.
    let (ok, out) = run(&["keys", "list", "--config", &cfg]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["usage", "--group-by", "model", "--config", &cfg]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["--config", &cfg, "prices", "history"]);
    assert!(ok, "{out}");
    assert!(data.join("crossbar.db").exists(), "the store is the config's");
}
