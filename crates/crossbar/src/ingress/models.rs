//! Model lists: OpenAI's format at `/v1/models` (Anthropic's when the client sends
//! `anthropic-version`), Gemini's at `/v1beta/models`. Each entry carries the provider
//! (`owned_by`), limits and prices per million tokens where crossbar knows them.

use crate::app::AppState;
use crate::catalog::ModelInfo;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Json, Response};
use crossbar_protocol::canonical::{ErrorKind, Protocol};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// One listed model: its client-facing id, owner, and upstream name for the catalog lookup.
pub(super) struct Listed {
    pub id: String,
    pub owned_by: String,
    pub info: Option<ModelInfo>,
}

pub(super) async fn collect(state: &AppState) -> Vec<Listed> {
    let mut out = Vec::new();
    let routes = state.routes();
    let mut aliases: Vec<_> = routes.aliases().collect();
    aliases.sort_by(|a, b| a.0.cmp(b.0));
    for (name, targets) in aliases {
        let info = targets.first().and_then(|(_, m)| state.catalog.lookup(m));
        out.push(Listed { id: name.clone(), owned_by: "crossbar".to_string(), info });
    }
    let lists = futures_util::future::join_all(
        routes.providers().iter().map(|p| async move { (p.clone(), p.list_models().await) }),
    )
    .await;
    for (p, models) in lists {
        for m in models {
            out.push(Listed {
                id: format!("{}/{m}", p.name()),
                owned_by: p.name().to_string(),
                info: state.catalog.lookup(&m),
            });
        }
    }
    out
}

fn openai_entry(l: &Listed) -> Value {
    let mut v = json!({"id": l.id, "object": "model", "created": 0, "owned_by": l.owned_by});
    if let Some(i) = &l.info {
        v["context_window"] = json!(i.context_window);
        v["max_output_tokens"] = json!(i.max_output_tokens);
        v["pricing"] = json!({
            "input_per_million": i.input_price,
            "output_per_million": i.output_price,
            "cached_input_per_million": i.cached_input_price,
            "cache_write_per_million": i.cache_write_price,
        });
    }
    v
}

fn anthropic_entry(l: &Listed) -> Value {
    json!({"id": l.id, "type": "model", "display_name": l.id, "created_at": "1970-01-01T00:00:00Z"})
}

fn gemini_entry(l: &Listed) -> Value {
    let mut v = json!({
        "name": format!("models/{}", l.id),
        "displayName": l.id,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
    });
    if let Some(i) = &l.info {
        v["inputTokenLimit"] = json!(i.context_window);
        v["outputTokenLimit"] = json!(i.max_output_tokens);
    }
    v
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if query.contains_key("client_version") {
        // Codex asks `GET {base}/models?client_version=…` and reads only its own catalog format.
        return super::codex_models::catalog(State(state)).await;
    }
    let listed = collect(&state).await;
    if headers.contains_key("anthropic-version") {
        let data: Vec<Value> = listed.iter().map(anthropic_entry).collect();
        let first = data.first().and_then(|d| d.get("id").cloned());
        let last = data.last().and_then(|d| d.get("id").cloned());
        return Json(json!({"data": data, "has_more": false, "first_id": first, "last_id": last})).into_response();
    }
    Json(json!({"object": "list", "data": listed.iter().map(openai_entry).collect::<Vec<_>>()})).into_response()
}

pub async fn openai_one(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match collect(&state).await.iter().find(|l| l.id == id) {
        Some(l) => Json(openai_entry(l)).into_response(),
        None => super::reply::error_msg(Protocol::OpenaiChat, ErrorKind::NotFound, format!("unknown model {id:?}")),
    }
}

pub async fn gemini_list(State(state): State<Arc<AppState>>) -> Response {
    Json(json!({"models": collect(&state).await.iter().map(gemini_entry).collect::<Vec<_>>()})).into_response()
}

pub async fn gemini_one(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    let id = name.strip_prefix("models/").unwrap_or(&name);
    match collect(&state).await.iter().find(|l| l.id == id) {
        Some(l) => Json(gemini_entry(l)).into_response(),
        None => super::reply::error_msg(Protocol::Gemini, ErrorKind::NotFound, format!("unknown model {id:?}")),
    }
}
