//! `/admin/keys`: list, create (the plaintext key is in the creation response only), show,
//! update (JSON merge: absent = keep, `null` = clear), revoke.

use super::{error, guard, store_error};
use crate::app::AppState;
use crate::store::{KeyLimits, KeyPatch, NewKey, Period};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub max_parallel: Option<u32>,
    pub budget_usd: Option<f64>,
    #[serde(default)]
    pub budget_period: Period,
    pub models: Option<Vec<String>>,
    /// Unix milliseconds.
    pub expires_at: Option<i64>,
}

impl CreateKey {
    /// A new key (with its generated plaintext) for these settings.
    pub fn into_new(self) -> (String, NewKey) {
        let g = crate::auth::key::generate();
        let new = NewKey {
            id: g.id,
            name: self.name,
            secret_sha256: g.secret_sha256,
            limits: KeyLimits {
                rpm: self.rpm,
                tpm: self.tpm,
                max_parallel: self.max_parallel,
                budget_usd: self.budget_usd,
                budget_period: self.budget_period,
                models: self.models,
            },
            expires_at: self.expires_at,
        };
        (g.plaintext, new)
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "invalid_request", format!("invalid JSON body: {e}")))
}

/// Ids are 12 hex digits; anything else cannot name a key.
fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64
}

fn not_found(id: &str) -> Response {
    let shown: String = id.chars().take(64).collect();
    error(StatusCode::NOT_FOUND, "not_found", format!("no key with id {shown:?}"))
}

pub async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = guard(&state, &headers) {
        return r;
    }
    match state.store.list_keys().await {
        Ok(keys) => Json(json!({ "keys": keys })).into_response(),
        Err(e) => store_error(e),
    }
}

pub async fn create(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = guard(&state, &headers) {
        return r;
    }
    let req: CreateKey = match parse(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (plaintext, new) = req.into_new();
    match state.store.create_key(&new).await {
        Ok(record) => (StatusCode::CREATED, Json(json!({ "key": plaintext, "record": record }))).into_response(),
        Err(e) => store_error(e),
    }
}

pub async fn show(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = guard(&state, &headers) {
        return r;
    }
    if !plausible_id(&id) {
        return not_found(&id);
    }
    match state.store.get_key(&id).await {
        Ok(Some(k)) => Json(k).into_response(),
        Ok(None) => not_found(&id),
        Err(e) => store_error(e),
    }
}

pub async fn update(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = guard(&state, &headers) {
        return r;
    }
    let patch: KeyPatch = match parse(&body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !plausible_id(&id) {
        return not_found(&id);
    }
    match state.store.update_key(&id, patch).await {
        Ok(Some(k)) => {
            if let Some(a) = &state.auth {
                a.forget(&id);
            }
            Json(k).into_response()
        }
        Ok(None) => not_found(&id),
        Err(e) => store_error(e),
    }
}

pub async fn revoke(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = guard(&state, &headers) {
        return r;
    }
    if !plausible_id(&id) {
        return not_found(&id);
    }
    match state.store.revoke_key(&id).await {
        Ok(Some(k)) => {
            if let Some(a) = &state.auth {
                a.forget(&id);
            }
            Json(k).into_response()
        }
        Ok(None) => not_found(&id),
        Err(e) => store_error(e),
    }
}
