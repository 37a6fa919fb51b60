//! How bytes reach a provider: a pooled `reqwest` client (keep-alive, HTTP/2 where offered,
//! rustls), or the in-process mock router (no socket at all).

use axum::http::{HeaderMap, Method, Request, StatusCode};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
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
    /// A pooled client and the provider's parsed base URL (parsed once: per-request URL
    /// parsing, with its IDNA pass, showed up in relay profiles).
    Http(reqwest::Client, reqwest::Url),
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
    pub fn http(base_url: &str, connect_timeout: Duration) -> anyhow::Result<Transport> {
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
        Ok(Transport::Http(client, base))
    }

    pub fn in_process(router: axum::Router) -> Transport {
        Transport::InProcess(router)
    }

    /// POST to `path_and_query` under the provider's base URL.
    pub async fn send(
        &self,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, UpstreamError> {
        match self {
            Transport::Http(client, base) => {
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
                Transport::Http(client, base) => {
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
