//! Loading a price file from the Models page: paste LiteLLM's, models.dev's or crossbar's
//! file, see each model whose prices would change (old → new), then apply exactly those rows
//! (the confirmation form carries them, not the whole file). Same operation as
//! `/admin/prices/preview` and `/apply`.

use super::{layout, Viewer};
use crate::app::AppState;
use crate::catalog::{import, update};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use std::collections::HashMap;
use std::sync::Arc;

/// The form under the models table.
pub fn form(v: &Viewer) -> Markup {
    html! {
        section.prices {
            h2 { "Update prices" }
            p { "Paste LiteLLM's " code { "model_prices_and_context_window.json" } ", models.dev's " code { "api.json" }
                " or a file in crossbar's " code { "prices.json" } " shape. You see what would change before anything is written; "
                code { "[[catalog]]" } " entries in the config still win." }
            form.grid method="post" action="/ui/models/prices" {
                (layout::csrf(v))
                label.wide { "Price file (JSON)" textarea name="file" rows="8" required {} }
                button type="submit" { "Preview changes" }
            }
        }
    }
}

fn price(p: Option<f64>) -> String {
    p.map_or_else(|| "–".to_string(), |v| format!("{v}"))
}

pub async fn post(
    State(state): State<Arc<AppState>>,
    v: Viewer,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = v.check_post(&headers, f.get("csrf").map(String::as_str)) {
        return r;
    }
    if let Err(r) = super::admin_only(&v) {
        return r;
    }
    let text = f.get("file").map_or("", String::as_str);
    let apply = f.get("apply").is_some_and(|a| a == "1");
    let u = match update::update(&state.catalog, &state.store, text, apply).await {
        Ok(u) => u,
        Err(update::UpdateError::File(m)) => return layout::message(StatusCode::BAD_REQUEST, "Not a price file", &m),
        Err(update::UpdateError::Store(e)) => return super::store_error(e),
    };
    if apply {
        tracing::info!(format = u.format.name(), changed = u.changes.len(), "prices: loaded from the dashboard");
        return Redirect::to("/ui/models").into_response();
    }
    let rows: Vec<_> = u.changes.iter().map(|c| c.row.clone()).collect();
    let body = html! {
        p { (u.rows) " priced rows read (" (u.format.name()) "); " (u.changes.len()) " model(s) would change, the rest are as in effect now." }
        @if u.changes.is_empty() {
            p { a href="/ui/models" { "Back to the models" } }
        } @else {
            div.scroll { table.models {
                thead { tr { th { "Model" } th { "Now from" } th { "Price" } th.num { "Now" } th.num { "New" } } }
                tbody {
                    @for c in &u.changes {
                        @for (i, f) in c.changes.iter().enumerate() {
                            tr {
                                td { @if i == 0 { (c.model) } }
                                td { @if i == 0 { (c.was.map_or("no price", |s| s.name())) } }
                                td { (f.field) } td.num { (price(f.old)) } td.num { (price(f.new)) }
                            }
                        }
                    }
                }
            } }
            form method="post" action="/ui/models/prices" {
                (layout::csrf(&v))
                input type="hidden" name="apply" value="1";
                input type="hidden" name="file" value=(import::to_crossbar(&rows));
                button type="submit" { "Apply these " (u.changes.len()) " change(s)" }
                " " a href="/ui/models" { "Cancel" }
            }
        }
    };
    layout::page(&v, "/ui/models", "Price changes", body).into_response()
}
