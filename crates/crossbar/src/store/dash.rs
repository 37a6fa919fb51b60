//! The dashboard's data: hourly rollups (built from each usage batch and upserted in the same
//! transaction, `usage.rs`), totals and series read from them, the request log (raw rows,
//! keyset pagination on `(ts, id)`), sign-in sessions, and the retention purge.
//!
//! Must never: build SQL from input (filters are bound parameters; the few varying texts are
//! fixed per variant).

use super::{with_pool, Store, StoreError, UsageRecord};
use serde::Serialize;
use sqlx::{QueryBuilder, Row};
use std::collections::BTreeMap;

/// Histogram buckets for latency and TTFT.
pub const BUCKETS: usize = 12;
/// Upper bounds (ms) of the first `BUCKETS - 1` buckets; the last holds everything above.
pub const BOUNDS: [i64; BUCKETS - 1] = [50, 100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 51_200];
/// The summed counters of a rollup row, in column order.
const SUMS: [&str; 11] = [
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cache_input_tokens",
    "latency_sum",
    "ttft_sum",
    "ttft_count",
];
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// Rollup rows per upsert statement (45 binds each).
pub const ROLLUP_CHUNK: usize = 200;

/// One hour's totals for one group, as added by a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollup {
    pub hour: i64,
    pub key_id: String,
    pub model: String,
    pub provider: String,
    pub protocol_in: String,
    pub status_class: &'static str,
    /// The pooled account ('' for none; `usage_hourly_route` only).
    pub account: String,
    pub sums: [i64; 11],
    pub cost_usd: f64,
    pub lat: [i64; BUCKETS],
    pub ttft: [i64; BUCKETS],
}

pub fn bucket(ms: i64) -> usize {
    BOUNDS.iter().position(|b| ms <= *b).unwrap_or(BUCKETS - 1)
}

/// ok (< 400), 4xx, 499 (the client went away), 5xx.
pub fn status_class(status: u16) -> &'static str {
    match status {
        499 => "499",
        500.. => "5xx",
        400.. => "4xx",
        _ => "ok",
    }
}

impl Rollup {
    fn empty(hour: i64) -> Rollup {
        Rollup {
            hour,
            key_id: String::new(),
            model: String::new(),
            provider: String::new(),
            protocol_in: String::new(),
            status_class: "",
            account: String::new(),
            sums: [0; 11],
            cost_usd: 0.0,
            lat: [0; BUCKETS],
            ttft: [0; BUCKETS],
        }
    }
}

/// A batch's records summed per hour and group (sorted, so concurrent writers lock rows in
/// the same order).
pub fn rollup(records: &[UsageRecord]) -> Vec<Rollup> {
    let mut groups: BTreeMap<(i64, String, String, String, &'static str, &'static str), Rollup> = BTreeMap::new();
    for r in records {
        let hour = r.ts.div_euclid(HOUR_MS) * HOUR_MS;
        let class = status_class(r.status);
        let k = (
            hour,
            r.key_id.clone().unwrap_or_default(),
            r.model.clone(),
            r.provider.clone().unwrap_or_default(),
            r.protocol_in,
            class,
        );
        let g = groups.entry(k).or_insert_with(|| Rollup {
            key_id: r.key_id.clone().unwrap_or_default(),
            model: r.model.clone(),
            provider: r.provider.clone().unwrap_or_default(),
            protocol_in: r.protocol_in.to_string(),
            status_class: class,
            ..Rollup::empty(hour)
        });
        add(g, r);
    }
    groups.into_values().collect()
}

/// A batch's records summed per hour, model, provider and account (for `usage_hourly_route`).
pub fn by_route(records: &[UsageRecord]) -> Vec<Rollup> {
    let mut groups: BTreeMap<(i64, &str, &str, &str), Rollup> = BTreeMap::new();
    for r in records {
        let hour = r.ts.div_euclid(HOUR_MS) * HOUR_MS;
        let provider = r.provider.as_deref().unwrap_or_default();
        let account = r.account.as_deref().unwrap_or_default();
        let g = groups.entry((hour, &r.model, provider, account)).or_insert_with(|| Rollup {
            model: r.model.clone(),
            provider: provider.to_string(),
            account: account.to_string(),
            ..Rollup::empty(hour)
        });
        add(g, r);
    }
    groups.into_values().collect()
}

