//! Test harness: a real crossbar on a free port, and the mock upstream on another.
#![allow(dead_code)]

use crossbar::app::AppState;
use crossbar::config::Config;
use std::net::SocketAddr;
use std::time::Duration;

pub mod process;
pub mod services;
pub mod ws;

pub struct Gateway {
    pub addr: SocketAddr,
    pub url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The running gateway's state (its store, for tests that look at keys and usage).
    pub state: std::sync::Arc<AppState>,
    _dir: tempfile::TempDir,
}

impl Gateway {
    /// Start crossbar with `config` (TOML). `{data_dir}` is filled in; the server section may
    /// be given by the caller (without `listen` and `data_dir`).
    pub async fn start(config: &str) -> Gateway {
        Gateway::start_in(config, tempfile::tempdir().expect("tempdir")).await
    }

    /// `start` with a data dir the caller prepared (accounts imported into it, …).
    pub async fn start_in(config: &str, dir: tempfile::TempDir) -> Gateway {
        let data_dir = dir.path().display().to_string();
        let text = if config.contains("[server]") {
            config.replacen("[server]", &format!("[server]\ndata_dir = {data_dir:?}"), 1)
        } else {
            format!("[server]\ndata_dir = {data_dir:?}\n{config}")
        };
        let config = Config::parse(&text, "test.toml").unwrap_or_else(|e| panic!("config: {e}"));
        Gateway::start_with(config, dir).await
    }

    /// Start on the embedded defaults (built-in mock provider).
    pub async fn embedded() -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = crossbar::config::defaults::embedded();
        config.server.data_dir = dir.path().to_path_buf();
        Gateway::start_with(config, dir).await
    }

    /// Start with `config` (as `start`) and `admin_key` as the admin API's key.
    pub async fn start_admin(config: &str, admin_key: &str) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().display().to_string();
        let text = format!("[server]\ndata_dir = {data_dir:?}\n{config}");
        let config = Config::parse(&text, "test.toml").unwrap_or_else(|e| panic!("config: {e}"));
        Gateway::start_inner(config, dir, Some(admin_key)).await
    }

    /// Start on a parsed config; `dir` is kept alive with the gateway (the data dir or not).
    pub async fn start_with(config: Config, dir: tempfile::TempDir) -> Gateway {
        Gateway::start_inner(config, dir, None).await
    }

    /// Start on a parsed config, in `dir`, with `admin_key` (if any) as the admin API's key.
    pub async fn start_inner(config: Config, dir: tempfile::TempDir, admin_key: Option<&str>) -> Gateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut state = AppState::new(config).expect("state");
        if let Some(k) = admin_key {
            std::sync::Arc::get_mut(&mut state).expect("sole owner").admin_key =
                Some(crossbar::config::secret::Secret::new(k));
        }
        state.ready().await.expect("store and redis ready");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(crossbar::server::run(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        Gateway { addr, url: format!("http://{addr}"), shutdown: Some(tx), handle, state, _dir: dir }
    }

    /// Begin a graceful shutdown (returns at once).
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub async fn metrics(&self) -> String {
        client().get(format!("{}/metrics", self.url)).send().await.expect("metrics").text().await.expect("text")
    }
}

/// A mock upstream on a free port.
pub async fn mock() -> String {
    crossbar_mock::spawn().await.expect("mock").url()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

/// Providers of every upstream kind, all pointing at one mock upstream.
pub fn providers_at(mock: &str) -> String {
    format!(
        r#"
[[providers]]
name = "up-chat"
kind = "openai-chat"
base_url = "{mock}/v1"
api_key = "sk-test-chat"

[[providers]]
name = "up-responses"
kind = "openai-responses"
base_url = "{mock}/v1"
api_key = "sk-test-responses"

[[providers]]
name = "up-anthropic"
kind = "anthropic"
base_url = "{mock}"
api_key = "sk-ant-test"

[[providers]]
name = "up-gemini"
kind = "gemini"
base_url = "{mock}"
api_key = "gemini-test"
"#
    )
}

/// The SSE `data:` payloads of a stream body, parsed as JSON where they are JSON.
pub fn sse_data(body: &str) -> Vec<serde_json::Value> {
    let mut d = crossbar_protocol::sse::Decoder::default();
    let mut events = Vec::new();
    d.push(body.as_bytes(), &mut events);
    d.finish(&mut events);
    events.iter().filter_map(|e| serde_json::from_str(&e.data).ok()).collect()
}

pub async fn mock_requests(mock: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value =
        client().get(format!("{mock}/_mock/requests")).send().await.expect("requests").json().await.expect("json");
    v.as_array().cloned().unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Chat,
    Responses,
    Anthropic,
    Gemini,
}

pub const CLIENTS: [Client; 4] = [Client::Chat, Client::Responses, Client::Anthropic, Client::Gemini];

/// A minimal request in `c`'s protocol: path and body.
pub fn request(c: Client, model: &str, text: &str, stream: bool) -> (String, serde_json::Value) {
    use serde_json::json;
    match c {
        Client::Chat => (
            "/v1/chat/completions".into(),
            json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]}),
        ),
        Client::Responses => ("/v1/responses".into(), json!({"model": model, "stream": stream, "input": text})),
        Client::Anthropic => (
            "/v1/messages".into(),
            json!({"model": model, "stream": stream, "max_tokens": 256, "messages": [{"role": "user", "content": text}]}),
        ),
        Client::Gemini => (
            if stream {
                format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
            } else {
                format!("/v1beta/models/{model}:generateContent")
            },
            json!({"contents": [{"role": "user", "parts": [{"text": text}]}]}),
        ),
    }
}

