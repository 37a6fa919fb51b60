//! crossbar-mock: a fake provider speaking OpenAI Chat, OpenAI Responses, Anthropic Messages
//! and Gemini, streaming and not, plus the ends of a ChatGPT login (device-code login, token
//! exchange and refresh, the Codex backend's token check: `oauth.rs`). The contract is
//! `docs/mock-upstream.md`.
//!
//! Every payload is written from raw `serde_json::json!` templates; this crate never uses
//! `crossbar-protocol`, so it can referee crossbar's own encoders.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let server = crossbar_mock::spawn().await?; // 127.0.0.1:<free port>, in the background
//! let base = format!("http://{}", server.addr);
//! // ... point a client at `base`, then inspect what it sent:
//! let _requests = server.requests();
//! # Ok(()) }
//! ```

mod anthropic;
mod cache;
mod diagnostics;
mod directives;
mod faults;
mod gemini;
mod oauth;
mod openai_chat;
mod openai_responses;
mod plan;
mod record;
mod schema;
mod state;
mod stream;
mod traffic;
mod websocket;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::directives::{Directives, Inputs};
use crate::plan::Plan;
pub use crate::state::{strict_tokens, StrictTokens};

/// One mock provider: its routes plus its own request log. Cheap to clone (shared state).
#[derive(Clone, Default)]
pub struct Mock {
    inner: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    log: record::Log,
    seq: AtomicU64,
    /// Requests seen with fault directives (`fail-rate`, `fail-first`).
    faults: AtomicU64,
    /// Device logins in progress and authorization codes issued (`oauth.rs`).
    logins: oauth::Logins,
    /// Prompt caches (`mock:cache`).
    caches: cache::Caches,
    /// Anthropic cache-diagnostics fingerprints (`diagnostics.rs`).
    diagnoses: diagnostics::Diagnoses,
    /// The WebSocket endpoint's age limit and clock, and the bytes received per transport.
    traffic: traffic::Traffic,
}

impl Mock {
    pub fn new() -> Self {
        Self::default()
    }

    /// The axum router of this mock. Works behind a listener or in-process via `oneshot`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/chat/completions", post(openai_chat::handle))
            .route("/chat/completions", post(openai_chat::handle))
            .route("/v1/responses", post(openai_responses::handle).get(websocket::upgrade))
            .route("/responses", post(openai_responses::handle).get(websocket::upgrade))
            .route("/backend-api/codex/responses", post(openai_responses::handle).get(websocket::upgrade))
            .route("/v1/messages", post(anthropic::messages))
            .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
            .route("/v1beta/models/{*call}", post(gemini::handle))
            .route("/v1/models/{*call}", post(gemini::handle))
            .route("/v1/models", get(models))
            .route("/v1beta/models", get(gemini::models))
            .route("/_mock/requests", get(list_requests).delete(clear_requests))
            .route("/_mock/cache/advance", post(advance_cache))
            .route("/_mock/websocket/advance", post(traffic::advance))
            .route("/_mock/websocket/forget", post(traffic::forget))
            .route("/_mock/traffic", get(traffic::report))
            .route("/oauth/token", post(oauth::token))
            .route("/api/accounts/deviceauth/usercode", post(oauth::usercode))
            .route("/api/accounts/deviceauth/token", post(oauth::device_token))
            .fallback(not_found)
            .layer(axum::middleware::from_fn(faults::headroom))
            .with_state(self.clone())
    }

    /// The recorded requests, oldest first, in the `GET /_mock/requests` format.
    pub fn requests(&self) -> Vec<Value> {
        self.inner.log.to_json()
    }

    /// Forget the recorded requests.
    pub fn clear(&self) {
        self.inner.log.clear();
    }

    fn next_id(&self) -> u64 {
        self.inner.seq.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A fresh mock with its own request log.
pub fn router() -> Router {
    Mock::new().router()
}

/// Serve a fresh mock on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(no_delay(listener), router()).await
}

/// A mock served in the background (see [`spawn`]).
#[derive(Clone)]
pub struct MockServer {
    pub addr: SocketAddr,
    pub mock: Mock,
}

impl MockServer {
    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn requests(&self) -> Vec<Value> {
        self.mock.requests()
    }
    pub fn clear(&self) {
        self.mock.clear()
    }
}

/// Start a fresh mock on `127.0.0.1:0` in a background task and return its address.
pub async fn spawn() -> std::io::Result<MockServer> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let mock = Mock::new();
    let app = mock.router();
    tokio::spawn(async move {
        if let Err(e) = axum::serve(no_delay(listener), app).await {
            tracing::warn!("mock upstream stopped: {e}");
        }
    });
    Ok(MockServer { addr, mock })
}

/// Accepted sockets with TCP_NODELAY: a socket's small frames must not wait for the peer's
/// delayed ACK (a native WebSocket route measured 3.5× slower without it).
fn no_delay(listener: tokio::net::TcpListener) -> impl axum::serve::Listener<Addr = SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    })
}

