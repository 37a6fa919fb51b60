//! Nothing lost, nothing left hanging: every stream ends with its protocol's terminal event
//! (also when the upstream just stops), every request leaves exactly one usage record with its
//! tokens (estimated, and marked so, when the upstream reports none), a client that hangs up
//! at any point gives back its limit reservation, and a non-streamed request has a deadline.

mod common;
use common::*;
use crossbar::store::{KeyLimits, UsageEntry};
use futures_util::StreamExt;
use serde_json::Value;
use std::time::Duration;

const PROVIDERS: [(&str, Client); 4] = [
    ("up-chat", Client::Chat),
    ("up-responses", Client::Responses),
    ("up-anthropic", Client::Anthropic),
    ("up-gemini", Client::Gemini),
];

/// The last event of a stream is `c`'s own failure ending (Chat: an error chunk, then `[DONE]`).
fn ends_in_failure(c: Client, text: &str) -> bool {
    let events = sse_data(text);
    let Some(last) = events.last() else { return false };
    match c {
        Client::Chat => last["error"]["message"].is_string() && text.trim_end().ends_with("data: [DONE]"),
        Client::Responses => last["type"] == "response.failed",
        Client::Anthropic => last["type"] == "error",
        Client::Gemini => last["error"]["message"].is_string(),
    }
}

/// The newest `n` usage rows, once the recorder has written them.
async fn rows(gw: &Gateway, n: i64) -> Vec<UsageEntry> {
    assert!(wait_rows(gw, n).await >= n, "usage rows never reached {n}");
    gw.state.store.recent_usage(n).await.expect("rows")
}

#[tokio::test]
async fn a_stream_that_just_stops_ends_with_the_protocols_failure_event() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    for c in CLIENTS {
        for (provider, upstream) in PROVIDERS {
            let (path, body) = request(c, &format!("{provider}/m"), "hello there mock:eof mock:words=5", true);
            let (status, _, text) = post(&gw, &path, &body).await;
            assert_eq!(status, 200, "{c:?} via {upstream:?}: {text}");
            assert!(ends_in_failure(c, &text), "{c:?} via {upstream:?} (relayed: {}): {text}", c == upstream);
            // And a complete stream is never given a failure ending.
            let (path, body) = request(c, &format!("{provider}/m"), "hello there mock:words=5", true);
            let (_, _, text) = post(&gw, &path, &body).await;
            assert!(!ends_in_failure(c, &text), "{c:?} via {upstream:?}: {text}");
        }
    }
    let recorded = rows(&gw, 32).await;
    let cut: Vec<_> = recorded.iter().filter(|r| r.error_class.as_deref() == Some("truncated")).collect();
    assert_eq!(cut.len(), 4, "the relayed EOFs are recorded as truncated: {recorded:?}");
}

#[tokio::test]
async fn a_chat_stream_without_include_usage_is_counted_and_unchanged() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    let (path, mut body) = request(Client::Chat, "up-chat/m", "count me mock:words=7", true);
    let (_, _, text) = post(&gw, &path, &body).await;
    // What the client gets: no usage chunk, no `"usage": null` members.
    assert!(!text.contains("\"usage\""), "{text}");
    assert_eq!(text_of(Client::Chat, &text, true).split_whitespace().count(), 7);
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let sent = mock_requests(&mock).await;
    assert_eq!(sent.last().expect("request")["body"]["stream_options"]["include_usage"], true, "{sent:?}");
    // Asked for by the client: passed through as is.
    body["stream_options"] = serde_json::json!({"include_usage": true});
    let (_, _, asked) = post(&gw, &path, &body).await;
    assert!(asked.contains("\"usage\":null") && asked.contains("\"completion_tokens\""), "{asked}");
    let recorded = rows(&gw, 2).await;
    for r in &recorded {
        assert_eq!(r.output_tokens, Some(7), "{r:?}");
        assert!(r.input_tokens.unwrap_or(0) > 0, "{r:?}");
        assert_eq!(r.tokens_estimated, 0, "{r:?}");
    }
}

