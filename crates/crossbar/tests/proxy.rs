//! The environment's proxy settings are honoured: a provider whose base URL `HTTP_PROXY` covers
//! is reached through the proxy (absolute-form request line, the provider's key on it), and
//! one that `NO_PROXY` names is reached directly. A real `crossbar serve` process, since the
//! settings are read from its environment.

mod common;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A proxy that answers every request itself (as the upstream would) and reports each request
/// head it was sent.
async fn proxy() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() < end + 4 + len {
                        continue;
                    }
                    buf.drain(..end + 4 + len);
                    let _ = tx.send(head);
                    let body = r#"{"id":"chatcmpl-p","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"via the proxy"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":3,"total_tokens":6}}"#;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if sock.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), rx)
}

#[tokio::test]
async fn http_proxy_carries_the_providers_it_covers_and_no_proxy_hosts_go_direct() {
    let (proxy_url, mut seen) = proxy().await;
    let mock = mock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[server]
listen = "127.0.0.1:0"
data_dir = {data:?}

[[providers]]
name = "far"
kind = "openai-chat"
base_url = "http://upstream.invalid/v1"
api_key = "sk-far"

[[providers]]
name = "near"
kind = "openai-chat"
base_url = "{mock}/v1"
api_key = "sk-near"
"#,
            data = dir.path().join("data").display().to_string()
        ),
    )
    .expect("config");
    let proxy_env = Some(proxy_url.as_str());
    let served = process::serve(
        &cfg,
        &[
            ("HTTP_PROXY", proxy_env),
            ("http_proxy", proxy_env),
            ("NO_PROXY", Some("127.0.0.1")),
            ("no_proxy", Some("127.0.0.1")),
            ("HTTPS_PROXY", None),
            ("https_proxy", None),
            ("ALL_PROXY", None),
            ("all_proxy", None),
        ],
    );

    let (path, body) = request(Client::Chat, "far/m", "hi", false);
    let r = client().post(format!("{}{path}", served.url)).json(&body).send().await.expect("send");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("text").contains("via the proxy"));
    let head = seen.try_recv().expect("the proxy was asked");
    let line = head.lines().next().unwrap_or_default();
    assert_eq!(line, "POST http://upstream.invalid/v1/chat/completions HTTP/1.1", "{head}");
    assert!(head.to_ascii_lowercase().contains("authorization: bearer sk-far"), "{head}");

    // NO_PROXY: straight to the mock, the proxy never asked.
    let (path, body) = request(Client::Chat, "near/mock-model", "hi", false);
    let r = client().post(format!("{}{path}", served.url)).json(&body).send().await.expect("send");
    assert_eq!(r.status(), 200);
    assert!(seen.try_recv().is_err(), "a NO_PROXY host went through the proxy");
    assert_eq!(mock_requests(&mock).await.len(), 1);
}