/// A request as the protocol handlers see it; extracting it records it.
pub(crate) struct Incoming {
    pub path: String,
    pub headers: HeaderMap,
    pub query: Option<String>,
    pub body: Bytes,
    pub mock: Mock,
}

impl FromRequest<Mock> for Incoming {
    type Rejection = Response;

    async fn from_request(req: Request, mock: &Mock) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()).into_response())?;
        mock.inner.log.push(&parts, &body);
        mock.inner.traffic.http_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        Ok(Incoming {
            path: parts.uri.path().to_owned(),
            headers: parts.headers,
            query: parts.uri.query().map(str::to_owned),
            body,
            mock: mock.clone(),
        })
    }
}

impl Incoming {
    /// The body as a JSON object, or `None` (the caller answers 400).
    pub fn json(&self) -> Option<Value> {
        match serde_json::from_slice(&self.body) {
            Ok(v @ Value::Object(_)) => Some(v),
            _ => None,
        }
    }

    pub fn directives(&self, inputs: &Inputs) -> Directives {
        let header = self.headers.get("x-mock").and_then(|v| v.to_str().ok());
        Directives::parse(inputs.user_texts.iter().copied(), header)
    }

    /// `mock:stall`, then the injected faults, then `mock:error`: the part of the answer that
    /// precedes any payload.
    pub async fn prelude(&self, d: &Directives, error: fn(u16) -> Value) -> Option<Response> {
        if let Some(res) = oauth::check_token(&self.path, &self.headers) {
            return Some(res);
        }
        if let Some(ms) = d.stall {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        if let Some(res) = faults::inject(&self.mock.inner.faults, d, error) {
            return Some(res);
        }
        d.error.map(|status| faults::error(status, d, error))
    }

    pub fn plan(&self, inputs: &Inputs, d: &Directives) -> Plan {
        Plan::new(inputs, d, self.body.len(), self.mock.next_id())
    }

    /// Anthropic's cache diagnostics, when the request asked for them (`diagnostics.rs`).
    pub fn diagnose(&self, body: &Value, id: &str) -> Option<Value> {
        diagnostics::asked(&self.headers, body).then(|| self.mock.inner.diagnoses.answer(body, id))
    }

    /// With `mock:cache` (and no `mock:cached=N`), the cached and written input tokens of this
    /// request as the provider's prompt cache would count them.
    pub fn simulate_cache(&self, plan: &mut Plan, d: &Directives, hit: impl FnOnce(&cache::Caches) -> cache::Hit) {
        if !d.cache || d.cached.is_some() {
            return;
        }
        let hit = hit(&self.mock.inner.caches);
        let u = &mut plan.usage;
        u.cached = hit.read.min(u.input);
        u.written = hit.written.min(u.input - u.cached);
        u.written_1h = hit.ttl_1h.then_some(hit.written_1h.min(u.written));
    }
}

/// `GET /v1/models`: Gemini's list for Google clients (`x-goog-*` headers or `?key=`; the
/// google-genai SDK defaults to `/v1`), Anthropic's when the caller sends `anthropic-version`,
/// else OpenAI's.
async fn models(inc: Incoming) -> Response {
    let google = inc.headers.contains_key("x-goog-api-key")
        || inc.headers.contains_key("x-goog-api-client")
        || inc.query.as_deref().is_some_and(|q| q.split('&').any(|kv| kv.starts_with("key=")));
    let body = if google {
        gemini::model_list()
    } else if inc.headers.contains_key("anthropic-version") {
        json!({
            "data": [{"id": plan::MODEL, "type": "model", "display_name": "Mock model",
                      "created_at": "2025-01-01T00:00:00Z"}],
            "has_more": false, "first_id": plan::MODEL, "last_id": plan::MODEL,
        })
    } else {
        json!({"object": "list", "data": [
            {"id": plan::MODEL, "object": "model", "created": 1_735_689_600, "owned_by": "crossbar-mock"}
        ]})
    };
    stream::json_response(StatusCode::OK, &body)
}

async fn list_requests(State(mock): State<Mock>) -> Response {
    stream::json_response(StatusCode::OK, &Value::Array(mock.requests()))
}

async fn clear_requests(State(mock): State<Mock>) -> StatusCode {
    mock.clear();
    StatusCode::NO_CONTENT
}

/// `POST /_mock/cache/advance?secs=N`: N seconds pass on the prompt-cache clock (TTL tests).
async fn advance_cache(
    State(mock): State<Mock>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> StatusCode {
    match q.get("secs").and_then(|s| s.parse::<u64>().ok()) {
        Some(secs) => {
            mock.inner.caches.advance(secs);
            StatusCode::NO_CONTENT
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn not_found(_inc: Incoming) -> Response {
    stream::error_response(404, &openai_chat::error_body(404))
}
