//! Fault injection, so each deployment behind a gateway can misbehave in its own way (give each
//! provider its own `x-mock` header): failure rates, failing the first N requests, rate limits
//! with reset headers, Codex usage limits, context-window overflow, reported quota headroom.
//!
//! `fail-rate` is deterministic per mock instance: request n fails when a hash of n falls
//! below the rate, so a test's outcome does not depend on luck.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{json, Value};

use crate::directives::Directives;
use crate::stream;

/// `fail-first` / `fail-after` / `fail-rate`, then `usage-limit`, then `context-overflow`.
/// With a `fail-*` directive, `usage-limit` is what the failing requests get (a window spent
/// for the first N requests, then reset), and the others pass.
pub fn inject(counter: &AtomicU64, d: &Directives, body: fn(u16) -> Value) -> Option<Response> {
    let mut spent = d.usage_limit;
    if d.fail_first.is_some() || d.fail_rate.is_some() || d.fail_after.is_some() {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let first = d.fail_first.is_some_and(|k| n < k) || d.fail_after.is_some_and(|k| n >= k);
        let rated = d.fail_rate.is_some_and(|r| unit(n) < r);
        if (first || rated) && !d.usage_limit {
            return Some(error(d.fail_status.unwrap_or(500), d, body));
        }
        spent = d.usage_limit && (first || rated);
    }
    if spent {
        let secs = d.ratelimit_reset.unwrap_or(60);
        let at = unix_now() + secs;
        let v = json!({"error": {
            "type": "usage_limit_reached", "code": "usage_limit_reached",
            "message": "The usage limit has been reached", "plan_type": "plus",
            "resets_at": at, "resets_in_seconds": secs,
        }});
        let mut res = stream::json_response(axum::http::StatusCode::TOO_MANY_REQUESTS, &v);
        set(
            res.headers_mut(),
            &[
                ("x-codex-primary-used-percent", "100".into()),
                ("x-codex-primary-window-minutes", "300".into()),
                ("x-codex-primary-reset-at", at.to_string()),
            ],
        );
        return Some(res);
    }
    if d.context_overflow {
        let mut v = body(400);
        let msg =
            "This model's maximum context length is 1000 tokens; the prompt is too long (context_length_exceeded)";
        if let Some(e) = v.get_mut("error").and_then(Value::as_object_mut) {
            e.insert("message".into(), json!(msg));
            if e.contains_key("code") && e.get("status").is_none() {
                e.insert("code".into(), json!("context_length_exceeded"));
            }
        }
        return Some(stream::error_response(400, &v));
    }
    None
}

/// The Codex backend's own rules (`/backend-api/codex/responses` only), as the real one
/// answers them: it only streams, only with `store: false`, and refuses output limits and
/// sampling parameters with 400 `{"detail": "Unsupported parameter: NAME"}`.
pub fn codex_backend_rules(path: &str, body: &Value) -> Option<Response> {
    if path != "/backend-api/codex/responses" {
        return None;
    }
    let detail = if body.get("stream") != Some(&Value::Bool(true)) {
        "Stream must be set to true".to_owned()
    } else if body.get("store") != Some(&Value::Bool(false)) {
        "Store must be set to false".to_owned()
    } else {
        let unsupported = ["max_output_tokens", "max_completion_tokens", "temperature", "top_p"];
        let name = unsupported.iter().find(|k| body.get(**k).is_some())?;
        format!("Unsupported parameter: {name}")
    };
    Some(stream::json_response(axum::http::StatusCode::BAD_REQUEST, &json!({"detail": detail})))
}

/// `account-models`: the Codex backend's 400 for a model the account's plan does not include.
pub fn unserved_model(headers: &HeaderMap, d: &Directives, model: &str) -> Option<Response> {
    let account = headers.get("chatgpt-account-id")?.to_str().ok()?;
    let (_, models) = d.account_models.iter().find(|(a, _)| a == account)?;
    if models.iter().any(|m| m == model) {
        return None;
    }
    let detail = format!("The '{model}' model is not supported when using Codex with a ChatGPT account.");
    Some(stream::json_response(axum::http::StatusCode::BAD_REQUEST, &json!({"detail": detail})))
}

/// An HTTP error with the protocol's body. A 429 says when its limit resets
/// (`mock:ratelimit-reset`, default 1 s) in `retry-after` and OpenAI's headers.
pub fn error(status: u16, d: &Directives, body: fn(u16) -> Value) -> Response {
    let mut res = stream::error_response(status, &body(status));
    if status == 429 {
        let secs = d.ratelimit_reset.unwrap_or(1);
        set(
            res.headers_mut(),
            &[
                ("retry-after", secs.to_string()),
                ("x-ratelimit-limit-requests", "100".into()),
                ("x-ratelimit-remaining-requests", "0".into()),
                ("x-ratelimit-reset-requests", format!("{secs}s")),
            ],
        );
    }
    res
}

/// `mock:headroom=PCT` (in the `x-mock` header): successful answers report PCT % quota left,
/// as OpenAI rate-limit headers and a Codex primary usage window.
pub async fn headroom(req: Request, next: Next) -> Response {
    let asked = req.headers().clone();
    let mut res = next.run(req).await;
    if res.status().is_success() {
        add_headroom(&asked, res.headers_mut());
    }
    res
}

/// The headroom headers `mock:headroom=PCT` in the request's `x-mock` header asks for, added
/// to a successful answer's `head` (the HTTP middleware above, and each socket turn).
pub fn add_headroom(request: &HeaderMap, head: &mut HeaderMap) {
    let pct = request.get("x-mock").and_then(|v| v.to_str().ok()).and_then(|h| Directives::parse([], Some(h)).headroom);
    if let Some(pct) = pct {
        set(
            head,
            &[
                ("x-ratelimit-limit-requests", "100".into()),
                ("x-ratelimit-remaining-requests", pct.to_string()),
                ("x-ratelimit-reset-requests", "60s".into()),
                ("x-codex-primary-used-percent", (100 - pct).to_string()),
                ("x-codex-primary-window-minutes", "300".into()),
            ],
        );
    }
}

fn set(h: &mut HeaderMap, pairs: &[(&'static str, String)]) {
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(HeaderName::from_static(k), v);
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// splitmix64(n) as a number in [0, 1).
fn unit(n: u64) -> f64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_rate_is_close_to_its_value_and_repeatable() {
        let fails = (0..10_000).filter(|n| unit(*n) < 0.5).count();
        assert!((4_800..5_200).contains(&fails), "{fails}");
        assert_eq!(unit(42), unit(42));
    }
}
