//! The request log behind `GET /_mock/requests`.
//!
//! Recording is on the hot path of the benchmark baseline, so it stores what it already has
//! (the head clone and the body `Bytes`, a reference count) and renders JSON only when asked.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use bytes::Bytes;
use serde_json::{Map, Value};

/// How many requests are kept.
pub const KEEP: usize = 200;

/// Header values never recorded.
const SECRET_HEADERS: [&str; 4] = ["authorization", "x-api-key", "x-goog-api-key", "proxy-authorization"];

#[derive(Default)]
pub struct Log {
    entries: Mutex<VecDeque<Entry>>,
}

struct Entry {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Log {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Entry>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn push(&self, parts: &Parts, body: &Bytes) {
        let entry = Entry {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers.clone(),
            body: body.clone(),
        };
        let mut entries = self.lock();
        if entries.len() >= KEEP {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    /// `[{method, path, query, headers, body}]`, oldest first.
    pub fn to_json(&self) -> Vec<Value> {
        self.lock().iter().map(Entry::to_json).collect()
    }
}

impl Entry {
    fn to_json(&self) -> Value {
        let mut headers = Map::new();
        for (name, value) in &self.headers {
            let value = if SECRET_HEADERS.contains(&name.as_str()) {
                "<redacted>".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            match headers.get_mut(name.as_str()) {
                Some(Value::String(prev)) => {
                    prev.push_str(", ");
                    prev.push_str(&value);
                }
                _ => {
                    headers.insert(name.as_str().to_owned(), Value::String(value));
                }
            }
        }
        let body = if self.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&self.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
        };
        let mut obj = Map::new();
        obj.insert("method".into(), Value::String(self.method.as_str().to_owned()));
        obj.insert("path".into(), Value::String(self.path.clone()));
        obj.insert("query".into(), self.query.as_deref().map_or(Value::Null, redact_query));
        obj.insert("headers".into(), Value::Object(headers));
        obj.insert("body".into(), body);
        Value::Object(obj)
    }
}

/// The query string with the value of a `key=` parameter (Gemini's API key) redacted.
fn redact_query(query: &str) -> Value {
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some(("key", _)) => "key=<redacted>".to_owned(),
            _ => kv.to_owned(),
        })
        .collect();
    Value::String(parts.join("&"))
}
