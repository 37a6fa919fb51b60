//! `GET /admin/deployments` — the live routing state: every route (aliases, then the
//! `provider/model` names used so far) with each deployment's availability (ready, probe,
//! cooling or parked, and for how long), requests in flight, TTFT EWMA, reported quota
//! headroom, whether it serves the model, and its last error. For a ChatGPT pool each account
//! is a deployment, so this is the live view of the pool (`crossbar accounts list` is the
//! stored one). A route with `overflow` says which side (`primary`/`overflow`) each deployment
//! is on and where new conversations go now, and why. Read-only; no secrets.

use super::guard;
use crate::app::AppState;
use crate::routing::clock;
use crate::routing::deployment::Deployment;
use crate::routing::health::Availability;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

pub async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = guard(&state, &headers) {
        return r;
    }
    Json(json!({ "routes": routes_json(&state) })).into_response()
}

/// Every route with its deployments' live state (also the dashboard's routing page).
pub fn routes_json(state: &AppState) -> Value {
    let now = clock::now_ms();
    let mut routes = state.routes().all_routes();
    routes.sort_by(|a, b| a.name.cmp(&b.name));
    let routes: Vec<Value> = routes
        .iter()
        .map(|r| {
            let deployments: Vec<Value> = r
                .deployments
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let mut v = deployment(d, now);
                    if r.has_overflow() {
                        v["side"] = r.side_of(i).name().into();
                    }
                    v
                })
                .collect();
            let mut v =
                json!({"name": r.name, "strategy": r.strategy.name(), "sticky": r.sticky, "deployments": deployments});
            if r.has_overflow() {
                v["overflow"] = overflow(r, now);
            }
            v
        })
        .collect();
    Value::Array(routes)
}

/// A route with overflow: which side new conversations go to now, and why.
fn overflow(r: &crate::routing::Route, now: u64) -> Value {
    let plan = r.plan(now, None);
    let why = match plan.open {
        Some(why) => why,
        None => crate::routing::side::HAS_QUOTA,
    };
    json!({"on": r.overflow_on.name(), "new_conversations": plan.side.name(), "why": why})
}

fn deployment(d: &Deployment, now: u64) -> Value {
    let (state, for_ms) = match d.state.health.availability(now) {
        Availability::Ready => ("ready", None),
        Availability::Probe => ("probe", None),
        Availability::CoolingUntil(t) => ("cooling", Some(t.saturating_sub(now))),
        Availability::ParkedUntil(t) => ("parked", Some(t.saturating_sub(now))),
    };
    let ttft = d.state.ttft_ms();
    json!({
        "provider": d.target.provider.name(),
        "model": d.target.model,
        "account": d.target.provider.account().map(|a| a.id.clone()),
        "state": state,
        "for_ms": for_ms,
        "serves_model": d.state.serves(now),
        "in_flight": d.state.inflight(),
        "ttft_ms": (ttft > 0.0).then_some(ttft),
        "headroom": d.state.headroom(now),
        "priority": d.settings.priority,
        "weight": d.settings.weight,
        "last_error": d.state.last_error.lock().ok().and_then(|e| e.clone()),
    })
}
