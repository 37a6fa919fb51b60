//! A ChatGPT login's ends, for account-pool tests:
//! - the device-code login Codex CLI runs (`codex login --device-auth`):
//!   `POST /api/accounts/deviceauth/usercode` hands out a device login (`interval` "1"), and
//!   `POST /api/accounts/deviceauth/token` answers 403 `authorization_pending` on the first poll
//!   of a login, then 200 with an authorization code and its PKCE verifier (once). An unknown
//!   `device_auth_id` (or a wrong `user_code`) is 400 `invalid_device_auth`, not 404: Codex's
//!   client reads 404 as "still pending" and would poll on;
//! - `POST /oauth/token` (JSON or form body): `grant_type=authorization_code` exchanges such a
//!   code (with its `code_verifier`; a code is good once) for an id token naming the account
//!   `mock-account-<n>`, an access token and a refresh token, else 400 `invalid_grant`; any
//!   other grant is a refresh: refresh_token → a new access token, a JWT that expires in an
//!   hour, and a new refresh token (`<token>~<n>`): each refresh token works once, a reused one
//!   is refused with 401 `invalid_grant` / `refresh_token_reused`, as OpenAI's rotate; a
//!   refresh token starting with `revoked` is refused with 401 `invalid_grant`;
//! - the Codex backend's token check on `/backend-api/codex/responses` (an expired JWT, or a
//!   bearer starting with `expired`, is refused with 401 as the real backend does).
//!
//! `code_challenge` is not S256 of the verifier (the mock has no SHA-256; nobody checks it).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::{stream, Incoming};

/// Device logins in progress and authorization codes not yet exchanged.
#[derive(Default)]
pub struct Logins {
    inner: Mutex<LoginState>,
}

#[derive(Default)]
struct LoginState {
    /// By `device_auth_id`.
    devices: HashMap<String, Device>,
    /// By authorization code.
    codes: HashMap<String, Grant>,
    /// Refresh tokens already exchanged: each works once, as OpenAI's rotate.
    used_refresh: std::collections::HashSet<String>,
}

struct Device {
    user_code: String,
    n: u64,
    polled: bool,
}

struct Grant {
    verifier: String,
    n: u64,
}

impl Logins {
    fn lock(&self) -> MutexGuard<'_, LoginState> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// An unsigned JWT with these claims (the gateway only reads `exp` and the account claims).
pub fn jwt(claims: &Value) -> String {
    let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    format!("{head}.{body}.mock")
}

fn error(status: StatusCode, code: &str) -> Response {
    stream::json_response(status, &json!({"error": code}))
}

/// The body's parameters: a JSON object's string values, else an urlencoded form.
fn params(body: &[u8]) -> HashMap<String, String> {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        return map.into_iter().filter_map(|(k, v)| Some((k, v.as_str()?.to_owned()))).collect();
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (form_decode(k), form_decode(v)))
        .collect()
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `POST /api/accounts/deviceauth/usercode` `{"client_id"}`: a new device login.
pub async fn usercode(inc: Incoming) -> Response {
    let p = params(&inc.body);
    if p.get("client_id").is_none_or(|c| c.is_empty()) {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let n = inc.mock.next_id();
    let device_auth_id = format!("mock-device-{n}");
    let user_code = format!("MOCK-{n:04}");
    let device = Device { user_code: user_code.clone(), n, polled: false };
    inc.mock.inner.logins.lock().devices.insert(device_auth_id.clone(), device);
    stream::json_response(
        StatusCode::OK,
        &json!({"device_auth_id": device_auth_id, "user_code": user_code, "interval": "1"}),
    )
}

/// `POST /api/accounts/deviceauth/token` `{"device_auth_id", "user_code"}`: pending once, then
/// the authorization code.
pub async fn device_token(inc: Incoming) -> Response {
    let p = params(&inc.body);
    let id = p.get("device_auth_id").map_or("", String::as_str);
    let user_code = p.get("user_code").map_or("", String::as_str);
    let mut state = inc.mock.inner.logins.lock();
    let Some(device) = state.devices.get_mut(id).filter(|d| d.user_code == user_code) else {
        return error(StatusCode::BAD_REQUEST, "invalid_device_auth");
    };
    if !device.polled {
        device.polled = true;
        return error(StatusCode::FORBIDDEN, "authorization_pending");
    }
    let n = device.n;
    state.devices.remove(id);
    let code = format!("mock-code-{n}");
    let verifier = format!("mock-verifier-{n}");
    state.codes.insert(code.clone(), Grant { verifier: verifier.clone(), n });
    stream::json_response(
        StatusCode::OK,
        &json!({
            "authorization_code": code,
            "code_challenge": format!("mock-challenge-{n}"),
            "code_verifier": verifier,
        }),
    )
}

/// `POST /oauth/token`: an authorization code exchange, or a refresh.
pub async fn token(inc: Incoming) -> Response {
    let p = params(&inc.body);
    match p.get("grant_type").map(String::as_str) {
        Some("authorization_code") => exchange(&inc, &p),
        _ => refresh(&inc, &p),
    }
}

fn exchange(inc: &Incoming, p: &HashMap<String, String>) -> Response {
    let code = p.get("code").map_or("", String::as_str);
    let verifier = p.get("code_verifier").map_or("", String::as_str);
    let mut state = inc.mock.inner.logins.lock();
    let Some(n) = state.codes.get(code).filter(|g| g.verifier == verifier).map(|g| g.n) else {
        return error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    state.codes.remove(code);
    let exp = now() + 3600;
    let auth = json!({"chatgpt_account_id": format!("mock-account-{n}")});
    stream::json_response(
        StatusCode::OK,
        &json!({
            "id_token": jwt(&json!({"exp": exp, "email": format!("mock-{n}@example.com"),
                                    "https://api.openai.com/auth": auth})),
            "access_token": jwt(&json!({"exp": exp, "jti": format!("mock-login-{n}"),
                                        "https://api.openai.com/auth": auth})),
            "refresh_token": format!("mock-refresh-{n}"),
            "expires_in": 3600,
        }),
    )
}

fn refresh(inc: &Incoming, p: &HashMap<String, String>) -> Response {
    let Some(refresh) = p.get("refresh_token").filter(|r| !r.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    if refresh.starts_with("revoked") {
        return stream::json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "invalid_grant", "error_description": "refresh token revoked"}),
        );
    }
    if !inc.mock.inner.logins.lock().used_refresh.insert(refresh.clone()) {
        return stream::json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "invalid_grant", "error_description": "refresh_token_reused"}),
        );
    }
    let n = inc.mock.next_id();
    let exp = now() + 3600;
    let base = refresh.split('~').next().unwrap_or(refresh);
    stream::json_response(
        StatusCode::OK,
        &json!({
            "access_token": jwt(&json!({"exp": exp, "jti": format!("mock-{n}")})),
            "refresh_token": format!("{base}~{n}"),
            "id_token": jwt(&json!({"exp": exp, "email": "mock@example.com"})),
            "expires_in": 3600,
        }),
    )
}
/// On the Codex backend path: a 401 for an expired access token, else `None`.
pub fn check_token(path: &str, headers: &HeaderMap) -> Option<Response> {
    if path != "/backend-api/codex/responses" {
        return None;
    }
    let bearer = headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")?;
    let exp = bearer
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|c| c.get("exp")?.as_u64());
    let expired = bearer.starts_with("expired") || exp.is_some_and(|e| e <= now());
    expired.then(|| {
        stream::json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": {"message": "Your authentication token has expired.", "type": "invalid_request_error", "code": "token_expired", "param": null}}),
        )
    })
}
