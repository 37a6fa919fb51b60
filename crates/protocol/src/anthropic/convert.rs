//! One small function per concept between Anthropic spellings and canonical ones: usage,
//! stop reasons, error types, efforts. Both directions live here so they stay in sync.

use super::wire::{InUsage, OutUsage};
use crate::canonical::{Effort, ErrorKind, FinishReason, Usage};

// === usage (see the table in canonical/usage.rs) ===

/// A complete Anthropic usage report (a Message, `message_start`) → canonical.
/// Canonical `input` includes cache reads and writes.
pub fn usage_in(u: &InUsage) -> Usage {
    Usage {
        input: u.input_tokens.map(|i| {
            i.saturating_add(u.cache_read_input_tokens.unwrap_or(0)).saturating_add(u.cache_write().unwrap_or(0))
        }),
        output: u.output_tokens,
        cache_read: u.cache_read_input_tokens,
        cache_write: u.cache_write(),
        cache_write_1h: u.cache_write_1h(),
        reasoning: None,
    }
}

/// Anthropic's own `input_tokens`: canonical input minus cache reads and writes.
pub fn uncached_input(u: &Usage) -> Option<u64> {
    u.input.map(|i| i.saturating_sub(u.cache_read.unwrap_or(0)).saturating_sub(u.cache_write.unwrap_or(0)))
}

pub fn usage_out(u: &Usage) -> OutUsage {
    OutUsage {
        input_tokens: uncached_input(u).unwrap_or(0),
        output_tokens: u.output.unwrap_or(0),
        cache_creation_input_tokens: u.cache_write.unwrap_or(0),
        cache_read_input_tokens: u.cache_read.unwrap_or(0),
    }
}

// === stop reasons ===

