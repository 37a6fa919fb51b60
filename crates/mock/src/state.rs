//! Reasoning state in strict mode: the opaque tokens the mock issues, and the check that a
//! request brings them back as the real APIs demand.
//!
//! Strict mode is `mock:verify-state` (directive or `x-mock` header), and on the Gemini endpoint
//! also any model named `gemini-3…` (Gemini 3 always thinks and always signs). In it every token
//! is unique to the response that issued it, so a test can tell turn 1's token from any other:
//! - Gemini: `thoughtSignature` on the first `functionCall` of a response (bound to the call's
//!   id), on the last thought part and on the last text part;
//! - Anthropic: the `thinking` block's `signature` (bound to the message id and the thinking
//!   text);
//! - Responses: the reasoning item's `encrypted_content`.
//!
//! A request that does not bring them back is refused as the real API refuses it (400, in the
//! protocol's error shape):
//! - Gemini: the first `functionCall` of every `model` content needs a `thoughtSignature`;
//!   a call the mock issued needs exactly the one it got (stricter than Google, which also takes
//!   `skip_thought_signature_validator`: the placeholder stands for calls another model made);
//!   a missing one is "Function call is missing a thought_signature…", a wrong one "Corrupted
//!   thought signature.";
//! - Anthropic: every `thinking` block needs a signature the mock issued for that very text
//!   ("Invalid `signature` in `thinking` block"), and with thinking on, a final assistant turn
//!   holding `tool_use` must start with a thinking block;
//! - Responses: every reasoning item's `encrypted_content` must be one the mock issued.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::plan::Plan;

const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

fn unb64(s: &str) -> Option<String> {
    STANDARD.decode(s).ok().and_then(|b| String::from_utf8(b).ok())
}

/// FNV-1a, to bind a signature to the text it signs.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Gemini: the signature of a response's first `functionCall` (bound to its id).
pub fn gemini_call_signature(call_id: &str) -> String {
    b64(&format!("mock-g3-call:{call_id}"))
}

/// Gemini: the signature on a response's last thought (`kind` "thought") or text ("text") part.
pub fn gemini_part_signature(p: &Plan, kind: &str) -> String {
    b64(&format!("mock-g3-{kind}:mock{:x}", p.id))
}

/// Anthropic: a thinking block's signature, bound to the message and the thinking text.
pub fn anthropic_signature(p: &Plan, thinking: &str) -> String {
    b64(&format!("mock-sig:msg_mock{:x}:{:016x}", p.id, fnv(thinking)))
}

/// Responses: a reasoning item's `encrypted_content`.
pub fn encrypted_reasoning(p: &Plan) -> String {
    b64(&format!("mock-enc:resp_mock{:x}", p.id))
}

/// The tokens strict mode puts in a mock's `seq`-th answer (a fresh mock's first is 1), so
/// tests can look for the exact token a turn was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrictTokens {
    /// On the first `functionCall` (Gemini).
    pub gemini_call: String,
    /// On the last thought part, with `mock:reasoning` (Gemini).
    pub gemini_thought: String,
    /// On the last text part of an answer without calls (Gemini).
    pub gemini_text: String,
    /// The thinking block's signature, with `mock:reasoning` (Anthropic).
    pub anthropic_signature: String,
    /// The reasoning item's `encrypted_content`, with `mock:reasoning` (Responses).
    pub encrypted_reasoning: String,
}

