//! Shallow look at a JSON request body: just what routing needs (`model`, `stream`,
//! `stream_options.include_usage`, whether the Codex backend would take it as it is) and where
//! `model`'s value sits, so the relay can swap the model name without re-serializing anything
//! else. Nested values are skipped unparsed, except that where the prompt's members sit is
//! noted on the way (`prompt`: the conversation key and the cache fingerprint read them there
//! instead of parsing the body again).

use bytes::{Bytes, BytesMut};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::ops::Range;

use crate::usage::cache_prompt::{Top, TopSpans};

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Shallow {
    pub model: Option<String>,
    /// Byte range of `model`'s JSON value (quotes included) inside the body.
    pub model_span: Option<Range<usize>>,
    pub stream: bool,
    pub include_usage: bool,
    /// Byte range of `stream_options`' value, when present.
    pub stream_options_span: Option<Range<usize>>,
    /// `"store": false` is in the body.
    pub store_false: bool,
    /// An output limit or sampling parameter the Codex backend refuses is in the body.
    pub codex_refused: bool,
    /// Where the members the conversation key and the prompt fingerprint read sit.
    pub prompt: TopSpans,
}

/// Parse the top level of `body`. The error is a message for a 400.
pub fn inspect(body: &[u8]) -> Result<Shallow, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("the request body is empty; send a JSON object".to_string());
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = de.deserialize_map(TopVisitor).map_err(|e| format!("the request body is not valid JSON: {e}"))?;
    de.end().map_err(|e| format!("the request body is not valid JSON: {e}"))?;
    let mut out = Shallow {
        store_false: found.store.is_some_and(|v| v.get() == "false"),
        codex_refused: found.codex_refused,
        prompt: found.top.spans(body),
        ..Shallow::default()
    };
    if let Some(raw) = found.model {
        let s = raw.get();
        out.model = Some(serde_json::from_str::<String>(s).map_err(|_| "`model` must be a string".to_string())?);
        let start = s.as_ptr() as usize - body.as_ptr() as usize;
        out.model_span = Some(start..start + s.len());
    }
    if let Some(raw) = found.stream {
        out.stream = match raw.get() {
            "true" => true,
            "false" | "null" => false,
            _ => return Err("`stream` must be a boolean".to_string()),
        };
    }
    if let Some(raw) = found.stream_options {
        #[derive(serde::Deserialize)]
        struct Opts {
            include_usage: Option<bool>,
        }
        let opts: Option<Opts> = serde_json::from_str(raw.get())
            .map_err(|_| "`stream_options` must be an object with a boolean `include_usage`".to_string())?;
        out.include_usage = opts.and_then(|o| o.include_usage).unwrap_or(false);
        let s = raw.get();
        let start = s.as_ptr() as usize - body.as_ptr() as usize;
        out.stream_options_span = Some(start..start + s.len());
    }
    Ok(out)
}

/// `body` with the bytes in `span` replaced by `model` as a JSON string.
pub fn with_model(body: &Bytes, span: &Range<usize>, model: &str) -> Bytes {
    let quoted = serde_json::Value::String(model.to_string()).to_string();
    let (Some(head), Some(tail)) = (body.get(..span.start), body.get(span.end..)) else {
        return body.clone();
    };
    let mut out = BytesMut::with_capacity(body.len() + quoted.len());
    out.extend_from_slice(head);
    out.extend_from_slice(quoted.as_bytes());
    out.extend_from_slice(tail);
    out.freeze()
}

