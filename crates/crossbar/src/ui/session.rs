//! Dashboard sessions: sign-in with the admin key (admin) or a crossbar key (member, scoped to
//! that key), a random 256-bit id in the `crossbar_session` cookie (HttpOnly, SameSite=Strict,
//! Path=/ui, Secure behind TLS), only its SHA-256 in the database (`ui_sessions`), 12 h expiry,
//! sign-out deletes it. CSRF: every POST carries a token derived from the session id (a hash
//! the browser cannot compute without the HttpOnly cookie), compared in constant time, and
//! must come from the same origin (Origin, else Referer). Failed sign-ins are limited per
//! client address (`MAX_FAILURES` a minute, then 429).
//!
//! With no `[auth]`, the dashboard is open as an admin view to loopback clients only (the
//! gateway itself refuses a non-loopback listen address then); its CSRF token is per process.

use super::layout;
use crate::app::AppState;
use crate::store::{now_ms, Session};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

pub const COOKIE: &str = "crossbar_session";
pub const TTL_MS: i64 = 12 * 3_600_000;
pub const MAX_FAILURES: usize = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked before the table starts over (bounds memory).
const MAX_TRACKED: usize = 10_000;

/// The dashboard's in-process state.
pub struct UiState {
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    /// The CSRF token of the open (no-auth) dashboard.
    open_csrf: String,
    /// The overview's open server-push streams.
    pub live: Arc<super::live::LiveStreams>,
}

impl Default for UiState {
    fn default() -> Self {
        UiState { failures: Mutex::new(HashMap::new()), open_csrf: random_hex(), live: Arc::default() }
    }
}

impl UiState {
    /// Whether `ip` may try to sign in now.
    pub fn may_try(&self, ip: IpAddr, now: Instant) -> bool {
        let Ok(mut f) = self.failures.lock() else { return false };
        match f.get_mut(&ip) {
            Some(q) => {
                while q.front().is_some_and(|t| now.duration_since(*t) >= FAILURE_WINDOW) {
                    q.pop_front();
                }
                q.len() < MAX_FAILURES
            }
            None => true,
        }
    }

    pub fn failed(&self, ip: IpAddr, now: Instant) {
        if let Ok(mut f) = self.failures.lock() {
            if f.len() >= MAX_TRACKED && !f.contains_key(&ip) {
                f.clear();
            }
            f.entry(ip).or_default().push_back(now);
        }
    }
}

fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The CSRF token of a session id.
pub fn csrf_for(session_id: &str) -> String {
    sha256_hex(&format!("crossbar-csrf:{session_id}"))
}

/// Constant-time token comparison (empty never matches).
pub fn csrf_ok(expected: &str, presented: Option<&str>) -> bool {
    let p = presented.unwrap_or("");
    !expected.is_empty() && bool::from(p.as_bytes().ct_eq(expected.as_bytes()))
}

/// The request comes from a page of this origin: `Sec-Fetch-Site: same-origin` when the
/// browser sends it (it does even under `Referrer-Policy: no-referrer`, which makes a form's
/// `Origin` "null"), else `Origin`, else `Referer` naming the `Host`.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin";
    }
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else { return false };
    let origin_host = |o: &str| {
        let rest = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://"))?;
        Some(rest.split('/').next().unwrap_or("").to_string())
    };
    if let Some(o) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).filter(|o| *o != "null") {
        return origin_host(o).is_some_and(|h| h.eq_ignore_ascii_case(host));
    }
    if let Some(r) = headers.get(header::REFERER).and_then(|v| v.to_str().ok()) {
        return origin_host(r).is_some_and(|h| h.eq_ignore_ascii_case(host));
    }
    false
}

/// The session id in the request's cookie, if any.
pub fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(COOKIE).and_then(|r| r.strip_prefix('=')))
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
}

/// The request came over TLS (directly or through a proxy that says so).
fn secure(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn client_ip(parts: &Parts) -> Option<IpAddr> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// Who is looking at the dashboard.
#[derive(Debug, Clone)]
pub struct Viewer {
    admin: bool,
    /// A member's key id (`None` for admins).
    pub key_id: Option<String>,
    pub csrf: String,
    /// No `[auth]`: nobody signs in (no sign-out button).
    pub open: bool,
    /// The SHA-256 of the session's cookie id (`None` on the open dashboard).
    pub session: Option<String>,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.admin
    }

    /// The key the viewer's data is limited to (members only).
    pub fn scope(&self) -> Option<&str> {
        if self.admin {
            None
        } else {
            self.key_id.as_deref()
        }
    }

    /// The CSRF and same-origin checks of a POST.
    pub fn check_post(&self, headers: &HeaderMap, token: Option<&str>) -> Result<(), Response> {
        if !same_origin(headers) {
            return Err(layout::message(
                StatusCode::FORBIDDEN,
                "Refused",
                "This form was not sent from this dashboard.",
            ));
        }
        if !csrf_ok(&self.csrf, token) {
            return Err(layout::message(
                StatusCode::FORBIDDEN,
                "Refused",
                "The form's security token is missing or stale. Reload the page and try again.",
            ));
        }
        Ok(())
    }

    #[cfg(test)]
    pub fn test_admin() -> Viewer {
        Viewer { admin: true, key_id: None, csrf: "t".into(), open: false, session: None }
    }

    #[cfg(test)]
    pub fn test_member(key: &str) -> Viewer {
        Viewer { admin: false, key_id: Some(key.into()), csrf: "t".into(), open: false, session: None }
    }
}

