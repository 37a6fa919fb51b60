//! Accounts: every ChatGPT account of the `chatgpt` pools — active or disabled, token expiry,
//! last error; each usage window's used percent, length and reset, when it was read and a
//! runway forecast (`accounts/runway.rs`); and each of its deployments' routing state (ready,
//! probe, cooling, parked and until when, with the reason). Live accounts are read from their
//! handles in the routing table, disabled ones (out of the pools) from the store. Each account
//! has disable/enable and remove buttons, and the page an "add account" sign-in
//! (`account_actions.rs`). Never shows a token.

use super::{fmt, layout, Viewer};
use crate::accounts::runway::{Runway, Track};
use crate::accounts::token::Status;
use crate::app::AppState;
use crate::routing::clock;
use crate::routing::health::Availability;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use std::sync::Arc;

/// One deployment of an account: route, `provider/model`, state, ms left in it, reason.
struct Dep {
    route: String,
    target: String,
    state: &'static str,
    for_ms: Option<u64>,
    reason: Option<String>,
}

fn window_label(w: &crate::accounts::Window) -> String {
    match (w.name.as_str(), w.window_minutes) {
        (_, Some(m)) if m > 0 => fmt::span(m * 60),
        ("primary", _) => "5 h".to_string(),
        ("secondary", _) => "weekly".to_string(),
        _ => "–".to_string(),
    }
}

fn runway(t: Option<&Track>, now_ms: u64) -> Markup {
    let now = now_ms / 1000;
    match t.map(Track::runway) {
        None | Some(Runway::NotEnoughData) => html! { span.muted { "not enough data yet" } },
        Some(Runway::Exhausted) => html! { span.err { "used up" } },
        Some(Runway::LastsUntilReset(r)) => html! { "lasts until the reset " (fmt::until(r, now)) },
        Some(Runway::RunsOutAt(at)) => {
            let rate = t.and_then(Track::burn_per_hour).unwrap_or(0.0);
            let when = if at / 1000 <= now { "any moment now".to_string() } else { fmt::until(at / 1000, now) };
            html! { span.warning { "runs out " (when) } br; span.hint { (format!("at {rate:.1} %/h")) } }
        }
    }
}

fn account(v: &Viewer, s: &Status, pooled: bool, deps: &[&Dep], now_ms: u64) -> Markup {
    let now = now_ms / 1000;
    let state = if s.disabled {
        "disabled"
    } else if pooled {
        "active"
    } else {
        "not pooled yet"
    };
    html! {
        section.account data-account=(s.id) {
            h2 { (s.id) @if let Some(e) = &s.email { " " span.muted { (e) } } " " span class=(format!("badge {}", state.replace(' ', "-"))) { (state) } }
            (super::account_actions::buttons(v, &s.id, s.disabled))
            dl.facts {
                dt { "Token" }
                dd { @match s.expires_at {
                    Some(t) if t > now => { "valid " (fmt::until(t, now)) }
                    Some(_) => { "expired (refreshed on next use)" }
                    None => { "expiry unknown" }
                } }
                @if let Some(t) = s.last_refresh { dt { "Last refresh" } dd { (fmt::ago(t, now)) } }
                dt { "Last error" }
                dd { @if let Some(e) = &s.last_error { span.err { (e) } } @else { "none" } }
            }
            @if s.windows.is_empty() {
                p.muted { "No usage windows read yet: they come with the next answer from the Codex backend through this account." }
            } @else {
                div.scroll { table.windows {
                    thead { tr { th { "Window" } th.num { "Used" } th { "Length" } th { "Resets" } th { "Read" } th { "Runway at the current burn" } } }
                    tbody { @for w in &s.windows {
                        @let track = s.tracks.get(&w.name);
                        @let read = track.map(|t| t.read_at_ms / 1000).or(s.windows_read_at);
                        tr data-window=(w.name) {
                            td { (w.name) }
                            td.num { (format!("{:.0} %", w.used_percent)) }
                            td { (window_label(w)) }
                            td { (w.resets_at.map_or_else(|| "not reported".to_string(), |r| fmt::until(r, now))) }
                            td { (read.map_or_else(|| "–".to_string(), |r| format!("read {}", fmt::ago(r, now)))) }
                            td { (runway(track, now_ms)) }
                        }
                    } }
                } }
            }
            @if !deps.is_empty() {
                div.scroll { table.routing {
                    thead { tr { th { "Route" } th { "Deployment" } th { "Routing state" } th { "Reason" } } }
                    tbody { @for d in deps {
                        tr data-state=(d.state) {
                            td { (d.route) } td { (d.target) }
                            td { span class=(format!("state {}", d.state)) {
                                (d.state)
                                @if let Some(ms) = d.for_ms { " until " (fmt::time(now_ms.saturating_add(ms).min(i64::MAX as u64) as i64)) " (" (fmt::span(ms.div_ceil(1000))) ")" }
                            } }
                            td { @match (d.state, &d.reason) {
                                ("parked", Some(r)) => { "rate limited or usage window spent: " (r) }
                                ("parked", None) => { "rate limited or usage window spent" }
                                (_, Some(r)) => { (r) }
                                _ => { "–" }
                            } }
                        }
                    } }
                } }
            }
        }
    }
}

