//! Unit tests of directive parsing and per-protocol extraction.

use super::*;
use serde_json::json;

#[test]
fn words_and_header() {
    let d = Directives::parse(
        ["please mock:tool=Read, then mock:stall=50.", "xmock:drop mock:error=abc mock:words=3"],
        Some("mock:error=503 slow=10 mock:midstream-error"),
    );
    assert!(d.tool);
    assert_eq!(d.tool_name.as_deref(), Some("Read"));
    assert_eq!(d.stall, Some(50));
    assert!(!d.drop, "xmock: is not a directive");
    assert_eq!(d.words, Some(3));
    assert_eq!((d.error, d.slow, d.midstream_error), (Some(503), Some(10), Some(None)));
    let d = Directives::parse(["mock:error=200 mock:midstream-error=429 mock:cached=9"], None);
    assert_eq!((d.error, d.midstream_error, d.cached), (None, Some(Some(429)), Some(9)));
    assert_eq!(Directives::parse(["mock:"], Some("")), Directives::default());
}

#[test]
fn last_user_text_per_protocol() {
    let chat = json!({"messages": [{"role": "user", "content": "first"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": "x"}, {"role": "tool", "content": [{"type": "text", "text": "out"}]}]});
    let i = super::chat(&chat);
    assert_eq!(i.user_texts, ["a", "b"]);
    assert_eq!(i.tool_result.as_deref(), Some("out"));

    let an = json!({"messages": [{"role": "user", "content": "go"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "res"}]}]});
    let i = anthropic(&an);
    assert_eq!(i.user_texts, ["go"]);
    assert_eq!(i.tool_result.as_deref(), Some("res"));

    let r = json!({"input": "plain", "text": {"format": {"type": "json_object"}}});
    let i = responses(&r);
    assert_eq!((i.user_texts, i.json), (vec!["plain"], Some(None)));

    let g = json!({"contents": [{"parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "x"}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"k": 1}}}]}]});
    let i = gemini(&g);
    assert_eq!(i.user_texts, ["hi"]);
    assert_eq!(i.tool_result.as_deref(), Some(r#"{"k":1}"#));
}

#[test]
fn odd_bodies_do_not_panic() {
    for body in [json!({}), json!({"messages": 3, "tools": "x", "input": {"a": 1}, "contents": [1, null]})] {
        let _ = super::chat(&body);
        let _ = responses(&body);
        let _ = anthropic(&body);
        let _ = gemini(&body);
    }
}

#[test]
fn account_models_name_an_account_and_its_models() {
    let d = Directives::parse(
        [],
        Some("mock:account-models=acct-2:gpt-5+gpt-5-mini account-models=acct-3:o3 account-models=bad"),
    );
    assert_eq!(
        d.account_models,
        vec![
            ("acct-2".to_owned(), vec!["gpt-5".to_owned(), "gpt-5-mini".to_owned()]),
            ("acct-3".to_owned(), vec!["o3".to_owned()]),
        ]
    );
}
