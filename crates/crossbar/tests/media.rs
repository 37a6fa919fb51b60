//! Remote images for a Gemini upstream: fetched and inlined by crossbar, never from internal
//! addresses unless explicitly allowed.

mod common;
use common::*;
use serde_json::json;

const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 13, 10, 26, 10, 1, 2, 3, 4];

async fn image_server() -> String {
    let app = axum::Router::new()
        .route("/cat.png", axum::routing::get(|| async { ([("content-type", "image/png")], PNG) }))
        .route("/page.html", axum::routing::get(|| async { ([("content-type", "text/html")], "<html>") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn chat_with_image(url: &str) -> serde_json::Value {
    json!({"model": "up-gemini/g", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "describe"},
        {"type": "image_url", "image_url": {"url": url}}
    ]}]})
}

#[tokio::test]
async fn remote_images_are_inlined_for_gemini() {
    let mock = mock().await;
    let images = image_server().await;
    let gw = Gateway::start(&format!("[server]\nallow_private_media_fetch = true\n{}", providers_at(&mock))).await;
    let (status, _, text) = post(&gw, "/v1/chat/completions", &chat_with_image(&format!("{images}/cat.png"))).await;
    assert_eq!(status, 200, "{text}");
    let reqs = mock_requests(&mock).await;
    let parts = reqs.last().expect("request")["body"]["contents"][0]["parts"].clone();
    let inline =
        parts.as_array().expect("parts").iter().find_map(|p| p.get("inlineData")).expect("inlined image").clone();
    assert_eq!(inline["mimeType"], "image/png");
    use base64::Engine;
    assert_eq!(inline["data"], base64::engine::general_purpose::STANDARD.encode(PNG));

    let (status, _, text) = post(&gw, "/v1/chat/completions", &chat_with_image(&format!("{images}/page.html"))).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("not an image"), "{text}");
}

#[tokio::test]
async fn internal_addresses_are_refused_by_default() {
    let mock = mock().await;
    let images = image_server().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    let (status, _, text) = post(&gw, "/v1/chat/completions", &chat_with_image(&format!("{images}/cat.png"))).await;
    assert_eq!(status, 400, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert!(is_protocol_error(Client::Chat, &v), "{v}");
    assert!(text.contains("internal address"), "{text}");
    // Other upstreams take the URL as it is: nothing is fetched.
    let mut body = chat_with_image("https://example.invalid/cat.png");
    body["model"] = "up-anthropic/c".into();
    let (status, _, text) = post(&gw, "/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{text}");
}
