//! The `response.create` frame one turn sends up the socket, written from the Responses body
//! the pipeline would POST (model already swapped; values borrowed, not parsed): its fields,
//! minus what only HTTP has (`stream`, `stream_options`, `background`), with either the whole
//! `input` or — when this socket issued the anchor — `previous_response_id` and only the
//! turn's new items.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// Fields a socket's `response.create` does not carry.
const HTTP_ONLY: [&str; 4] = ["stream", "stream_options", "background", "previous_response_id"];

/// A Responses body, looked at once per turn: its values are borrowed, not parsed (a turn's
/// body holds the whole conversation, and only its last items may be sent).
pub struct Body<'a> {
    fields: BTreeMap<String, &'a RawValue>,
    /// `input` when it is a list of items (a string input stays among `fields`).
    input: Option<Vec<&'a RawValue>>,
}

impl<'a> Body<'a> {
    /// `None` when the body is not a JSON object (the turn then goes over HTTP, which answers it).
    pub fn parse(bytes: &'a [u8]) -> Option<Body<'a>> {
        let mut fields: BTreeMap<String, &'a RawValue> = serde_json::from_slice(bytes).ok()?;
        let input = match fields.get("input") {
            Some(raw) if raw.get().starts_with('[') => {
                let items: Vec<&'a RawValue> = serde_json::from_str(raw.get()).ok()?;
                fields.remove("input");
                Some(items)
            }
            _ => None,
        };
        Some(Body { fields, input })
    }

    /// The frame's text: incremental (`anchor`, and the last `new_items` items) when given and
    /// possible, else the whole input.
    pub fn frame(&self, incremental: Option<(&str, usize)>) -> String {
        let all = self.input.as_deref();
        let (input, anchor) = match (incremental, all) {
            (Some((anchor, n)), Some(items)) if n <= items.len() => (Some(&items[items.len() - n..]), Some(anchor)),
            _ => (all, None),
        };
        let frame = Frame { fields: &self.fields, input, anchor };
        serde_json::to_string(&frame).unwrap_or_default()
    }
}

struct Frame<'a, 'b> {
    fields: &'b BTreeMap<String, &'a RawValue>,
    input: Option<&'b [&'a RawValue]>,
    anchor: Option<&'b str>,
}

impl Serialize for Frame<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", "response.create")?;
        for (k, v) in self.fields {
            if k != "type" && !HTTP_ONLY.contains(&k.as_str()) {
                m.serialize_entry(k, v)?;
            }
        }
        if let Some(a) = self.anchor {
            m.serialize_entry("previous_response_id", a)?;
        }
        if let Some(items) = self.input {
            m.serialize_entry("input", items)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).expect("a frame is JSON")
    }

    #[test]
    fn whole_input_without_the_http_only_fields() {
        let body = json!({"model": "gpt-x", "stream": true, "stream_options": {}, "store": false,
                          "input": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]});
        let text = body.to_string();
        let b = Body::parse(text.as_bytes()).expect("object");
        let f = parse(&b.frame(None));
        assert_eq!(
            f,
            json!({"type": "response.create", "model": "gpt-x", "store": false,
                   "input": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]})
        );
    }

    #[test]
    fn incremental_input_carries_the_anchor_and_only_the_new_items() {
        let body = json!({"model": "gpt-x", "input": [1, 2, 3, 4]});
        let text = body.to_string();
        let b = Body::parse(text.as_bytes()).expect("object");
        let f = parse(&b.frame(Some(("resp_1", 1))));
        assert_eq!(
            f,
            json!({"type": "response.create", "model": "gpt-x", "previous_response_id": "resp_1", "input": [4]})
        );
        // More new items than the input holds: the whole input, no anchor.
        let f = parse(&b.frame(Some(("resp_1", 9))));
        assert_eq!(f, json!({"type": "response.create", "model": "gpt-x", "input": [1, 2, 3, 4]}));
    }

    #[test]
    fn a_string_input_or_a_non_object_body() {
        let b = Body::parse(br#"{"model":"m","input":"hi"}"#).expect("object");
        assert_eq!(
            parse(&b.frame(Some(("resp_1", 1)))),
            json!({"type": "response.create", "model": "m", "input": "hi"})
        );
        assert!(Body::parse(b"[1]").is_none());
        assert!(Body::parse(b"not json").is_none());
    }
}