#[tokio::test]
async fn a_budget_stops_default_chat_streams() {
    let gw = Gateway::start(
        "[auth]\n[[providers]]\nname = \"mock\"\nkind = \"mock\"\n[[catalog]]\nmodel = \"echo\"\ninput_price = 1000.0\noutput_price = 100000.0\n",
    )
    .await;
    let (k, id) = make_key(
        &gw,
        KeyLimits { budget_usd: Some(0.001), budget_period: crossbar::store::Period::Day, ..KeyLimits::default() },
        None,
    )
    .await;
    let (s, _, t) = send(&gw, Client::Chat, "mock/echo", "spend mock:words=5", true, Some(&k)).await;
    assert_eq!(s, 200, "{t}");
    wait_rows(&gw, 1).await;
    let (s, _, t) = send(&gw, Client::Chat, "mock/echo", "again", true, Some(&k)).await;
    assert_error(Client::Chat, s, &t, 402, "the first default stream's cost was counted");
    assert!(gw.state.store.spend(&id, 0).await.expect("spend") > 0.001);
}

#[tokio::test]
async fn usage_the_upstream_never_reports_is_estimated_and_marked() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    // A relayed stream cut before its usage event: input from the request, output from what was sent.
    let prompt = format!("{} mock:drop mock:words=30", "word ".repeat(400));
    let (path, body) = request(Client::Anthropic, "up-anthropic/m", &prompt, true);
    let (_, _, text) = post(&gw, &path, &body).await;
    assert!(ends_in_failure(Client::Anthropic, &text), "{text}");
    let r = &rows(&gw, 1).await[0];
    assert!(r.input_tokens.unwrap_or(0) > 0, "input as reported by message_start: {r:?}");
    assert!(r.output_tokens.unwrap_or(0) > 0, "{r:?}");
    assert_eq!(r.tokens_estimated, 1, "{r:?}");
}

/// A gateway with `[auth]`, the mock upstream, and a key allowed one request at a time.
async fn one_at_a_time(extra: &str) -> (Gateway, String, String) {
    let mock = mock().await;
    let gw = Gateway::start(&format!("{extra}\n[auth]\n{}", providers_at(&mock))).await;
    let (key, _) = make_key(&gw, KeyLimits { max_parallel: Some(1), ..KeyLimits::default() }, None).await;
    (gw, key, mock)
}