/// Add one record to its group's sums and histograms.
fn add(g: &mut Rollup, r: &UsageRecord) {
    let input = r.input_tokens.unwrap_or(0);
    let add = [
        1,
        i64::from(r.status >= 400),
        input,
        r.output_tokens.unwrap_or(0),
        r.cache_read_tokens.unwrap_or(0),
        r.cache_write_tokens.unwrap_or(0),
        r.reasoning_tokens.unwrap_or(0),
        if r.cache_read_tokens.is_some() { input } else { 0 },
        r.latency_ms,
        r.ttft_ms.unwrap_or(0),
        i64::from(r.ttft_ms.is_some()),
    ];
    for (s, a) in g.sums.iter_mut().zip(add) {
        *s = s.saturating_add(a);
    }
    g.cost_usd += r.cost_usd.unwrap_or(0.0);
    g.lat[bucket(r.latency_ms)] += 1;
    if let Some(t) = r.ttft_ms {
        g.ttft[bucket(t)] += 1;
    }
}

fn bucket_columns() -> impl Iterator<Item = String> {
    (0..BUCKETS).map(|i| format!("lat_b{i}")).chain((0..BUCKETS).map(|i| format!("ttft_b{i}")))
}

/// The rollup tables: `usage_hourly` (hour × key × model × provider × protocol × status
/// class: a key's groups), `usage_hourly_key` (hour × key: the overview's totals and series,
/// a few rows per hour however varied the traffic, since it refreshes live) and
/// `usage_hourly_route` (hour × model × provider × account: the usage page's model, provider
/// and account groups over all keys, a few rows per hour however many keys send).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollupTable {
    Full,
    Key,
    Route,
}

impl RollupTable {
    pub fn name(self) -> &'static str {
        match self {
            RollupTable::Full => "usage_hourly",
            RollupTable::Key => "usage_hourly_key",
            RollupTable::Route => "usage_hourly_route",
        }
    }

    /// The grouping columns (the primary key).
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            RollupTable::Full => &["hour", "key_id", "model", "provider", "protocol_in", "status_class"],
            RollupTable::Key => &["hour", "key_id"],
            RollupTable::Route => &["hour", "model", "provider", "account"],
        }
    }
}

/// A batch's full rollup rows summed again per hour and key (for `usage_hourly_key`).
pub fn by_key(rows: &[Rollup]) -> Vec<Rollup> {
    let mut groups: BTreeMap<(i64, String), Rollup> = BTreeMap::new();
    for r in rows {
        let g = groups
            .entry((r.hour, r.key_id.clone()))
            .or_insert_with(|| Rollup { key_id: r.key_id.clone(), ..Rollup::empty(r.hour) });
        for (a, b) in g.sums.iter_mut().zip(r.sums) {
            *a = a.saturating_add(b);
        }
        g.cost_usd += r.cost_usd;
        for (a, b) in g.lat.iter_mut().zip(r.lat).chain(g.ttft.iter_mut().zip(r.ttft)) {
            *a += b;
        }
    }
    groups.into_values().collect()
}

/// `INSERT INTO <table> (…) ` — values follow (`push_values`), then `rollup_conflict`.
pub fn rollup_insert(t: RollupTable) -> String {
    let mut cols: Vec<String> = t.keys().iter().map(|s| s.to_string()).collect();
    cols.extend(SUMS.iter().map(|s| s.to_string()));
    cols.push("cost_usd".into());
    cols.extend(bucket_columns());
    format!("INSERT INTO {} ({}) ", t.name(), cols.join(", "))
}

/// Add to the existing row of the same hour and group (the same text in SQLite and PostgreSQL).
pub fn rollup_conflict(t: RollupTable) -> String {
    let n = t.name();
    let mut sets: Vec<String> = SUMS.iter().map(|c| format!("{c} = {n}.{c} + excluded.{c}")).collect();
    sets.push(format!("cost_usd = {n}.cost_usd + excluded.cost_usd"));
    sets.extend(bucket_columns().map(|c| format!("{c} = {n}.{c} + excluded.{c}")));
    format!(" ON CONFLICT ({}) DO UPDATE SET {}", t.keys().join(", "), sets.join(", "))
}

/// Totals over some rollup rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub requests: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub reasoning_tokens: i64,
    pub cache_input_tokens: i64,
    pub latency_sum: i64,
    pub ttft_sum: i64,
    pub ttft_count: i64,
    pub cost_usd: f64,
    pub lat: [i64; BUCKETS],
    pub ttft: [i64; BUCKETS],
}