pub fn finish_in(stop_reason: &str, stop_sequence: Option<String>) -> FinishReason {
    match stop_reason {
        "end_turn" => FinishReason::Stop,
        "stop_sequence" => FinishReason::StopSequence(stop_sequence),
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

/// `(stop_reason, stop_sequence)` for a client. A missing or foreign reason becomes
/// `tool_use` when the reply called tools (Gemini says `STOP` then), else `end_turn`.
pub fn stop_reason_out(finish: Option<&FinishReason>, has_tool_calls: bool) -> (&'static str, Option<String>) {
    let natural = if has_tool_calls { "tool_use" } else { "end_turn" };
    match finish {
        Some(FinishReason::Stop) | None => (natural, None),
        Some(FinishReason::StopSequence(s)) => ("stop_sequence", s.clone()),
        Some(FinishReason::Length) => ("max_tokens", None),
        Some(FinishReason::ToolCalls) => ("tool_use", None),
        Some(FinishReason::ContentFilter) => ("refusal", None),
        Some(FinishReason::Other(raw)) => match raw.as_str() {
            "pause_turn" => ("pause_turn", None),
            "refusal" => ("refusal", None),
            _ => (natural, None),
        },
    }
}

// === errors ===

/// An Anthropic `error.type` (plus its message, for the cases Anthropic reports as
/// `invalid_request_error`) → canonical kind. Unknown types fall back to the HTTP status.
pub fn error_kind_in(kind: Option<&str>, message: &str, status: u16) -> ErrorKind {
    let lower = message.to_ascii_lowercase();
    let context = ["prompt is too long", "exceed context limit", "context window", "context length", "too many tokens"];
    if context.iter().any(|p| lower.contains(p)) {
        return ErrorKind::ContextLengthExceeded;
    }
    if lower.contains("credit balance") {
        return ErrorKind::QuotaExceeded;
    }
    match kind {
        Some("invalid_request_error") => ErrorKind::InvalidRequest,
        Some("authentication_error") => ErrorKind::Authentication,
        Some("permission_error") => ErrorKind::PermissionDenied,
        Some("not_found_error") => ErrorKind::NotFound,
        Some("request_too_large") => ErrorKind::PayloadTooLarge,
        Some("rate_limit_error") => ErrorKind::RateLimited,
        Some("billing_error") => ErrorKind::QuotaExceeded,
        Some("timeout_error") => ErrorKind::Timeout,
        Some("overloaded_error") => ErrorKind::Overloaded,
        Some("api_error") => ErrorKind::Internal,
        _ => ErrorKind::from_status(status),
    }
}

pub fn error_type_out(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::ContextLengthExceeded => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::PermissionDenied => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::PayloadTooLarge => "request_too_large",
        ErrorKind::RateLimited => "rate_limit_error",
        ErrorKind::QuotaExceeded => "billing_error",
        ErrorKind::Overloaded => "overloaded_error",
        ErrorKind::Timeout | ErrorKind::RequestTimeout => "timeout_error",
        ErrorKind::UpstreamUnavailable | ErrorKind::UpstreamInvalid | ErrorKind::Internal => "api_error",
    }
}

// === effort ===

/// `output_config.effort` spelling (Anthropic has `low|medium|high|xhigh|max`; `max` is the
/// canonical `xhigh`, see canonical/reasoning.rs). `None` for `Effort::None` (no thinking).
pub fn effort_out(e: Effort) -> Option<&'static str> {
    match e {
        Effort::None => None,
        Effort::Minimal | Effort::Low => Some("low"),
        Effort::Medium => Some("medium"),
        Effort::High => Some("high"),
        Effort::Xhigh => Some("max"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_round_trips_through_the_table() {
        let wire = InUsage {
            input_tokens: Some(10),
            output_tokens: Some(5),
            cache_creation_input_tokens: Some(100),
            cache_read_input_tokens: Some(1000),
            cache_creation: None,
        };
        let u = usage_in(&wire);
        assert_eq!(u.input, Some(1110));
        let out = usage_out(&u);
        assert_eq!(
            (out.input_tokens, out.output_tokens, out.cache_creation_input_tokens, out.cache_read_input_tokens),
            (10, 5, 100, 1000)
        );
        assert_eq!(u.cache_write_1h, None);
        // Inconsistent foreign usage never underflows.
        let odd = Usage { input: Some(3), cache_read: Some(10), ..Default::default() };
        assert_eq!(usage_out(&odd).input_tokens, 0);
    }

    #[test]
    fn stop_reasons_round_trip() {
        for raw in ["end_turn", "max_tokens", "tool_use", "refusal", "pause_turn"] {
            let f = finish_in(raw, None);
            assert_eq!(stop_reason_out(Some(&f), raw == "tool_use").0, raw);
        }
        let f = finish_in("stop_sequence", Some("###".into()));
        assert_eq!(stop_reason_out(Some(&f), false), ("stop_sequence", Some("###".into())));
        assert_eq!(stop_reason_out(Some(&FinishReason::Stop), true).0, "tool_use");
        assert_eq!(stop_reason_out(Some(&FinishReason::Other("MALFORMED".into())), false).0, "end_turn");
        assert_eq!(stop_reason_out(None, false).0, "end_turn");
    }

    #[test]
    fn error_types_round_trip() {
        for t in [
            "invalid_request_error",
            "authentication_error",
            "permission_error",
            "not_found_error",
            "request_too_large",
            "rate_limit_error",
            "billing_error",
            "timeout_error",
            "overloaded_error",
            "api_error",
        ] {
            assert_eq!(error_type_out(error_kind_in(Some(t), "x", 400)), t);
        }
        assert_eq!(
            error_kind_in(Some("invalid_request_error"), "prompt is too long: 210000 tokens > 200000 maximum", 400),
            ErrorKind::ContextLengthExceeded
        );
        assert_eq!(error_kind_in(None, "", 529), ErrorKind::Overloaded);
    }

    #[test]
    fn cache_writes_split_by_ttl_keep_their_one_hour_part() {
        let wire: InUsage = serde_json::from_str(
            r#"{"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 300,
                "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200}}"#,
        )
        .expect("usage");
        let u = usage_in(&wire);
        assert_eq!((u.input, u.cache_write, u.cache_write_1h), (Some(310), Some(300), Some(200)));
        // Only the split (no total): the total is the sum of both TTLs.
        let split: InUsage = serde_json::from_str(
            r#"{"input_tokens": 1, "cache_creation": {"ephemeral_5m_input_tokens": 7, "ephemeral_1h_input_tokens": 3}}"#,
        )
        .expect("usage");
        let u = usage_in(&split);
        assert_eq!((u.input, u.cache_write, u.cache_write_1h), (Some(11), Some(10), Some(3)));
    }
}
