//! `kill -9` loses at most the usage records of the last flush interval: a real `crossbar
//! serve` process is killed with SIGKILL, and every request that ended more than one flush
//! interval before the kill is in the database.

mod common;
use common::*;
use std::time::Duration;

#[tokio::test]
async fn sigkill_loses_at_most_the_last_flush_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let cfg = dir.path().join("c.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &cfg,
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = {:?}\n[storage]\nusage_flush_ms = 200\n[[providers]]\nname = \"mock\"\nkind = \"mock\"\n", data.display().to_string()),
    )
    .expect("config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_crossbar"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn crossbar");
    let url = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if client().get(format!("{url}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "crossbar did not start");
    let (path, body) = request(Client::Chat, "mock/echo", "hi", false);
    for _ in 0..20 {
        assert_eq!(client().post(format!("{url}{path}")).json(&body).send().await.expect("send").status(), 200);
    }
    // Longer than one flush interval: these 20 must be on disk whatever happens next.
    tokio::time::sleep(Duration::from_millis(600)).await;
    for _ in 0..5 {
        assert_eq!(client().post(format!("{url}{path}")).json(&body).send().await.expect("send").status(), 200);
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let store = crossbar::store::Store::open(None, &data).expect("open");
    let n = store.usage_count().await.expect("count");
    assert!((20..=25).contains(&n), "{n} records survived; the 20 older than a flush interval must");
}
