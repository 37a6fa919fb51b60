//! How bytes reach a provider: a pooled hyper-util client (`direct.rs`: keep-alive, HTTP/2
//! where offered, rustls), reqwest where the environment names a proxy for the provider, or the
//! in-process mock router (no socket at all).

mod direct;

use axum::http::{HeaderMap, Method, Request, StatusCode};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use hyper_util::client::proxy::matcher::Matcher;
use std::pin::Pin;
use std::time::Duration;
use tower::ServiceExt;

pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, UpstreamError>> + Send>>;

pub struct UpstreamResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: BodyStream,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot reach the upstream: {0}")]
    Connect(String),
    #[error("the upstream did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the upstream connection failed: {0}")]
    Io(String),
    #[error("the upstream stream was silent for {0:?}")]
    Idle(Duration),
    #[error("cannot get the upstream key: {0}")]
    Key(String),
    /// The upstream closed a stream cleanly but without its protocol's terminal event.
    #[error("the upstream ended the stream without finishing it (no terminal event)")]
    Truncated,
}

pub enum Transport {
    /// hyper-util's pooled client (`direct.rs`): every provider the environment sends no proxy.
    Direct(Box<direct::Direct>),
    /// A provider whose base URL the environment's proxy settings (`HTTP_PROXY`, `HTTPS_PROXY`,
    /// `ALL_PROXY`, minus `NO_PROXY`) send through a proxy: reqwest, which speaks to proxies
    /// (CONNECT tunnels, proxy auth). Its base URL is parsed once.
    Proxied(reqwest::Client, reqwest::Url),
    InProcess(axum::Router),
}

/// `base` + `path_and_query` (a path starting with `/`, optionally `?query`).
pub fn join(base: &reqwest::Url, path_and_query: &str) -> reqwest::Url {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut url = base.clone();
    let joined = format!("{}{}", base.path().trim_end_matches('/'), path);
    url.set_path(&joined);
    url.set_query(query);
    url
}

impl Transport {
    /// The client for `base_url`: direct, unless the environment names a proxy for it.
    pub fn http(base_url: &str, connect_timeout: Duration) -> anyhow::Result<Transport> {
        Transport::http_with(base_url, connect_timeout, &Matcher::from_system())
    }

    /// `http` with the proxy settings given (the environment's, or a test's).
    fn http_with(base_url: &str, connect_timeout: Duration, proxies: &Matcher) -> anyhow::Result<Transport> {
        let uri: axum::http::Uri = base_url.parse().map_err(|e| anyhow::anyhow!("base_url {base_url:?}: {e}"))?;
        if proxies.intercept(&uri).is_some() {
            return Transport::proxied(base_url, connect_timeout);
        }
        Ok(Transport::Direct(Box::new(direct::Direct::new(base_url, connect_timeout)?)))
    }

    fn proxied(base_url: &str, connect_timeout: Duration) -> anyhow::Result<Transport> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .tcp_keepalive(Duration::from_secs(30))
            // Never follow redirects with a provider key attached.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let base = reqwest::Url::parse(base_url).map_err(|e| anyhow::anyhow!("base_url {base_url:?}: {e}"))?;
        Ok(Transport::Proxied(client, base))
    }

    pub fn in_process(router: axum::Router) -> Transport {
        Transport::InProcess(router)
    }

    /// Whether requests go through a proxy.
    #[cfg(test)]
    fn is_proxied(&self) -> bool {
        matches!(self, Transport::Proxied(..))
    }

    /// POST to `path_and_query` under the provider's base URL.
    pub async fn send(
        &self,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, UpstreamError> {
        match self {
            Transport::Direct(d) => d.send(Method::POST, path_and_query, headers, body).await,
            Transport::Proxied(client, base) => {
                let resp =
                    client.post(join(base, path_and_query)).headers(headers).body(body).send().await.map_err(|e| {
                        if e.is_timeout() {
                            UpstreamError::Connect(format!("connect timeout ({})", without_url(&e)))
                        } else {
                            UpstreamError::Connect(without_url(&e))
                        }
                    })?;
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = resp.bytes_stream().map_err(|e| UpstreamError::Io(without_url(&e))).boxed();
                Ok(UpstreamResponse { status, headers, body })
            }
            Transport::InProcess(router) => {
                let mut req = Request::builder().method(Method::POST).uri(path_and_query);
                if let Some(h) = req.headers_mut() {
                    *h = headers;
                }
                let req = req.body(axum::body::Body::from(body)).map_err(|e| UpstreamError::Connect(e.to_string()))?;
                let resp = router.clone().oneshot(req).await.map_err(|e| UpstreamError::Connect(e.to_string()))?;
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = resp.into_body().into_data_stream().map_err(|e| UpstreamError::Io(e.to_string())).boxed();
                Ok(UpstreamResponse { status, headers, body })
            }
        }
    }
}