pub async fn page(State(state): State<Arc<AppState>>, v: Viewer) -> Response {
    if let Err(r) = super::admin_only(&v) {
        return r;
    }
    let now_ms = crate::accounts::unix_ms();
    let mono = clock::now_ms();
    let pools = state.config.providers.iter().filter(|p| p.kind == crate::config::ProviderKind::Chatgpt).count();
    let routes = state.routes();
    // Live accounts: the pooled members' handles (one per account id).
    let mut live: Vec<Status> = Vec::new();
    for p in routes.providers() {
        for m in &p.pool {
            if let Some(h) = m.account() {
                if !live.iter().any(|s| s.id == h.id) {
                    live.push(h.status());
                }
            }
        }
    }
    let mut deps: Vec<(String, Dep)> = Vec::new();
    let mut all = routes.all_routes();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    for r in &all {
        for d in &r.deployments {
            let Some(h) = d.target.provider.account() else { continue };
            let (st, until) = match d.state.health.availability(mono) {
                Availability::Ready => ("ready", None),
                Availability::Probe => ("probe", None),
                Availability::CoolingUntil(t) => ("cooling", Some(t.saturating_sub(mono))),
                Availability::ParkedUntil(t) => ("parked", Some(t.saturating_sub(mono))),
            };
            deps.push((
                h.id.clone(),
                Dep {
                    route: r.name.clone(),
                    target: format!("{}/{}", d.target.provider.name(), d.target.model),
                    state: st,
                    for_ms: until,
                    reason: d.state.last_error.lock().ok().and_then(|e| e.clone()),
                },
            ));
        }
    }
    // The store adds the disabled ones (and any not pooled yet).
    let stored = match state.accounts.all().await {
        Ok(all) => Ok(all),
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: cannot read the stored accounts");
            Err(())
        }
    };
    let mut shown: Vec<(Status, bool)> = live.into_iter().map(|s| (s, true)).collect();
    for a in stored.iter().flatten() {
        if !shown.iter().any(|(s, _)| s.id == a.id) {
            shown.push((Status::of(a), false));
        }
    }
    shown.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    let body = html! {
        @if stored.is_err() {
            p.warning role="note" { "The stored accounts cannot be read (see the log): only the pooled accounts show." }
        }
        @if pools == 0 {
            (layout::empty("No ChatGPT pool.", html! {
                "Add a provider with " code { "kind = \"chatgpt\"" } " to the config, then sign in an account with "
                code { "crossbar accounts login" } " or import a Codex login with " code { "crossbar accounts import ~/.codex/auth.json" } "."
            }))
        } @else if shown.is_empty() {
            (layout::empty("No ChatGPT accounts.", html! {
                "Add one below, sign one in with " code { "crossbar accounts login" } " (a device code) or import a Codex login with "
                code { "crossbar accounts import ~/.codex/auth.json" } "; every running gateway pools it within seconds."
            }))
            (super::account_actions::add_form(&v))
        } @else {
            (super::account_actions::add_form(&v))
            p.hint { "Usage windows are what the Codex backend reported with its latest answer through each account. The runway is the burn between the last two different readings, carried forward." }
            @for (s, pooled) in &shown {
                @let mine: Vec<&Dep> = deps.iter().filter(|(id, _)| *id == s.id).map(|(_, d)| d).collect();
                (account(&v, s, *pooled && !s.disabled, &mine, now_ms))
            }
        }
    };
    layout::page(&v, "/ui/accounts", "Accounts", body).into_response()
}