impl FromRequestParts<Arc<AppState>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Viewer, Response> {
        if state.auth.is_none() {
            if client_ip(parts).is_some_and(|ip| !ip.is_loopback()) {
                return Err(layout::message(
                    StatusCode::FORBIDDEN,
                    "Loopback only",
                    "Without [auth], the dashboard is open to this machine only.",
                ));
            }
            return Ok(Viewer {
                admin: true,
                key_id: None,
                csrf: state.ui.open_csrf.clone(),
                open: true,
                session: None,
            });
        }
        let Some(id) = cookie_value(&parts.headers) else { return Err(to_signin(parts)) };
        let sha = sha256_hex(&id);
        match live_session(state, &sha).await {
            Ok(Some(s)) => Ok(Viewer {
                admin: s.role == "admin",
                key_id: s.key_id,
                csrf: csrf_for(&id),
                open: false,
                session: Some(sha),
            }),
            Ok(None) => Err(to_signin(parts)),
            Err(e) => Err(super::store_error(e)),
        }
    }
}

/// The session of a cookie id's hash if it is still good: not expired, not signed out, and
/// for a member, their key still usable (a member's session ends with their key).
async fn live_session(state: &AppState, sha: &str) -> Result<Option<Session>, crate::store::StoreError> {
    let Some(s) = state.store.session(sha, now_ms()).await? else { return Ok(None) };
    if s.role != "admin" {
        let Some(key_id) = &s.key_id else { return Ok(None) };
        match state.store.get_key(key_id).await? {
            Some(k) if k.unusable(now_ms()).is_none() => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(s))
}

impl Viewer {
    /// Whether this viewer's session is still good (long-lived streams ask again; a database
    /// that does not answer is not a sign-out).
    pub async fn still_signed_in(&self, state: &AppState) -> bool {
        match &self.session {
            None => true,
            Some(sha) => !matches!(live_session(state, sha).await, Ok(None)),
        }
    }
}

/// Pages send the browser to sign in; fragments and forms get a 401.
fn to_signin(parts: &Parts) -> Response {
    if parts.method == axum::http::Method::GET && !parts.uri.path().starts_with("/ui/overview/") {
        Redirect::to("/ui/signin").into_response()
    } else {
        layout::message(StatusCode::UNAUTHORIZED, "Signed out", "Your session has ended; sign in again.")
    }
}

pub async fn signin_page(State(state): State<Arc<AppState>>) -> Response {
    if state.auth.is_none() {
        return Redirect::to("/ui/").into_response();
    }
    form(StatusCode::OK, None, state.admin_key.is_some())
}

fn form(status: StatusCode, error: Option<&str>, admin_possible: bool) -> Response {
    let body = html! {
        section.signin {
            h1 { "Sign in to crossbar" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/ui/signin" {
                label for="key" { "Key" }
                input #key type="password" name="key" autocomplete="off" required autofocus;
                button type="submit" { "Sign in" }
            }
            p.hint {
                @if admin_possible { "Paste the admin key (" code { "CROSSBAR_ADMIN_KEY" } ") to run the gateway, or " }
                @else { "Paste " }
                "a crossbar key (" code { "cb-…" } ") to see that key's own usage. The key is sent once and never kept in the browser."
            }
        }
    };
    (status, layout::bare("Sign in", body)).into_response()
}

#[derive(serde::Deserialize)]
pub struct SigninForm {
    #[serde(default)]
    key: String,
}

pub async fn signin(State(state): State<Arc<AppState>>, parts: Parts, Form(f): Form<SigninForm>) -> Response {
    let Some(auth) = &state.auth else { return Redirect::to("/ui/").into_response() };
    let admin_possible = state.admin_key.is_some();
    if !same_origin(&parts.headers) {
        return layout::message(StatusCode::FORBIDDEN, "Refused", "This form was not sent from this dashboard.");
    }
    let ip = client_ip(&parts).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let now = Instant::now();
    if !state.ui.may_try(ip, now) {
        let mut r = form(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed sign-ins from this address. Wait a minute, then try again."),
            admin_possible,
        );
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return r;
    }
    let key = f.key.trim();
    let is_admin = state.admin_key.as_ref().is_some_and(|a| bool::from(key.as_bytes().ct_eq(a.expose().as_bytes())));
    let session = if is_admin && !key.is_empty() {
        Some(Session { role: "admin".into(), key_id: None, expires_at: now_ms() + TTL_MS })
    } else {
        match auth.check(key).await {
            Ok(k) => Some(Session { role: "member".into(), key_id: Some(k.id.clone()), expires_at: now_ms() + TTL_MS }),
            Err(crate::auth::Rejection::Unavailable) => {
                return layout::message(StatusCode::SERVICE_UNAVAILABLE, "Try again", "The key store is unavailable.")
            }
            Err(_) => None,
        }
    };
    let Some(session) = session else {
        state.ui.failed(ip, now);
        return form(
            StatusCode::UNAUTHORIZED,
            Some("That key is not valid (or is revoked or expired)."),
            admin_possible,
        );
    };
    let id = random_hex();
    if let Err(e) = state.store.create_session(&sha256_hex(&id), &session).await {
        return super::store_error(e);
    }
    let mut cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/ui; Max-Age={}", TTL_MS / 1000);
    if secure(&parts.headers) {
        cookie.push_str("; Secure");
    }
    let mut r = Redirect::to("/ui/").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(serde::Deserialize)]
pub struct TokenForm {
    csrf: Option<String>,
}

pub async fn signout(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Response {
    if let Err(r) = viewer.check_post(&headers, f.csrf.as_deref()) {
        return r;
    }
    if let Some(id) = cookie_value(&headers) {
        if let Err(e) = state.store.delete_session(&sha256_hex(&id)).await {
            return super::store_error(e);
        }
    }
    let mut r = Redirect::to("/ui/signin").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("crossbar_session=; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=0"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("hv"));
        }
        h
    }

    #[test]
    fn csrf_tokens_compare_exactly() {
        let id = random_hex();
        let t = csrf_for(&id);
        assert_eq!(t.len(), 64);
        assert_ne!(t, sha256_hex(&id), "not the stored session hash");
        assert!(csrf_ok(&t, Some(&t)));
        assert!(!csrf_ok(&t, None));
        assert!(!csrf_ok(&t, Some("")));
        assert!(!csrf_ok(&t, Some(&t[..63])));
        assert!(!csrf_ok("", Some("")));
        assert_ne!(csrf_for(&random_hex()), t);
    }

    #[test]
    fn posts_must_come_from_this_origin() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:4141"), ("origin", "http://127.0.0.1:4141")])));
        assert!(same_origin(&headers(&[("host", "gw.example"), ("origin", "https://gw.example")])));
        assert!(same_origin(&headers(&[("host", "gw.example"), ("referer", "https://gw.example/ui/keys")])));
        assert!(!same_origin(&headers(&[("host", "gw.example"), ("origin", "https://evil.example")])));
        assert!(!same_origin(&headers(&[("host", "gw.example"), ("origin", "null")])));
        assert!(!same_origin(&headers(&[("host", "gw.example"), ("referer", "https://gw.example.evil/ui")])));
        assert!(!same_origin(&headers(&[("host", "gw.example")])), "neither header: refused");
        assert!(same_origin(&headers(&[
            ("host", "gw.example"),
            ("origin", "null"),
            ("sec-fetch-site", "same-origin")
        ])));
        let cross = [("host", "gw.example"), ("origin", "https://gw.example"), ("sec-fetch-site", "cross-site")];
        assert!(!same_origin(&headers(&cross)), "the browser's own verdict wins");
        assert!(!same_origin(&headers(&[("host", "gw.example"), ("sec-fetch-site", "same-site")])));
    }

    #[test]
    fn the_session_cookie_is_read_strictly() {
        let id = random_hex();
        let h = headers(&[("cookie", &format!("a=b; crossbar_session={id}; c=d"))]);
        assert_eq!(cookie_value(&h), Some(id));
        assert_eq!(cookie_value(&headers(&[("cookie", "crossbar_session=short")])), None);
        assert_eq!(cookie_value(&headers(&[("cookie", "crossbar_session_x=1")])), None);
        assert_eq!(cookie_value(&HeaderMap::new()), None);
    }

    #[test]
    fn failed_signins_are_limited_per_address() {
        let ui = UiState::default();
        let a = IpAddr::from([10, 0, 0, 1]);
        let b = IpAddr::from([10, 0, 0, 2]);
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(ui.may_try(a, t0));
            ui.failed(a, t0);
        }
        assert!(!ui.may_try(a, t0));
        assert!(ui.may_try(b, t0), "another address is not affected");
        assert!(ui.may_try(a, t0 + FAILURE_WINDOW), "a minute later the address may try again");
    }
}
