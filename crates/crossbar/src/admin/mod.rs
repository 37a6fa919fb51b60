//! The admin HTTP API (JSON): `/admin/keys…`, `/admin/usage`, `/admin/deployments`, `/admin/prices…`
//! and `/admin/accounts…`. Guarded by the admin key
//! (`[auth] admin_key_env`, default `CROSSBAR_ADMIN_KEY`) sent as `Authorization: Bearer` or
//! `x-api-key`, compared in constant time; a client key is never accepted here. Without an
//! admin key configured the API answers 403 to everyone.
//!
//! Every error is `{"error": {"type", "message"}}` with a 4xx/5xx status; input is parsed
//! with serde (wrong types → 400) and validated by `store::keys::validate`; SQL never sees
//! input except as bound parameters.

// Handlers return `Result<_, Response>`: the error path *is* the ready JSON response.
#![allow(clippy::result_large_err)]

pub(crate) mod accounts;
pub mod cli;
pub mod deployments;
pub(crate) mod keys;
pub mod prices;
pub mod prices_cli;
mod usage;

use crate::app::AppState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/keys", get(keys::list).post(keys::create))
        .route("/admin/keys/{id}", get(keys::show).patch(keys::update).delete(keys::revoke))
        .route("/admin/keys/{id}/revoke", axum::routing::post(keys::revoke))
        .route("/admin/usage", get(usage::report))
        .route("/admin/deployments", get(deployments::list))
        .route("/admin/accounts", get(accounts::list))
        .route("/admin/accounts/login", post(accounts::login_start))
        .route("/admin/accounts/login/check", post(accounts::login_check))
        .route("/admin/accounts/{id}", axum::routing::delete(accounts::remove))
        .route("/admin/accounts/{id}/{action}", post(accounts::act))
        .route("/admin/prices", get(prices::list))
        .route("/admin/prices/reprices", get(prices::reprices))
        .merge(
            Router::new()
                .route("/admin/prices/preview", post(prices::preview))
                .route("/admin/prices/apply", post(prices::apply))
                .route("/admin/prices/reprice", post(prices::reprice))
                .layer(axum::extract::DefaultBodyLimit::max(prices::BODY_LIMIT)),
        )
}

pub fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": {"type": kind, "message": message.into()}}))).into_response()
}

/// `Ok` when the request carries the admin key.
fn guard(state: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    let Some(admin) = &state.admin_key else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "the admin API is disabled: set the admin key variable (CROSSBAR_ADMIN_KEY by default)",
        ));
    };
    let presented = crate::auth::presented(headers, None).unwrap_or("");
    if presented.is_empty() {
        return Err(error(StatusCode::UNAUTHORIZED, "authentication_error", "missing admin key"));
    }
    let ok: bool = presented.as_bytes().ct_eq(admin.expose().as_bytes()).into();
    if !ok {
        return Err(error(StatusCode::UNAUTHORIZED, "authentication_error", "invalid admin key"));
    }
    Ok(())
}

fn store_error(e: crate::store::StoreError) -> Response {
    match e {
        crate::store::StoreError::Invalid(m) => error(StatusCode::BAD_REQUEST, "invalid_request", m),
        e => {
            tracing::error!(error = %e, "admin: store error");
            error(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "the database is unavailable")
        }
    }
}
