//! Overview: totals over a range (requests, tokens, cost, error rate, prompt-cache hit rate,
//! p50/p95 TTFT and latency) and charts over time, all from the hourly rollups. The `live`
//! fragment is what `live.rs` pushes while the page is open (and what the script fetches to
//! tell a signed-out session from a broken stream).

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

/// The time span a query asks for: a preset range, or `from`/`to` dates (UTC, both inclusive).
pub(super) struct Span {
    from: i64,
    to: i64,
    step: i64,
    label: String,
    /// The query that asks for it again (the live fragment's).
    query: String,
    preset: Option<Range>,
}

pub(super) fn span(q: &HashMap<String, String>, now: i64) -> Span {
    let date = |k: &str| q.get(k).filter(|v| !v.trim().is_empty()).and_then(|v| crate::limits::period::parse_date(v));
    if let Some(from) = date("from") {
        let to = date("to").map_or(i64::MAX, |t| t + 86_400_000).max(from + 3_600_000);
        let days = (to.min(now) - from) / 86_400_000;
        let step = match days {
            ..=2 => 3_600_000,
            3..=14 => 6 * 3_600_000,
            _ => 86_400_000,
        };
        let end = if to == i64::MAX { "now".to_string() } else { fmt::date(to - 86_400_000) };
        let query = format!("from={}&to={}", fmt::date(from), if to == i64::MAX { String::new() } else { end.clone() });
        return Span { from, to, step, label: format!("{} to {end}", fmt::date(from)), query, preset: None };
    }
    let range = Range::parse(q.get("range").map(String::as_str), Range::Day);
    let (from, to) = range.bounds(now);
    Span {
        from,
        to,
        step: range.step(),
        label: format!("the last {}", range.label()),
        query: format!("range={}", range.code()),
        preset: Some(range),
    }
}

pub async fn page(State(state): State<Arc<AppState>>, v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    let s = span(&q, now_ms());
    let live = match live_markup(&state, &v, &s).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let val = |k: &str| q.get(k).cloned().unwrap_or_default();
    let body = html! {
        nav.ranges aria-label="Range" {
            @for r in RANGES {
                @if Some(r) == s.preset { a href=(format!("/ui/?range={}", r.code())) aria-current="true" { (r.label()) } }
                @else { a href=(format!("/ui/?range={}", r.code())) { (r.label()) } }
            }
            form.custom method="get" action="/ui/" {
                label { "From " input type="date" name="from" value=(val("from")) required; }
                label { "to " input type="date" name="to" value=(val("to")); }
                button type="submit" { "Show" }
            }
            span.live-note { "live: updates as requests are recorded" }
        }
        @if s.preset.is_none() { p.hint { "Showing " (s.label) " (UTC days)." } }
        div #live data-src=(format!("/ui/overview/live?{}", s.query))
            data-stream=(format!("/ui/overview/stream?{}", s.query)) aria-live="polite" { (live) }
    };
    let title = if v.is_admin() { "Overview" } else { "Your key's overview" };
    layout::page(&v, "/ui/", title, body).into_response()
}

pub async fn live(State(state): State<Arc<AppState>>, v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    let s = span(&q, now_ms());
    match live_markup(&state, &v, &s).await {
        Ok(m) => m.into_response(),
        Err(r) => r,
    }
}

pub(super) async fn live_markup(state: &AppState, v: &Viewer, s: &Span) -> Result<Markup, Response> {
    let now = now_ms();
    let key = v.scope();
    let totals = state.store.rollup_totals(s.from, s.to, key).await.map_err(super::store_error)?;
    let series = state.store.rollup_series(s.from, s.to, s.step, key).await.map_err(super::store_error)?;
    Ok(html! {
        (stats(&totals))
        @if totals.requests == 0 {
            (layout::empty(&format!("No requests in {}.", s.label), html! {
                "Point a client at this gateway (the " a href="/ui/keys" { "Keys" } " page has ready-made set-up for Codex, Claude Code, OpenCode, Gemini CLI and the SDKs); requests show here within a second."
            }))
        } @else {
            (charts(&series, s.from, s.to.min(now), s.step))
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

fn charts(series: &[(i64, Totals)], from: i64, end: i64, step: i64) -> Markup {
    let start = if from == 0 { series.first().map_or(end, |s| s.0) } else { from.div_euclid(step) * step };
    let steps = ((end - start) / step + 1).clamp(1, 400) as usize;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_from_presets_and_dates() {
        let now = crate::limits::period::parse_date("2026-03-10").expect("date") + 5 * 3_600_000;
        let q = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let s = span(&q(&[("range", "7d")]), now);
        assert_eq!((s.step, s.query.as_str(), s.to), (6 * 3_600_000, "range=7d", i64::MAX));
        let s = span(&q(&[("from", "2026-03-01"), ("to", "2026-03-02")]), now);
        assert_eq!(s.from, crate::limits::period::parse_date("2026-03-01").expect("d"));
        assert_eq!(s.to, crate::limits::period::parse_date("2026-03-03").expect("d"), "the end date is inclusive");
        assert_eq!((s.step, s.query.as_str()), (3_600_000, "from=2026-03-01&to=2026-03-02"));
        let s = span(&q(&[("from", "2026-01-01")]), now);
        assert_eq!((s.step, s.to), (86_400_000, i64::MAX));
        let s = span(&q(&[("from", "garbage")]), now);
        assert_eq!(s.preset, Some(Range::Day), "a bad date falls back to the default range");
    }
}
