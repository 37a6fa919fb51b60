//! Upstream providers: one pooled client per provider, its key, and how a request reaches it.
//!
//! Owns: URLs, auth headers per protocol, connect and first-byte timeouts, the 401 → refresh
//! key → retry-once rule, and turning transport failures into `UpstreamError`.
//! Must never: look inside bodies (that is the pipeline's), or log keys.

mod auth;
pub mod models;
mod transport;
pub mod websocket;

pub use transport::{BodyStream, UpstreamError, UpstreamResponse};

use crate::config::secret::{KeyResolver, KeySource};
use crate::config::{ProviderConfig, ProviderKind, ServerConfig};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use crossbar_protocol::canonical::Protocol;
use std::time::Duration;

/// A request ready to go upstream (everything but auth).
pub struct UpstreamRequest {
    /// The upstream protocol (decides auth headers and, for the mock, the path prefix).
    pub protocol: Protocol,
    /// Path and query relative to the provider's base URL, starting with `/`.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub struct Provider {
    pub config: ProviderConfig,
    key: KeyResolver,
    transport: transport::Transport,
    first_byte_timeout: Duration,
    connect_timeout: Duration,
    models_cache: tokio::sync::Mutex<models::ModelsCache>,
    /// The config's extra headers, parsed once (entries that are not valid headers dropped).
    extra_headers: Vec<(HeaderName, HeaderValue)>,
    auth: auth::Memo,
    /// Kind `chatgpt`: one provider per imported account (each a deployment).
    pub pool: Vec<std::sync::Arc<Provider>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider").field("name", &self.config.name).field("kind", &self.config.kind).finish()
    }
}

impl Provider {
    /// A provider; a `chatgpt` one starts with an empty pool (`with_accounts` fills it).
    pub fn new(config: ProviderConfig, server: &ServerConfig) -> anyhow::Result<Provider> {
        Provider::build(config, server, Vec::new())
    }

    /// A `chatgpt` provider again, over `accounts` (the store's now). Members whose login is
    /// unchanged are kept as they are (their tokens, their in-flight refreshes).
    pub fn with_accounts(
        &self,
        server: &ServerConfig,
        accounts: &[crate::accounts::Account],
        db: &crate::accounts::db::AccountStore,
    ) -> anyhow::Result<Provider> {
        let pool = Self::accounts(&self.config, server, accounts, db, &self.pool)?;
        Provider::build(self.config.clone(), server, pool)
    }

    fn build(
        config: ProviderConfig,
        server: &ServerConfig,
        pool: Vec<std::sync::Arc<Provider>>,
    ) -> anyhow::Result<Provider> {
        let transport = match config.kind {
            ProviderKind::Mock => transport::Transport::in_process(crossbar_mock::router()),
            _ => transport::Transport::http(&config.base_url, server.connect_timeout)?,
        };
        let extra_headers = config
            .headers
            .iter()
            .filter_map(|(k, v)| Some((HeaderName::from_bytes(k.as_bytes()).ok()?, HeaderValue::from_str(v).ok()?)))
            .collect();
        Ok(Provider {
            extra_headers,
            auth: auth::Memo::default(),
            key: KeyResolver::new(config.key.clone()),
            config,
            transport,
            first_byte_timeout: server.first_byte_timeout,
            connect_timeout: server.connect_timeout,
            models_cache: Default::default(),
            pool,
        })
    }

