//! The web dashboard under `/ui/`: server-rendered HTML (maud: every interpolated value is
//! escaped by construction), SVG charts drawn here (`charts.rs`), one small script and one
//! stylesheet embedded in the binary (`assets.rs`). No third-party front-end code.
//!
//! Who is looking is a `Viewer` (`session.rs`): an admin (signed in with the admin key, or
//! anyone on loopback when `[auth]` is absent) or a member (signed in with a crossbar key: sees
//! only that key). Every POST carries the session's CSRF token and passes a same-origin check.
//! Every response carries a strict CSP (no inline script or style), `nosniff`, `no-referrer`.
//!
//! The overview is pushed while open (`live.rs`: Server-Sent Events, re-rendered after the
//! usage writer commits a batch).
//! Reads: overview and usage from the hourly rollups, the request log from raw rows with
//! keyset pagination; keys through the same store calls as the admin API.
//! Must never: put a key secret (other than a just-created one, once) or a session id in a
//! page; accept a change without the CSRF token.

// Handlers return `Result<_, Response>`: the error path *is* the ready response.
#![allow(clippy::result_large_err)]

mod account_actions;
mod accounts;
mod assets;
mod charts;
pub mod fmt;
mod keys;
mod layout;
pub mod live;
mod models;
mod overview;
mod prices;
mod requests;
mod routing;
pub mod session;
mod usage;

use crate::app::AppState;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub use session::{UiState, Viewer};

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(overview::page))
        .route("/ui/overview/live", get(overview::live))
        .route("/ui/overview/stream", get(live::stream))
        .route("/ui/signin", get(session::signin_page).post(session::signin))
        .route("/ui/signout", post(session::signout))
        .route("/ui/requests", get(requests::list))
        .route("/ui/requests/{id}", get(requests::detail))
        .route("/ui/keys", get(keys::page).post(keys::create))
        .route("/ui/keys/{id}", post(keys::update))
        .route("/ui/keys/{id}/revoke", post(keys::revoke))
        .route("/ui/usage", get(usage::page))
        .route("/ui/usage.csv", get(usage::csv))
        .route("/ui/routing", get(routing::page))
        .route("/ui/accounts", get(accounts::page))
        .route("/ui/accounts/login", post(account_actions::login_start).get(account_actions::login_check))
        .route("/ui/accounts/{id}/{action}", post(account_actions::act))
        .route("/ui/models", get(models::page))
        .route(
            "/ui/models/prices",
            post(prices::post).layer(axum::extract::DefaultBodyLimit::max(crate::admin::prices::BODY_LIMIT)),
        )
        .route("/ui/assets/{file}", get(assets::serve))
        .route("/ui/{*rest}", get(not_found).post(not_found))
        .layer(axum::middleware::map_response(security_headers))
}

async fn not_found() -> Response {
    layout::message(StatusCode::NOT_FOUND, "Not found", "There is no dashboard page at this address.")
}

/// The headers every dashboard response carries (pages are never cached; assets set their own).
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    r
}

/// 403 for a member on an admin page.
pub fn admin_only(v: &Viewer) -> Result<(), Response> {
    if v.is_admin() {
        Ok(())
    } else {
        Err(layout::message(
            StatusCode::FORBIDDEN,
            "Admins only",
            "This page is for the gateway's administrators. Your key's usage is on the Overview and Requests pages.",
        ))
    }
}

/// A database error as a page (details in the log only).
pub fn store_error(e: crate::store::StoreError) -> Response {
    match e {
        crate::store::StoreError::Invalid(m) => layout::message(StatusCode::BAD_REQUEST, "Not saved", &m),
        e => {
            tracing::error!(error = %e, "dashboard: store error");
            layout::message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Database unavailable",
                "The database did not answer; try again.",
            )
        }
    }
}

/// The time ranges the pages offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Hour,
    Day,
    Week,
    Month,
    All,
}

impl Range {
    pub fn parse(s: Option<&str>, default: Range) -> Range {
        match s {
            Some("1h") => Range::Hour,
            Some("24h") => Range::Day,
            Some("7d") => Range::Week,
            Some("30d") => Range::Month,
            Some("all") => Range::All,
            _ => default,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Range::Hour => "1h",
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
            Range::All => "all",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Range::Hour => "1 hour",
            Range::Day => "24 hours",
            Range::Week => "7 days",
            Range::Month => "30 days",
            Range::All => "all time",
        }
    }

    pub fn ms(self) -> Option<i64> {
        match self {
            Range::Hour => Some(3_600_000),
            Range::Day => Some(86_400_000),
            Range::Week => Some(7 * 86_400_000),
            Range::Month => Some(30 * 86_400_000),
            Range::All => None,
        }
    }

    /// Chart step: hours up to a day, 6 h for a week, days beyond.
    pub fn step(self) -> i64 {
        match self {
            Range::Hour | Range::Day => 3_600_000,
            Range::Week => 6 * 3_600_000,
            Range::Month | Range::All => 86_400_000,
        }
    }

    /// `[from, to)` in unix ms for rollups: `from` is floored to its hour (rollups are hourly).
    pub fn bounds(self, now: i64) -> (i64, i64) {
        match self.ms() {
            Some(d) => ((now - d).div_euclid(3_600_000) * 3_600_000, i64::MAX),
            None => (0, i64::MAX),
        }
    }
}
