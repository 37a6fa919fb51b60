//! Bad input and broken upstreams: each gets its clear error in the client's own shape, and
//! the gateway keeps serving afterwards (every test ends by checking a good request works).

mod common;
use common::*;
use futures_util::StreamExt;
use std::time::{Duration, Instant};

async fn still_serving(gw: &Gateway) {
    let (path, body) = request(Client::Chat, "mock/echo", "still there?", false);
    let (status, _, text) = post(gw, &path, &body).await;
    assert_eq!(status, 200, "gateway stopped serving: {text}");
}

fn paths() -> [(Client, &'static str); 4] {
    [
        (Client::Chat, "/v1/chat/completions"),
        (Client::Responses, "/v1/responses"),
        (Client::Anthropic, "/v1/messages"),
        (Client::Gemini, "/v1beta/models/mock/echo:generateContent"),
    ]
}

#[tokio::test]
async fn malformed_bodies_get_400_in_the_clients_shape() {
    let gw = Gateway::embedded().await;
    let bad: [&[u8]; 6] = [
        b"",
        b"{not json",
        b"[1,2]",
        b"{\"model\": 5}",
        b"{\"model\":\"mock/echo\",\"stream\":\"yes\"}",
        b"{\"model\":\"mock/\xff\xfe\"}",
    ];
    for (c, path) in paths() {
        for body in bad {
            if c == Client::Gemini && body == b"{\"model\": 5}" {
                continue; // Gemini bodies carry no model: that key is simply not Gemini's
            }
            let r = client().post(format!("{}{path}", gw.url)).body(body.to_vec()).send().await.expect("send");
            let status = r.status().as_u16();
            let v: serde_json::Value = r.json().await.expect("json error body");
            assert_eq!(status, 400, "{c:?} {:?}: {v}", String::from_utf8_lossy(body));
            assert!(is_protocol_error(c, &v), "{c:?}: {v}");
        }
    }
    still_serving(&gw).await;
}

#[tokio::test]
async fn unknown_and_missing_models_are_named() {
    let gw = Gateway::embedded().await;
    for (c, _) in paths() {
        let (path, body) = request(c, "nosuch/model", "hi", false);
        let (status, _, text) = post(&gw, &path, &body).await;
        assert_eq!(status, 404, "{c:?}: {text}");
        assert!(text.contains("nosuch/model"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert!(is_protocol_error(c, &v), "{c:?}: {v}");
    }
    let (status, _, text) = post(&gw, "/v1/chat/completions", &serde_json::json!({"messages": []})).await;
    assert_eq!(status, 400);
    assert!(text.contains("`model` is required"), "{text}");
    still_serving(&gw).await;
}

#[tokio::test]
async fn body_limit_accepts_ten_megabytes_and_refuses_more() {
    let mock = mock().await;
    let gw = Gateway::start(&format!("[server]\nmax_body_mb = 12\n{}", providers_at(&mock))).await;
    let big = "x".repeat(10 * 1024 * 1024);
    let (path, body) = request(Client::Anthropic, "up-anthropic/m", &big, false);
    let (status, _, text) = post(&gw, &path, &body).await;
    assert_eq!(status, 200, "{}", &text[..text.len().min(300)]);
    let huge = "x".repeat(13 * 1024 * 1024);
    for (c, _) in paths() {
        let (path, body) = request(c, "up-chat/m", &huge, false);
        let (status, _, text) = post(&gw, &path, &body).await;
        assert_eq!(status, 413, "{c:?}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert!(is_protocol_error(c, &v), "{c:?}: {v}");
    }
    still_serving_at(&gw, "up-chat/m").await;
}

async fn still_serving_at(gw: &Gateway, model: &str) {
    let (path, body) = request(Client::Chat, model, "still there?", false);
    let (status, _, text) = post(gw, &path, &body).await;
    assert_eq!(status, 200, "gateway stopped serving: {text}");
}

#[tokio::test]
async fn a_stalled_upstream_gets_a_504_and_an_unreachable_one_a_502() {
    let mock = mock().await;
    let cfg = format!("[server]\nfirst_byte_timeout_secs = 1\n{}\n[[providers]]\nname = \"dead\"\nkind = \"openai-chat\"\nbase_url = \"http://127.0.0.1:9\"\n", providers_at(&mock));
    let gw = Gateway::start(&cfg).await;
    for (c, provider) in [
        (Client::Chat, "up-chat"),
        (Client::Anthropic, "up-anthropic"),
        (Client::Responses, "up-responses"),
        (Client::Gemini, "up-gemini"),
    ] {
        let t = Instant::now();
        let (path, body) = request(c, &format!("{provider}/m"), "mock:stall=5000", false);
        let (status, _, text) = post(&gw, &path, &body).await;
        assert_eq!(status, 504, "{c:?}: {text}");
        assert!(t.elapsed() < Duration::from_secs(4), "{c:?} took {:?}", t.elapsed());
        assert!(is_protocol_error(c, &serde_json::from_str(&text).expect("json")), "{c:?}: {text}");
    }
    let (path, body) = request(Client::Chat, "dead/m", "hi", false);
    let (status, _, text) = post(&gw, &path, &body).await;
    assert_eq!(status, 502, "{text}");
    still_serving_at(&gw, "up-chat/m").await;
}

#[tokio::test]
async fn a_stream_cut_mid_way_ends_with_the_protocols_error_event() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    for (c, provider) in [
        (Client::Chat, "up-chat"),
        (Client::Responses, "up-responses"),
        (Client::Anthropic, "up-anthropic"),
        (Client::Gemini, "up-gemini"),
    ] {
        let (path, body) = request(c, &format!("{provider}/m"), "mock:drop", true);
        let (status, _, text) = post(&gw, &path, &body).await;
        assert_eq!(status, 200, "{c:?}");
        let events = sse_data(&text);
        let last = events.last().cloned().unwrap_or_default();
        let ok = match c {
            Client::Chat | Client::Gemini => last["error"]["message"].is_string(),
            Client::Responses => last["type"] == "response.failed",
            Client::Anthropic => last["type"] == "error",
        };
        assert!(ok, "{c:?}: stream must end with an error event, got {text}");
    }
    still_serving_at(&gw, "up-chat/m").await;
}

#[tokio::test]
async fn idle_streams_get_keepalives_then_time_out_with_an_error_event() {
    let mock = mock().await;
    let cfg = format!("[server]\nkeepalive_secs = 1\nstream_idle_timeout_secs = 3\n{}", providers_at(&mock));
    let gw = Gateway::start(&cfg).await;
    // A pause shorter than the idle timeout: keep-alive comments, then the stream completes.
    let (path, body) = request(Client::Anthropic, "up-anthropic/m", "mock:stall-mid=2500", true);
    let (_, _, text) = post(&gw, &path, &body).await;
    assert!(text.contains(": keep-alive\n\n"), "{text}");
    assert!(text.contains("message_stop"), "{text}");
    // A pause longer than the idle timeout: the protocol's error event, not a hang.
    let t = Instant::now();
    let (path, body) = request(Client::Anthropic, "up-anthropic/m", "mock:stall-mid=8000", true);
    let (_, _, text) = post(&gw, &path, &body).await;
    assert!(t.elapsed() < Duration::from_secs(7), "{:?}", t.elapsed());
    assert!(text.contains("event: error"), "{text}");
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_releases_the_upstream() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    let (path, body) = request(Client::Chat, "up-chat/m", "mock:slow=200 mock:words=100", true);
    let r = client().post(format!("{}{path}", gw.url)).json(&body).send().await.expect("send");
    let mut s = r.bytes_stream();
    let first = s.next().await.expect("a first chunk").expect("ok");
    assert!(!first.is_empty());
    assert!(gw.metrics().await.contains("crossbar_inflight_streams 1"));
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if gw.metrics().await.contains("crossbar_inflight_streams 0") {
            break;
        }
        assert!(Instant::now() < deadline, "stream still in flight after the client left");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    still_serving_at(&gw, "up-chat/m").await;
}

#[tokio::test]
async fn shutdown_lets_inflight_streams_finish() {
    let mock = mock().await;
    let mut gw = Gateway::start(&providers_at(&mock)).await;
    let (path, body) = request(Client::Anthropic, "up-anthropic/m", "mock:slow=100 mock:words=10", true);
    let url = format!("{}{path}", gw.url);
    let pending =
        tokio::spawn(
            async move { client().post(url).json(&body).send().await.expect("send").text().await.expect("text") },
        );
    // Shut down once the stream is in flight (the metric says so), not after a guessed time.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gw.metrics().await.contains("crossbar_inflight_streams 1") {
        assert!(Instant::now() < deadline, "the stream never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.shutdown();
    let text = pending.await.expect("join");
    assert!(text.contains("message_stop"), "the stream was cut by shutdown: {text}");
    let _ = tokio::time::timeout(Duration::from_secs(5), &mut gw.handle).await.expect("server exits after draining");
}

#[tokio::test]
async fn metrics_count_requests_and_tokens() {
    let gw = Gateway::embedded().await;
    let (path, body) = request(Client::Anthropic, "mock/echo", "count me", false);
    let _ = post(&gw, &path, &body).await;
    let m = gw.metrics().await;
    assert!(
        m.contains("crossbar_requests_total{client_protocol=\"anthropic\",provider=\"mock\",status=\"2xx\"} 1"),
        "{m}"
    );
    assert!(m.contains("crossbar_tokens_total{provider=\"mock\",direction=\"output\"}"), "{m}");
    assert!(m.contains("crossbar_request_duration_seconds"), "{m}");
    let ready = client().get(format!("{}/readyz", gw.url)).send().await.expect("readyz");
    assert_eq!(ready.status(), 200);
    let health = client().get(format!("{}/healthz", gw.url)).send().await.expect("healthz");
    assert_eq!(health.text().await.expect("text"), "ok");
}
