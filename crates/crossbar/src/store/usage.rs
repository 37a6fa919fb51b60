//! Usage rows: batched inserts, grouped reports, spend totals.

use super::{with_pool, Pool, Store, StoreError};
use serde::Serialize;
use sqlx::QueryBuilder;

/// One client request, as recorded. Token counts are `None` when the provider did not report them.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct UsageRecord {
    /// Request start, unix ms.
    pub ts: i64,
    pub key_id: Option<String>,
    /// The model as the client asked for it.
    pub model: String,
    pub provider: Option<String>,
    /// The pooled ChatGPT account that served it (its id; `None` when no pool did).
    pub account: Option<String>,
    pub upstream_model: Option<String>,
    pub protocol_in: &'static str,
    pub protocol_out: Option<&'static str>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    /// The part of `cache_write_tokens` written with a 1-hour TTL (Anthropic).
    pub cache_write_1h_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    pub latency_ms: i64,
    pub ttft_ms: Option<i64>,
    pub status: u16,
    pub error_class: Option<String>,
    /// The tokens are (partly) crossbar's estimate: the upstream reported none.
    pub tokens_estimated: bool,
    /// A UUID per request (the client sees it as `x-crossbar-request-id`).
    pub request_id: Option<String>,
    /// The client program, from its User-Agent (`ui::client::classify`).
    pub client: Option<&'static str>,
    /// JSON array: each deployment tried (provider, model, status, ms, why it moved on).
    pub attempts: Option<String>,
    /// Parameters translation dropped (as in `x-crossbar-dropped`).
    pub dropped: Option<String>,
    /// The rule that refused the request and when it resets (JSON object).
    pub refusal: Option<String>,
    /// The bodies, with `[storage] capture_bodies` (redacted by the writer before storing).
    #[serde(skip)]
    pub capture: Option<Box<crate::usage::capture::Capture>>,
    /// The prompt-cache verdict (`usage::cache_verdict::Verdict::code`).
    pub cache_verdict: Option<String>,
    /// Anthropic's cache diagnosis (`usage::cache_diagnostics`).
    pub cache_diagnosis: Option<String>,
    /// The side of an overflow route that served it (`primary` / `overflow`); `None` without overflow.
    pub route_side: Option<&'static str>,
}

impl UsageRecord {
    /// Set the token counts from a request's usage (unknown stays `None`).
    pub fn with_tokens(mut self, u: &crossbar_protocol::canonical::Usage) -> UsageRecord {
        let tok = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        self.input_tokens = tok(u.input);
        self.output_tokens = tok(u.output);
        self.cache_read_tokens = tok(u.cache_read);
        self.cache_write_tokens = tok(u.cache_write);
        self.cache_write_1h_tokens = tok(u.cache_write_1h);
        self.reasoning_tokens = tok(u.reasoning);
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Key,
    Model,
    Provider,
    Account,
    Day,
}

impl GroupBy {
    pub fn parse(s: &str) -> Option<GroupBy> {
        match s {
            "key" => Some(GroupBy::Key),
            "model" => Some(GroupBy::Model),
            "provider" => Some(GroupBy::Provider),
            "account" => Some(GroupBy::Account),
            "day" => Some(GroupBy::Day),
            _ => None,
        }
    }

