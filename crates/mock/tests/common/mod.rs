//! Helpers shared by the integration tests: call the router in-process, parse SSE.
#![allow(dead_code, clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Result<String, String>,
}

impl Reply {
    pub fn text(&self) -> &str {
        self.body.as_deref().unwrap()
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(self.text()).unwrap()
    }
    pub fn events(&self) -> Vec<Event> {
        parse_sse(self.text())
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub event: Option<String>,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
    /// `data.type`, or the data when it is not JSON (`[DONE]`).
    pub fn ty(&self) -> String {
        match serde_json::from_str::<Value>(&self.data) {
            Ok(v) => v["type"].as_str().unwrap_or("").to_owned(),
            Err(_) => self.data.clone(),
        }
    }
}

pub fn parse_sse(text: &str) -> Vec<Event> {
    text.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            let mut ev = Event { event: None, data: String::new() };
            for line in f.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    ev.event = Some(e.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    ev.data.push_str(d);
                }
            }
            ev
        })
        .collect()
}

/// POST `body` to `path` on a fresh router (in-process).
pub async fn post(path: &str, body: &Value) -> Reply {
    post_with(crossbar_mock::router(), path, body, &[]).await
}

pub async fn post_with(app: axum::Router, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
    send(app, "POST", path, body.to_string(), headers).await
}

pub async fn send(app: axum::Router, method: &str, path: &str, body: String, headers: &[(&str, &str)]) -> Reply {
    let mut req = Request::builder().method(method).uri(path).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app.oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = match res.into_body().collect().await {
        Ok(b) => Ok(String::from_utf8(b.to_bytes().to_vec()).unwrap()),
        Err(e) => Err(e.to_string()),
    };
    Reply { status, headers, body }
}

/// Read a body chunk by chunk over TCP; returns what arrived and whether the body ended in an error.
pub async fn read_tcp(res: reqwest::Response) -> (String, bool) {
    use futures_util::StreamExt;
    let mut s = res.bytes_stream();
    let mut got = Vec::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(b) => got.extend_from_slice(&b),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), true),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), false)
}

/// A JSON schema with one required string property.
pub fn schema_one(prop: &str) -> Value {
    serde_json::json!({"type": "object", "properties": {prop: {"type": "string"}}, "required": [prop]})
}
