//! The ChatGPT backend's usage windows on a socket. Over HTTP they come as response headers
//! (`x-codex-primary-used-percent`, …); over WebSocket as a `codex.rate_limits` event ahead of
//! the response's events. The event is read into those same headers on the turn's response
//! head, so the account's windows, parking and fleet sharing (`accounts`, `routing`) see a
//! socket turn exactly as they see an HTTP one. The event itself still goes on to the client.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

#[derive(Deserialize)]
struct Event {
    rate_limits: Option<Limits>,
}

#[derive(Deserialize)]
struct Limits {
    primary: Option<Window>,
    secondary: Option<Window>,
}

#[derive(Deserialize)]
struct Window {
    used_percent: Option<f64>,
    window_minutes: Option<u64>,
    reset_at: Option<u64>,
    reset_after_seconds: Option<u64>,
}

/// The `x-codex-{primary,secondary}-*` headers a `codex.rate_limits` event stands for (none
/// for anything else, or for windows without a used share).
pub fn headers(event: &str) -> HeaderMap {
    let mut out = HeaderMap::new();
    let Ok(Event { rate_limits: Some(limits) }) = serde_json::from_str::<Event>(event) else {
        return out;
    };
    for (name, window) in [("primary", limits.primary), ("secondary", limits.secondary)] {
        let Some(w) = window else { continue };
        let Some(used) = w.used_percent.filter(|u| u.is_finite()) else { continue };
        let mut put = |suffix: &str, value: String| {
            if let (Ok(k), Ok(v)) =
                (HeaderName::try_from(format!("x-codex-{name}-{suffix}")), HeaderValue::try_from(value))
            {
                out.insert(k, v);
            }
        };
        put("used-percent", used.to_string());
        if let Some(m) = w.window_minutes {
            put("window-minutes", m.to_string());
        }
        if let Some(at) = w.reset_at {
            put("reset-at", at.to_string());
        }
        if let Some(s) = w.reset_after_seconds {
            put("reset-after-seconds", s.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_becomes_the_headers_http_carries() {
        let event = r#"{"type":"codex.rate_limits","plan_type":"pro","rate_limits":{"allowed":true,"limit_reached":false,
            "primary":{"used_percent":7,"window_minutes":300,"reset_after_seconds":13168,"reset_at":1779398785},
            "secondary":{"used_percent":29.5,"window_minutes":10080,"reset_at":1779820580}},"code_review_rate_limits":null}"#;
        let h = headers(event);
        assert_eq!(h["x-codex-primary-used-percent"], "7");
        assert_eq!(h["x-codex-primary-window-minutes"], "300");
        assert_eq!(h["x-codex-primary-reset-at"], "1779398785");
        assert_eq!(h["x-codex-primary-reset-after-seconds"], "13168");
        assert_eq!(h["x-codex-secondary-used-percent"], "29.5");
        assert_eq!(h["x-codex-secondary-reset-at"], "1779820580");
        assert!(h.get("x-codex-secondary-reset-after-seconds").is_none());
    }

    #[test]
    fn anything_else_gives_no_headers() {
        for event in [
            "",
            "not json",
            r#"{"type":"codex.rate_limits"}"#,
            r#"{"type":"codex.rate_limits","rate_limits":{"allowed":true,"primary":null}}"#,
            r#"{"type":"codex.rate_limits","rate_limits":{"primary":{"window_minutes":300}}}"#,
            r#"{"type":"codex.rate_limits","rate_limits":{"primary":{"used_percent":"x"}}}"#,
        ] {
            assert!(headers(event).is_empty(), "{event}");
        }
    }
}