/// The text a response (stream or not) carries, in any protocol.
pub fn text_of(c: Client, body: &str, stream: bool) -> String {
    let mut out = String::new();
    if stream {
        for v in sse_data(body) {
            match c {
                Client::Chat => {
                    if let Some(s) = v.pointer("/choices/0/delta/content").and_then(|s| s.as_str()) {
                        out.push_str(s)
                    }
                }
                Client::Responses => {
                    if v["type"] == "response.output_text.delta" {
                        out.push_str(v["delta"].as_str().unwrap_or_default())
                    }
                }
                Client::Anthropic => {
                    if v["type"] == "content_block_delta" && v["delta"]["type"] == "text_delta" {
                        out.push_str(v["delta"]["text"].as_str().unwrap_or_default())
                    }
                }
                Client::Gemini => {
                    for p in v.pointer("/candidates/0/content/parts").and_then(|p| p.as_array()).into_iter().flatten() {
                        if p.get("thought") != Some(&serde_json::Value::Bool(true)) {
                            out.push_str(p["text"].as_str().unwrap_or_default())
                        }
                    }
                }
            }
        }
        return out;
    }
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    match c {
        Client::Chat => {
            v.pointer("/choices/0/message/content").and_then(|s| s.as_str()).unwrap_or_default().to_string()
        }
        Client::Responses => v["output"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["type"] == "message")
            .flat_map(|i| i["content"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p["text"].as_str().map(str::to_string))
            .collect(),
        Client::Anthropic => v["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str().map(str::to_string))
            .collect(),
        Client::Gemini => v
            .pointer("/candidates/0/content/parts")
            .and_then(|p| p.as_array())
            .into_iter()
            .flatten()
            .filter(|p| p.get("thought") != Some(&serde_json::Value::Bool(true)))
            .filter_map(|p| p["text"].as_str().map(str::to_string))
            .collect(),
    }
}

/// Whether an error body is in `c`'s own shape.
pub fn is_protocol_error(c: Client, v: &serde_json::Value) -> bool {
    match c {
        Client::Chat | Client::Responses => v["error"]["message"].is_string() && v["error"].get("type").is_some(),
        Client::Anthropic => {
            v["type"] == "error" && v["error"]["type"].is_string() && v["error"]["message"].is_string()
        }
        Client::Gemini => {
            v["error"]["code"].is_number() && v["error"]["status"].is_string() && v["error"]["message"].is_string()
        }
    }
}

pub async fn post(gw: &Gateway, path: &str, body: &serde_json::Value) -> (u16, reqwest::header::HeaderMap, String) {
    let r = client().post(format!("{}{path}", gw.url)).json(body).send().await.expect("send");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.expect("body"))
}

/// A key with `limits` in `gw`'s store; returns the plaintext.
pub async fn make_key(gw: &Gateway, limits: crossbar::store::KeyLimits, expires_at: Option<i64>) -> (String, String) {
    let g = crossbar::auth::key::generate();
    let new = crossbar::store::NewKey {
        id: g.id.clone(),
        name: "test".into(),
        secret_sha256: g.secret_sha256,
        limits,
        expires_at,
    };
    gw.state.store.create_key(&new).await.expect("create key");
    (g.plaintext, g.id)
}

pub async fn send(
    gw: &Gateway,
    c: Client,
    model: &str,
    text: &str,
    stream: bool,
    key: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let (path, body) = request(c, model, text, stream);
    let mut r = client().post(format!("{}{path}", gw.url)).json(&body);
    if let Some(k) = key {
        r = match c {
            Client::Chat | Client::Responses => r.bearer_auth(k),
            Client::Anthropic => r.header("x-api-key", k),
            Client::Gemini => r.header("x-goog-api-key", k),
        };
    }
    let resp = r.send().await.expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.expect("body"))
}

pub fn assert_error(c: Client, status: u16, text: &str, want: u16, what: &str) {
    assert_eq!(status, want, "{c:?} {what}: {text}");
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("{c:?} {what}: not JSON: {text}"));
    assert!(is_protocol_error(c, &v), "{c:?} {what}: not in the protocol's shape: {v}");
}

pub async fn usage_rows(gw: &Gateway) -> i64 {
    gw.state.store.usage_count().await.expect("count")
}

/// Wait until the recorder has written at least `n` rows (it flushes every 200 ms).
pub async fn wait_rows(gw: &Gateway, n: i64) -> i64 {
    for _ in 0..100 {
        let c = usage_rows(gw).await;
        if c >= n {
            return c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    usage_rows(gw).await
}

/// The usage row of `request_id`, waiting on the recorder's committed batches (not a clock).
pub async fn row_of(gw: &Gateway, request_id: &str) -> crossbar::store::LogRow {
    let mut written = gw.state.usage.written();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let f = crossbar::store::LogFilter {
                request_id: Some(request_id.to_string()),
                limit: 5,
                ..crossbar::store::LogFilter::default()
            };
            if let Some(r) = gw.state.store.usage_log(&f).await.expect("log").into_iter().next() {
                return r;
            }
            written.changed().await.expect("recorder alive");
        }
    })
    .await
    .expect("the row is written")
}

/// A non-streamed Responses turn of conversation `session` (its `session_id` header) on
/// `model`: status, response headers, body.
pub async fn session_turn(gw: &Gateway, model: &str, session: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let (path, body) = request(Client::Responses, model, "hello", false);
    let r = client()
        .post(format!("{}{path}", gw.url))
        .header("session_id", session)
        .json(&body)
        .send()
        .await
        .expect("send");
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.text().await.expect("body"))
}

/// A response header as text ("" when absent).
pub fn header_text(headers: &reqwest::header::HeaderMap, name: &str) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}