/// Start a request in a task, wait until `ready` says the gateway holds it, then hang up.
async fn hang_up_when<F, Fut>(gw: &Gateway, key: &str, c: Client, model: &str, text: &str, stream: bool, ready: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let (path, body) = request(c, model, text, stream);
    let url = format!("{}{path}", gw.url);
    let key = key.to_string();
    let task = tokio::spawn(async move {
        let r = client().post(url).bearer_auth(key).json(&body).send().await;
        if let Ok(r) = r {
            let mut s = r.bytes_stream();
            while s.next().await.is_some() {}
        }
    });
    for _ in 0..400 {
        if ready().await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(ready().await, "the request never reached the point to hang up at");
    task.abort();
    let _ = task.await;
}

/// After a hang-up: one usage record with 499, and the key's parallel slot is free again.
async fn gave_everything_back(gw: &Gateway, key: &str) {
    let r = &rows(gw, 1).await[0];
    assert_eq!(r.status, 499, "{r:?}");
    assert_eq!(r.error_class.as_deref(), Some("client_disconnect"), "{r:?}");
    let mut ok = false;
    for _ in 0..100 {
        let (s, _, _) = send(gw, Client::Chat, "up-chat/m", "again", false, Some(key)).await;
        if s == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "the hung-up request's parallel slot was never given back");
    assert_eq!(wait_rows(gw, 2).await, 2, "exactly one record for the hung-up request");
}

async fn upstream_has(mock: &str, n: usize) -> bool {
    mock_requests(mock).await.len() >= n
}

#[tokio::test]
async fn hanging_up_before_the_first_byte_gives_back_the_slot_and_leaves_one_record() {
    for stream in [true, false] {
        let (gw, key, mock) = one_at_a_time("").await;
        hang_up_when(&gw, &key, Client::Chat, "up-chat/m", "mock:stall=20000", stream, || upstream_has(&mock, 1)).await;
        gave_everything_back(&gw, &key).await;
        let r = &gw.state.store.recent_usage(2).await.expect("rows")[1];
        assert_eq!((r.tokens_estimated, r.output_tokens), (1, Some(0)), "the prompt was sent: estimated input {r:?}");
    }
}

#[tokio::test]
async fn hanging_up_while_waiting_to_retry_gives_back_the_slot() {
    let mock = mock().await;
    let cfg = format!(
        "[routing]\nbackoff_ms = 20000\nmax_wait_ms = 20000\n[auth]\n{}\n[[models]]\nname = \"m\"\nretries = 1\ntargets = [\"up-chat/m\"]\n",
        providers_at(&mock)
    );
    let gw = Gateway::start(&cfg).await;
    let (key, _) = make_key(&gw, KeyLimits { max_parallel: Some(1), ..KeyLimits::default() }, None).await;
    // The first attempt fails with a 503; the retry waits out a long backoff, and the client leaves.
    hang_up_when(&gw, &key, Client::Chat, "m", "mock:error=503", false, || upstream_has(&mock, 1)).await;
    gave_everything_back(&gw, &key).await;
}

#[tokio::test]
async fn hanging_up_mid_stream_records_the_tokens_so_far() {
    let (gw, key, mock) = one_at_a_time("").await;
    let _ = mock;
    let got_bytes = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (path, body) = request(Client::Anthropic, "up-anthropic/m", "mock:slow=100 mock:words=200", true);
    let url = format!("{}{path}", gw.url);
    let (k, flag) = (key.clone(), got_bytes.clone());
    let task = tokio::spawn(async move {
        let r = client().post(url).header("x-api-key", k).json(&body).send().await.expect("send");
        let mut s = r.bytes_stream();
        while let Some(Ok(_)) = s.next().await {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    for _ in 0..200 {
        if got_bytes.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    task.abort();
    let _ = task.await;
    gave_everything_back(&gw, &key).await;
    let r = &gw.state.store.recent_usage(2).await.expect("rows")[1];
    assert!(r.input_tokens.unwrap_or(0) > 0, "message_start's input tokens count: {r:?}");
}

#[tokio::test]
async fn hanging_up_on_redis_limits_gives_back_the_slot() {
    let url = std::env::var("CROSSBAR_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let up = match redis::Client::open(url.as_str()) {
        Ok(c) => tokio::time::timeout(Duration::from_secs(2), c.get_multiplexed_async_connection())
            .await
            .is_ok_and(|r| r.is_ok()),
        Err(_) => false,
    };
    if !up {
        assert!(std::env::var("CROSSBAR_REQUIRE_SERVICES").is_err(), "Redis is required here but not reachable");
        eprintln!("SKIPPED: Redis not reachable at {url}");
        return;
    }
    let prefix = format!("endings{}", uuid::Uuid::new_v4().simple());
    let (gw, key, mock) = one_at_a_time(&format!("[redis]\nurl = \"{url}\"\nprefix = \"{prefix}\"\n")).await;
    hang_up_when(&gw, &key, Client::Chat, "up-chat/m", "mock:stall=20000", true, || upstream_has(&mock, 1)).await;
    gave_everything_back(&gw, &key).await;
}

#[tokio::test]
async fn a_non_streamed_request_past_its_deadline_gets_408_advising_streaming() {
    let mock = mock().await;
    let gw = Gateway::start(&format!("[server]\nrequest_timeout_secs = 1\n{}", providers_at(&mock))).await;
    for (provider, c) in PROVIDERS {
        let (path, body) = request(c, &format!("{provider}/m"), "mock:stall=5000", false);
        let (status, _, text) = post(&gw, &path, &body).await;
        assert_eq!(status, 408, "{c:?}: {text}");
        let v: Value = serde_json::from_str(&text).expect("json");
        assert!(is_protocol_error(c, &v), "{c:?}: {v}");
        assert!(text.contains("stream"), "advises streaming: {text}");
        if c != Client::Gemini {
            assert_eq!(v["error"]["type"], "timeout_error", "{c:?}: {v}");
        }
    }
    // Streams keep their own (first-byte and idle) timeouts.
    let (path, body) = request(Client::Chat, "up-chat/m", "mock:stall=1500", true);
    let (status, _, text) = post(&gw, &path, &body).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
}

#[tokio::test]
async fn token_counting_is_never_billed_an_estimate() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    let body =
        serde_json::json!({"model": "up-anthropic/m", "messages": [{"role": "user", "content": "count these words"}]});
    let (status, _, text) = post(&gw, "/v1/messages/count_tokens", &body).await;
    assert_eq!(status, 200, "{text}");
    let r = &rows(&gw, 1).await[0];
    assert_eq!((r.tokens_estimated, r.output_tokens), (0, None), "{r:?}");
}