/// reqwest errors print the URL; ours may carry `?key=` for Gemini-style providers, so drop it.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "<upstream>");
    }
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

impl UpstreamError {
    pub fn info(&self) -> crossbar_protocol::canonical::ErrorInfo {
        use crossbar_protocol::canonical::{ErrorInfo, ErrorKind};
        let kind = match self {
            UpstreamError::Connect(_) | UpstreamError::Io(_) | UpstreamError::Truncated => {
                ErrorKind::UpstreamUnavailable
            }
            UpstreamError::Timeout(_) | UpstreamError::Idle(_) => ErrorKind::Timeout,
            UpstreamError::Key(_) => ErrorKind::Internal,
        };
        let mut info = ErrorInfo::new(kind, self.to_string());
        if let UpstreamError::Key(_) = self {
            info.status = StatusCode::BAD_GATEWAY.as_u16();
        }
        info
    }

    /// Low-cardinality label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            UpstreamError::Connect(_) => "connect",
            UpstreamError::Timeout(_) => "timeout",
            UpstreamError::Io(_) => "io",
            UpstreamError::Idle(_) => "idle",
            UpstreamError::Key(_) => "key",
            UpstreamError::Truncated => "truncated",
        }
    }
}

impl Transport {
    /// A small GET (models lists), read whole with a size cap.
    pub async fn get(
        &self,
        path_and_query: &str,
        headers: HeaderMap,
        timeout: Duration,
    ) -> Result<(u16, Bytes), UpstreamError> {
        const MAX: usize = 4 * 1024 * 1024;
        let fut = async {
            match self {
                Transport::Direct(d) => {
                    let resp = d.send(Method::GET, path_and_query, headers, Bytes::new()).await?;
                    let status = resp.status;
                    let mut body = Vec::new();
                    let mut stream = resp.body;
                    while let Some(chunk) = stream.next().await {
                        body.extend_from_slice(&chunk?);
                        if body.len() > MAX {
                            break;
                        }
                    }
                    Ok((status, Bytes::from(body)))
                }
                Transport::Proxied(client, base) => {
                    let resp = client
                        .get(join(base, path_and_query))
                        .headers(headers)
                        .send()
                        .await
                        .map_err(|e| UpstreamError::Connect(without_url(&e)))?;
                    let status = resp.status().as_u16();
                    let body = resp.bytes().await.map_err(|e| UpstreamError::Io(without_url(&e)))?;
                    Ok((status, body))
                }
                Transport::InProcess(router) => {
                    let mut req = Request::builder().method(Method::GET).uri(path_and_query);
                    if let Some(h) = req.headers_mut() {
                        *h = headers;
                    }
                    let req = req.body(axum::body::Body::empty()).map_err(|e| UpstreamError::Connect(e.to_string()))?;
                    let resp = router.clone().oneshot(req).await.map_err(|e| UpstreamError::Connect(e.to_string()))?;
                    let status = resp.status().as_u16();
                    let body = axum::body::to_bytes(resp.into_body(), MAX)
                        .await
                        .map_err(|e| UpstreamError::Io(e.to_string()))?;
                    Ok((status, body))
                }
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r.and_then(|(s, b)| {
                if b.len() > MAX {
                    Err(UpstreamError::Io("models list too large".into()))
                } else {
                    Ok((s, b))
                }
            }),
            Err(_) => Err(UpstreamError::Timeout(timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_base_the_proxy_settings_intercept_goes_through_reqwest_and_the_rest_direct() {
        let proxies = Matcher::builder().http("http://127.0.0.1:3128").no("localhost, 10.0.0.0/8").build();
        let t = Duration::from_secs(1);
        let via = |base: &str| Transport::http_with(base, t, &proxies).expect("transport").is_proxied();
        assert!(via("http://api.example.com/v1"));
        assert!(!via("http://localhost:8080/v1"), "NO_PROXY host");
        assert!(!via("http://10.1.2.3/v1"), "NO_PROXY range");
        assert!(!via("https://api.example.com/v1"), "no HTTPS_PROXY set");
        let none = Matcher::builder().build();
        assert!(!Transport::http_with("http://api.example.com", t, &none).expect("transport").is_proxied());
    }

    #[test]
    fn join_keeps_the_base_path_and_the_query() {
        let base = reqwest::Url::parse("https://api.example.com/v1").expect("url");
        assert_eq!(join(&base, "/chat/completions").as_str(), "https://api.example.com/v1/chat/completions");
        let base = reqwest::Url::parse("http://127.0.0.1:9/").expect("url");
        assert_eq!(join(&base, "/v1/messages?beta=true").as_str(), "http://127.0.0.1:9/v1/messages?beta=true");
        assert_eq!(
            join(&base, "/v1beta/models/a/b:streamGenerateContent?alt=sse").as_str(),
            "http://127.0.0.1:9/v1beta/models/a/b:streamGenerateContent?alt=sse"
        );
    }
}
