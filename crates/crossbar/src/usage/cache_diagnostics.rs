//! Anthropic's cache diagnostics (beta): the provider's own reason for a prompt-cache miss,
//! stored next to crossbar's verdict (`cache_verdict`).
//!
//! With the beta header `anthropic-beta: cache-diagnosis-2026-04-07` and a request member
//! `diagnostics: {previous_message_id}` (the `msg_…` id of the conversation's previous response,
//! `null` on a first turn), Anthropic compares the two prompts and answers
//! `diagnostics.cache_miss_reason` on the Message (on `message_start`'s message when streamed):
//! `null` (no divergence, or not known yet), or `{type}` with `type` one of `model_changed`,
//! `system_changed`, `tools_changed`, `messages_changed` (these four with
//! `cache_missed_input_tokens`), `previous_message_not_found`, `unavailable`.
//!
//! crossbar asks (`prepare`) only for an Anthropic upstream whose provider says
//! `cache_diagnostics = true`, relayed requests included; a client that asks by itself on a
//! relay gets its request as sent. Either way the answer is read (`Scan`, over the response as
//! it streams by, keeping at most `WINDOW` bytes) and stored as `<type>[:<missed tokens>]`, or
//! `none` for a `null` reason; the response's id becomes the next turn's `previous_message_id`.

use bytes::Bytes;
use std::borrow::Cow;

pub const BETA: &str = "cache-diagnosis-2026-04-07";
/// Bytes of the response kept between chunks: enough for a key, its value and the reason.
const WINDOW: usize = 4096;

/// Ask for diagnostics: the beta header (added to the client's own betas) and, unless the body
/// already has one, a `diagnostics` member naming `previous` (the new body, or `None` when
/// the body is kept as it is).
pub fn prepare(headers: &mut axum::http::HeaderMap, body: &[u8], previous: Option<&str>) -> Option<Bytes> {
    let betas: Vec<String> = headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|b| b.trim().to_string())
        .filter(|b| !b.is_empty())
        .collect();
    if !betas.iter().any(|b| b == BETA) {
        let mut all = betas;
        all.push(BETA.to_string());
        if let Ok(v) = axum::http::HeaderValue::from_str(&all.join(",")) {
            headers.insert("anthropic-beta", v);
        }
    }
    if has_diagnostics(body) {
        return None;
    }
    let open = body.iter().position(|b| !b.is_ascii_whitespace()).filter(|&i| body[i] == b'{')?;
    let rest = &body[open + 1..];
    let empty = rest.trim_ascii_start().starts_with(b"}");
    let id = previous.map_or_else(|| "null".to_string(), |p| serde_json::Value::from(p).to_string());
    let member = format!("\"diagnostics\":{{\"previous_message_id\":{id}}}{}", if empty { "" } else { "," });
    let mut out = Vec::with_capacity(body.len() + member.len());
    out.extend_from_slice(&body[..=open]);
    out.extend_from_slice(member.as_bytes());
    out.extend_from_slice(rest);
    Some(out.into())
}

/// Whether a JSON object has a top-level `diagnostics` member (a borrowed scan: nothing is built).
pub fn has_diagnostics(body: &[u8]) -> bool {
    if memchr::memmem::find(body, b"\"diagnostics\"").is_none() {
        return false;
    }
    #[derive(serde::Deserialize)]
    struct Top<'a> {
        #[serde(borrow)]
        diagnostics: Option<&'a serde_json::value::RawValue>,
    }
    serde_json::from_slice::<Top>(body).is_ok_and(|t| t.diagnostics.is_some())
}

/// What a response said: its id and the provider's cache-miss reason, read as it streams by.
#[derive(Debug, Default)]
pub struct Scan {
    window: Vec<u8>,
    pub message_id: Option<String>,
    pub reason: Option<String>,
}

impl Scan {
    pub fn push(&mut self, chunk: &[u8]) {
        if self.message_id.is_some() && self.reason.is_some() {
            return;
        }
        self.window.extend_from_slice(chunk);
        self.look(false);
        if self.window.len() > 2 * WINDOW {
            let cut = self.window.len() - WINDOW;
            self.window.drain(..cut);
        }
    }

    /// The response ended: read what is left.
    pub fn finish(&mut self) {
        self.look(true);
        self.window = Vec::new();
    }

    fn look(&mut self, end: bool) {
        if self.message_id.is_none() {
            if let Some(Value::Str(id)) = value_after(&self.window, b"\"id\"", end) {
                self.message_id = Some(id.into_owned());
            }
        }
        if self.reason.is_none() {
            self.reason = match value_after(&self.window, b"\"cache_miss_reason\"", end) {
                Some(Value::Null) => Some("none".into()),
                Some(Value::Object(v)) => Some(code(&v)),
                _ => None,
            };
        }
    }
}

enum Value<'a> {
    Null,
    Str(Cow<'a, str>),
    Object(serde_json::Value),
}

