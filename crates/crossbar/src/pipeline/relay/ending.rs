//! The protocol's own terminal error event, for a relayed stream that breaks after it started
//! (upstream cut, idle timeout). The relay does not parse the stream it forwards, so these
//! frames stand alone: they never claim a `sequence_number` or block index they cannot know.

use bytes::{BufMut, BytesMut};
use crossbar_protocol::canonical::{ErrorInfo, ErrorKind, Protocol};
use serde_json::json;

pub fn frame(p: Protocol, info: &ErrorInfo, at_boundary: bool) -> BytesMut {
    let mut out = BytesMut::new();
    if !at_boundary {
        // Close whatever partial event the upstream left, so ours parses on its own.
        out.put_slice(b"\n\n");
    }
    match p {
        Protocol::OpenaiChat => {
            let body = json!({"error": {"message": info.message, "type": openai_type(info.kind), "param": null, "code": info.code}});
            crossbar_protocol::sse::write_data(&mut out, &body.to_string());
            crossbar_protocol::sse::write_data(&mut out, "[DONE]");
        }
        Protocol::OpenaiResponses => {
            let code = info.code.clone().unwrap_or_else(|| responses_code(info.kind).to_string());
            let body = json!({
                "type": "response.failed",
                "response": {"object": "response", "status": "failed", "error": {"code": code, "message": info.message}, "output": []}
            });
            crossbar_protocol::sse::write_event(&mut out, "response.failed", &body.to_string());
        }
        Protocol::Anthropic => {
            let body = json!({"type": "error", "error": {"type": anthropic_type(info.kind), "message": info.message}});
            crossbar_protocol::sse::write_event(&mut out, "error", &body.to_string());
        }
        Protocol::Gemini => {
            let body =
                json!({"error": {"code": info.status, "message": info.message, "status": gemini_status(info.kind)}});
            crossbar_protocol::sse::write_data(&mut out, &body.to_string());
        }
    }
    out
}

fn openai_type(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::RateLimited => "rate_limit_error",
        ErrorKind::Timeout | ErrorKind::UpstreamUnavailable | ErrorKind::UpstreamInvalid => "server_error",
        _ => "api_error",
    }
}

fn responses_code(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::RateLimited => "rate_limit_exceeded",
        ErrorKind::Overloaded => "server_is_overloaded",
        ErrorKind::ContextLengthExceeded => "context_length_exceeded",
        ErrorKind::QuotaExceeded => "insufficient_quota",
        _ => "server_error",
    }
}

fn anthropic_type(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::Overloaded => "overloaded_error",
        ErrorKind::RateLimited => "rate_limit_error",
        ErrorKind::Timeout | ErrorKind::RequestTimeout => "timeout_error",
        _ => "api_error",
    }
}

fn gemini_status(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::Timeout | ErrorKind::RequestTimeout => "DEADLINE_EXCEEDED",
        ErrorKind::RateLimited => "RESOURCE_EXHAUSTED",
        ErrorKind::UpstreamUnavailable | ErrorKind::Overloaded => "UNAVAILABLE",
        _ => "INTERNAL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_as_one_event_even_after_a_partial_one() {
        let info = ErrorInfo::new(ErrorKind::UpstreamUnavailable, "cut");
        for p in Protocol::ALL {
            let mut d = crossbar_protocol::sse::Decoder::default();
            let mut events = Vec::new();
            d.push(b"data: {\"partial", &mut events);
            d.push(&frame(p, &info, false), &mut events);
            d.finish(&mut events);
            let last = events.iter().rev().find(|e| e.data != "[DONE]").expect("an event");
            let v: serde_json::Value = serde_json::from_str(&last.data).expect("json");
            assert!(v.to_string().contains("cut"), "{p:?}: {v}");
        }
    }
}