    /// Kind `chatgpt`: a provider per active account, named `<provider>:<account id>`
    /// (reusing the member of `previous` that serves the same login).
    fn accounts(
        config: &ProviderConfig,
        server: &ServerConfig,
        accounts: &[crate::accounts::Account],
        db: &crate::accounts::db::AccountStore,
        previous: &[std::sync::Arc<Provider>],
    ) -> anyhow::Result<Vec<std::sync::Arc<Provider>>> {
        use crate::accounts::token;
        let token_url = config.token_url.clone().unwrap_or_else(|| token::DEFAULT_TOKEN_URL.to_string());
        let mut out = Vec::new();
        for a in accounts.iter().filter(|a| !a.disabled) {
            let same =
                previous.iter().find(|p| p.account().is_some_and(|h| h.id == a.id && h.imported_at == a.imported_at));
            if let Some(p) = same {
                out.push(p.clone());
                continue;
            }
            let mut c = config.clone();
            c.name = format!("{}:{}", config.name, a.id);
            let handle = token::AccountHandle::new(a.clone(), db.clone(), token_url.clone());
            c.key = KeySource::Account(std::sync::Arc::new(handle));
            out.push(std::sync::Arc::new(Provider::new(c, server)?));
        }
        Ok(out)
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn kind(&self) -> ProviderKind {
        self.config.kind
    }

    /// The ChatGPT account this provider stands for (one member of a `chatgpt` pool).
    pub fn account(&self) -> Option<&std::sync::Arc<crate::accounts::token::AccountHandle>> {
        match self.key.source() {
            KeySource::Account(a) => Some(a),
            _ => None,
        }
    }

    /// Send a request and wait for the response head (not the body).
    pub async fn send(&self, req: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> {
        if !self.key.is_refreshable() {
            return self.send_once(req.protocol, &req.path, req.headers, req.body).await;
        }
        let first = self.send_once(req.protocol, &req.path, req.headers.clone(), req.body.clone()).await?;
        if first.status == 401 {
            // The key command's token went stale: run it again and retry once.
            self.key.invalidate().await;
            return self.send_once(req.protocol, &req.path, req.headers, req.body).await;
        }
        Ok(first)
    }

    async fn send_once(
        &self,
        protocol: Protocol,
        path: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let headers = self.with_own_headers(protocol, headers).await?;
        let path = self.path(protocol, path);
        let fut = self.transport.send(&path, headers, body);
        match tokio::time::timeout(self.first_byte_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(UpstreamError::Timeout(self.first_byte_timeout)),
        }
    }

    /// The request's headers with the provider's own, its key and its account.
    async fn with_own_headers(&self, protocol: Protocol, mut headers: HeaderMap) -> Result<HeaderMap, UpstreamError> {
        let key = self.key.get().await.map_err(|e| UpstreamError::Key(e.to_string()))?;
        for (k, v) in &self.extra_headers {
            headers.insert(k.clone(), v.clone());
        }
        self.auth.apply(protocol, key.as_ref(), &mut headers);
        if let KeySource::Account(a) = self.key.source() {
            if let Ok(v) = HeaderValue::from_str(&a.id) {
                headers.insert("chatgpt-account-id", v);
            }
        }
        Ok(headers)
    }

    /// The Responses endpoint as an `http(s)` URL, for a WebSocket upgrade (`None` for the
    /// in-process mock, which has no socket).
    pub fn socket_url(&self) -> Option<reqwest::Url> {
        if self.config.kind == ProviderKind::Mock {
            return None;
        }
        let base = reqwest::Url::parse(&self.config.base_url).ok()?;
        Some(transport::join(&base, &self.path(Protocol::OpenaiResponses, "/responses")))
    }

    /// The upgrade's headers: a turn's request headers, the provider's, its key and account.
    pub async fn socket_headers(&self, base: &HeaderMap) -> Result<HeaderMap, UpstreamError> {
        self.with_own_headers(Protocol::OpenaiResponses, base.clone()).await
    }

    /// Connect and first-byte timeouts, for an upstream socket.
    pub fn socket_timeouts(&self) -> (Duration, Duration) {
        (self.connect_timeout, self.first_byte_timeout)
    }

    /// The path (and query) to send, relative to the transport's base.
    fn path<'a>(&self, protocol: Protocol, path: &'a str) -> std::borrow::Cow<'a, str> {
        if self.config.kind == ProviderKind::Mock {
            // The in-process mock serves the public paths: OpenAI's under /v1.
            if matches!(protocol, Protocol::OpenaiChat | Protocol::OpenaiResponses) {
                return format!("/v1{path}").into();
            }
        }
        if self.config.kind == ProviderKind::Chatgpt {
            // The Codex backend: `/responses` lives under `/backend-api/codex`.
            return format!("/backend-api/codex{path}").into();
        }
        path.into()
    }
}
