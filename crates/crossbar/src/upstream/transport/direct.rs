//! The direct client: hyper-util's pooled client over our own connector (TCP_NODELAY, TCP
//! keep-alive, a connect timeout; rustls with the ring provider and webpki roots, HTTP/2 where
//! the server offers it by ALPN). The body goes out as one `Full` frame with its
//! Content-Length, and the response's frames come back as they arrive, unbuffered.
//!
//! This is the relay's hot path: nothing per request but the URI (the base is joined once as
//! text; only the path is appended) and the request itself. reqwest's per-request layers (a
//! `Url` join and its parse, its header-map copy, its body and response wrappers) cost a
//! sixth of a relayed request's instructions before this client replaced it.

use super::{BodyStream, UpstreamError, UpstreamResponse};
use axum::http::{HeaderMap, Method, Request, Uri};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::Arc;
use std::time::Duration;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

pub struct Direct {
    client: Client<Connector, Full<Bytes>>,
    /// `scheme://authority/base-path`, without a trailing `/`: a request's URI is this plus
    /// its path and query.
    base: String,
}

impl Direct {
    pub fn new(base_url: &str, connect_timeout: Duration) -> anyhow::Result<Direct> {
        let uri: Uri = base_url.parse().map_err(|e| anyhow::anyhow!("base_url {base_url:?}: {e}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            anyhow::bail!("base_url {base_url:?}: not an http(s) URL");
        }
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_keepalive(Some(Duration::from_secs(30)));
        tcp.set_connect_timeout(Some(connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config()?)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(https);
        let base = match uri.query() {
            // A query on the base would end up in the middle of every URI: refuse it.
            Some(_) => anyhow::bail!("base_url {base_url:?}: a query belongs on no base URL"),
            None => base_url.trim_end_matches('/').to_string(),
        };
        Ok(Direct { client, base })
    }

    fn uri(&self, path_and_query: &str) -> Result<Uri, UpstreamError> {
        let mut s = String::with_capacity(self.base.len() + path_and_query.len());
        s.push_str(&self.base);
        // A path with bytes a URI cannot carry as they are (a client's model name with a space
        // or a `#`, say, in a Gemini path) is percent-encoded, as a URL library would: http's
        // parser would refuse some and cut the path at a `#`.
        match escape(path_and_query) {
            Some(escaped) => s.push_str(&escaped),
            None => s.push_str(path_and_query),
        }
        Uri::try_from(s).map_err(|e| UpstreamError::Connect(format!("invalid upstream path: {e}")))
    }

    /// `method` to `path_and_query` under the base; the response head, its body streamed.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = self.uri(path_and_query)?;
        *req.headers_mut() = headers;
        let resp = self.client.request(req).await.map_err(|e| connect_error(&e))?;
        let (parts, body) = resp.into_parts();
        let body: BodyStream = body.into_data_stream().map(|r| r.map_err(|e| UpstreamError::Io(chain(&e)))).boxed();
        Ok(UpstreamResponse { status: parts.status.as_u16(), headers: parts.headers, body })
    }
}

/// `path?query` with every byte a URI may not carry as it is percent-encoded (an existing
/// `%XX` is kept; the first `?` starts the query, as it always did); `None` when nothing needs
/// it (the usual case, checked without allocating).
fn escape(path_and_query: &str) -> Option<String> {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let keep = |b: u8, in_query: bool| {
        b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b) || (in_query && b == b'?')
    };
    if path.bytes().all(|b| keep(b, false)) && query.is_none_or(|q| q.bytes().all(|b| keep(b, true))) {
        return None;
    }
    let push = |out: &mut String, part: &str, in_query: bool| {
        for &b in part.as_bytes() {
            if keep(b, in_query) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    };
    let mut out = String::with_capacity(path_and_query.len() + 8);
    push(&mut out, path, false);
    if let Some(q) = query {
        out.push('?');
        push(&mut out, q, true);
    }
    Some(out)
}

/// A failure before the response head: the error and its causes (no URL: hyper's errors carry
/// none, so a Gemini-style `?key=` cannot leak through them).
fn connect_error(e: &hyper_util::client::legacy::Error) -> UpstreamError {
    let text = chain(e);
    let mut source = std::error::Error::source(e);
    let mut timed_out = false;
    while let Some(inner) = source {
        timed_out |= inner.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut);
        source = inner.source();
    }
    if timed_out {
        UpstreamError::Connect(format!("connect timeout ({text})"))
    } else {
        UpstreamError::Connect(text)
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// One TLS client configuration for every direct client (webpki roots, built once and shared:
/// a clone shares its verifier; h2 and http/1.1 by ALPN, set by the connector).
fn tls_config() -> anyhow::Result<tokio_rustls::rustls::ClientConfig> {
    use tokio_rustls::rustls;
    static CONFIG: std::sync::OnceLock<Result<rustls::ClientConfig, String>> = std::sync::OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth())
    });
    config.clone().map_err(|e| anyhow::anyhow!("TLS set-up: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_path_a_uri_cannot_hold_is_percent_encoded() {
        let d = Direct::new("https://upstream.example/v1beta/", Duration::from_secs(1)).expect("client");
        let uri = |p: &str| d.uri(p).expect("uri").to_string();
        assert_eq!(
            uri("/models/gemini-2.5:generateContent?alt=sse"),
            "https://upstream.example/v1beta/models/gemini-2.5:generateContent?alt=sse"
        );
        assert_eq!(
            uri("/models/my model:generateContent?alt=sse"),
            "https://upstream.example/v1beta/models/my%20model:generateContent?alt=sse"
        );
        assert_eq!(
            uri("/models/m\"ü{x}#1:countTokens"),
            "https://upstream.example/v1beta/models/m%22%C3%BC%7Bx%7D%231:countTokens"
        );
        assert_eq!(
            uri("/v1/messages?beta=true&x=a b"),
            "https://upstream.example/v1beta/v1/messages?beta=true&x=a%20b"
        );
        assert!(Direct::new("https://upstream.example/v1?api-version=1", Duration::from_secs(1)).is_err());
        assert!(Direct::new("ftp://upstream.example/v1", Duration::from_secs(1)).is_err());
    }
}
