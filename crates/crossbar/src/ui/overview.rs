//! Overview: totals over a range (requests, tokens, cost, error rate, prompt-cache hit rate,
//! p50/p95 TTFT and latency) and charts over time, all from the hourly rollups. The `live`
//! fragment is what the page's script re-fetches every few seconds.

use super::charts::{self, Series};
use super::{fmt, layout, Range, Viewer};
use crate::app::AppState;
use crate::store::{now_ms, Totals};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use std::collections::HashMap;
use std::sync::Arc;

const RANGES: [Range; 4] = [Range::Hour, Range::Day, Range::Week, Range::Month];

pub async fn page(State(state): State<Arc<AppState>>, v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    let range = Range::parse(q.get("range").map(String::as_str), Range::Day);
    let live = match live_markup(&state, &v, range).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let body = html! {
        nav.ranges aria-label="Range" {
            @for r in RANGES {
                @if r == range { a href=(format!("/ui/?range={}", r.code())) aria-current="true" { (r.label()) } }
                @else { a href=(format!("/ui/?range={}", r.code())) { (r.label()) } }
            }
            span.live-note { "live: refreshes every 5 s" }
        }
        div #live data-src=(format!("/ui/overview/live?range={}", range.code())) aria-live="polite" { (live) }
    };
    let title = if v.is_admin() { "Overview" } else { "Your key's overview" };
    layout::page(&v, "/ui/", title, body).into_response()
}

pub async fn live(State(state): State<Arc<AppState>>, v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    let range = Range::parse(q.get("range").map(String::as_str), Range::Day);
    match live_markup(&state, &v, range).await {
        Ok(m) => m.into_response(),
        Err(r) => r,
    }
}

async fn live_markup(state: &AppState, v: &Viewer, range: Range) -> Result<Markup, Response> {
    let now = now_ms();
    let (from, to) = range.bounds(now);
    let key = v.scope();
    let totals = state.store.rollup_totals(from, to, key).await.map_err(super::store_error)?;
    let series = state.store.rollup_series(from, to, range.step(), key).await.map_err(super::store_error)?;
    Ok(html! {
        (stats(&totals))
        @if totals.requests == 0 {
            (layout::empty(&format!("No requests in the last {}.", range.label()), html! {
                "Point a client at this gateway (the " a href="/ui/keys" { "Keys" } " page has ready-made set-up for Codex, Claude Code, OpenCode, Gemini CLI and the SDKs); requests show here within a second."
            }))
        } @else {
            (charts(&series, from, now, range.step()))
        }
    })
}

fn stat(label: &str, value: String, id: &str) -> Markup {
    html! { div.stat data-stat=(id) { span.label { (label) } span.value { (value) } } }
}

pub fn stats(t: &Totals) -> Markup {
    // Estimated from fixed histogram buckets: the bucket's upper bound, hence "≤".
    let q = |h: &[i64; crate::store::BUCKETS], p: f64| match Totals::quantile(h, p) {
        Some(v) => format!("≤ {}", fmt::ms(v)),
        None => "–".to_string(),
    };
    html! {
        div.stats {
            (stat("Requests", t.requests.to_string(), "requests"))
            (stat("Input tokens", fmt::tokens(t.input_tokens), "input"))
            (stat("Output tokens", fmt::tokens(t.output_tokens), "output"))
            (stat("Cache-read tokens", fmt::tokens(t.cache_read_tokens), "cache_read"))
            (stat("Cache-write tokens", fmt::tokens(t.cache_write_tokens), "cache_write"))
            (stat("Cost", fmt::usd(t.cost_usd), "cost"))
            (stat("Error rate", fmt::pct(t.error_rate()), "error_rate"))
            (stat("Prompt-cache hit rate", fmt::pct(t.cache_hit_rate()), "cache_hit"))
            (stat("TTFT p50", q(&t.ttft, 0.5), "ttft_p50"))
            (stat("TTFT p95", q(&t.ttft, 0.95), "ttft_p95"))
            (stat("Latency p50", q(&t.lat, 0.5), "latency_p50"))
            (stat("Latency p95", q(&t.lat, 0.95), "latency_p95"))
        }
    }
}

fn charts(series: &[(i64, Totals)], from: i64, now: i64, step: i64) -> Markup {
    let start = if from == 0 { series.first().map_or(now, |s| s.0) } else { from.div_euclid(step) * step };
    let steps = ((now - start) / step + 1).clamp(1, 400) as usize;
    let at: HashMap<i64, &Totals> = series.iter().map(|(t, x)| (*t, x)).collect();
    let labels: Vec<String> = (0..steps)
        .map(|i| {
            let t = start + i as i64 * step;
            if step >= 86_400_000 {
                fmt::date(t)
            } else {
                fmt::time(t).chars().skip(5).take(11).collect()
            }
        })
        .collect();
    let pick = |f: &dyn Fn(&Totals) -> Option<f64>, zero: bool| -> Vec<Option<f64>> {
        (0..steps)
            .map(|i| match at.get(&(start + i as i64 * step)) {
                Some(t) => f(t),
                None if zero => Some(0.0),
                None => None,
            })
            .collect()
    };
    let req = Series {
        title: "Requests",
        values: pick(&|t| Some(t.requests as f64), true),
        fmt: |v| format!("{v:.0}"),
        labels: labels.clone(),
    };
    let tok = Series {
        title: "Tokens (input + output)",
        values: pick(&|t| Some((t.input_tokens + t.output_tokens) as f64), true),
        fmt: |v| fmt::tokens(v as i64),
        labels: labels.clone(),
    };
    let cost =
        Series { title: "Cost", values: pick(&|t| Some(t.cost_usd), true), fmt: fmt::usd, labels: labels.clone() };
    let lat = Series {
        title: "Latency p95",
        values: pick(&|t| Totals::quantile(&t.lat, 0.95).map(|v| v as f64), false),
        fmt: |v| fmt::ms(v as i64),
        labels,
    };
    html! {
        div.charts { (charts::bars(&req)) (charts::bars(&tok)) (charts::line(&cost)) (charts::line(&lat)) }
    }
}
