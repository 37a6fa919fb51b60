//! `GET /admin/usage?group_by=key|model|provider|day&from=&to=&key=` — totals and cost per
//! group. `from`/`to` are `YYYY-MM-DD` (UTC midnight) or unix seconds; `to` is exclusive;
//! default: everything.

use super::{error, guard, store_error};
use crate::app::AppState;
use crate::limits::period::parse_date;
use crate::store::GroupBy;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

pub async fn report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = guard(&state, &headers) {
        return r;
    }
    let by = q.get("group_by").map_or("key", String::as_str);
    let Some(group_by) = GroupBy::parse(by) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "group_by must be key, model, provider, account or day",
        );
    };
    let date = |name: &str, default: i64| match q.get(name) {
        None => Ok(default),
        Some(v) => parse_date(v).ok_or_else(|| {
            error(StatusCode::BAD_REQUEST, "invalid_request", format!("{name} must be YYYY-MM-DD or unix seconds"))
        }),
    };
    let from = match date("from", 0) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let to = match date("to", i64::MAX) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let key = q.get("key").map(String::as_str);
    match state.store.usage_report(group_by, from, to, key).await {
        Ok(rows) => Json(json!({ "group_by": by, "from": from, "to": to, "rows": rows })).into_response(),
        Err(e) => store_error(e),
    }
}
