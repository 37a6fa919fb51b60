//! Models & prices: every model clients can ask for (aliases and the `provider/model` names in
//! use), what serves it, its context window and prices from the catalog (config, store or
//! built-in table, as the source column says), and which lack a price (a budget cannot count
//! their spend).

use super::{fmt, layout, Viewer};
use crate::app::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;
use std::sync::Arc;

fn price(p: Option<f64>) -> String {
    p.map_or_else(|| "–".to_string(), |v| format!("${v}"))
}

pub async fn page(State(state): State<Arc<AppState>>, v: Viewer) -> Response {
    if let Err(r) = super::admin_only(&v) {
        return r;
    }
    let mut routes = state.routes().all_routes();
    routes.sort_by(|a, b| a.name.cmp(&b.name));
    let mut rows = Vec::new();
    for r in &routes {
        let mut seen = Vec::new();
        for d in &r.deployments {
            let key = (d.target.provider.name().to_string(), d.target.model.clone());
            if seen.contains(&key) {
                continue;
            }
            seen.push(key.clone());
            let found = state.catalog.lookup_with_source(&key.1);
            let source = found.as_ref().map(|(_, s)| s.name());
            rows.push((r.name.clone(), key.0, key.1.clone(), found.map(|(i, _)| i), source));
        }
    }
    let unpriced = rows.iter().filter(|r| !r.3.as_ref().is_some_and(|i| i.is_priced())).count();
    let body = html! {
        @if unpriced > 0 {
            p.warning role="note" { (unpriced) " served model(s) have no price: their requests are recorded with an unknown cost, so " strong { "budgets cannot count these" } ". Load prices with " code { "crossbar prices update" } " or add a " code { "[[catalog]]" } " entry to fix it." }
        }
        @if rows.is_empty() {
            (layout::empty("No models served.", html! { "Configure providers and models; they show here with their prices." }))
        } @else {
            div.scroll { table.models {
                thead { tr { th { "Model asked" } th { "Provider" } th { "Upstream model" } th.num { "Context window" } th.num { "Max output" }
                    th.num { "Input $/M" } th.num { "Cached input $/M" } th.num { "Cache write $/M" } th.num { "Output $/M" } th { "Long context" } th { "Source" } th { "Budgets" } } }
                tbody {
                    @for (name, provider, model, info, source) in &rows {
                        @let priced = info.as_ref().is_some_and(|i| i.is_priced());
                        tr {
                            td { (name) } td { (provider) } td { (model) }
                            td.num { (info.as_ref().and_then(|i| i.context_window).map_or_else(|| "–".to_string(), |v| fmt::tokens(v as i64))) }
                            td.num { (info.as_ref().and_then(|i| i.max_output_tokens).map_or_else(|| "–".to_string(), |v| fmt::tokens(v as i64))) }
                            td.num { (price(info.as_ref().and_then(|i| i.input_price))) }
                            td.num { (price(info.as_ref().and_then(|i| i.cached_input_price))) }
                            td.num { (price(info.as_ref().and_then(|i| i.cache_write_price))) }
                            td.num { (price(info.as_ref().and_then(|i| i.output_price))) }
                            td { (info.as_ref().and_then(|i| i.long_context.as_ref()).map_or_else(|| "–".to_string(), |l| format!("above {}: {} / {}", fmt::tokens(l.above_tokens as i64), price(l.input), price(l.output)))) }
                            td { (source.unwrap_or("–")) }
                            td { @if priced { "counted" } @else { span.flag { "no price: budgets cannot count these" } } }
                        }
                    }
                }
            } }
        }
    };
    let body = html! { (body) (super::prices::form(&v)) };
    layout::page(&v, "/ui/models", "Models & prices", body).into_response()
}
