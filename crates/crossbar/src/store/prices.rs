//! Prices loaded into the store (`model_prices`, migration 0004) and re-pricing of recorded
//! usage (`usage_reprices` keeps one audit row per applied re-pricing).

use super::{now_ms, with_pool, Store, StoreError};
use crate::catalog::{LongContext, ModelInfo};
use serde::Serialize;
use sqlx::Row;

type PriceRow = (
    String,
    Option<i64>,
    Option<i64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<i64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    String,
    Option<f64>,
    Option<f64>,
);

fn u(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

fn i(v: Option<u64>) -> Option<i64> {
    v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// One recorded request as re-pricing sees it.
#[derive(Debug, Clone)]
pub struct PricedUsage {
    pub id: i64,
    pub ts: i64,
    pub key_id: String,
    pub model: String,
    pub provider: String,
    pub account: String,
    pub protocol_in: String,
    pub status: i64,
    pub upstream_model: Option<String>,
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
    pub cache_write_1h: Option<u64>,
    pub cost_usd: Option<f64>,
}

/// What a re-pricing found (and, applied, changed).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RepriceReport {
    pub from: i64,
    pub to: i64,
    /// Rows in the range.
    pub rows: u64,
    /// Rows whose cost changes.
    pub changed: u64,
    /// Rows left as they were because their model has no price now.
    pub unpriced: u64,
    pub old_total: f64,
    pub new_total: f64,
    pub applied: bool,
}

/// One applied re-pricing (the audit trail).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RepriceAudit {
    pub ts: i64,
    pub from: i64,
    pub to: i64,
    pub rows_changed: i64,
    pub old_total: f64,
    pub new_total: f64,
}

const PAGE: i64 = 5000;

