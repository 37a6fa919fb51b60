//! Opening one upstream socket: TCP (TCP_NODELAY: a socket's small frames must not wait for a
//! delayed ACK), TLS for `https` base URLs (rustls, ring, webpki roots, HTTP/1.1 by ALPN), then
//! the WebSocket handshake with the provider's auth and the turn's Codex headers.

use axum::http::{HeaderMap, HeaderValue};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::WebSocketStream;

/// The bytes under a socket: plain TCP or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

pub type Socket = WebSocketStream<Box<dyn Io>>;

/// Why no socket was opened.
#[derive(Debug)]
pub enum ConnectError {
    /// The upstream answered the upgrade with this status: it has no WebSocket mode here (or
    /// not for this key); the turn goes over HTTP.
    Refused(u16),
    /// It could not be reached at all (DNS, TCP, TLS, a broken handshake, the timeout).
    Unreachable(String),
}

/// The headers that describe an HTTP body or ask for SSE, which a socket's upgrade has no use for.
const NOT_ON_UPGRADE: [&str; 6] =
    ["content-type", "content-length", "content-encoding", "accept", "accept-encoding", "transfer-encoding"];

/// Connect to `url` (`http(s)://…`, the Responses endpoint) within `timeout`.
pub async fn connect(url: &reqwest::Url, mut headers: HeaderMap, timeout: Duration) -> Result<Socket, ConnectError> {
    match tokio::time::timeout(timeout, open(url, &mut headers)).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Unreachable(format!("no WebSocket handshake within {timeout:?}"))),
    }
}

async fn open(url: &reqwest::Url, headers: &mut HeaderMap) -> Result<Socket, ConnectError> {
    let unreachable = |e: &dyn std::fmt::Display| ConnectError::Unreachable(e.to_string());
    let tls = match url.scheme() {
        "https" => true,
        "http" => false,
        other => return Err(ConnectError::Unreachable(format!("scheme {other:?} has no WebSocket form"))),
    };
    let host = url.host_str().ok_or_else(|| ConnectError::Unreachable("the base URL has no host".into()))?;
    let port = url.port_or_known_default().unwrap_or(if tls { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host.trim_start_matches('[').trim_end_matches(']'), port))
        .await
        .map_err(|e| unreachable(&e))?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = if tls {
        let name =
            tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|e| unreachable(&e))?;
        Box::new(tls_connector()?.connect(name, tcp).await.map_err(|e| unreachable(&e))?)
    } else {
        Box::new(tcp)
    };
    // `Url::set_scheme` refuses http → ws (special → non-special), so swap it in the text.
    let rest = &url.as_str()[url.scheme().len()..];
    let ws_url = format!("{}{rest}", if tls { "wss" } else { "ws" });
    let mut req = ws_url.as_str().into_client_request().map_err(|e| unreachable(&e))?;
    for name in NOT_ON_UPGRADE {
        headers.remove(name);
    }
    headers.append("openai-beta", HeaderValue::from_static(super::BETA));
    for (k, v) in headers.iter() {
        req.headers_mut().append(k.clone(), v.clone());
    }
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(super::MAX_EVENT))
        .max_frame_size(Some(super::MAX_EVENT));
    match tokio_tungstenite::client_async_with_config(req, io, Some(config)).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(resp)) => Err(ConnectError::Refused(resp.status().as_u16())),
        Err(e) => Err(unreachable(&e)),
    }
}

/// One TLS client configuration for every upstream socket (webpki roots, HTTP/1.1 only: the
/// WebSocket upgrade is an HTTP/1.1 request).
fn tls_connector() -> Result<tokio_rustls::TlsConnector, ConnectError> {
    use tokio_rustls::rustls;
    static CONFIG: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>> = std::sync::OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut c = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(c))
    });
    match config {
        Ok(c) => Ok(tokio_rustls::TlsConnector::from(c.clone())),
        Err(e) => Err(ConnectError::Unreachable(format!("TLS set-up: {e}"))),
    }
}