impl Totals {
    /// Cache-read tokens over the input of requests that reported a cache field; `None` when
    /// none did (unknown, not 0 %).
    pub fn cache_hit_rate(&self) -> Option<f64> {
        (self.cache_input_tokens > 0).then(|| self.cache_read_tokens as f64 / self.cache_input_tokens as f64)
    }

    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 / self.requests as f64)
    }

    /// The `q` quantile (0..1) of latency or TTFT, as the upper bound of its bucket (`None`
    /// without data; the open last bucket reports its lower bound).
    pub fn quantile(hist: &[i64; BUCKETS], q: f64) -> Option<i64> {
        let total: i64 = hist.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as i64;
        let mut seen = 0;
        for (i, n) in hist.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(BOUNDS.get(i).copied().unwrap_or(BOUNDS[BUCKETS - 2]));
            }
        }
        None
    }
}

/// The `SELECT` list of summed rollup columns (`Totals` in order, read by `read_totals`).
fn totals_select() -> String {
    let mut cols: Vec<String> = SUMS.iter().map(|c| format!("CAST(COALESCE(SUM({c}), 0) AS BIGINT)")).collect();
    cols.push("CAST(COALESCE(SUM(cost_usd), 0) AS DOUBLE PRECISION)".into());
    cols.extend(bucket_columns().map(|c| format!("CAST(COALESCE(SUM({c}), 0) AS BIGINT)")));
    cols.join(", ")
}

/// `Totals` from a row whose columns from `first` are `totals_select`'s.
macro_rules! read_totals {
    ($row:expr, $first:expr) => {{
        let row = $row;
        let f = $first;
        let g = |i: usize| row.try_get::<i64, _>(f + i);
        let mut t = Totals {
            requests: g(0)?,
            errors: g(1)?,
            input_tokens: g(2)?,
            output_tokens: g(3)?,
            cache_read_tokens: g(4)?,
            cache_write_tokens: g(5)?,
            reasoning_tokens: g(6)?,
            cache_input_tokens: g(7)?,
            latency_sum: g(8)?,
            ttft_sum: g(9)?,
            ttft_count: g(10)?,
            cost_usd: row.try_get::<f64, _>(f + 11)?,
            ..Totals::default()
        };
        for i in 0..BUCKETS {
            t.lat[i] = g(12 + i)?;
            t.ttft[i] = g(12 + BUCKETS + i)?;
        }
        t
    }};
}

/// How the usage page groups rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollupGroup {
    Key,
    Model,
    Provider,
    /// The pooled ChatGPT account that served the requests (`-`: none).
    Account,
    Day,
}

impl RollupGroup {
    pub fn parse(s: &str) -> Option<RollupGroup> {
        match s {
            "key" => Some(RollupGroup::Key),
            "model" => Some(RollupGroup::Model),
            "provider" => Some(RollupGroup::Provider),
            "account" => Some(RollupGroup::Account),
            "day" => Some(RollupGroup::Day),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RollupGroup::Key => "key",
            RollupGroup::Model => "model",
            RollupGroup::Provider => "provider",
            RollupGroup::Account => "account",
            RollupGroup::Day => "day",
        }
    }

    /// (text group, numeric group, GROUP BY, table) expressions: fixed text per variant. Keys
    /// and days read the small per-key table; models, providers and accounts over all keys the
    /// per-route one, and one key's models and providers the full table (on its key index).
    /// The route table has no key: one key's accounts are not kept (`None`).
    fn exprs(self, one_key: bool) -> Option<(&'static str, &'static str, &'static str, RollupTable)> {
        Some(match (self, one_key) {
            (RollupGroup::Key, _) => ("key_id", "0", "key_id", RollupTable::Key),
            (RollupGroup::Model, false) => ("model", "0", "model", RollupTable::Route),
            (RollupGroup::Model, true) => ("model", "0", "model", RollupTable::Full),
            (RollupGroup::Provider, false) => ("provider", "0", "provider", RollupTable::Route),
            (RollupGroup::Provider, true) => ("provider", "0", "provider", RollupTable::Full),
            (RollupGroup::Account, false) => ("account", "0", "account", RollupTable::Route),
            (RollupGroup::Account, true) => return None,
            (RollupGroup::Day, _) => ("''", "(hour / 86400000)", "(hour / 86400000)", RollupTable::Key),
        })
    }
}

/// Filters of the request log; `before` is the keyset `(ts, id)` of the last row shown.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub key: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    /// ok, 4xx, 5xx or 499.
    pub status: Option<String>,
    pub client: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub request_id: Option<String>,
    pub before: Option<(i64, i64)>,
    pub limit: i64,
}

