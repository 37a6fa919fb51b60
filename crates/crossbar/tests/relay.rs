//! Same-protocol relay through crossbar, for every client protocol: against the built-in
//! mock (in-process) and against the mock upstream over HTTP with each provider kind.

mod common;
use common::*;

#[tokio::test]
async fn every_protocol_answers_on_embedded_defaults_stream_and_not() {
    let gw = Gateway::embedded().await;
    for c in CLIENTS {
        for stream in [false, true] {
            let (path, body) = request(c, "mock/echo", "hello there", stream);
            let (status, headers, text) = post(&gw, &path, &body).await;
            assert_eq!(status, 200, "{c:?} stream={stream}: {text}");
            assert_eq!(headers.get("x-crossbar-provider").map(|v| v.as_bytes()), Some(&b"mock"[..]));
            assert_eq!(text_of(c, &text, stream), "echo: hello there", "{c:?} stream={stream}: {text}");
            if stream {
                assert!(headers["content-type"].to_str().unwrap_or("").starts_with("text/event-stream"), "{c:?}");
            }
        }
    }
}

#[tokio::test]
async fn relay_rewrites_only_the_model_and_uses_the_providers_key() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    let cases = [
        (Client::Chat, "up-chat"),
        (Client::Responses, "up-responses"),
        (Client::Anthropic, "up-anthropic"),
        (Client::Gemini, "up-gemini"),
    ];
    for (c, provider) in cases {
        for stream in [false, true] {
            let (path, mut body) = request(c, &format!("{provider}/some/model-1"), "relay me", stream);
            body["extra_field"] = serde_json::json!({"kept": [1, 2, 3]});
            let raw = serde_json::to_vec(&body).expect("json");
            let r = client()
                .post(format!("{}{path}", gw.url))
                .header("content-type", "application/json")
                .header("authorization", "Bearer client-secret")
                .header("x-api-key", "client-secret")
                .body(raw.clone())
                .send()
                .await
                .expect("send");
            assert_eq!(r.status(), 200, "{c:?}");
            let text = r.text().await.expect("text");
            assert_eq!(text_of(c, &text, stream), "echo: relay me", "{c:?}: {text}");
            let reqs = mock_requests(&mock).await;
            let last = reqs.last().expect("the mock saw the request");
            let got = &last["body"];
            if c == Client::Gemini {
                assert!(last["path"].as_str().unwrap_or("").contains("/models/some/model-1:"), "{last}");
                assert_eq!(got, &body);
            } else {
                assert_eq!(got["model"], "some/model-1", "{c:?}");
                let mut expected = body.clone();
                expected["model"] = "some/model-1".into();
                if c == Client::Chat && stream {
                    // The one addition: usage is asked for, so the stream can be counted.
                    expected["stream_options"] = serde_json::json!({"include_usage": true});
                }
                assert_eq!(got, &expected, "{c:?}: everything but the model passes unchanged");
            }
            let headers = last["headers"].to_string();
            assert!(!headers.contains("client-secret"), "client credentials never go upstream: {headers}");
        }
    }
}

/// A relayed answer that is whole goes out with its length (not chunked), and its usage is
/// read from it: the record has what the client was told, not an estimate.
#[tokio::test]
async fn a_whole_answer_is_sent_with_its_length_and_its_usage_recorded() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    let cases = [
        (Client::Chat, "up-chat", "/usage/prompt_tokens"),
        (Client::Responses, "up-responses", "/usage/input_tokens"),
        (Client::Anthropic, "up-anthropic", "/usage/input_tokens"),
        (Client::Gemini, "up-gemini", "/usageMetadata/promptTokenCount"),
    ];
    for (c, provider, input_at) in cases {
        for text in ["count me", "mock:error=400"] {
            let (path, body) = request(c, &format!("{provider}/m"), text, false);
            let (status, headers, answer) = post(&gw, &path, &body).await;
            assert!(!headers.contains_key("transfer-encoding"), "{c:?} {text}: {headers:?}");
            assert_eq!(header_text(&headers, "content-length"), answer.len().to_string(), "{c:?} {text}");
            if status != 200 {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(&answer).expect("json");
            let told = v.pointer(input_at).and_then(|n| n.as_i64()).unwrap_or_else(|| panic!("{c:?}: {answer}"));
            let row = row_of(&gw, &header_text(&headers, "x-crossbar-request-id")).await;
            assert_eq!(row.input_tokens, Some(told), "{c:?}: the upstream's usage, not an estimate");
        }
    }
}

#[tokio::test]
async fn upstream_http_errors_pass_through_with_status_and_body() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    for (c, provider) in [
        (Client::Chat, "up-chat"),
        (Client::Anthropic, "up-anthropic"),
        (Client::Gemini, "up-gemini"),
        (Client::Responses, "up-responses"),
    ] {
        let (path, body) = request(c, &format!("{provider}/m"), "mock:error=429", false);
        let (status, headers, text) = post(&gw, &path, &body).await;
        assert_eq!(status, 429, "{c:?}: {text}");
        assert!(headers.contains_key("retry-after"), "{c:?}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert!(is_protocol_error(c, &v), "{c:?}: {v}");
    }
}

#[tokio::test]
async fn models_lists_the_mock_and_aliases() {
    let mock = mock().await;
    let cfg = format!("{}\n[[models]]\nname = \"fast\"\ntargets = [\"up-chat/gpt-5-mini\"]\n", providers_at(&mock));
    let gw = Gateway::start(&cfg).await;
    let v: serde_json::Value =
        client().get(format!("{}/v1/models", gw.url)).send().await.expect("get").json().await.expect("json");
    let ids: Vec<&str> = v["data"].as_array().expect("data").iter().filter_map(|m| m["id"].as_str()).collect();
    assert!(ids.contains(&"fast"), "{ids:?}");
    let fast = v["data"].as_array().expect("data").iter().find(|m| m["id"] == "fast").expect("alias");
    assert_eq!(fast["context_window"], 400_000);
    assert_eq!(fast["pricing"]["input_per_million"], 0.25);
    assert!(ids.iter().any(|i| i.starts_with("up-anthropic/")), "{ids:?}");

    let gw = Gateway::embedded().await;
    let v: serde_json::Value =
        client().get(format!("{}/v1/models", gw.url)).send().await.expect("get").json().await.expect("json");
    let ids: Vec<&str> = v["data"].as_array().expect("data").iter().filter_map(|m| m["id"].as_str()).collect();
    assert!(ids.iter().any(|i| i.starts_with("mock/")), "{ids:?}");
    assert!(v["data"].as_array().expect("data").iter().all(|m| m["owned_by"].is_string()));
}
