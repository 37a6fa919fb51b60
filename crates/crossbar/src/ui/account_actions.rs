//! The Accounts page's actions (admins only, CSRF- and origin-checked forms as on the keys
//! page): disable, enable, remove, and "add account", a device-code login started here. The
//! sign-in page shows the link and the code and reloads itself every few seconds (a `Refresh`
//! header: no script), each load polling the issuer once (`admin/accounts.rs`), until the user
//! has entered the code; it then returns to the Accounts page with the new account pooled.
//! Everything goes through the same calls as `/admin/accounts`. Never shows a token.

use super::{layout, Viewer};
use crate::accounts::action::Action;
use crate::accounts::device::Progress;
use crate::admin::accounts as api;
use crate::app::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use std::collections::HashMap;
use std::sync::Arc;

type FormMap = HashMap<String, String>;

/// The buttons under one account.
pub fn buttons(v: &Viewer, id: &str, disabled: bool) -> Markup {
    html! {
        div.actions {
            @if disabled {
                form method="post" action=(format!("/ui/accounts/{id}/enable")) {
                    (layout::csrf(v))
                    button type="submit" { "Enable" }
                }
            } @else {
                form method="post" action=(format!("/ui/accounts/{id}/disable")) {
                    (layout::csrf(v))
                    button type="submit" { "Disable" }
                }
            }
            form method="post" action=(format!("/ui/accounts/{id}/remove")) {
                (layout::csrf(v))
                button.danger type="submit" data-confirm=(format!("Remove account {id}? It stops serving on every instance; adding it back takes a new sign-in.")) { "Remove" }
            }
        }
    }
}

/// The "add account" form.
pub fn add_form(v: &Viewer) -> Markup {
    html! {
        form.add-account method="post" action="/ui/accounts/login" {
            (layout::csrf(v))
            button type="submit" { "Add account (sign in with ChatGPT)" }
        }
    }
}

fn checked(v: &Viewer, headers: &HeaderMap, f: &FormMap) -> Result<(), Response> {
    v.check_post(headers, f.get("csrf").map(String::as_str))?;
    super::admin_only(v)
}

/// An admin API error (its JSON) as a dashboard page.
fn failed(title: &str, r: Response) -> Response {
    let status = r.status();
    let text = match status {
        StatusCode::NOT_FOUND => "That account does not exist (any more).",
        StatusCode::SERVICE_UNAVAILABLE => "The database is unavailable; try again.",
        _ => "The sign-in could not go on: see the gateway's log, or start again.",
    };
    layout::message(status, title, text)
}

/// `POST /ui/accounts/{id}/{action}`: disable, enable or remove one account.
pub async fn act(
    State(state): State<Arc<AppState>>,
    v: Viewer,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    Form(f): Form<FormMap>,
) -> Response {
    if let Err(r) = checked(&v, &headers, &f) {
        return r;
    }
    let Some(action) = Action::parse(&action) else {
        return layout::message(
            StatusCode::NOT_FOUND,
            "No such action",
            "An account can be disabled, enabled or removed.",
        );
    };
    let done = action.apply(&state.accounts, &id).await;
    match done {
        Ok(true) => {
            if let Err(e) = state.reload_accounts().await {
                tracing::warn!(error = %e, "dashboard: the pools could not be rebuilt; the watcher tries again");
            }
            Redirect::to("/ui/accounts").into_response()
        }
        Ok(false) => {
            layout::message(StatusCode::NOT_FOUND, "No such account", "That account does not exist (any more).")
        }
        Err(e) => {
            tracing::error!(error = %e, "dashboard: the account store failed");
            layout::message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Database unavailable",
                "The account store is unavailable; try again.",
            )
        }
    }
}

/// `POST /ui/accounts/login`: start a device-code login and show its code.
pub async fn login_start(
    State(state): State<Arc<AppState>>,
    v: Viewer,
    headers: HeaderMap,
    Form(f): Form<FormMap>,
) -> Response {
    if let Err(r) = checked(&v, &headers, &f) {
        return r;
    }
    match api::start_login(&state).await {
        Ok(s) => sign_in_page(&v, &s.ticket, &s.user_code, &s.verification_url, s.interval),
        Err(r) => failed("Sign-in unavailable", r),
    }
}

/// `GET /ui/accounts/login?t=TICKET`: poll once; the code again, or back to the accounts.
pub async fn login_check(
    State(state): State<Arc<AppState>>,
    v: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = super::admin_only(&v) {
        return r;
    }
    let Some(ticket) = q.get("t") else {
        return Redirect::to("/ui/accounts").into_response();
    };
    match api::check_login(&state, ticket).await {
        Ok(Progress::Pending { user_code, verification_url }) => {
            sign_in_page(&v, ticket, &user_code, &verification_url, 3)
        }
        Ok(Progress::Done(a)) => Redirect::to(&format!("/ui/accounts?added={}", a.id)).into_response(),
        Err(r) => failed("Sign-in failed", r),
    }
}

/// The link and the code; the page reloads (one poll) every `every` seconds.
fn sign_in_page(v: &Viewer, ticket: &str, user_code: &str, url: &str, every: u64) -> Response {
    let next = format!("/ui/accounts/login?t={ticket}");
    let body = html! {
        section.sign-in {
            p { "Open " a href=(url) target="_blank" rel="noopener noreferrer" { (url) } ", sign in to the ChatGPT account to add, and enter this code:" }
            p { code #user-code { (user_code) } }
            p.hint { "This page checks every few seconds and returns to the accounts as soon as the code has been entered (it expires in 15 minutes). Never share this code." }
            p { a href=(next) { "Check now" } " · " a href="/ui/accounts" { "Cancel" } }
        }
    };
    let mut r = layout::page(v, "/ui/accounts", "Add a ChatGPT account", body).into_response();
    if let Ok(h) = HeaderValue::from_str(&format!("{}; url={next}", every.clamp(1, 10))) {
        r.headers_mut().insert(header::REFRESH, h);
    }
    r
}
