//! A ChatGPT login's two ends, for account-pool tests: `POST /oauth/token` (refresh_token →
//! a new access token, a JWT that expires in an hour; a refresh token starting with `revoked`
//! is refused with 401 `invalid_grant`), and the Codex backend's token check on
//! `/backend-api/codex/responses` (an expired JWT, or a bearer starting with `expired`, is
//! refused with 401 as the real backend does).

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::{stream, Incoming};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An unsigned JWT with these claims (the gateway only reads `exp`).
pub fn jwt(claims: &Value) -> String {
    let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    format!("{head}.{body}.mock")
}

pub async fn token(inc: Incoming) -> Response {
    let refresh = serde_json::from_slice::<Value>(&inc.body)
        .ok()
        .and_then(|v| v.get("refresh_token")?.as_str().map(str::to_owned))
        .or_else(|| {
            String::from_utf8_lossy(&inc.body)
                .split('&')
                .find_map(|kv| kv.strip_prefix("refresh_token=").map(str::to_owned))
        });
    let Some(refresh) = refresh.filter(|r| !r.is_empty()) else {
        return stream::json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_request"}),
        );
    };
    if refresh.starts_with("revoked") {
        return stream::json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "invalid_grant", "error_description": "refresh token revoked"}),
        );
    }
    let n = inc.mock.inner.seq.fetch_add(1, Ordering::Relaxed) + 1;
    let exp = now() + 3600;
    stream::json_response(
        StatusCode::OK,
        &json!({
            "access_token": jwt(&json!({"exp": exp, "jti": format!("mock-{n}")})),
            "refresh_token": refresh,
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
    let bearer = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
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
