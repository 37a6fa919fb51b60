//! Opt-in body capture (`[storage] capture_bodies`): bodies stored with their usage row,
//! redacted of credentials, cut at 64 KiB and marked, shown escaped in the request detail,
//! purged by `capture_retention_days`; nothing stored when it is off.

mod common;
use common::*;
use crossbar::store::UsageRecord;
use crossbar::usage::capture::{Capture, LIMIT};
use serde_json::json;

const CAPTURING: &str = "[storage]\ncapture_bodies = true\n[[providers]]\nname = \"mock\"\nkind = \"mock\"\n";
const SECRET_FIELD: &str = "hunter2-field-value";
const SECRET_KEY: &str = "sk-proj-abcdefghijklmnopqrstuvwx";

async fn chat(gw: &Gateway, body: serde_json::Value) -> (String, String) {
    let (status, headers, text) = post(gw, "/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{text}");
    let id = headers.get("x-crossbar-request-id").and_then(|v| v.to_str().ok()).expect("request id");
    (id.to_string(), text)
}

fn asking(content: &str, stream: bool) -> serde_json::Value {
    json!({
        "model": "mock/echo",
        "stream": stream,
        "metadata": {"api_key": SECRET_FIELD, "note": "kept"},
        "messages": [{"role": "user", "content": content}]
    })
}

#[tokio::test]
async fn bodies_are_stored_redacted_and_shown_escaped_in_the_detail() {
    let gw = Gateway::start(CAPTURING).await;
    let content = format!("<b>bold</b> my key is {SECRET_KEY}");
    let (id, answer) = chat(&gw, asking(&content, false)).await;
    assert!(answer.contains(SECRET_KEY), "the client gets its answer unchanged: {answer}");
    let row = row_of(&gw, &id).await;
    let c = gw.state.store.usage_body(&id).await.expect("read").expect("captured");
    assert!(!c.request_truncated && !c.response_truncated);
    for text in [&c.request, &c.response] {
        assert!(!text.contains(SECRET_FIELD) && !text.contains(SECRET_KEY), "redacted: {text}");
    }
    let req: serde_json::Value = serde_json::from_str(&c.request).expect("the request is still JSON");
    assert_eq!(req["metadata"], json!({"api_key": "[redacted]", "note": "kept"}));
    assert_eq!(req["messages"][0]["content"], "<b>bold</b> my key is [redacted]");
    let resp: serde_json::Value = serde_json::from_str(&c.response).expect("the response is what was sent");
    assert_eq!(resp["object"], "chat.completion");

    let page = client().get(format!("{}/ui/requests/{}", gw.url, row.id)).send().await.expect("detail");
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("page");
    assert!(page.contains("<details class=\"body\" data-body=\"request\">"), "collapsed");
    assert!(page.contains("&lt;b&gt;bold&lt;/b&gt;") && !page.contains("<b>bold</b>"), "escaped");
    assert!(!page.contains(SECRET_FIELD) && !page.contains(SECRET_KEY));

    // A stream's body is the events as sent.
    let (id, _) = chat(&gw, asking("streamed", true)).await;
    row_of(&gw, &id).await;
    let c = gw.state.store.usage_body(&id).await.expect("read").expect("captured");
    assert!(c.response.starts_with("data: ") && c.response.contains("[DONE]"), "{}", c.response);
}

#[tokio::test]
async fn a_large_body_is_cut_at_64_kib_and_marked() {
    let gw = Gateway::start(CAPTURING).await;
    let (id, _) = chat(&gw, asking(&"x".repeat(100_000), false)).await;
    row_of(&gw, &id).await;
    let c = gw.state.store.usage_body(&id).await.expect("read").expect("captured");
    assert!(c.request_truncated && c.response_truncated, "both sides are over the limit");
    assert_eq!((c.request.len(), c.response.len()), (LIMIT, LIMIT));
    assert!(!c.request.contains(SECRET_FIELD), "a cut body is redacted too");
    let row = row_of(&gw, &id).await;
    let page = client().get(format!("{}/ui/requests/{}", gw.url, row.id)).send().await.expect("detail");
    assert!(page.text().await.expect("page").contains("cut at 64 KiB"));
}

#[tokio::test]
async fn without_capture_nothing_is_stored() {
    let gw = Gateway::start("[[providers]]\nname = \"mock\"\nkind = \"mock\"\n").await;
    assert!(!gw.state.config.storage.capture_bodies, "off by default");
    let (id, _) = chat(&gw, asking("hello", false)).await;
    let row = row_of(&gw, &id).await;
    assert_eq!(gw.state.store.usage_body(&id).await.expect("read"), None);
    let page = client().get(format!("{}/ui/requests/{}", gw.url, row.id)).send().await.expect("detail");
    assert!(page.text().await.expect("page").contains("Bodies are not stored"));
}

#[tokio::test]
async fn captured_bodies_are_purged_after_their_retention() {
    let gw = Gateway::start(CAPTURING).await;
    let day = 86_400_000;
    let now = crossbar::store::now_ms();
    let rec = |id: &str, ts: i64| UsageRecord {
        ts,
        model: "m".into(),
        protocol_in: "openai-chat",
        status: 200,
        request_id: Some(id.into()),
        capture: Some(Box::new(Capture { request: "{}".into(), response: "{}".into(), ..Capture::default() })),
        ..UsageRecord::default()
    };
    gw.state.store.insert_usage(&[rec("old", now - 8 * day), rec("new", now - day)]).await.expect("insert");
    let (_tx, mut stop) = tokio::sync::watch::channel(false);
    let cutoff = now - 7 * day;
    let n = crossbar::usage::retention::purge(
        &gw.state.store,
        cutoff,
        &mut stop,
        crossbar::usage::retention::Table::Bodies,
    )
    .await
    .expect("purge");
    assert_eq!(n, 1);
    assert_eq!(gw.state.store.usage_body("old").await.expect("read"), None);
    assert!(gw.state.store.usage_body("new").await.expect("read").is_some());
    assert_eq!(gw.state.store.usage_count().await.expect("count"), 2, "the usage rows stay");
}

#[test]
fn capture_settings_are_read_and_validated() {
    use crossbar::config::Config;
    let c =
        Config::parse("[storage]\ncapture_bodies = true\ncapture_retention_days = 3\nretention_days = 30\n", "t.toml")
            .expect("valid");
    assert!(c.storage.capture_bodies);
    assert_eq!(c.storage.body_retention_days(), 3);
    let c = Config::parse("[storage]\nretention_days = 2\n", "t.toml").expect("valid");
    assert_eq!(c.storage.body_retention_days(), 2, "never longer than the rows");
    let e = Config::parse("[storage]\ncapture_retention_days = 1000000\n", "t.toml").expect_err("too many");
    assert!(e.to_string().contains("capture_retention_days"), "{e}");
}