/// The JSON value after the first `key:` in `buf` (a `key` not followed by `:` is a string
/// value, not a member); `None` while it may be incomplete.
fn value_after<'a>(buf: &'a [u8], key: &[u8], end: bool) -> Option<Value<'a>> {
    let rest = memchr::memmem::find_iter(buf, key).find_map(|at| {
        let after = buf[at + key.len()..].trim_ascii_start();
        if after.is_empty() {
            return Some(after);
        }
        after.strip_prefix(b":").map(<[u8]>::trim_ascii_start)
    })?;
    if rest.starts_with(b"null") {
        return Some(Value::Null);
    }
    if rest.is_empty() && !end {
        return None;
    }
    let mut de = serde_json::Deserializer::from_slice(rest).into_iter::<serde_json::Value>();
    match de.next() {
        Some(Ok(serde_json::Value::String(s))) => Some(Value::Str(s.into())),
        Some(Ok(v @ serde_json::Value::Object(_))) => Some(Value::Object(v)),
        Some(Ok(_)) => Some(Value::Null),
        Some(Err(e)) if e.is_eof() && !end => None,
        _ => Some(Value::Null),
    }
}

/// `<type>[:<cache_missed_input_tokens>]` (an unknown shape: `unavailable`).
fn code(reason: &serde_json::Value) -> String {
    let ty = reason["type"].as_str().filter(|t| t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    match (ty, reason["cache_missed_input_tokens"].as_u64()) {
        (Some(t), Some(n)) => format!("{t}:{n}"),
        (Some(t), None) => t.to_string(),
        (None, _) => "unavailable".into(),
    }
}

/// A stored diagnosis in words, for the dashboard.
pub fn describe(code: &str) -> String {
    let (ty, tokens) = code.split_once(':').map_or((code, None), |(t, n)| (t, Some(n)));
    let what = match ty {
        "none" => "no divergence from the previous request (or not known yet)",
        "model_changed" => "the model changed",
        "system_changed" => "the system prompt changed",
        "tools_changed" => "the tools changed",
        "messages_changed" => "the messages changed",
        "previous_message_not_found" => "the previous message was not found",
        "unavailable" => "no diagnosis available",
        other => other,
    };
    match tokens {
        Some(n) => format!("{what} (about {n} tokens not read from the cache)"),
        None => what.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    #[test]
    fn asks_once_and_keeps_the_clients_betas_and_diagnostics() {
        let mut h = HeaderMap::new();
        h.insert("anthropic-beta", "claude-code-20250219".parse().expect("value"));
        let body = prepare(&mut h, br#" {"model":"m","messages":[]}"#, Some("msg_1")).expect("body");
        assert_eq!(&body[..], br#" {"diagnostics":{"previous_message_id":"msg_1"},"model":"m","messages":[]}"#);
        assert_eq!(h["anthropic-beta"], "claude-code-20250219,cache-diagnosis-2026-04-07");
        assert_eq!(prepare(&mut h, &body, Some("msg_2")), None, "a body with diagnostics is kept");
        assert_eq!(h.get_all("anthropic-beta").iter().count(), 1);
        assert_eq!(h["anthropic-beta"], "claude-code-20250219,cache-diagnosis-2026-04-07", "not twice");
        let empty = prepare(&mut HeaderMap::new(), b"{ }", None).expect("body");
        assert_eq!(&empty[..], br#"{"diagnostics":{"previous_message_id":null} }"#);
        assert_eq!(prepare(&mut HeaderMap::new(), b"[1]", None), None, "not an object: as sent");
        assert!(!has_diagnostics(br#"{"messages":[{"content":"\"diagnostics\""}]}"#));
    }

    #[test]
    fn reads_id_and_reason_across_chunk_boundaries() {
        let stream = concat!(
            "event: message_start\n",
            r#"data: {"type":"message_start","message":{"id":"msg_01","type":"message","content":[],"#,
            r#""usage":{"input_tokens":5},"diagnostics":{"cache_miss_reason":{"type":"messages_changed","cache_missed_input_tokens":1200}}}}"#,
            "\n\nevent: content_block_start\n",
            r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1"}}"#,
            "\n\n"
        )
        .as_bytes();
        for cut in 0..stream.len() {
            let mut s = Scan::default();
            s.push(&stream[..cut]);
            s.push(&stream[cut..]);
            s.finish();
            assert_eq!(s.message_id.as_deref(), Some("msg_01"), "cut {cut}");
            assert_eq!(s.reason.as_deref(), Some("messages_changed:1200"), "cut {cut}");
        }
        let mut s = Scan::default();
        s.push(br#"{"type":"id","id":"msg_2","content":[],"diagnostics":{"cache_miss_reason":null}}"#);
        assert_eq!((s.message_id.as_deref(), s.reason.as_deref()), (Some("msg_2"), Some("none")));
        let mut s = Scan::default();
        s.push(br#"{"id":"msg_3","diagnostics":{"cache_miss_reason":{"type":"previous_message_not_found"}}}"#);
        assert_eq!(s.reason.as_deref(), Some("previous_message_not_found"));
        let mut s = Scan::default();
        s.push(&vec![b'x'; 100_000]);
        s.push(br#"{"id":"msg_4"}"#);
        assert!(s.window.len() <= 2 * WINDOW + 20, "bounded");
        assert_eq!(s.message_id.as_deref(), Some("msg_4"));
        assert_eq!(describe("messages_changed:12"), "the messages changed (about 12 tokens not read from the cache)");
    }
}