    /// The SQL expression for the group (fixed text per variant and backend).
    fn expr(self, pool: &Pool) -> &'static str {
        match (self, pool) {
            (GroupBy::Key, _) => "COALESCE(key_id, '-')",
            (GroupBy::Model, _) => "model",
            (GroupBy::Provider, _) => "COALESCE(provider, '-')",
            (GroupBy::Account, _) => "COALESCE(account, '-')",
            (GroupBy::Day, Pool::Sqlite(_)) => "strftime('%Y-%m-%d', ts / 1000, 'unixepoch')",
            (GroupBy::Day, Pool::Postgres(_)) => "to_char(to_timestamp(ts / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct UsageRow {
    pub group: String,
    pub requests: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub reasoning_tokens: i64,
    /// Input tokens of the requests whose provider reported cache reads (the hit rate's base).
    pub cache_input_tokens: i64,
    /// `cache_read_tokens / cache_input_tokens`; `None` when no provider reported (not 0 %).
    #[sqlx(skip)]
    pub hit_rate: Option<f64>,
    pub cost_usd: f64,
    /// Anthropic's cache diagnoses (`usage::cache_diagnostics`) by reason type (`none`: no
    /// divergence), for the requests that asked for them.
    #[sqlx(skip)]
    pub cache_diagnoses: std::collections::BTreeMap<String, i64>,
}

/// Rows per INSERT statement (27 binds each: far below both backends' parameter limits).
const CHUNK: usize = 500;

impl Store {
    /// Insert records in multi-row statements inside one transaction.
    pub async fn insert_usage(&self, records: &[UsageRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        self.ready().await?;
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            for chunk in records.chunks(CHUNK) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO usage (ts, key_id, model, provider, upstream_model, protocol_in, protocol_out, input_tokens, \
                     output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, latency_ms, ttft_ms, status, error_class, \
                     request_id, client, attempts, dropped, refusal, tokens_estimated, account, cache_verdict, \
                     cache_diagnosis, cache_write_1h_tokens, route_side) ",
                );
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.ts)
                        .push_bind(r.key_id.clone())
                        .push_bind(r.model.clone())
                        .push_bind(r.provider.clone())
                        .push_bind(r.upstream_model.clone())
                        .push_bind(r.protocol_in)
                        .push_bind(r.protocol_out)
                        .push_bind(r.input_tokens)
                        .push_bind(r.output_tokens)
                        .push_bind(r.cache_read_tokens)
                        .push_bind(r.cache_write_tokens)
                        .push_bind(r.reasoning_tokens)
                        .push_bind(r.cost_usd)
                        .push_bind(r.latency_ms)
                        .push_bind(r.ttft_ms)
                        .push_bind(i64::from(r.status))
                        .push_bind(r.error_class.clone())
                        .push_bind(r.request_id.clone())
                        .push_bind(r.client)
                        .push_bind(r.attempts.clone())
                        .push_bind(r.dropped.clone())
                        .push_bind(r.refusal.clone())
                        .push_bind(i64::from(r.tokens_estimated))
                        .push_bind(r.account.clone())
                        .push_bind(r.cache_verdict.clone())
                        .push_bind(r.cache_diagnosis.clone())

