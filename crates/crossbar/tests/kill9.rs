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
    let mut served = process::serve(&cfg, &[]);
    let url = served.url.clone();
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
    served.child.kill().expect("SIGKILL");
    let _ = served.child.wait();
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
