//! The dashboard's queries over a large usage table: seed N usage records spread over D days
//! (through `Store::insert_usage`, so the hourly rollups are built as in production), then
//! time what the pages run — the 30-day overview (totals + series), the request log's first
//! page with each single filter, and a month of daily totals (the CSV).
//!
//!   cargo run --release -p crossbar --example dashboard_seed -- [STORE_URL] [ROWS] [DAYS]
//!
//! STORE_URL defaults to a SQLite file in a temporary directory (`sqlite`); give
//! `postgres://…` (an empty database) for PostgreSQL. ROWS defaults to 1,000,000, DAYS to 30.

use crossbar::store::{now_ms, LogFilter, RollupGroup, Store, UsageRecord};
use std::time::Instant;

const MODELS: [&str; 8] = ["gpt-5", "gpt-5-mini", "sonnet", "haiku", "gemini-pro", "gemini-flash", "codex", "o4"];
const PROVIDERS: [&str; 4] = ["openai", "anthropic", "gemini", "codex:acct-1"];
const CLIENTS: [&str; 5] = ["Codex", "Claude Code", "OpenAI SDK", "curl", "other"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).filter(|a| !a.is_empty() && *a != "sqlite").cloned();
    let rows: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let days: i64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(30);
    let dir = std::env::temp_dir().join(format!("crossbar-dash-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = Store::open(url.as_deref(), &dir)?;
    store.ready().await?;

    let now = now_ms();
    let span = days * 86_400_000;
    let started = Instant::now();
    let mut batch = Vec::with_capacity(2000);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..rows {
        // splitmix64: deterministic, spread values.
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let pick = |n: u64, shift: u32| ((z >> shift) % n) as usize;
        let status = match pick(100, 8) {
            0..=93 => 200,
            94..=96 => 429,
            97 => 499,
            _ => 502,
        };
        batch.push(UsageRecord {
            ts: now - span + (i as i64 * span) / rows as i64,
            key_id: Some(format!("{:012x}", pick(50, 16))),
            model: MODELS[pick(8, 24)].into(),
            provider: Some(PROVIDERS[pick(4, 32)].into()),
            account: (pick(4, 32) == 3).then(|| "acct-1".to_string()),
            upstream_model: Some(MODELS[pick(8, 24)].into()),
            protocol_in: "openai-chat",
            protocol_out: Some("openai-chat"),
            input_tokens: Some(500 + pick(20_000, 36) as i64),
            output_tokens: Some(50 + pick(2_000, 40) as i64),
            cache_read_tokens: Some(pick(5_000, 44) as i64),
            cost_usd: Some(0.0005 * (1 + pick(40, 48)) as f64),
            latency_ms: 100 + pick(20_000, 12) as i64,
            ttft_ms: Some(50 + pick(3_000, 20) as i64),
            status,
            request_id: Some(format!("{z:032x}")),
            client: Some(CLIENTS[pick(5, 52)]),
            ..UsageRecord::default()
        });
        if batch.len() == 2000 {
            store.insert_usage(&batch).await?;
            batch.clear();
        }
    }
    store.insert_usage(&batch).await?;
    let seeded = started.elapsed();
    println!("seeded {rows} rows over {days} days in {:.1} s ({})", seeded.as_secs_f64(), store.label);

    async fn time<T, F: std::future::Future<Output = T>>(what: &str, f: F) -> T {
        let t = Instant::now();
        let v = f.await;
        println!("{what:<44} {:>8.1} ms", t.elapsed().as_secs_f64() * 1000.0);
        v
    }
    let from = (now - 30 * 86_400_000).div_euclid(3_600_000) * 3_600_000;
    for round in 0..2 {
        println!("-- round {} ({})", round + 1, if round == 0 { "cold" } else { "warm" });
        time("overview 30 d: totals", store.rollup_totals(from, i64::MAX, None)).await?;
        time("overview 30 d: daily series", store.rollup_series(from, i64::MAX, 86_400_000, None)).await?;
        time("overview 30 d: one key's totals", store.rollup_totals(from, i64::MAX, Some("000000000007"))).await?;
        let page = |f: LogFilter| LogFilter { limit: 50, ..f };
        time("log page: no filter", store.usage_log(&page(LogFilter::default()))).await?;
        time(
            "log page: key",
            store.usage_log(&page(LogFilter { key: Some("000000000007".into()), ..LogFilter::default() })),
        )
        .await?;
        time(
            "log page: model",
            store.usage_log(&page(LogFilter { model: Some("haiku".into()), ..LogFilter::default() })),
        )
        .await?;
        time(
            "log page: provider",
            store.usage_log(&page(LogFilter { provider: Some("codex:acct-1".into()), ..LogFilter::default() })),
        )
        .await?;
        time(
            "log page: status 5xx",
            store.usage_log(&page(LogFilter { status: Some("5xx".into()), ..LogFilter::default() })),
        )
        .await?;
        time(
            "log page: client",
            store.usage_log(&page(LogFilter { client: Some("curl".into()), ..LogFilter::default() })),
        )
        .await?;
        let last = store.usage_log(&page(LogFilter::default())).await?;
        let before = last.last().map(|r| (r.ts, r.id));
        time("log page: older (keyset)", store.usage_log(&page(LogFilter { before, ..LogFilter::default() }))).await?;
        time(
            "log page: request id",
            store.usage_log(&page(LogFilter { request_id: Some("0".into()), ..LogFilter::default() })),
        )
        .await?;
        time("usage: a month of daily totals (CSV)", store.rollup_groups(RollupGroup::Day, from, i64::MAX, None))
            .await?;
        time("usage: 30 d by model", store.rollup_groups(RollupGroup::Model, from, i64::MAX, None)).await?;
        time("usage: 30 d by provider", store.rollup_groups(RollupGroup::Provider, from, i64::MAX, None)).await?;
        time("usage: 30 d by account", store.rollup_groups(RollupGroup::Account, from, i64::MAX, None)).await?;
        time(
            "usage: 30 d by model, one key",
            store.rollup_groups(RollupGroup::Model, from, i64::MAX, Some("000000000007")),
        )
        .await?;
    }
    store.close().await;
    if url.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
