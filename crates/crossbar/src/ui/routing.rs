//! Routing: every route's deployments with their live state (the same view as
//! `/admin/deployments`), and the ChatGPT accounts of pools (each a pooled deployment) with
//! their state, headroom and last error. "Explain this route": which deployment a request for
//! a model would take now, and why (the same `Route::choose` the attempt loop calls); on a
//! route with overflow, also which side (primary / overflow) and why.

use super::{layout, Viewer};
use crate::app::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

fn text(v: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn until(d: &Value) -> String {
    match d["for_ms"].as_u64() {
        Some(ms) => format!("{} (for {})", text(&d["state"]), super::fmt::ms(ms as i64)),
        None => text(&d["state"]),
    }
}

fn headroom(v: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), |f| format!("{:.0} %", f * 100.0)),
        other => other.to_string(),
    }
}

fn deployments(ds: &[Value], account: bool) -> Markup {
    let sides = ds.iter().any(|d| d["side"].is_string());
    html! {
        div.scroll { table.routing {
            thead { tr {
                @if account { th { "Account" } th { "Route" } } @if sides { th { "Side" } } th { "Provider" } th { "Model" } th { "State" } th { "Serves model" }
                th.num { "In flight" } th.num { "TTFT" } th.num { "Headroom" } th.num { "Priority" } th.num { "Weight" } th { "Last error" }
            } }
            tbody {
                @for d in ds {
                    tr data-state=(text(&d["state"])) {
                        @if account { td { (text(&d["account"])) } td { (text(&d["route"])) } }
                        @if sides { td data-side=(text(&d["side"])) { (text(&d["side"])) } }
                        td { (text(&d["provider"])) } td { (text(&d["model"])) }
                        td { span class=(format!("state {}", text(&d["state"]))) { (until(d)) } }
                        td { (if d["serves_model"].as_bool().unwrap_or(true) { "yes" } else { "no (left out for now)" }) }
                        td.num { (text(&d["in_flight"])) }
                        td.num { (d["ttft_ms"].as_f64().map_or_else(|| "–".to_string(), |v| super::fmt::ms(v as i64))) }
                        td.num { (headroom(&d["headroom"])) }
                        td.num { (text(&d["priority"])) } td.num { (text(&d["weight"])) }
                        td { (text(&d["last_error"])) }
                    }
                }
            }
        } }
    }
}

/// Which deployment a request for `model` would take now, and why.
fn explain(state: &AppState, model: &str, tokens: u64) -> Markup {
    use crate::routing::{clock, health::Availability, strategy};
    let route = match state.routes().resolve(model) {
        Ok(r) => r,
        Err(e) => return html! { p.error role="status" { "No route: " (e.message) } },
    };
    let now = clock::now_ms();
    // A new conversation: its side is the one the route would choose now.
    let plan = route.plan(now, None);
    let mut rng = rand::thread_rng();
    let chosen = route
        .choose(now, tokens, |i| !plan.prefers(i), None, &mut rng)
        .or_else(|| route.choose(now, tokens, |i| !plan.allows(i), None, &mut rng));
    let fallback = match chosen {
        Some(_) => None,
        None => Some(strategy::soonest(&route.deployments, now, tokens, |i| !plan.allows(i))),
    };
    let side = route.has_overflow().then(|| match chosen.or(fallback.and_then(Result::ok)) {
        Some(i) => plan.explain(i),
        None => (plan.side, plan.open.unwrap_or(crate::routing::side::HAS_QUOTA)),
    });
    let name = |i: usize| {
        let d = &route.deployments[i];
        format!("{}/{}", d.target.provider.name(), d.target.model)
    };
    html! {
        div.explain role="status" {
            @match (chosen, &fallback) {
                (Some(i), _) => {
                    p { "A request for " strong { (model) } " would go to " strong data-chosen=(name(i)) { (name(i)) }
                        " now: strategy " (route.strategy.name()) ", among the usable deployments of the lowest priority tier." }
                }
                (None, Some(Ok(i))) => {
                    p { "No deployment is usable now: " strong data-chosen=(name(*i)) { (name(*i)) } " (it rested longest) would be probed." }
                }
                (None, _) => {
                    p { "Every deployment is parked or lacks the model: crossbar would answer 429 (or 404) itself." }
                }
            }
            @if let Some((s, why)) = side {
                p.side data-side=(s.name()) { "Side: " strong { (s.name()) } " — " (why) " (overflow on " (route.overflow_on.name()) ")." }
            }
            ul {
                @for (i, d) in route.deployments.iter().enumerate() {
                    @let why = if !d.state.serves(now) {
                        "left out: does not serve the model (for now)".to_string()
                    } else {
                        match d.state.health.availability(now) {
                            Availability::CoolingUntil(t) => format!("cooling for {}", super::fmt::ms(t.saturating_sub(now) as i64)),
                            Availability::ParkedUntil(t) => format!("parked (rate limited) for {}", super::fmt::ms(t.saturating_sub(now) as i64)),
                            _ if !d.usable(now, tokens) => "at its rpm/tpm/parallel cap".to_string(),
                            Availability::Probe => "usable (one probe request after a cooldown)".to_string(),
                            Availability::Ready => format!("usable: priority {}, weight {}, {} in flight", d.settings.priority, d.settings.weight, d.state.inflight()),
                        }
                    };
                    @let side = if route.has_overflow() { format!("[{}] ", route.side_of(i).name()) } else { String::new() };
                    li { (side) (name(i)) ": " (why) }
                }
            }
        }
    }
}