/// One usage row as the log and the detail page show it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct LogRow {
    pub id: i64,
    pub ts: i64,
    pub key_id: Option<String>,
    pub model: String,
    pub provider: Option<String>,
    pub upstream_model: Option<String>,
    pub protocol_in: String,
    pub protocol_out: Option<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    pub latency_ms: i64,
    pub ttft_ms: Option<i64>,
    pub status: i64,
    pub error_class: Option<String>,
    pub request_id: Option<String>,
    pub client: Option<String>,
    pub attempts: Option<String>,
    pub dropped: Option<String>,
    pub refusal: Option<String>,
    pub cache_verdict: Option<String>,
    pub cache_diagnosis: Option<String>,
    pub cache_write_1h_tokens: Option<i64>,
    /// `primary` / `overflow` on a route with overflow (`routing::side`).
    pub route_side: Option<String>,
}

const LOG_COLUMNS: &str = "id, ts, key_id, model, provider, upstream_model, protocol_in, protocol_out, input_tokens, \
    output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, latency_ms, ttft_ms, status, \
    error_class, request_id, client, attempts, dropped, refusal, cache_verdict, cache_diagnosis, cache_write_1h_tokens, route_side";

/// A dashboard sign-in.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// `admin` or `member`.
    pub role: String,
    /// The member's key id.
    pub key_id: Option<String>,
    pub expires_at: i64,
}

impl Store {
    /// Totals over `from <= hour < to`, optionally for one key.
    pub async fn rollup_totals(&self, from: i64, to: i64, key: Option<&str>) -> Result<Totals, StoreError> {
        self.ready().await?;
        let q = format!(
            "SELECT {} FROM usage_hourly_key WHERE hour >= $1 AND hour < $2 AND ($3 IS NULL OR key_id = $3)",
            totals_select()
        );
        let t = with_pool!(self, p => {
            let row = sqlx::query(&q).bind(from).bind(to).bind(key).fetch_one(p).await?;
            read_totals!(&row, 0)
        });
        Ok(t)
    }

