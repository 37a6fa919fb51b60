//! `/admin/prices…`: the price table in effect (`GET /admin/prices`, each row with its source:
//! config, store or builtin), a price file's difference (`POST /admin/prices/preview`, the body
//! is the file), loading it (`POST /admin/prices/apply`: written to the store and reloaded here
//! at once; other instances within two seconds), re-pricing recorded usage
//! (`POST /admin/prices/reprice` with `{"from", "to", "apply"}`), and the re-pricings applied
//! (`GET /admin/prices/reprices`).

use super::{error, guard, store_error};
use crate::app::AppState;
use crate::catalog::update::{self, UpdateError};
use crate::limits::period::parse_date;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Price files are large (LiteLLM's is a few MB).
pub const BODY_LIMIT: usize = 32 << 20;

pub async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = guard(&state, &headers) {
        return r;
    }
    let rows: Vec<Value> = state
        .catalog
        .effective()
        .into_iter()
        .map(|(info, source)| {
            let mut v = serde_json::to_value(&info).unwrap_or(Value::Null);
            v["source"] = json!(source);
            v
        })
        .collect();
    Json(json!({ "prices": rows })).into_response()
}

async fn load(state: &AppState, headers: &HeaderMap, body: &Bytes, apply: bool) -> Response {
    if let Err(r) = guard(state, headers) {
        return r;
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "the price file is not UTF-8");
    };
    match update::update(&state.catalog, &state.store, text, apply).await {
        Ok(u) => {
            if apply {
                tracing::info!(format = u.format.name(), changed = u.changes.len(), "prices: loaded into the store");
            }
            Json(u).into_response()
        }
        Err(UpdateError::File(m)) => error(StatusCode::BAD_REQUEST, "invalid_request", m),
        Err(UpdateError::Store(e)) => store_error(e),
    }
}

pub async fn preview(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    load(&state, &headers, &body, false).await
}

pub async fn apply(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    load(&state, &headers, &body, true).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reprice {
    from: String,
    to: String,
    #[serde(default)]
    apply: bool,
}

pub async fn reprice(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = guard(&state, &headers) {
        return r;
    }
    let req: Reprice = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_request", format!("body: {e}")),
    };
    let (Some(from), Some(to)) = (parse_date(&req.from), parse_date(&req.to)) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "from and to must be YYYY-MM-DD or unix seconds");
    };
    if from >= to {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "from must be before to");
    }
    match update::reprice(&state.catalog, &state.store, from, to, req.apply).await {
        Ok(r) => {
            if req.apply {
                tracing::info!(
                    from,
                    to,
                    rows = r.changed,
                    old = r.old_total,
                    new = r.new_total,
                    "prices: usage re-priced"
                );
            }
            Json(r).into_response()
        }
        Err(e) => store_error(e),
    }
}

pub async fn reprices(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = guard(&state, &headers) {
        return r;
    }
    match state.store.reprice_audit().await {
        Ok(rows) => Json(json!({ "reprices": rows })).into_response(),
        Err(e) => store_error(e),
    }
}