pub async fn page(State(state): State<Arc<AppState>>, v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Err(r) = super::admin_only(&v) {
        return r;
    }
    let asked = q.get("explain").map(|m| m.trim().to_string()).filter(|m| !m.is_empty() && m.len() <= 300);
    let tokens: u64 = q.get("tokens").and_then(|t| t.parse().ok()).unwrap_or(1000);
    let routes = crate::admin::deployments::routes_json(&state);
    let routes = routes.as_array().cloned().unwrap_or_default();
    let mut accounts: Vec<Value> = Vec::new();
    for r in &routes {
        for d in r["deployments"].as_array().into_iter().flatten() {
            if !d["account"].is_null() {
                let mut d = d.clone();
                d["route"] = r["name"].clone();
                accounts.push(d);
            }
        }
    }
    let body = html! {
        section.panel {
            h2 { "Explain this route" }
            form.filters method="get" action="/ui/routing" {
                label { "Model" input type="text" name="explain" value=(asked.clone().unwrap_or_default()) placeholder="as a client names it" required; }
                label { "Input tokens" input type="number" name="tokens" min="0" value=(tokens); }
                button type="submit" { "Explain" }
            }
            @if let Some(m) = &asked { (explain(&state, m, tokens)) }
        }
        @if routes.is_empty() {
            (layout::empty("No routes.", html! { "Add providers and models to the config; every model a client can ask for shows here with its deployments." }))
        }
        @for r in &routes {
            section.route {
                h2 { (text(&r["name"])) " " span.muted { (text(&r["strategy"])) @if r["sticky"].as_bool() == Some(true) { ", sticky" } } }
                @if r["overflow"].is_object() {
                    p.hint data-overflow=(text(&r["overflow"]["new_conversations"])) {
                        "Overflow (on " (text(&r["overflow"]["on"])) "): new conversations go to the "
                        strong { (text(&r["overflow"]["new_conversations"])) } " side — " (text(&r["overflow"]["why"])) "."
                    }
                }
                (deployments(r["deployments"].as_array().map_or(&[][..], Vec::as_slice), false))
            }
        }
        section.accounts {
            h2 { "ChatGPT accounts" }
            @if accounts.is_empty() {
                p.muted { "No pooled ChatGPT accounts (" code { "crossbar accounts login" } " adds one to a chatgpt provider)." }
            } @else {
                p.hint { "Each account is a pooled deployment: parked means its usage window is spent until the time shown." }
                (deployments(&accounts, true))
            }
        }
    };
    layout::page(&v, "/ui/routing", "Routing", body).into_response()
}
