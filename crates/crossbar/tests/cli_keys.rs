//! `crossbar keys …` and `crossbar usage` against the configured SQLite store.

use std::process::Command;

fn crossbar(cfg: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_crossbar"))
        .args(args)
        .arg("--config")
        .arg(cfg)
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
fn keys_create_list_update_revoke_and_usage_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, format!("[server]\ndata_dir = {:?}\n[auth]\n", dir.path().join("data").display().to_string()))
        .expect("write");
    let (ok, key, err) = crossbar(
        &cfg,
        &[
            "keys",
            "create",
            "--name",
            "alice",
            "--rpm",
            "60",
            "--budget-usd",
            "5",
            "--budget-period",
            "month",
            "--models",
            "a,b",
            "--expires",
            "2999-01-01",
        ],
    );
    assert!(ok, "{err}");
    let key = key.trim();
    assert!(key.starts_with("cb-") && key.len() == 3 + 12 + 1 + 48, "{key}");
    let id = &key[3..15];
    let (ok, list, _) = crossbar(&cfg, &["keys", "list"]);
    assert!(ok);
    assert!(
        list.contains(id)
            && list.contains("alice")
            && list.contains("$5.00/month")
            && list.contains("a,b")
            && list.contains("active"),
        "{list}"
    );
    assert!(!list.contains(&key[16..]), "the secret is never shown again");
    let (ok, _, err) = crossbar(&cfg, &["keys", "update", id, "--rpm", "none", "--name", "alice2"]);
    assert!(ok, "{err}");
    let (ok, show, _) = crossbar(&cfg, &["keys", "show", id]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&show).expect("json");
    assert_eq!((v["name"].as_str(), v["rpm"].is_null()), (Some("alice2"), true), "{v}");
    let (ok, _, err) = crossbar(&cfg, &["keys", "update", id, "--rpm", "lots"]);
    assert!(!ok && err.contains("--rpm"), "{err}");
    let (ok, _, _) = crossbar(&cfg, &["keys", "revoke", id]);
    assert!(ok);
    let (_, list, _) = crossbar(&cfg, &["keys", "list"]);
    assert!(list.contains("revoked"), "{list}");
    let (ok, _, err) = crossbar(&cfg, &["keys", "revoke", "nope"]);
    assert!(!ok && err.contains("no key"), "{err}");
    let (ok, table, err) = crossbar(&cfg, &["usage", "--group-by", "model"]);
    assert!(ok, "{err}");
    assert!(table.starts_with("MODEL") && table.contains("TOTAL"), "{table}");
    let (ok, _, err) = crossbar(&cfg, &["usage", "--group-by", "week"]);
    assert!(!ok && err.contains("group-by"), "{err}");
}
