//! Timing, connection and recording behaviour, over real TCP.
#![allow(clippy::unwrap_used)]
mod common;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

fn chat(text: &str) -> Value {
    json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": text}]})
}

fn anthropic(text: &str) -> Value {
    json!({"model": "m", "max_tokens": 10, "stream": true, "messages": [{"role": "user", "content": text}]})
}

async fn post(url: String, body: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(url).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn stall_delays_the_headers() {
    let s = crossbar_mock::spawn().await.unwrap();
    let t = Instant::now();
    let res = post(format!("{}/v1/messages", s.url()), &anthropic("hi mock:stall=300"), &[]).await;
    assert!(t.elapsed() >= Duration::from_millis(290), "headers after the stall");
    assert_eq!(res.status(), 200);
    let (body, failed) = common::read_tcp(res).await;
    assert!(!failed && body.contains("message_stop"));

    // With an error: stall first, then the error status.
    let t = Instant::now();
    let res = post(format!("{}/v1/chat/completions", s.url()), &chat("mock:stall=200 mock:error=500"), &[]).await;
    assert!(t.elapsed() >= Duration::from_millis(190));
    assert_eq!(res.status(), 500);
}

#[tokio::test]
async fn slow_streams_chunk_by_chunk() {
    let s = crossbar_mock::spawn().await.unwrap();
    let t = Instant::now();
    let res = post(format!("{}/v1/chat/completions", s.url()), &chat("one two three mock:slow=60"), &[]).await;
    let headers_at = t.elapsed();
    let mut stream = res.bytes_stream();
    let mut arrivals = Vec::new();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.unwrap());
        arrivals.push(t.elapsed());
    }
    let text = String::from_utf8(body).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    let frames = common::parse_sse(&text).len();
    assert!(headers_at < Duration::from_millis(60), "headers are not held back");
    assert!(arrivals.len() >= 3, "chunks arrive separately: {arrivals:?}");
    assert!(t.elapsed() >= Duration::from_millis(60 * (frames as u64 - 1) - 20));
}

#[tokio::test]
async fn stall_mid_pauses_after_the_first_events() {
    let s = crossbar_mock::spawn().await.unwrap();
    let t = Instant::now();
    let res = post(
        format!("{}/v1/responses", s.url()),
        &json!({"model": "m", "stream": true,
        "input": "hello there mock:stall-mid=300"}),
        &[],
    )
    .await;
    let mut stream = res.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    let first_at = t.elapsed();
    assert!(String::from_utf8_lossy(&first).contains("response.created"));
    let mut rest = Vec::new();
    while let Some(c) = stream.next().await {
        rest.extend_from_slice(&c.unwrap());
    }
    assert!(first_at < Duration::from_millis(200), "first events before the pause");
    assert!(t.elapsed() >= Duration::from_millis(290));
    assert!(String::from_utf8_lossy(&rest).contains("response.completed"));
}

#[tokio::test]
async fn drop_over_tcp() {
    let s = crossbar_mock::spawn().await.unwrap();
    for (path, body, terminal) in [
        ("/v1/chat/completions", chat("hello there mock:drop"), "[DONE]"),
        ("/v1/messages", anthropic("hello there mock:drop"), "message_stop"),
        ("/v1/responses", json!({"model": "m", "stream": true, "input": "hi there mock:drop"}), "response.completed"),
        (
            "/v1beta/models/g:streamGenerateContent?alt=sse",
            json!({"contents": [{"parts": [{"text": "a b mock:drop"}]}]}),
            "finishReason",
        ),
    ] {
        let res = post(format!("{}{path}", s.url()), &body, &[]).await;
        assert_eq!(res.status(), 200);
        let (got, failed) = common::read_tcp(res).await;
        assert!(failed, "{path}: the body errors");
        assert!(!got.is_empty(), "{path}: the stream started");
        assert!(!got.contains(terminal), "{path}: no terminal event");
    }
}

#[tokio::test]
async fn header_directives_win_and_recording() {
    let s = crossbar_mock::spawn().await.unwrap();
    let url = format!("{}/v1/chat/completions", s.url());
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi mock:error=500"}]});
    let res =
        post(url.clone(), &body, &[("x-mock", "mock:error=418 reasoning"), ("authorization", "Bearer sk-1")]).await;
    assert_eq!(res.status(), 418);
    let res = post(url, &body, &[("x-mock", "words=2"), ("x-api-key", "k"), ("x-goog-api-key", "g")]).await;
    assert_eq!(res.status(), 500, "text directives still apply");

    let client = reqwest::Client::new();
    let log: Value = client.get(format!("{}/_mock/requests", s.url())).send().await.unwrap().json().await.unwrap();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["method"], "POST");
    assert_eq!(log[0]["path"], "/v1/chat/completions");
    assert_eq!(log[0]["body"], body);
    assert_eq!(log[0]["headers"]["authorization"], "<redacted>");
    assert_eq!(log[0]["headers"]["x-mock"], "mock:error=418 reasoning");
    assert_eq!(log[1]["headers"]["x-api-key"], "<redacted>");
    assert_eq!(log[1]["headers"]["x-goog-api-key"], "<redacted>");
    assert_eq!(s.requests().len(), 2, "also readable in-process");

    client.post(format!("{}/v1beta/models/g:countTokens?key=secret&x=1", s.url())).body("raw").send().await.unwrap();
    let last = s.requests().pop().unwrap();
    assert_eq!(last["query"], "key=<redacted>&x=1");
    assert_eq!(last["body"], "raw");

    let res = client.delete(format!("{}/_mock/requests", s.url())).send().await.unwrap();
    assert!(res.status().is_success());
    assert!(s.requests().is_empty());
}

#[tokio::test]
async fn recording_keeps_the_last_200() {
    let mock = crossbar_mock::Mock::new();
    for i in 0..205 {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": format!("n{i}")}]});
        common::post_with(mock.router(), "/v1/chat/completions", &body, &[]).await;
    }
    let log = mock.requests();
    assert_eq!(log.len(), 200);
    assert_eq!(log[0]["body"]["messages"][0]["content"], "n5");
    assert_eq!(log[199]["body"]["messages"][0]["content"], "n204");
}

#[tokio::test]
async fn model_lists() {
    let s = crossbar_mock::spawn().await.unwrap();
    let client = reqwest::Client::new();
    let v: Value = client.get(format!("{}/v1/models", s.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["object"], "model");
    let v: Value = client
        .get(format!("{}/v1/models", s.url()))
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"][0]["type"], "model");
    assert_eq!(v["has_more"], false);
    // google-genai lists models at /v1/models too.
    let v: Value = client
        .get(format!("{}/v1/models", s.url()))
        .header("x-goog-api-key", "k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["models"][0]["name"], "models/mock-model");
    let res = client.post(format!("{}/v1/nowhere", s.url())).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn serve_on_a_listener() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(crossbar_mock::serve(listener));
    let res = post(format!("http://{addr}/v1/messages"), &anthropic("hi"), &[]).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn multi_megabyte_bodies() {
    let big = "x".repeat(3 << 20);
    let body = json!({"model": "m", "messages": [{"role": "user", "content": big}, {"role": "user", "content": "ok"}]});
    let r = common::post_with(crossbar_mock::router(), "/v1/chat/completions", &body, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["usage"]["prompt_tokens"], body.to_string().len() / 4);
}
