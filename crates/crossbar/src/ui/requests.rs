//! The request log: raw usage rows, newest first, filtered (key, model, provider, status
//! class, client, time range, request id) and paged by keyset (`before=<ts>.<id>`); and one
//! request's detail with its attempt chain, dropped parameters and refusal rule. A member sees
//! only their key's rows (the key filter is forced).

use super::{fmt, layout, Range, Viewer};
use crate::app::AppState;
use crate::store::{now_ms, LogFilter, LogRow};
use crate::usage::capture::Capture;
use crate::usage::client::CLIENTS;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use std::collections::HashMap;
use std::sync::Arc;

pub const PAGE: i64 = 50;
const STATUSES: [(&str, &str); 4] = [("ok", "ok (2xx)"), ("4xx", "4xx"), ("499", "499 client gone"), ("5xx", "5xx")];
const RANGES: [Range; 5] = [Range::Hour, Range::Day, Range::Week, Range::Month, Range::All];

fn param(q: &HashMap<String, String>, k: &str) -> Option<String> {
    q.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty() && v.len() <= 300)
}

/// The filter a query asks for, limited to the viewer's key for a member.
pub fn filter(q: &HashMap<String, String>, v: &Viewer, now: i64) -> LogFilter {
    let range = Range::parse(q.get("range").map(String::as_str), Range::All);
    let before = q.get("before").and_then(|b| {
        let (ts, id) = b.split_once('.')?;
        Some((ts.parse().ok()?, id.parse().ok()?))
    });
    LogFilter {
        key: match v.scope() {
            Some(k) => Some(k.to_string()),
            None => param(q, "key"),
        },
        model: param(q, "model"),
        provider: param(q, "provider"),
        status: param(q, "status").filter(|s| STATUSES.iter().any(|(c, _)| c == s)),
        client: param(q, "client").filter(|c| CLIENTS.contains(&c.as_str())),
        from: range.ms().map(|d| now - d),
        to: None,
        request_id: param(q, "id"),
        before,
        limit: PAGE,
    }
}

pub async fn list(State(state): State<Arc<AppState>>, v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    let f = filter(&q, &v, now_ms());
    let rows = match state.store.usage_log(&f).await {
        Ok(r) => r,
        Err(e) => return super::store_error(e),
    };
    let older = (rows.len() as i64 == PAGE).then(|| rows.last().map(|r| older_link(&q, r))).flatten();
    let filtered =
        ["key", "model", "provider", "status", "client", "range", "id"].iter().any(|k| param(&q, k).is_some());
    let body = html! {
        (filters(&q, &v))
        @if rows.is_empty() {
            @if filtered || f.before.is_some() {
                (layout::empty("No requests match these filters.", html! { a href="/ui/requests" { "Clear the filters" } " to see every request." }))
            } @else {
                (layout::empty("No requests yet.", html! { "Every request through the gateway shows here, newest first. The " a href="/ui/keys" { "Keys" } " page has set-up for the clients." }))
            }
        } @else {
            (table(&rows, v.is_admin()))
        }
        nav.pager {
            @if f.before.is_some() { a href=(newest_link(&q)) { "← Newest" } }
            @if let Some(o) = older { a href=(o) rel="next" { "Older →" } }
        }
    };
    layout::page(&v, "/ui/requests", "Requests", body).into_response()
}

fn query_string(q: &HashMap<String, String>, skip: &[&str], extra: Option<(&str, String)>) -> String {
    let mut pairs: Vec<(String, String)> = q
        .iter()
        .filter(|(k, v)| !skip.contains(&k.as_str()) && !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    pairs.sort();
    if let Some((k, v)) = extra {
        pairs.push((k.to_string(), v));
    }
    let enc: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v))).collect();
    enc.join("&")
}

fn older_link(q: &HashMap<String, String>, last: &LogRow) -> String {
    format!("/ui/requests?{}", query_string(q, &["before"], Some(("before", format!("{}.{}", last.ts, last.id)))))
}

