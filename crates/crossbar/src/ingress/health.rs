//! `/healthz` (the process is alive), `/readyz` (config loaded, data store usable),
//! `/metrics` (Prometheus text).

use crate::app::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;
use std::sync::Arc;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let data_dir = &state.config.server.data_dir;
    let storage_ok = data_dir.join("gateway.key").is_file() || std::env::var("CROSSBAR_GATEWAY_KEY").is_ok();
    let body = json!({
        "status": if storage_ok { "ready" } else { "not ready" },
        "config": state.config.origin,
        "providers": state.routes().providers().iter().map(|p| json!({"name": p.name(), "kind": p.kind().name()})).collect::<Vec<_>>(),
        "storage": {"data_dir": data_dir.display().to_string(), "ok": storage_ok},
    });
    let status = if storage_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    // Read at scrape time: the dashboard's stream counter is the one source of the number.
    state.metrics.dashboard_live_streams.set(i64::try_from(state.ui.live.count()).unwrap_or(i64::MAX));
    ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render())
        .into_response()
}
