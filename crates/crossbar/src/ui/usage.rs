//! Usage & cost: totals grouped by key, model, provider, pooled account or day over a range, from the hourly
//! rollups, and the same table as CSV (`/ui/usage.csv` with the same query: exactly the rows
//! shown, in `/admin/usage`'s columns).

use super::{fmt, layout, Range, Viewer};
use crate::app::AppState;
use crate::store::{now_ms, RollupGroup, Totals};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use maud::html;
use std::collections::HashMap;
use std::sync::Arc;

const RANGES: [Range; 5] = [Range::Hour, Range::Day, Range::Week, Range::Month, Range::All];
const GROUPS: [RollupGroup; 5] =
    [RollupGroup::Key, RollupGroup::Model, RollupGroup::Provider, RollupGroup::Account, RollupGroup::Day];

async fn rows(
    state: &AppState,
    q: &HashMap<String, String>,
) -> Result<(RollupGroup, Range, Vec<(String, Totals)>), Response> {
    let by = q.get("by").and_then(|b| RollupGroup::parse(b)).unwrap_or(RollupGroup::Key);
    let range = Range::parse(q.get("range").map(String::as_str), Range::All);
    let (from, to) = range.bounds(now_ms());
    let rows = state.store.rollup_groups(by, from, to, None).await.map_err(super::store_error)?;
    Ok((by, range, rows))
}

pub async fn page(State(state): State<Arc<AppState>>, v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Err(r) = super::admin_only(&v) {
        return r;
    }
    let (by, range, rows) = match rows(&state, &q).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let total_cost: f64 = rows.iter().map(|r| r.1.cost_usd).sum();
    let body = html! {
        form.filters method="get" action="/ui/usage" {
            label { "Group by" select name="by" { @for g in GROUPS { option value=(g.name()) selected[g == by] { (g.name()) } } } }
            label { "Time" select name="range" { @for r in RANGES { option value=(r.code()) selected[r == range] { (r.label()) } } } }
            button type="submit" { "Show" }
            a.button href=(format!("/ui/usage.csv?by={}&range={}", by.name(), range.code())) download { "Export CSV" }
        }
        @if by == RollupGroup::Provider {
            p.hint { "A pooled ChatGPT account is its own provider here, named " code { "provider:account" } "." }
        }
        @if by == RollupGroup::Account {
            p.hint { "Pooled ChatGPT accounts by id (as on the " a href="/ui/accounts" { "Accounts" } " page); "
                code { "-" } " is traffic no pool served." }
        }
        @if rows.is_empty() {
            (layout::empty(&format!("No usage in {}.", range.label()), html! { "Usage appears here as soon as requests go through the gateway." }))
        } @else {
            div.scroll { table.usage {
                thead { tr { th { (by.name()) } th.num { "Requests" } th.num { "Errors" } th.num { "Input" } th.num { "Output" }
                    th.num { "Cache read" } th.num { "Cache write" } th.num { "Cache hit rate" } th.num { "Reasoning" } th.num { "Cost" } } }
                tbody {
                    @for (g, t) in &rows {
                        tr { td { (g) } td.num { (t.requests) } td.num { (t.errors) } td.num { (fmt::tokens(t.input_tokens)) }
                            td.num { (fmt::tokens(t.output_tokens)) } td.num { (fmt::tokens(t.cache_read_tokens)) }
                            td.num { (fmt::tokens(t.cache_write_tokens)) } td.num.hit { (fmt::pct(t.cache_hit_rate())) }
                            td.num { (fmt::tokens(t.reasoning_tokens)) } td.num { (fmt::usd(t.cost_usd)) } }
                    }
                }
                tfoot { tr { th { "Total" } td.num { (rows.iter().map(|r| r.1.requests).sum::<i64>()) } td {} td {} td {} td {} td {} td {} td {} td.num { (fmt::usd(total_cost)) } } }
            } }
        }
    };
    layout::page(&v, "/ui/usage", "Usage & cost", body).into_response()
}

/// One CSV field (quoted when it holds a comma, quote or line break; a leading `=+-@` is
/// prefixed with `'` so spreadsheets do not run it as a formula).
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) && s != "-" { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub fn csv_text(rows: &[(String, Totals)]) -> String {
    let mut out = String::from(
        "group,requests,errors,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,cost_usd\n",
    );
    for (g, t) in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            csv_field(g),
            t.requests,
            t.errors,
            t.input_tokens,
            t.output_tokens,
            t.cache_read_tokens,
            t.cache_write_tokens,
            t.reasoning_tokens,
            t.cost_usd
        ));
    }
    out
}

pub async fn csv(State(state): State<Arc<AppState>>, v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Err(r) = super::admin_only(&v) {
        return r;
    }
    let (by, range, rows) = match rows(&state, &q).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut r = csv_text(&rows).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) =
        HeaderValue::from_str(&format!("attachment; filename=\"crossbar-usage-{}-{}.csv\"", by.name(), range.code()))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_field("gpt-5"), "gpt-5");
        assert_eq!(csv_field("-"), "-");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        let t = Totals { requests: 2, cost_usd: 0.5, ..Totals::default() };
        assert_eq!(csv_text(&[("k".into(), t)]).lines().nth(1), Some("k,2,0,0,0,0,0,0,0.5"));
    }
}