    /// Totals per `step` ms (a multiple of an hour) over `from <= hour < to`, oldest first;
    /// steps without traffic are absent.
    pub async fn rollup_series(
        &self,
        from: i64,
        to: i64,
        step: i64,
        key: Option<&str>,
    ) -> Result<Vec<(i64, Totals)>, StoreError> {
        self.ready().await?;
        let step = step.max(HOUR_MS);
        let q = format!(
            "SELECT CAST((hour / $4) * $4 AS BIGINT) AS t, {} FROM usage_hourly_key \
             WHERE hour >= $1 AND hour < $2 AND ($3 IS NULL OR key_id = $3) GROUP BY (hour / $4) ORDER BY 1",
            totals_select()
        );
        let out = with_pool!(self, p => {
            let rows = sqlx::query(&q).bind(from).bind(to).bind(key).bind(step).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push((row.try_get::<i64, _>(0)?, read_totals!(row, 1)));
            }
            out
        });
        Ok(out)
    }

    /// Totals per group over `from <= hour < to`, ordered by group. A day group is
    /// `YYYY-MM-DD`; an unknown key or provider is `-` (as `/admin/usage` shows it).
    pub async fn rollup_groups(
        &self,
        by: RollupGroup,
        from: i64,
        to: i64,
        key: Option<&str>,
    ) -> Result<Vec<(String, Totals)>, StoreError> {
        self.ready().await?;
        let Some((text, num, group, table)) = by.exprs(key.is_some()) else {
            return Err(StoreError::Invalid("usage is grouped by account over all keys only".into()));
        };
        let by_key = if key.is_some() { " AND key_id = $3" } else { "" };
        let q = format!(
            "SELECT {text} AS g, CAST({num} AS BIGINT) AS d, {} FROM {} \
             WHERE hour >= $1 AND hour < $2{by_key} GROUP BY {group} ORDER BY {group}",
            totals_select(),
            table.name()
        );
        let out = with_pool!(self, p => {
            let mut query = sqlx::query(&q).bind(from).bind(to);
            if let Some(k) = key {
                query = query.bind(k);
            }
            let rows = query.fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let g: String = row.try_get(0)?;
                let d: i64 = row.try_get(1)?;
                let name = match by {
                    RollupGroup::Day => {
                        let (y, m, dd) = crate::limits::period::civil_from_days(d);
                        format!("{y:04}-{m:02}-{dd:02}")
                    }
                    _ if g.is_empty() => "-".to_string(),
                    _ => g,
                };
                out.push((name, read_totals!(row, 2)));
            }
            out
        });
        Ok(out)
    }

    /// One page of the request log, newest first.
    pub async fn usage_log(&self, f: &LogFilter) -> Result<Vec<LogRow>, StoreError> {
        self.ready().await?;
        let rows = with_pool!(self, p => {
            let mut q = QueryBuilder::new(format!("SELECT {LOG_COLUMNS} FROM usage WHERE 1 = 1"));
            for (col, v) in [("key_id", &f.key), ("model", &f.model), ("provider", &f.provider), ("client", &f.client), ("request_id", &f.request_id)] {
                if let Some(v) = v {
                    q.push(format!(" AND {col} = ")).push_bind(v.clone());
                }
            }
            match f.status.as_deref() {
                Some("ok") => { q.push(" AND status < 400"); }
                Some("4xx") => { q.push(" AND status >= 400 AND status < 500 AND status <> 499"); }
                Some("499") => { q.push(" AND status = 499"); }
                Some("5xx") => { q.push(" AND status >= 500"); }
                _ => {}
            }
            if let Some(v) = f.from {
                q.push(" AND ts >= ").push_bind(v);
            }
            if let Some(v) = f.to {
                q.push(" AND ts < ").push_bind(v);
            }
            if let Some((ts, id)) = f.before {
                q.push(" AND (ts < ").push_bind(ts).push(" OR (ts = ").push_bind(ts).push(" AND id < ").push_bind(id).push("))");
            }
            q.push(" ORDER BY ts DESC, id DESC LIMIT ").push_bind(f.limit.clamp(1, 500));
            q.build_query_as::<LogRow>().fetch_all(p).await?
        });
        Ok(rows)
    }

    /// One request by row id, optionally only if it belongs to `key`.
    pub async fn usage_row(&self, id: i64, key: Option<&str>) -> Result<Option<LogRow>, StoreError> {
        self.ready().await?;
        let q = format!("SELECT {LOG_COLUMNS} FROM usage WHERE id = $1 AND ($2 IS NULL OR key_id = $2)");
        let row = with_pool!(self, p => sqlx::query_as::<_, LogRow>(&q).bind(id).bind(key).fetch_optional(p).await?);
        Ok(row)
    }

    /// Delete up to `batch` raw usage rows older than `cutoff` (rollups are kept). Returns
    /// how many went; call again until it returns less than `batch`.
    pub async fn purge_usage(&self, cutoff: i64, batch: i64) -> Result<u64, StoreError> {
        self.ready().await?;
        let q = "DELETE FROM usage WHERE id IN (SELECT id FROM usage WHERE ts < $1 ORDER BY ts LIMIT $2)";
        let n = with_pool!(self, p => sqlx::query(q).bind(cutoff).bind(batch).execute(p).await?.rows_affected());
        Ok(n)
    }

    pub async fn create_session(&self, id_sha256: &str, s: &Session) -> Result<(), StoreError> {
        self.ready().await?;
        let now = super::now_ms();
        with_pool!(self, p => {
            sqlx::query("DELETE FROM ui_sessions WHERE expires_at < $1").bind(now).execute(p).await?;
            sqlx::query("INSERT INTO ui_sessions (id_sha256, role, key_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(id_sha256)
                .bind(&s.role)
                .bind(&s.key_id)
                .bind(now)
                .bind(s.expires_at)
                .execute(p)
                .await
                .map(|_| ())?
        });
        Ok(())
    }

    /// The session with this id hash, if it has not expired.
    pub async fn session(&self, id_sha256: &str, now: i64) -> Result<Option<Session>, StoreError> {
        self.ready().await?;
        let q = "SELECT role, key_id, expires_at FROM ui_sessions WHERE id_sha256 = $1 AND expires_at > $2";
        let row: Option<(String, Option<String>, i64)> =
            with_pool!(self, p => sqlx::query_as(q).bind(id_sha256).bind(now).fetch_optional(p).await?);
        Ok(row.map(|(role, key_id, expires_at)| Session { role, key_id, expires_at }))
    }

    pub async fn delete_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        self.ready().await?;
        with_pool!(self, p => sqlx::query("DELETE FROM ui_sessions WHERE id_sha256 = $1").bind(id_sha256).execute(p).await.map(|_| ())?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ts: i64, status: u16, latency: i64, cache: Option<i64>) -> UsageRecord {
        UsageRecord {
            ts,
            key_id: Some("k1".into()),
            model: "m".into(),
            provider: Some("p".into()),
            protocol_in: "openai_chat",
            input_tokens: Some(100),
            output_tokens: Some(10),
            cache_read_tokens: cache,
            cost_usd: Some(0.5),
            latency_ms: latency,
            ttft_ms: Some(latency / 2),
            status,
            ..UsageRecord::default()
        }
    }

    #[test]
    fn buckets_and_classes() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(50), 0);
        assert_eq!(bucket(51), 1);
        assert_eq!(bucket(1_000_000), BUCKETS - 1);
        assert_eq!(status_class(200), "ok");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(499), "499");
        assert_eq!(status_class(502), "5xx");
    }

    #[test]
    fn quantiles_from_buckets() {
        let mut h = [0; BUCKETS];
        assert_eq!(Totals::quantile(&h, 0.5), None);
        h[bucket(30)] = 90;
        h[bucket(3000)] = 10;
        assert_eq!(Totals::quantile(&h, 0.5), Some(50));
        assert_eq!(Totals::quantile(&h, 0.95), Some(3200));
    }

    async fn rollup_upserts_on(store: Store) {
        store.ready().await.expect("migrate");
        let base = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS;
        let batch = vec![rec(base + 1, 200, 30, Some(40)), rec(base + 2, 500, 3000, None)];
        store.insert_usage(&batch).await.expect("first batch");
        store.insert_usage(&[rec(base + 3, 200, 30, Some(20))]).await.expect("second batch, same hour");
        store.insert_usage(&[rec(base + HOUR_MS, 200, 30, None)]).await.expect("next hour");
        let t = store.rollup_totals(base, base + 2 * HOUR_MS, None).await.expect("totals");
        assert_eq!((t.requests, t.errors, t.input_tokens, t.output_tokens), (4, 1, 400, 40));
        assert_eq!((t.cache_read_tokens, t.cache_input_tokens), (60, 200));
        assert_eq!(t.cache_hit_rate(), Some(0.3));
        assert!((t.cost_usd - 2.0).abs() < 1e-9);
        assert_eq!(t.lat[bucket(30)], 3);
        let only_k2 = store.rollup_totals(base, base + 2 * HOUR_MS, Some("k2")).await.expect("k2");
        assert_eq!(only_k2.requests, 0);
        assert_eq!(only_k2.cache_hit_rate(), None);
        let series = store.rollup_series(base, base + 2 * HOUR_MS, HOUR_MS, None).await.expect("series");
        assert_eq!(
            series.iter().map(|(t, x)| (*t, x.requests)).collect::<Vec<_>>(),
            vec![(base, 3), (base + HOUR_MS, 1)]
        );
        let days = store.rollup_groups(RollupGroup::Day, 0, i64::MAX, None).await.expect("days");
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].0, "2023-11-14");
        let full = store.rollup_groups(RollupGroup::Provider, 0, i64::MAX, None).await.expect("providers");
        assert_eq!(full.iter().map(|(_, t)| t.requests).sum::<i64>(), 4, "both tables hold every request");
        let models = store.rollup_groups(RollupGroup::Model, 0, i64::MAX, None).await.expect("models");
        assert_eq!(models[0].0, "m");
        assert_eq!(models[0].1.requests, 4);

        // Pooled accounts: grouped from the per-route rollup; other keys' rows count too.
        let pooled = |key: &str, account: &str| UsageRecord {
            key_id: Some(key.into()),
            provider: Some(format!("codex:{account}")),
            account: Some(account.into()),
            ..rec(base + 5, 200, 30, None)
        };
        store.insert_usage(&[pooled("k2", "a1"), pooled("k3", "a1"), pooled("k2", "a2")]).await.expect("pooled");
        let accounts = store.rollup_groups(RollupGroup::Account, 0, i64::MAX, None).await.expect("accounts");
        let got: Vec<(&str, i64, i64)> =
            accounts.iter().map(|(g, t)| (g.as_str(), t.requests, t.input_tokens)).collect();
        assert_eq!(got, vec![("-", 4, 400), ("a1", 2, 200), ("a2", 1, 100)]);
        let providers = store.rollup_groups(RollupGroup::Provider, 0, i64::MAX, None).await.expect("providers");
        let got: Vec<(&str, i64)> = providers.iter().map(|(g, t)| (g.as_str(), t.requests)).collect();
        assert_eq!(got, vec![("codex:a1", 2), ("codex:a2", 1), ("p", 4)]);
        // One key's models come from the full table; its accounts are not kept.
        let k2 = store.rollup_groups(RollupGroup::Model, 0, i64::MAX, Some("k2")).await.expect("k2 models");
        assert_eq!(k2.iter().map(|(g, t)| (g.as_str(), t.requests)).collect::<Vec<_>>(), vec![("m", 2)]);
        let refused = store.rollup_groups(RollupGroup::Account, 0, i64::MAX, Some("k2")).await;
        assert!(matches!(refused, Err(StoreError::Invalid(_))), "{refused:?}");
        // Captured bodies ride in the same batch (text with every character but NUL).
        let body = crate::usage::capture::Capture {
            request: "{\"é\":\"ü\u{1F600}\"}".into(),
            response: "data: x\n\n".into(),
            request_truncated: true,
            response_truncated: false,
        };
        let with_body = UsageRecord {
            request_id: Some("rb".into()),
            capture: Some(Box::new(body.clone())),
            ..rec(base + 6, 200, 30, None)
        };
        store.insert_usage(&[with_body]).await.expect("with a body");
        assert_eq!(store.usage_body("rb").await.expect("body"), Some(body));
        assert_eq!(store.purge_bodies(base + 6, 10).await.expect("purge"), 0, "not older than the cutoff");
        assert_eq!(store.purge_bodies(base + 7, 10).await.expect("purge"), 1);
        assert_eq!(store.usage_body("rb").await.expect("body"), None);
        let raw = store.usage_report(super::super::GroupBy::Account, 0, i64::MAX, None).await.expect("raw");
        assert_eq!(
            raw.iter().map(|r| (r.group.as_str(), r.requests)).collect::<Vec<_>>(),
            vec![("-", 5), ("a1", 2), ("a2", 1)],
            "and the row with a body"
        );
    }

    async fn keyset_pages_on(store: Store) {
        store.ready().await.expect("migrate");
        let mut rows: Vec<UsageRecord> =
            (0..7).map(|i| rec(1_000 + i / 2, if i == 3 { 502 } else { 200 }, 10, None)).collect();
        rows[5].model = "other".into();
        store.insert_usage(&rows).await.expect("insert");
        let mut f = LogFilter { limit: 3, ..LogFilter::default() };
        let mut seen = Vec::new();
        loop {
            let page = store.usage_log(&f).await.expect("page");
            seen.extend(page.iter().map(|r| (r.ts, r.id)));
            match page.last() {
                Some(l) if page.len() == 3 => f.before = Some((l.ts, l.id)),
                _ => break,
            }
        }
        assert_eq!(seen.len(), 7, "every row once: {seen:?}");
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, sorted, "newest first, no duplicates");
        let five = store.usage_log(&LogFilter { status: Some("5xx".into()), limit: 50, ..LogFilter::default() }).await;
        assert_eq!(five.expect("5xx").len(), 1);
        let other =
            store.usage_log(&LogFilter { model: Some("other".into()), limit: 50, ..LogFilter::default() }).await;
        assert_eq!(other.expect("model").len(), 1);
        let none = store.usage_log(&LogFilter { key: Some("nobody".into()), limit: 50, ..LogFilter::default() }).await;
        assert!(none.expect("key").is_empty());
        assert_eq!(store.purge_usage(1_002, 2).await.expect("purge"), 2);
        assert_eq!(store.purge_usage(1_002, 2).await.expect("purge"), 2);
        assert_eq!(store.purge_usage(1_002, 2).await.expect("purge"), 0);
        assert_eq!(store.usage_count().await.expect("count"), 3);
        assert_eq!(store.rollup_totals(0, i64::MAX, None).await.expect("rollups kept").requests, 7);
    }

    async fn sessions_on(store: Store) {
        let s =
            Session { role: "member".into(), key_id: Some("abc".into()), expires_at: super::super::now_ms() + 60_000 };
        store.create_session("h1", &s).await.expect("create");
        assert_eq!(store.session("h1", super::super::now_ms()).await.expect("get"), Some(s.clone()));
        assert_eq!(store.session("h1", s.expires_at + 1).await.expect("expired"), None);
        store.delete_session("h1").await.expect("delete");
        assert_eq!(store.session("h1", super::super::now_ms()).await.expect("gone"), None);
    }

    fn sqlite() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(None, dir.path()).expect("open");
        (dir, store)
    }

    /// A fresh PostgreSQL database at `CROSSBAR_TEST_POSTGRES_URL` (or 127.0.0.1:5432/test), if reachable.
    async fn postgres() -> Option<Store> {
        use sqlx::Connection;
        let base = std::env::var("CROSSBAR_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let Ok(mut conn) = sqlx::PgConnection::connect(&base).await else {
            let required = std::env::var("CROSSBAR_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
            assert!(!required, "CROSSBAR_REQUIRE_SERVICES=1 but PostgreSQL ({base}) is down");
            eprintln!("SKIPPED: PostgreSQL ({base}) is down");
            return None;
        };
        let db = format!("cb_dash_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {db}")).execute(&mut conn).await.expect("create database");
        let (head, _) = base.rsplit_once('/').expect("url has a database");
        Some(Store::open(Some(&format!("{head}/{db}")), std::path::Path::new(".")).expect("open"))
    }

    /// Close a test store and drop its database.
    async fn drop_postgres(store: Store) {
        use sqlx::Connection;
        let db = store.label.rsplit('/').next().unwrap_or_default().to_string();
        store.close().await;
        let base = std::env::var("CROSSBAR_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        if let Ok(mut conn) = sqlx::PgConnection::connect(&base).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).execute(&mut conn).await;
        }
    }

    /// A store at schema 0001 with rows recorded then gets its rollups from migration 0002.
    async fn migration_backfills_on(store: Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = if store.is_postgres() { "postgres" } else { "sqlite" };
        let first = format!("{}/migrations/{backend}/0001_keys_usage.sql", env!("CARGO_MANIFEST_DIR"));
        std::fs::copy(first, dir.path().join("0001_keys_usage.sql")).expect("copy 0001");
        let old = sqlx::migrate::Migrator::new(dir.path()).await.expect("migrator");
        with_pool!(store, p => old.run(p).await.expect("0001"));
        let insert = "INSERT INTO usage (ts, key_id, model, provider, protocol_in, input_tokens, output_tokens, \
                      cache_read_tokens, cost_usd, latency_ms, ttft_ms, status) VALUES \
                      (3600001, 'k', 'm', 'p', 'openai_chat', 100, 10, 40, 0.5, 30, 20, 200), \
                      (3600002, NULL, 'm', NULL, 'openai_chat', 50, NULL, NULL, NULL, 3000, NULL, 502)";
        with_pool!(store, p => sqlx::query(insert).execute(p).await.map(|_| ()).expect("old rows"));
        store.ready().await.expect("0002 on top");
        let t = store.rollup_totals(0, i64::MAX, None).await.expect("totals");
        assert_eq!((t.requests, t.errors, t.input_tokens, t.output_tokens), (2, 1, 150, 10));
        assert_eq!((t.cache_read_tokens, t.cache_input_tokens, t.ttft_count), (40, 100, 1));
        assert!((t.cost_usd - 0.5).abs() < 1e-9);
        assert_eq!((t.lat[bucket(30)], t.lat[bucket(3000)], t.ttft[bucket(20)]), (1, 1, 1));
        let keys = store.rollup_groups(RollupGroup::Key, 0, i64::MAX, None).await.expect("by key");
        assert_eq!(keys.iter().map(|(g, t)| (g.as_str(), t.requests)).collect::<Vec<_>>(), vec![("-", 1), ("k", 1)]);
        // 0008 fills the per-route rollup from usage_hourly (the account unknown: '-').
        let models = store.rollup_groups(RollupGroup::Model, 0, i64::MAX, None).await.expect("by model");
        assert_eq!(models.len(), 1);
        assert_eq!((models[0].1.requests, models[0].1.input_tokens, models[0].1.lat[bucket(3000)]), (2, 150, 1));
        assert!((models[0].1.cost_usd - 0.5).abs() < 1e-9);
        let accounts = store.rollup_groups(RollupGroup::Account, 0, i64::MAX, None).await.expect("by account");
        assert_eq!(accounts.iter().map(|(g, t)| (g.as_str(), t.requests)).collect::<Vec<_>>(), vec![("-", 2)]);
        // New rows add to the backfilled hour.
        store.insert_usage(&[rec(3_600_003, 200, 30, None)]).await.expect("insert");
        assert_eq!(store.rollup_totals(0, i64::MAX, None).await.expect("totals").requests, 3);
    }

    #[tokio::test]
    async fn migration_backfills_rollups_sqlite() {
        let (_d, s) = sqlite();
        migration_backfills_on(s).await;
    }

    #[tokio::test]
    async fn rollups_upsert_sqlite() {
        let (_d, s) = sqlite();
        rollup_upserts_on(s).await;
    }

    #[tokio::test]
    async fn keyset_pagination_sqlite() {
        let (_d, s) = sqlite();
        keyset_pages_on(s).await;
    }

    #[tokio::test]
    async fn sessions_sqlite() {
        let (_d, s) = sqlite();
        sessions_on(s).await;
    }

    #[tokio::test]
    async fn dashboard_store_postgres() {
        let Some(s) = postgres().await else { return };
        rollup_upserts_on(s.clone()).await;
        drop_postgres(s).await;
        let Some(s) = postgres().await else { return };
        keyset_pages_on(s.clone()).await;
        sessions_on(s.clone()).await;
        drop_postgres(s).await;
        let Some(s) = postgres().await else { return };
        migration_backfills_on(s.clone()).await;
        drop_postgres(s).await;
    }
}