fn newest_link(q: &HashMap<String, String>) -> String {
    format!("/ui/requests?{}", query_string(q, &["before"], None))
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn filters(q: &HashMap<String, String>, v: &Viewer) -> Markup {
    let val = |k: &str| q.get(k).cloned().unwrap_or_default();
    let range = Range::parse(q.get("range").map(String::as_str), Range::All);
    html! {
        form.filters method="get" action="/ui/requests" role="search" {
            @if v.is_admin() {
                label { "Key" input type="text" name="key" value=(val("key")) placeholder="key id"; }
            }
            label { "Model" input type="text" name="model" value=(val("model")) placeholder="as asked"; }
            label { "Provider" input type="text" name="provider" value=(val("provider")); }
            label { "Status" select name="status" {
                option value="" { "any" }
                @for (c, l) in STATUSES { option value=(c) selected[val("status") == c] { (l) } }
            } }
            label { "Client" select name="client" {
                option value="" { "any" }
                @for c in CLIENTS { option value=(c) selected[val("client") == c] { (c) } }
            } }
            label { "Time" select name="range" {
                @for r in RANGES { option value=(r.code()) selected[r == range] { (r.label()) } }
            } }
            label { "Request id" input type="search" name="id" value=(val("id")) placeholder="x-crossbar-request-id"; }
            button type="submit" { "Filter" }
        }
    }
}

fn status_class(s: i64) -> &'static str {
    match s {
        0..=399 => "ok",
        499 => "gone",
        400..=499 => "warn",
        _ => "bad",
    }
}

pub fn table(rows: &[LogRow], admin: bool) -> Markup {
    html! {
        div.scroll {
            table.log {
                thead { tr {
                    th { "Time (UTC)" } @if admin { th { "Key" } } th { "Client" } th { "Model → served by" } th { "Protocol" }
                    th.num { "Input" } th.num { "Cache read" } th.num { "Cache write" } th.num { "Reasoning" } th.num { "Output" }
                    th { "Cache" } th.num { "Cost" } th.num { "TTFT" } th.num { "Latency" } th { "Status" }
                } }
                tbody {
                    @for r in rows {
                        tr {
                            td { a href=(format!("/ui/requests/{}", r.id)) { (fmt::time(r.ts)) } }
                            @if admin { td { (r.key_id.as_deref().unwrap_or("–")) } }
                            td { (r.client.as_deref().unwrap_or("–")) }
                            td { (r.model) " → " (r.provider.as_deref().unwrap_or("–")) "/" (r.upstream_model.as_deref().unwrap_or("–")) }
                            td { (r.protocol_in) " → " (r.protocol_out.as_deref().unwrap_or("–")) }
                            td.num { (fmt::opt_tokens(r.input_tokens)) }
                            td.num { (fmt::opt_tokens(r.cache_read_tokens)) }
                            td.num { (fmt::opt_tokens(r.cache_write_tokens)) }
                            td.num { (fmt::opt_tokens(r.reasoning_tokens)) }
                            td.num { (fmt::opt_tokens(r.output_tokens)) }
                            td.verdict title=(verdict_words(r)) { (verdict_kind(r)) }
                            td.num { (fmt::opt_usd(r.cost_usd)) }
                            td.num { (fmt::opt_ms(r.ttft_ms)) }
                            td.num { (fmt::ms(r.latency_ms)) }
                            td { span class=(format!("status {}", status_class(r.status))) { (r.status) }
                                 @if let Some(e) = &r.error_class { " " span.err { (e) } } }
                        }
                    }
                }
            }
        }
    }
}

/// `hit`, `partial`, `miss`, `unknown`, or `–` for a request outside a conversation.
fn verdict_kind(r: &LogRow) -> &str {
    r.cache_verdict.as_deref().and_then(|v| v.split(':').next()).unwrap_or("–")
}

fn verdict_words(r: &LogRow) -> String {
    match r.cache_verdict.as_deref() {
        None => "none (not a turn of a conversation, or it failed)".to_string(),
        Some(v) => crate::usage::cache_verdict::describe(v).unwrap_or_else(|| v.to_string()),
    }
}

pub async fn detail(State(state): State<Arc<AppState>>, v: Viewer, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return layout::message(StatusCode::NOT_FOUND, "No such request", "That request is not in the log.");
    };
    let row = match state.store.usage_row(id, v.scope()).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return layout::message(
                StatusCode::NOT_FOUND,
                "No such request",
                "That request is not in the log (or not yours, or purged by the retention setting).",
            )
        }
        Err(e) => return super::store_error(e),
    };
    let bodies = match &row.request_id {
        Some(rid) => match state.store.usage_body(rid).await {
            Ok(b) => b,
            Err(e) => return super::store_error(e),
        },
        None => None,
    };
    let capturing = state.config.storage.capture_bodies;
    let body = detail_markup(&row, bodies_markup(bodies.as_ref(), capturing, v.is_admin()));
    layout::page(&v, "/ui/requests", "Request", body).into_response()
}