                        .push_bind(r.cache_write_1h_tokens)
                        .push_bind(r.route_side);
                });
                q.build().execute(&mut *tx).await?;
            }
            // Captured bodies (`[storage] capture_bodies`), keyed by request id.
            let bodies: Vec<(&str, i64, &crate::usage::capture::Capture)> = records
                .iter()
                .filter_map(|r| Some((r.request_id.as_deref()?, r.ts, r.capture.as_deref()?)))
                .collect();
            for chunk in bodies.chunks(CHUNK) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO usage_bodies (request_id, ts, request, response, request_truncated, response_truncated) ",
                );
                q.push_values(chunk, |mut b, (id, ts, c)| {
                    b.push_bind(id.to_string())
                        .push_bind(*ts)
                        .push_bind(c.request.clone())
                        .push_bind(c.response.clone())
                        .push_bind(i64::from(c.request_truncated))
                        .push_bind(i64::from(c.response_truncated));
                });
                q.push(" ON CONFLICT (request_id) DO NOTHING");
                q.build().execute(&mut *tx).await?;
            }
            // The dashboard's hourly rollups, in the same transaction (see dash.rs).
            use super::dash::RollupTable;
            let full = super::dash::rollup(records);
            let per_key = super::dash::by_key(&full);
            let per_route = super::dash::by_route(records);
            for (table, rows) in [(RollupTable::Full, &full), (RollupTable::Key, &per_key), (RollupTable::Route, &per_route)] {
                for chunk in rows.chunks(super::dash::ROLLUP_CHUNK) {
                    let mut q = QueryBuilder::new(super::dash::rollup_insert(table));
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.hour);
                        match table {
                            RollupTable::Full => {
                                b.push_bind(r.key_id.clone())
                                    .push_bind(r.model.clone())
                                    .push_bind(r.provider.clone())
                                    .push_bind(r.protocol_in.clone())
                                    .push_bind(r.status_class);
                            }
                            RollupTable::Key => {
                                b.push_bind(r.key_id.clone());
                            }
                            RollupTable::Route => {
                                b.push_bind(r.model.clone()).push_bind(r.provider.clone()).push_bind(r.account.clone());
                            }
                        }
                        for v in r.sums {
                            b.push_bind(v);
                        }
                        b.push_bind(r.cost_usd);
                        for v in r.lat.iter().chain(r.ttft.iter()) {
                            b.push_bind(*v);
                        }
                    });
                    q.push(super::dash::rollup_conflict(table));
                    q.build().execute(&mut *tx).await?;
                }
            }
            tx.commit().await?
        });
        Ok(())
    }

    /// Totals per group for `from <= ts < to` (unix ms), optionally for one key.
    pub async fn usage_report(
        &self,
        by: GroupBy,
        from: i64,
        to: i64,
        key: Option<&str>,
    ) -> Result<Vec<UsageRow>, StoreError> {
        self.ready().await?;
        let g = by.expr(&self.pool);
        let sum = |c: &str| format!("CAST(COALESCE(SUM({c}), 0) AS BIGINT) AS {c}");
        let q = format!(
            "SELECT {g} AS grp_value, CAST(COUNT(*) AS BIGINT) AS requests, \
             CAST(COALESCE(SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), 0) AS BIGINT) AS errors, \
             {}, {}, {}, {}, {}, \
             CAST(COALESCE(SUM(CASE WHEN cache_read_tokens IS NULL THEN 0 ELSE input_tokens END), 0) AS BIGINT) AS cache_input_tokens, \
             CAST(COALESCE(SUM(cost_usd), 0) AS DOUBLE PRECISION) AS cost_usd \
             FROM usage WHERE ts >= $1 AND ts < $2 AND ($3 IS NULL OR key_id = $3) GROUP BY {g} ORDER BY {g}",
            sum("input_tokens"),
            sum("output_tokens"),
            sum("cache_read_tokens"),
            sum("cache_write_tokens"),
            sum("reasoning_tokens"),
        );
        let q = q.replace("grp_value", "\"group\"");
        let mut rows: Vec<UsageRow> =
            with_pool!(self, p => sqlx::query_as(&q).bind(from).bind(to).bind(key).fetch_all(p).await?);
        for r in &mut rows {
            r.hit_rate = (r.cache_input_tokens > 0).then(|| r.cache_read_tokens as f64 / r.cache_input_tokens as f64);
        }
        // The provider's reasons, by type (the stored code without its token count).
        let kind = ["model_changed", "system_changed", "tools_changed", "messages_changed"]
            .iter()
            .map(|t| format!("WHEN cache_diagnosis LIKE '{t}%' THEN '{t}' "))
            .collect::<String>();
        let q = format!(
            "SELECT {g}, CASE {kind}ELSE cache_diagnosis END, CAST(COUNT(*) AS BIGINT) FROM usage \
             WHERE cache_diagnosis IS NOT NULL AND ts >= $1 AND ts < $2 AND ($3 IS NULL OR key_id = $3) GROUP BY 1, 2"
        );
        let diagnoses: Vec<(String, String, i64)> =
            with_pool!(self, p => sqlx::query_as(&q).bind(from).bind(to).bind(key).fetch_all(p).await?);
        for (group, kind, n) in diagnoses {
            if let Some(r) = rows.iter_mut().find(|r| r.group == group) {
                r.cache_diagnoses.insert(kind, n);
            }
        }
        Ok(rows)
    }

    /// Dollars a key has spent since `since` (unix ms).
    pub async fn spend(&self, key_id: &str, since: i64) -> Result<f64, StoreError> {
        self.ready().await?;
        let q = "SELECT CAST(COALESCE(SUM(cost_usd), 0) AS DOUBLE PRECISION) FROM usage WHERE key_id = $1 AND ts >= $2";
        let (v,): (f64,) = with_pool!(self, p => sqlx::query_as(q).bind(key_id).bind(since).fetch_one(p).await?);
        Ok(v)
    }

    /// How many usage rows there are (tests, `crossbar usage` footer).
    pub async fn usage_count(&self) -> Result<i64, StoreError> {
        self.ready().await?;
        let (v,): (i64,) =
            with_pool!(self, p => sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT) FROM usage").fetch_one(p).await?);
        Ok(v)
    }
}

/// One stored usage row, as read back (newest first from `recent_usage`).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct UsageEntry {
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
    pub cost_usd: Option<f64>,
    pub latency_ms: i64,
    pub ttft_ms: Option<i64>,
    pub status: i64,
    pub error_class: Option<String>,
    pub tokens_estimated: i64,
    pub cache_verdict: Option<String>,
    pub cache_diagnosis: Option<String>,
}

impl Store {
    /// The newest `limit` usage rows.
    pub async fn recent_usage(&self, limit: i64) -> Result<Vec<UsageEntry>, StoreError> {
        self.ready().await?;
        let q = "SELECT ts, key_id, model, provider, upstream_model, protocol_in, protocol_out, input_tokens, output_tokens, \
                 cache_read_tokens, cost_usd, latency_ms, ttft_ms, status, error_class, tokens_estimated, cache_verdict, cache_diagnosis FROM usage \
                 ORDER BY id DESC LIMIT $1";
        let rows: Vec<UsageEntry> = with_pool!(self, p => sqlx::query_as(q).bind(limit).fetch_all(p).await?);
        Ok(rows)
    }
}
