//! `kill -9` loses at most the usage records not yet flushed: a real `crossbar serve` process
//! is killed with SIGKILL, and every record its recorder had committed on its own flush
//! interval (`crossbar_usage_written_total`) before the kill is in the database.

mod common;
use common::*;
use std::time::Duration;

#[tokio::test]
async fn sigkill_loses_at_most_the_last_flush_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("c.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &cfg,
        format!("[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\n[storage]\nusage_flush_ms = 200\n[[providers]]\nname = \"mock\"\nkind = \"mock\"\n", data.display().to_string()),
    )
    .expect("config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_crossbar"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn crossbar");
    // Port 0: the kernel picks a free port and crossbar logs it (no race for a port chosen
    // beforehand); the rest of its log is drained in the background.
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split_whitespace().find_map(|w| w.strip_prefix("addr=")) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(addr.to_string());
                }
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).expect("crossbar did not report its address");
    let url = format!("http://{addr}");
    let (path, body) = request(Client::Chat, "mock/echo", "hi", false);
    for _ in 0..20 {
        assert_eq!(client().post(format!("{url}{path}")).json(&body).send().await.expect("send").status(), 200);
    }
    // Once the recorder says it committed them, these 20 must be on disk whatever happens
    // next (they were flushed on the writer's own interval: nothing asked it to).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while written(&url).await < 20 {
        assert!(std::time::Instant::now() < deadline, "the 20 records were never written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..5 {
        assert_eq!(client().post(format!("{url}{path}")).json(&body).send().await.expect("send").status(), 200);
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let store = crossbar::store::Store::open(None, &data).expect("open");
    let n = store.usage_count().await.expect("count");
    assert!((20..=25).contains(&n), "{n} records survived; the 20 older than a flush interval must");
}

/// The gateway's `crossbar_usage_written_total`: usage records in committed batches.
async fn written(url: &str) -> u64 {
    let text = client().get(format!("{url}/metrics")).send().await.expect("metrics").text().await.expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix("crossbar_usage_written_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}