/// The captured bodies (escaped, each collapsed), or why there are none.
fn bodies_markup(c: Option<&Capture>, capturing: bool, admin: bool) -> Markup {
    let side = |title: &str, text: &str, truncated: bool, id: &str| {
        html! {
            details.body data-body=(id) {
                summary { (title) " (" (fmt::bytes(text.len() as i64)) @if truncated { ", cut at 64 KiB" } ")" }
                pre { (text) @if truncated { "\n… [truncated]" } }
            }
        }
    };
    html! {
        section.bodies {
            h2 { "Bodies" }
            @match c {
                Some(c) => {
                    p.muted { "Credentials are redacted before storing; headers are never stored." }
                    (side("Request body", &c.request, c.request_truncated, "request"))
                    (side("Response body", &c.response, c.response_truncated, "response"))
                }
                None if capturing => { p.muted { "No body was captured for this request (recorded before capture was on, or purged by " code { "capture_retention_days" } ")." } }
                None if admin => { p.muted { "Bodies are not stored. Set " code { "capture_bodies = true" } " under " code { "[storage]" } " to keep them (redacted, 64 KiB each, " code { "capture_retention_days" } ")." } }
                None => { p.muted { "Bodies are not stored on this gateway." } }
            }
        }
    }
}

/// A request's detail; `more` (its bodies) goes above the way back.
pub fn detail_markup(r: &LogRow, more: Markup) -> Markup {
    let attempts: Vec<serde_json::Value> =
        r.attempts.as_deref().and_then(|a| serde_json::from_str(a).ok()).unwrap_or_default();
    let refusal: Option<serde_json::Value> = r.refusal.as_deref().and_then(|a| serde_json::from_str(a).ok());
    let s = |v: &serde_json::Value, k: &str| match &v[k] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "–".to_string(),
        other => other.to_string(),
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "–".into());
    html! {
        dl.detail {
            dt { "Request id" } dd { code { (opt(&r.request_id)) } }
            dt { "Time (UTC)" } dd { (fmt::time(r.ts)) }
            dt { "Key" } dd { (opt(&r.key_id)) }
            dt { "Client" } dd { (opt(&r.client)) }
            dt { "Model asked" } dd { (r.model) }
            dt { "Served by" } dd { (opt(&r.provider)) " / " (opt(&r.upstream_model)) }
            @if let Some(side) = &r.route_side {
                dt { "Route side" } dd.side data-side=(side) { (side) @if let Some(why) = attempts.last().and_then(|a| a["side_why"].as_str()) { " — " (why) } }
            }
            dt { "Protocols" } dd { (r.protocol_in) " → " (opt(&r.protocol_out)) }
            dt { "Tokens" } dd {
                "input " (fmt::opt_tokens(r.input_tokens)) ", cache read " (fmt::opt_tokens(r.cache_read_tokens))
                ", cache write " (fmt::opt_tokens(r.cache_write_tokens))
                @if let Some(h) = r.cache_write_1h_tokens { " (1 h: " (fmt::opt_tokens(Some(h))) ")" }
                ", reasoning " (fmt::opt_tokens(r.reasoning_tokens))
                ", output " (fmt::opt_tokens(r.output_tokens))
            }
            dt { "Cache verdict" } dd.verdict data-verdict=(verdict_kind(r)) { (verdict_words(r)) }
            @if let Some(d) = &r.cache_diagnosis {
                dt { "Provider's cache diagnosis" }
                dd.diagnosis data-diagnosis=(d) { (crate::usage::cache_diagnostics::describe(d)) }
            }
            dt { "Cost" } dd { (fmt::opt_usd(r.cost_usd)) }
            dt { "TTFT" } dd { (fmt::opt_ms(r.ttft_ms)) }
            dt { "Latency" } dd { (fmt::ms(r.latency_ms)) }
            dt { "Status" } dd { span class=(format!("status {}", status_class(r.status))) { (r.status) } @if let Some(e) = &r.error_class { " " (e) } }
            dt { "Dropped parameters" } dd { (r.dropped.clone().unwrap_or_else(|| "none".into())) }
        }
        @if let Some(rf) = &refusal {
            section.refusal {
                h2 { "Refused by a limit" }
                p { "Rule: " strong data-rule=(s(rf, "rule")) { (s(rf, "rule")) } }
                p { (s(rf, "message")) }
                p { "Resets: " @match rf["reset_ms"].as_i64() {
                    Some(t) => { (fmt::time(t)) " UTC" }
                    None => { "not by itself (a total budget: raise it on the Keys page)" }
                } }
            }
        }
        section.attempts {
            h2 { "Attempt chain" }
            @if attempts.is_empty() {
                p.muted { "No upstream was tried (refused or answered by the gateway itself)." }
            } @else {
                div.scroll { table.log {
                    @let sides = attempts.iter().any(|a| a["side"].is_string());
                    thead { tr { th { "#" } @if sides { th { "Side" } } th { "Provider" } th { "Model" } th { "Status" } th.num { "Time" } th { "Outcome" } } }
                    tbody {
                        @for (i, a) in attempts.iter().enumerate() {
                            tr.attempt {
                                td { (i + 1) }
                                @if sides { td.side data-side=(s(a, "side")) title=(s(a, "side_why")) { (s(a, "side")) } }
                                td { (s(a, "provider")) } td { (s(a, "model")) } td { (s(a, "status")) }
                                td.num { (a["ms"].as_i64().map_or_else(|| "–".to_string(), fmt::ms)) } td { (s(a, "outcome")) }
                            }
                        }
                    }
                } }
            }
        }
        (more)
        p { a href="/ui/requests" { "← All requests" } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str) -> LogRow {
        LogRow {
            id: 7,
            ts: 0,
            key_id: Some("k".into()),
            model: model.into(),
            provider: Some("p".into()),
            upstream_model: Some("<img src=x onerror=alert(1)>".into()),
            protocol_in: "openai_chat".into(),
            protocol_out: None,
            input_tokens: Some(1),
            output_tokens: None,
            cache_read_tokens: None,
            cache_write_tokens: None,
            reasoning_tokens: None,
            cost_usd: None,
            latency_ms: 5,
            ttft_ms: None,
            status: 502,
            error_class: Some("</td><script>x</script>".into()),
            request_id: Some("r".into()),
            client: Some("other".into()),
            cache_verdict: Some("miss:prefix_changed:message:3".into()),
            cache_diagnosis: Some("messages_changed:<b>".into()),
            cache_write_1h_tokens: None,
            route_side: None,
            attempts: Some(
                r#"[{"provider":"a<b","model":"m","status":502,"ms":3,"outcome":"moved on: HTTP 502"}]"#.into(),
            ),
            dropped: Some("<temperature>".into()),
            refusal: Some(r#"{"rule":"rpm","message":"limit <1>","reset_ms":60000}"#.into()),
        }
    }

    #[test]
    fn every_value_is_escaped() {
        let r = row("<script>alert(1)</script>");
        for html in [table(std::slice::from_ref(&r), true).into_string(), detail_markup(&r, html! {}).into_string()] {
            assert!(!html.contains("<script>"), "{html}");
            assert!(!html.contains("<img"), "{html}");
            assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") || html.contains("&lt;/td&gt;"), "{html}");
        }
        let d = detail_markup(&r, html! {}).into_string();
        assert!(d.contains("a&lt;b") && d.contains("&lt;temperature&gt;") && d.contains("limit &lt;1&gt;"), "{d}");
        assert!(d.contains("data-rule=\"rpm\""), "{d}");
        assert!(d.contains("Provider's cache diagnosis") && d.contains("messages_changed:&lt;b&gt;"), "{d}");
    }

    #[test]
    fn members_are_held_to_their_key() {
        let member = Viewer::test_member("mine");
        let mut q = HashMap::new();
        q.insert("key".to_string(), "someone-else".to_string());
        q.insert("status".to_string(), "bogus".to_string());
        q.insert("before".to_string(), "100.5".to_string());
        let f = filter(&q, &member, 0);
        assert_eq!(f.key.as_deref(), Some("mine"));
        assert_eq!(f.status, None);
        assert_eq!(f.before, Some((100, 5)));
        let f = filter(&q, &Viewer::test_admin(), 0);
        assert_eq!(f.key.as_deref(), Some("someone-else"));
    }

    #[test]
    fn older_link_keeps_filters() {
        let mut q = HashMap::new();
        q.insert("model".to_string(), "a b&c".to_string());
        q.insert("before".to_string(), "1.1".to_string());
        let l = older_link(&q, &row("m"));
        assert_eq!(l, "/ui/requests?model=a%20b%26c&before=0.7");
    }
}
