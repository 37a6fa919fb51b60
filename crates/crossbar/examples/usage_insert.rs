//! Usage-record throughput: feed the recorder at a fixed rate for a while and report what
//! was written per second and how far the queue ever backed up.
//!
//!   cargo run --release -p crossbar --example usage_insert -- [STORE_URL] [RATE] [SECONDS]
//!
//! STORE_URL defaults to a SQLite file in a temporary directory; give `postgres://…` for
//! PostgreSQL. RATE defaults to 5000 records/s, SECONDS to 10.

use crossbar::store::{Store, UsageRecord};
use crossbar::telemetry::Metrics;
use crossbar::usage::Recorder;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).filter(|a| !a.is_empty() && *a != "sqlite").cloned();
    let rate: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5000);
    let secs: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10);
    let dir = tempfile_dir()?;
    let store = Store::open(url.as_deref(), &dir)?;
    store.ready().await?;
    let metrics = Metrics::new();
    let recorder = Recorder::start(store.clone(), 50_000, Duration::from_millis(200), &metrics);
    let record = UsageRecord {
        ts: crossbar::store::now_ms(),
        key_id: Some("0123456789ab".into()),
        model: "bench/gpt-bench".into(),
        provider: Some("bench".into()),
        upstream_model: Some("gpt-bench".into()),
        protocol_in: "openai-chat",
        protocol_out: Some("openai-chat"),
        input_tokens: Some(1200),
        output_tokens: Some(300),
        cache_read_tokens: Some(0),
        cache_write_tokens: None,
        reasoning_tokens: None,
        cost_usd: Some(0.0042),
        latency_ms: 850,
        ttft_ms: Some(120),
        status: 200,
        error_class: None,
        ..UsageRecord::default()
    };
    let start = Instant::now();
    let mut sent = 0u64;
    let mut max_backlog = 0usize;
    let mut backlog_at_end_of_each_second = Vec::new();
    let tick = Duration::from_millis(10);
    let mut next = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            recorder.record(record.clone());
            sent += 1;
        }
        max_backlog = max_backlog.max(recorder.queued());
        if backlog_at_end_of_each_second.len() < start.elapsed().as_secs() as usize {
            backlog_at_end_of_each_second.push(recorder.queued());
        }
        next += tick;
        tokio::time::sleep_until(next.into()).await;
    }
    let fed = start.elapsed();
    let written_during = metrics.usage.written.get();
    let drain = Instant::now();
    recorder.close().await;
    let drained = drain.elapsed();
    let total = store.usage_count().await?;
    println!("store: {}", store.label);
    println!(
        "fed {sent} records at {rate}/s for {:.1} s; written while feeding: {written_during} ({:.0}/s)",
        fed.as_secs_f64(),
        written_during as f64 / fed.as_secs_f64()
    );
    println!("backlog: max {max_backlog}, at each second {backlog_at_end_of_each_second:?}");
    println!(
        "close() drained the rest in {} ms; rows in the store: {total}; channel-full events: {}",
        drained.as_millis(),
        metrics.usage.channel_full.get()
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("crossbar-usage-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