pub fn strict_tokens(seq: u64) -> StrictTokens {
    let p = Plan { id: seq, ..Plan::blank() };
    StrictTokens {
        gemini_call: gemini_call_signature(&format!("mock{seq:x}_0")),
        gemini_thought: gemini_part_signature(&p, "thought"),
        gemini_text: gemini_part_signature(&p, "text"),
        anthropic_signature: anthropic_signature(&p, crate::plan::REASONING),
        encrypted_reasoning: encrypted_reasoning(&p),
    }
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// A call id the Gemini endpoint gave the first call of a response (`mock<hex>_0`).
fn issued_first_call(id: &str) -> bool {
    id.strip_prefix("mock")
        .and_then(|rest| rest.strip_suffix("_0"))
        .is_some_and(|hex| !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn gemini_error(message: String) -> Value {
    json!({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}})
}

/// Gemini: the 400 body for a request whose function calls lack their signatures.
pub fn check_gemini(body: &Value) -> Option<Value> {
    for (ci, content) in arr(&body["contents"]).iter().enumerate() {
        if content["role"] != "model" {
            continue;
        }
        let Some(part) = arr(&content["parts"]).iter().find(|p| p.get("functionCall").is_some()) else {
            continue;
        };
        let call = &part["functionCall"];
        let sig = part
            .get("thoughtSignature")
            .or_else(|| part.get("thought_signature"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let issued = call["id"].as_str().filter(|id| issued_first_call(id)).map(gemini_call_signature);
        let missing = match &issued {
            Some(expected) if sig == expected => continue,
            Some(_) => sig.is_empty() || sig == SKIP_SIGNATURE,
            None if sig.is_empty() => true,
            None => continue,
        };
        let message = if missing {
            format!(
                "Function call is missing a thought_signature in functionCall parts. This is required for tools \
                 to work correctly, and missing thought_signature may lead to degraded model performance. \
                 Additional data, function call `default_api:{}` , position {}. Please refer to \
                 https://ai.google.dev/gemini-api/docs/thought-signatures for more details.",
                call["name"].as_str().unwrap_or(""),
                ci + 1
            )
        } else {
            "Corrupted thought signature.".to_owned()
        };
        return Some(gemini_error(message));
    }
    None
}

fn anthropic_error(message: String) -> Value {
    json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}, "request_id": "req_mock"})
}

/// Whether a thinking signature is one the mock issued for this text.
fn valid_anthropic_signature(sig: &str, thinking: &str) -> bool {
    unb64(sig).is_some_and(|s| {
        s.strip_prefix("mock-sig:msg_mock")
            .and_then(|rest| rest.rsplit_once(':'))
            .is_some_and(|(_, h)| h == format!("{:016x}", fnv(thinking)))
    })
}

/// Anthropic: the 400 body for thinking blocks that do not come back as issued.
pub fn check_anthropic(body: &Value) -> Option<Value> {
    let messages = arr(&body["messages"]);
    for (mi, m) in messages.iter().enumerate() {
        if m["role"] != "assistant" {
            continue;
        }
        for (bi, b) in arr(&m["content"]).iter().enumerate() {
            if b["type"] == "thinking"
                && !valid_anthropic_signature(
                    b["signature"].as_str().unwrap_or(""),
                    b["thinking"].as_str().unwrap_or(""),
                )
            {
                return Some(anthropic_error(format!(
                    "messages.{mi}.content.{bi}: Invalid `signature` in `thinking` block"
                )));
            }
        }
    }
    let thinking_on = matches!(body["thinking"]["type"].as_str(), Some("enabled" | "adaptive"));
    let last = messages.iter().enumerate().rev().find(|(_, m)| m["role"] == "assistant");
    if let (true, Some((mi, m))) = (thinking_on, last) {
        let blocks = arr(&m["content"]);
        let first = blocks.first().and_then(|b| b["type"].as_str()).unwrap_or("");
        if blocks.iter().any(|b| b["type"] == "tool_use") && !matches!(first, "thinking" | "redacted_thinking") {
            return Some(anthropic_error(format!(
                "messages.{mi}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. When \
                 `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the \
                 lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from \
                 previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at \
                 https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
            )));
        }
    }
    None
}

/// Responses: the 400 body for reasoning items whose `encrypted_content` the mock did not issue.
pub fn check_responses(body: &Value) -> Option<Value> {
    for item in arr(&body["input"]) {
        if item["type"] != "reasoning" {
            continue;
        }
        let Some(enc) = item["encrypted_content"].as_str() else { continue };
        if !unb64(enc).is_some_and(|s| s.starts_with("mock-enc:resp_mock")) {
            let id = item["id"].as_str().unwrap_or("");
            return Some(json!({"error": {
                "message": format!("The encrypted content for item {id} could not be verified."),
                "type": "invalid_request_error", "param": null, "code": "invalid_encrypted_content",
            }}));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_calls_need_their_exact_signature() {
        let req = |sig: Option<&str>, id: &str| {
            let mut part = json!({"functionCall": {"id": id, "name": "shell", "args": {}}});
            if let Some(s) = sig {
                part["thoughtSignature"] = json!(s);
            }
            json!({"contents": [
                {"role": "user", "parts": [{"text": "hi"}]},
                {"role": "model", "parts": [part]},
                {"role": "user", "parts": [{"functionResponse": {"id": id, "name": "shell", "response": {}}}]},
            ]})
        };
        let good = gemini_call_signature("mock1f_0");
        assert_eq!(check_gemini(&req(Some(&good), "mock1f_0")), None);
        let missing = check_gemini(&req(None, "mock1f_0")).unwrap_or_default();
        let msg = missing["error"]["message"].as_str().unwrap_or("");
        assert!(msg.starts_with("Function call is missing a thought_signature"), "{msg}");
        assert!(msg.contains("`default_api:shell` , position 2."), "{msg}");
        let skipped = check_gemini(&req(Some(SKIP_SIGNATURE), "mock1f_0")).unwrap_or_default();
        assert!(skipped["error"]["message"].as_str().unwrap_or("").starts_with("Function call is missing"));
        let other = gemini_call_signature("mock20_0");
        let corrupted = check_gemini(&req(Some(&other), "mock1f_0")).unwrap_or_default();
        assert_eq!(corrupted["error"]["message"], "Corrupted thought signature.");
        assert_eq!(corrupted["error"]["status"], "INVALID_ARGUMENT");
        // A call the mock did not issue: any signature, the placeholder included, will do.
        assert_eq!(check_gemini(&req(Some(SKIP_SIGNATURE), "call_x")), None);
        assert!(check_gemini(&req(None, "call_x")).is_some());
    }

    #[test]
    fn anthropic_thinking_needs_its_signature() {
        let p = Plan { id: 7, ..Plan::blank() };
        let sig = anthropic_signature(&p, "think");
        let req = |sig: &str, text: &str| {
            json!({"thinking": {"type": "enabled", "budget_tokens": 1024}, "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": text, "signature": sig},
                    {"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]},
            ]})
        };
        assert_eq!(check_anthropic(&req(&sig, "think")), None);
        let altered = check_anthropic(&req(&sig, "thunk")).unwrap_or_default();
        assert_eq!(altered["error"]["message"], "messages.1.content.0: Invalid `signature` in `thinking` block");
        assert!(check_anthropic(&req("bW9jay1zaWduYXR1cmU=", "think")).is_some());
        let bare = json!({"thinking": {"type": "enabled"}, "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
        ]});
        let err = check_anthropic(&bare).unwrap_or_default();
        assert!(err["error"]["message"].as_str().unwrap_or("").contains("but found `tool_use`"));
    }

    #[test]
    fn responses_reasoning_needs_issued_content() {
        let p = Plan { id: 3, ..Plan::blank() };
        let ok = json!({"input": [{"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": encrypted_reasoning(&p)}]});
        assert_eq!(check_responses(&ok), None);
        let bad = json!({"input": [{"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "Y2Ix"}]});
        assert_eq!(check_responses(&bad).unwrap_or_default()["error"]["code"], "invalid_encrypted_content");
    }
}