impl Store {
    /// Every stored price row (with the import's source name).
    pub async fn load_prices(&self) -> Result<Vec<(ModelInfo, String)>, StoreError> {
        self.ready().await?;
        let rows: Vec<PriceRow> = with_pool!(self, p => sqlx::query_as(
            "SELECT model, context_window, max_output_tokens, input_price, output_price, cache_read_price, \
             cache_write_price, long_above_tokens, long_input_price, long_output_price, long_cache_read_price, \
             long_cache_write_price, source, cache_write_1h_price, long_cache_write_1h_price FROM model_prices ORDER BY model",
        )
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let long = u(r.7).map(|above_tokens| LongContext {
                    above_tokens,
                    input: r.8,
                    output: r.9,
                    cache_read: r.10,
                    cache_write: r.11,
                    cache_write_1h: r.14,
                });
                let info = ModelInfo {
                    model: r.0,
                    context_window: u(r.1),
                    max_output_tokens: u(r.2),
                    input_price: r.3,
                    output_price: r.4,
                    cached_input_price: r.5,
                    cache_write_price: r.6,
                    cache_write_1h_price: r.13,
                    long_context: long,
                };
                (info, r.12)
            })
            .collect())
    }

    /// A cheap fingerprint of `model_prices` (row count and newest change), polled by running
    /// gateways to reload only when an update was applied somewhere.
    pub async fn prices_version(&self) -> Result<(i64, i64), StoreError> {
        self.ready().await?;
        let v: (i64, Option<i64>) = with_pool!(self, p => sqlx::query_as(
            "SELECT COUNT(*), MAX(updated_at) FROM model_prices",
        )
        .fetch_one(p)
        .await)?;
        Ok((v.0, v.1.unwrap_or(0)))
    }

    /// Insert or replace price rows (one transaction).
    pub async fn upsert_prices(&self, rows: &[ModelInfo], source: &str) -> Result<(), StoreError> {
        self.ready().await?;
        let now = now_ms();
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            for r in rows {
                let l = r.long_context.as_ref();
                sqlx::query(
                    "INSERT INTO model_prices (model, context_window, max_output_tokens, input_price, output_price, \
                     cache_read_price, cache_write_price, long_above_tokens, long_input_price, long_output_price, \
                     long_cache_read_price, long_cache_write_price, source, updated_at, cache_write_1h_price, \
                     long_cache_write_1h_price) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
                     ON CONFLICT (model) DO UPDATE SET context_window = excluded.context_window, \
                     max_output_tokens = excluded.max_output_tokens, input_price = excluded.input_price, \
                     output_price = excluded.output_price, cache_read_price = excluded.cache_read_price, \
                     cache_write_price = excluded.cache_write_price, long_above_tokens = excluded.long_above_tokens, \
                     long_input_price = excluded.long_input_price, long_output_price = excluded.long_output_price, \
                     long_cache_read_price = excluded.long_cache_read_price, \
                     long_cache_write_price = excluded.long_cache_write_price, source = excluded.source, \
                     cache_write_1h_price = excluded.cache_write_1h_price, \
                     long_cache_write_1h_price = excluded.long_cache_write_1h_price, \
                     updated_at = excluded.updated_at",
                )
                .bind(&r.model)
                .bind(i(r.context_window))
                .bind(i(r.max_output_tokens))
                .bind(r.input_price)
                .bind(r.output_price)
                .bind(r.cached_input_price)
                .bind(r.cache_write_price)
                .bind(i(l.map(|l| l.above_tokens)))
                .bind(l.and_then(|l| l.input))
                .bind(l.and_then(|l| l.output))
                .bind(l.and_then(|l| l.cache_read))
                .bind(l.and_then(|l| l.cache_write))
                .bind(source)
                .bind(now)
                .bind(r.cache_write_1h_price)
                .bind(l.and_then(|l| l.cache_write_1h))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Usage rows in `[from, to)` after id `after`, by id (a page of re-pricing input).
    async fn usage_page(&self, from: i64, to: i64, after: i64) -> Result<Vec<PricedUsage>, StoreError> {
        with_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT id, ts, COALESCE(key_id, '') AS key_id, model, COALESCE(provider, '') AS provider, \
                 COALESCE(account, '') AS account, protocol_in, \
                 status, upstream_model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, cost_usd \
                 FROM usage WHERE ts >= $1 AND ts < $2 AND id > $3 ORDER BY id LIMIT $4",
            )
            .bind(from)
            .bind(to)
            .bind(after)
            .bind(PAGE)
            .fetch_all(p)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(PricedUsage {
                    id: r.try_get("id")?,
                    ts: r.try_get("ts")?,
                    key_id: r.try_get("key_id")?,
                    model: r.try_get("model")?,
                    provider: r.try_get("provider")?,
                    account: r.try_get("account")?,
                    protocol_in: r.try_get("protocol_in")?,
                    status: r.try_get("status")?,
                    upstream_model: r.try_get("upstream_model")?,
                    input: u(r.try_get("input_tokens")?),
                    output: u(r.try_get("output_tokens")?),
                    cache_read: u(r.try_get("cache_read_tokens")?),
                    cache_write: u(r.try_get("cache_write_tokens")?),
                    cache_write_1h: u(r.try_get("cache_write_1h_tokens")?),
                    cost_usd: r.try_get("cost_usd")?,
                });
            }
            Ok::<_, StoreError>(out)
        })
    }

    /// Recompute the cost of every usage row in `[from, to)` with `price` (`None`: the model
    /// has no price now, and the row keeps its cost). With `apply`, rows whose cost changes
    /// are updated together with the hourly rollups' cost sums (a transaction per page), and
    /// an audit row is written; without, nothing changes.
    pub async fn reprice(
        &self,
        from: i64,
        to: i64,
        apply: bool,
        price: impl Fn(&PricedUsage) -> Option<f64>,
    ) -> Result<RepriceReport, StoreError> {
        self.ready().await?;
        let mut report = RepriceReport { from, to, applied: apply, ..RepriceReport::default() };
        let mut after = 0i64;
        loop {
            let page = self.usage_page(from, to, after).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            let mut changes: Vec<(&PricedUsage, f64)> = Vec::new();
            for r in &page {
                report.rows += 1;
                let old = r.cost_usd.unwrap_or(0.0);
                report.old_total += old;
                match price(r) {
                    Some(new) => {
                        report.new_total += new;
                        if r.cost_usd.is_none() || (new - old).abs() > 1e-12 {
                            report.changed += 1;
                            changes.push((r, new));
                        }
                    }
                    None => {
                        report.new_total += old;
                        if r.upstream_model.is_some() && (r.input.is_some() || r.output.is_some()) {
                            report.unpriced += 1;
                        }
                    }
                }
            }
            if apply && !changes.is_empty() {
                self.apply_page(&changes).await?;
            }
            if page.len() < PAGE as usize {
                break;
            }
        }
        if apply {
            with_pool!(self, p => sqlx::query(
                "INSERT INTO usage_reprices (ts, from_ts, to_ts, rows_changed, old_total, new_total) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(now_ms())
            .bind(from)
            .bind(to)
            .bind(i64::try_from(report.changed).unwrap_or(i64::MAX))
            .bind(report.old_total)
            .bind(report.new_total)
            .execute(p)
            .await
            .map(|_| ()))?;
        }
        Ok(report)
    }

    async fn apply_page(&self, changes: &[(&PricedUsage, f64)]) -> Result<(), StoreError> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            for (r, new) in changes {
                let delta = new - r.cost_usd.unwrap_or(0.0);
                let hour = r.ts.div_euclid(super::dash::HOUR_MS) * super::dash::HOUR_MS;
                let class = super::dash::status_class(u16::try_from(r.status).unwrap_or(599));
                sqlx::query("UPDATE usage SET cost_usd = $1 WHERE id = $2")
                    .bind(new)
                    .bind(r.id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE usage_hourly SET cost_usd = cost_usd + $1 WHERE hour = $2 AND key_id = $3 AND model = $4 \
                     AND provider = $5 AND protocol_in = $6 AND status_class = $7",
                )
                .bind(delta)
                .bind(hour)
                .bind(&r.key_id)
                .bind(&r.model)
                .bind(&r.provider)
                .bind(&r.protocol_in)
                .bind(class)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE usage_hourly_key SET cost_usd = cost_usd + $1 WHERE hour = $2 AND key_id = $3")
                    .bind(delta)
                    .bind(hour)
                    .bind(&r.key_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE usage_hourly_route SET cost_usd = cost_usd + $1 WHERE hour = $2 AND model = $3 \
                     AND provider = $4 AND account = $5",
                )
                .bind(delta)
                .bind(hour)
                .bind(&r.model)
                .bind(&r.provider)
                .bind(&r.account)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The applied re-pricings, newest first.
    pub async fn reprice_audit(&self) -> Result<Vec<RepriceAudit>, StoreError> {
        self.ready().await?;
        let rows: Vec<(i64, i64, i64, i64, f64, f64)> = with_pool!(self, p => sqlx::query_as(
            "SELECT ts, from_ts, to_ts, rows_changed, old_total, new_total FROM usage_reprices ORDER BY id DESC",
        )
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|r| RepriceAudit { ts: r.0, from: r.1, to: r.2, rows_changed: r.3, old_total: r.4, new_total: r.5 })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RollupGroup, UsageRecord};

    fn sqlite() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(None, dir.path()).expect("open");
        (dir, store)
    }

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
        let db = format!("cb_prices_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {db}")).execute(&mut conn).await.expect("create database");
        let (head, _) = base.rsplit_once('/').expect("url has a database");
        Some(Store::open(Some(&format!("{head}/{db}")), std::path::Path::new(".")).expect("open"))
    }

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

    fn rec(ts: i64, key: Option<&str>, upstream: Option<&str>, input: i64, cost: Option<f64>) -> UsageRecord {
        UsageRecord {
            ts,
            key_id: key.map(str::to_string),
            model: "alias".into(),
            provider: Some("p".into()),
            upstream_model: upstream.map(str::to_string),
            protocol_in: "openai_chat",
            input_tokens: Some(input),
            output_tokens: Some(0),
            cost_usd: cost,
            status: 200,
            ..UsageRecord::default()
        }
    }

    async fn prices_round_trip_on(store: Store) {
        let row = ModelInfo {
            context_window: Some(1_000_000),
            input_price: Some(3.0),
            output_price: Some(15.0),
            cache_write_price: Some(3.75),
            cache_write_1h_price: Some(6.0),
            long_context: Some(LongContext {
                above_tokens: 200_000,
                input: Some(6.0),
                output: Some(22.5),
                cache_read: None,
                cache_write: Some(7.5),
                cache_write_1h: Some(12.0),
            }),
            ..ModelInfo::named("m1")
        };
        store.upsert_prices(std::slice::from_ref(&row), "litellm").await.expect("upsert");
        let changed = ModelInfo { input_price: Some(2.0), ..row.clone() };
        store.upsert_prices(&[changed.clone(), ModelInfo::named("m0")], "models.dev").await.expect("upsert");
        let loaded = store.load_prices().await.expect("load");
        assert_eq!(loaded, vec![(ModelInfo::named("m0"), "models.dev".into()), (changed, "models.dev".into())]);
    }

    /// Re-pricing: a dry run writes nothing; applied, the rows, both rollups and the audit
    /// agree; rows whose model has no price keep their cost.
    async fn reprice_on(store: Store) {
        let hour = 3_600_000;
        store
            .insert_usage(&[
                rec(hour + 1, Some("k1"), Some("priced"), 1_000_000, Some(15.0)),
                rec(hour + 2, Some("k2"), Some("priced"), 2_000_000, None),
                rec(3 * hour, Some("k1"), Some("priced"), 1_000_000, Some(15.0)),
                rec(3 * hour + 1, Some("k1"), Some("unknown"), 1_000_000, Some(4.0)),
                rec(3 * hour + 2, None, None, 0, None),
                rec(9 * hour, Some("k1"), Some("priced"), 1_000_000, Some(15.0)),
            ])
            .await
            .expect("insert");
        let price = |r: &PricedUsage| {
            (r.upstream_model.as_deref() == Some("priced")).then(|| r.input.unwrap_or(0) as f64 * 5.0 / 1e6)
        };
        let dry = store.reprice(0, 5 * hour, false, price).await.expect("dry run");
        let want = RepriceReport {
            from: 0,
            to: 5 * hour,
            rows: 5,
            changed: 3,
            unpriced: 1,
            old_total: 34.0,
            new_total: 5.0 + 10.0 + 5.0 + 4.0,
            applied: false,
        };
        assert_eq!(dry, want);
        let before = store.rollup_totals(0, i64::MAX, None).await.expect("totals").cost_usd;
        assert!((before - 49.0).abs() < 1e-9, "{before}");
        assert!(store.reprice_audit().await.expect("audit").is_empty());

        let done = store.reprice(0, 5 * hour, true, price).await.expect("apply");
        assert_eq!(done, RepriceReport { applied: true, ..want });
        let totals = store.rollup_totals(0, i64::MAX, None).await.expect("totals");
        assert!((totals.cost_usd - (24.0 + 15.0)).abs() < 1e-9, "{totals:?}");
        let by_key = store.rollup_groups(RollupGroup::Key, 0, i64::MAX, None).await.expect("groups");
        let cost = |k: &str| by_key.iter().find(|(g, _)| g == k).map(|(_, t)| t.cost_usd);
        assert_eq!((cost("k1"), cost("k2")), (Some(5.0 + 5.0 + 4.0 + 15.0), Some(10.0)));
        let by_model = store.rollup_groups(RollupGroup::Model, 0, i64::MAX, None).await.expect("groups");
        assert!((by_model[0].1.cost_usd - 39.0).abs() < 1e-9, "{by_model:?}");
        let audit = store.reprice_audit().await.expect("audit");
        assert_eq!(audit.len(), 1);
        assert_eq!((audit[0].from, audit[0].to, audit[0].rows_changed), (0, 5 * hour, 3));
        assert!((audit[0].old_total - 34.0).abs() < 1e-9 && (audit[0].new_total - 24.0).abs() < 1e-9);
        // Again: nothing left to change.
        assert_eq!(store.reprice(0, 5 * hour, true, price).await.expect("again").changed, 0);
    }

    #[tokio::test]
    async fn prices_and_reprice_sqlite() {
        let (_d, s) = sqlite();
        prices_round_trip_on(s.clone()).await;
        reprice_on(s).await;
    }

    #[tokio::test]
    async fn prices_and_reprice_postgres() {
        let Some(s) = postgres().await else { return };
        prices_round_trip_on(s.clone()).await;
        reprice_on(s.clone()).await;
        drop_postgres(s).await;
    }
}