/// `body` (a Chat request) with `stream_options.include_usage` set: the value of an existing
/// `stream_options` object rewritten (its other members kept), else the member added first
/// in the object. Every other byte is unchanged; combined with the model swap in one pass.
pub fn with_usage_asked(
    body: &Bytes,
    model_span: Option<&Range<usize>>,
    model: &str,
    stream_options_span: Option<&Range<usize>>,
) -> Bytes {
    let mut edits: Vec<(Range<usize>, Vec<u8>)> = Vec::with_capacity(2);
    if let Some(span) = model_span {
        edits.push((span.clone(), serde_json::Value::String(model.to_string()).to_string().into_bytes()));
    }
    match stream_options_span.and_then(|s| Some((s, body.get(s.clone())?))) {
        Some((span, raw)) => {
            let mut opts: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(raw).ok().unwrap_or_default();
            opts.insert("include_usage".into(), serde_json::Value::Bool(true));
            edits.push((span.clone(), serde_json::Value::Object(opts).to_string().into_bytes()));
        }
        None => {
            let Some(open) = body.iter().position(|b| *b == b'{') else { return body.clone() };
            let empty = body[open + 1..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
            let member: &[u8] = if empty {
                br#""stream_options":{"include_usage":true}"#
            } else {
                br#""stream_options":{"include_usage":true},"#
            };
            edits.push((open + 1..open + 1, member.to_vec()));
        }
    }
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = BytesMut::with_capacity(body.len() + 48);
    let mut at = 0;
    for (range, bytes) in edits {
        let (Some(head), true) = (body.get(at..range.start), range.end <= body.len()) else { return body.clone() };
        out.extend_from_slice(head);
        out.extend_from_slice(&bytes);
        at = range.end;
    }
    out.extend_from_slice(&body[at..]);
    out.freeze()
}

#[derive(Default)]
struct Found<'a> {
    model: Option<&'a RawValue>,
    stream: Option<&'a RawValue>,
    stream_options: Option<&'a RawValue>,
    store: Option<&'a RawValue>,
    codex_refused: bool,
    top: Top<'a>,
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Found<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found<'de>, A::Error> {
        let mut found = Found::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "model" => found.model = Some(map.next_value()?),
                "stream" => found.stream = Some(map.next_value()?),
                "stream_options" => found.stream_options = Some(map.next_value()?),
                "store" => found.store = Some(map.next_value()?),
                "max_output_tokens" | "max_completion_tokens" | "temperature" | "top_p" => {
                    found.codex_refused = true;
                    map.next_value::<IgnoredAny>()?;
                }
                other => found.top.visit(other, &mut map)?,
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_routing_fields_and_swaps_the_model_only() {
        let body = Bytes::from_static(
            br#"{"messages":[{"role":"user","content":"hi \"model\""}], "model" : "mock/echo","stream":true,"stream_options":{"include_usage":true}}"#,
        );
        let s = inspect(&body).expect("valid");
        assert_eq!(s.model.as_deref(), Some("mock/echo"));
        assert!(s.stream && s.include_usage);
        let out = with_model(&body, &s.model_span.clone().expect("span"), "echo");
        let expected = String::from_utf8_lossy(&body).replace("\"mock/echo\"", "\"echo\"");
        assert_eq!(String::from_utf8_lossy(&out), expected);
    }

    #[test]
    fn clear_messages_for_bad_bodies() {
        assert!(inspect(b"").expect_err("refused").contains("empty"));
        assert!(inspect(b"[1]").expect_err("refused").contains("JSON object"));
        assert!(inspect(b"{\"model\":5}").expect_err("refused").contains("`model` must be a string"));
        assert!(inspect(b"{\"stream\":\"yes\"}").expect_err("refused").contains("`stream`"));
        assert!(inspect(b"{\"model\":\"a\"} x").is_err());
        assert!(inspect(b"{\"model\":\"\xff\"}").is_err());
        assert_eq!(inspect(b"{}").expect("ok"), Shallow::default());
    }

    #[test]
    fn notes_what_the_codex_backend_would_refuse() {
        let codex =
            inspect(br#"{"model":"m","stream":true,"store":false,"input":[{"temperature":1}]}"#).expect("valid");
        assert!(codex.store_false && !codex.codex_refused);
        let sdk = inspect(br#"{"model":"m","input":"hi","max_output_tokens":100}"#).expect("valid");
        assert!(!sdk.store_false && sdk.codex_refused);
        assert!(!inspect(br#"{"store":"false"}"#).expect("valid").store_false);
    }

    #[test]
    fn escaped_model_names_are_unescaped() {
        let s = inspect(br#"{"model":"mock\/echo"}"#).expect("valid");
        assert_eq!(s.model.as_deref(), Some("mock/echo"));
    }

    #[test]
    fn asks_for_usage_keeping_every_other_byte() {
        let add = |body: &'static [u8]| {
            let b = Bytes::from_static(body);
            let s = inspect(&b).expect("valid");
            let out = with_usage_asked(&b, s.model_span.as_ref(), "up/m", s.stream_options_span.as_ref());
            let v: serde_json::Value = serde_json::from_slice(&out).expect("still JSON");
            assert_eq!(v["stream_options"]["include_usage"], true, "{}", String::from_utf8_lossy(&out));
            assert_eq!(v["model"], "up/m");
            String::from_utf8(out.to_vec()).expect("utf8")
        };
        assert_eq!(
            add(br#"{"model":"a","stream":true,"messages":[]}"#),
            r#"{"stream_options":{"include_usage":true},"model":"up/m","stream":true,"messages":[]}"#
        );
        let kept = add(br#"{ "stream_options" : {"include_usage":false,"x":1}, "model" : "a" }"#);
        assert!(kept.contains(r#""x":1"#) && kept.starts_with(r#"{ "stream_options" : {"#), "{kept}");
        add(br#"{"stream_options":null,"model":"a"}"#);
    }
}
