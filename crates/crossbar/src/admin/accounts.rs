//! `/admin/accounts`: the ChatGPT accounts (never a token), disable, enable, remove, and a
//! device-code login an admin starts here and checks on until the user has entered the code
//! (`accounts/device.rs`: the login is a sealed ticket, so any instance can carry it on).
//! Every change reaches the other instances through the store (`accounts/watch.rs`) and this
//! one at once.

use super::{error, guard};
use crate::accounts::action::Action;
use crate::accounts::device::{self, Progress};
use crate::accounts::token::Status;
use crate::app::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::Arc;

fn unavailable(e: anyhow::Error) -> Response {
    tracing::error!(error = %e, "admin: the account store failed");
    error(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "the account store is unavailable")
}

/// One account as the API shows it: state and usage windows, no tokens.
pub fn view(s: &Status, pooled: bool) -> serde_json::Value {
    json!({
        "id": s.id,
        "email": s.email,
        "disabled": s.disabled,
        "pooled": pooled,
        "expires_at": s.expires_at,
        "last_refresh": s.last_refresh,
        "last_error": s.last_error,
        "windows": s.windows.iter().map(|w| json!({
            "name": w.name, "used_percent": w.used_percent,
            "window_minutes": w.window_minutes, "resets_at": w.resets_at,
        })).collect::<Vec<_>>(),
        "windows_read_at": s.windows_read_at,
    })
}

pub async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, Response> {
    guard(&state, &headers)?;
    let stored = state.accounts.all().await.map_err(unavailable)?;
    let routes = state.routes();
    let pooled: Vec<Status> =
        routes.providers().iter().flat_map(|p| p.pool.iter().filter_map(|m| m.account().map(|h| h.status()))).collect();
    let data: Vec<_> = stored
        .iter()
        .map(|a| match pooled.iter().find(|s| s.id == a.id) {
            Some(live) => view(live, true),
            None => view(&Status::of(a), false),
        })
        .collect();
    Ok(Json(json!({"data": data})).into_response())
}

/// Apply a change and rebuild this instance's pools at once (the others follow the store).
async fn changed(state: &AppState, done: anyhow::Result<bool>, id: &str) -> Result<Response, Response> {
    if !done.map_err(unavailable)? {
        return Err(error(StatusCode::NOT_FOUND, "not_found", format!("no account {id:?}")));
    }
    if let Err(e) = state.reload_accounts().await {
        tracing::warn!(error = %e, "admin: the pools could not be rebuilt; the watcher tries again");
    }
    let a = state.accounts.get(id).await.map_err(unavailable)?;
    Ok(Json(json!({"id": id, "removed": a.is_none(), "disabled": a.is_some_and(|a| a.disabled)})).into_response())
}

/// `POST /admin/accounts/{id}/{action}`: disable, enable or remove one account.
pub async fn act(
    State(state): State<Arc<AppState>>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    guard(&state, &headers)?;
    let Some(action) = Action::parse(&action) else {
        return Err(error(StatusCode::NOT_FOUND, "not_found", "an account can be disabled, enabled or removed"));
    };
    let done = action.apply(&state.accounts, &id).await;
    changed(&state, done, &id).await
}

/// `DELETE /admin/accounts/{id}`: remove one account.
pub async fn remove(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    guard(&state, &headers)?;
    let done = Action::Remove.apply(&state.accounts, &id).await;
    changed(&state, done, &id).await
}

/// `POST /admin/accounts/login`: ask the issuer for a device code.
pub async fn login_start(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, Response> {
    guard(&state, &headers)?;
    let started = start_login(&state).await?;
    Ok(Json(json!(started)).into_response())
}

/// Start a device-code login with the config's `chatgpt` provider's issuer.
pub async fn start_login(state: &AppState) -> Result<device::Started, Response> {
    let Some(opts) = device::options(&state.config) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "no provider of kind \"chatgpt\" is configured: accounts would serve nothing",
        ));
    };
    device::start(&state.accounts, &opts)
        .await
        .map_err(|e| error(StatusCode::BAD_GATEWAY, "login_failed", format!("{e:#}")))
}

/// `POST /admin/accounts/login/check` `{"ticket"}`: pending, or done with the account.
pub async fn login_check(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    guard(&state, &headers)?;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Check {
        ticket: String,
    }
    let check: Check = serde_json::from_slice(&body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "invalid_request", format!("invalid JSON body: {e}")))?;
    match check_login(&state, &check.ticket).await? {
        Progress::Pending { user_code, verification_url } => {
            Ok(Json(json!({"status": "pending", "user_code": user_code, "verification_url": verification_url}))
                .into_response())
        }
        Progress::Done(a) => {
            Ok(Json(json!({"status": "done", "account": {"id": a.id, "email": a.email}})).into_response())
        }
    }
}

/// Poll the issuer once for a ticket; when signed in, the account is stored and pooled here.
pub async fn check_login(state: &AppState, ticket: &str) -> Result<Progress, Response> {
    let progress = device::check(&state.accounts, ticket)
        .await
        .map_err(|e| error(StatusCode::BAD_REQUEST, "login_failed", format!("{e:#}")))?;
    if matches!(progress, Progress::Done(_)) {
        if let Err(e) = state.reload_accounts().await {
            tracing::warn!(error = %e, "admin: the pools could not be rebuilt; the watcher tries again");
        }
    }
    Ok(progress)
}
