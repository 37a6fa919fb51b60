//! Remote media for upstreams that need the bytes.
//!
//! Gemini cannot read an arbitrary `https://` image URL, so before a request is encoded for a
//! Gemini upstream, crossbar fetches each remote image or PDF itself and inlines it as base64.
//! The fetches are bounded — in count (`MAX_FETCHES`), size (`MAX_MEDIA_BYTES` each,
//! `MAX_TOTAL_BYTES` in all) and time (`FETCH_TIMEOUT` each, `TOTAL_TIMEOUT` in all) — follow
//! no redirects, and never reach a loopback, private, link-local or otherwise internal address:
//! one shared client per policy resolves through `CheckedResolver`, which checks every address
//! a name resolves to before the connection is made to one of them (no DNS rebinding).
//! Other upstreams take URLs as they are, so nothing is fetched for them.

use base64::Engine;
use crossbar_protocol::canonical::{ErrorInfo, ErrorKind, MediaSource, Part, Request};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub const MAX_MEDIA_BYTES: usize = 20 * 1024 * 1024;
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// All the media of one request together.
pub const MAX_TOTAL_BYTES: usize = 64 * 1024 * 1024;
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_FETCHES: usize = 32;

#[derive(Debug, Clone, Copy)]
pub struct MediaPolicy {
    /// Allow fetching from internal addresses (for local testing only).
    pub allow_private: bool,
}

/// Replace every remote `Image`/`File` URL in `req` by its inlined bytes.
pub async fn inline_remote_media(req: &mut Request, policy: MediaPolicy) -> Result<(), ErrorInfo> {
    match tokio::time::timeout(TOTAL_TIMEOUT, inline_all(req, policy)).await {
        Ok(r) => r,
        Err(_) => {
            Err(bad(format!("fetching the request's remote media took longer than {} s", TOTAL_TIMEOUT.as_secs())))
        }
    }
}

async fn inline_all(req: &mut Request, policy: MediaPolicy) -> Result<(), ErrorInfo> {
    let mut fetched = 0;
    let mut total = 0usize;
    for msg in &mut req.messages {
        for part in &mut msg.parts {
            let sources: Vec<&mut MediaSource> = match part {
                Part::Image { source, .. } | Part::File { source, .. } => vec![source],
                Part::ToolResult(r) => r
                    .content
                    .iter_mut()
                    .filter_map(|p| match p {
                        Part::Image { source, .. } | Part::File { source, .. } => Some(source),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for source in sources {
                let MediaSource::Url { url } = source else { continue };
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    continue;
                }
                fetched += 1;
                if fetched > MAX_FETCHES {
                    return Err(bad(format!("more than {MAX_FETCHES} remote media URLs in one request")));
                }
                let (media_type, bytes) = fetch(url, policy).await?;
                total += bytes.len();
                if total > MAX_TOTAL_BYTES {
                    return Err(bad(format!(
                        "the request's remote media are larger than {} MiB in all",
                        MAX_TOTAL_BYTES / (1024 * 1024)
                    )));
                }
                *source =
                    MediaSource::Base64 { media_type, data: base64::engine::general_purpose::STANDARD.encode(bytes) };
            }
        }
    }
    Ok(())
}

fn bad(message: String) -> ErrorInfo {
    let mut e = ErrorInfo::new(ErrorKind::InvalidRequest, message);
    e.param = Some("image_url".into());
    e
}

/// Resolves a host and refuses it when any of its addresses is internal (unless allowed).
struct CheckedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().trim_matches(['[', ']']).to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            if !allow_private {
                if let Some(a) = addrs.iter().find(|a| is_internal(a.ip())) {
                    return Err(format!("it resolves to an internal address ({})", a.ip()).into());
                }
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The one media client of a policy (connections pooled across requests).
fn client(policy: MediaPolicy) -> Result<reqwest::Client, ErrorInfo> {
    static CLIENTS: OnceLock<[Result<reqwest::Client, String>; 2]> = OnceLock::new();
    let build = |allow_private| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .dns_resolver(Arc::new(CheckedResolver { allow_private }))
            .build()
            .map_err(|e| e.to_string())
    };
    let clients = CLIENTS.get_or_init(|| [build(false), build(true)]);
    clients[usize::from(policy.allow_private)].clone().map_err(|e| bad(format!("cannot fetch media: {e}")))
}

async fn fetch(url: &str, policy: MediaPolicy) -> Result<(String, Vec<u8>), ErrorInfo> {
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(format!("media URL {url:?} is not valid: {e}")))?;
    let host = parsed.host_str().ok_or_else(|| bad(format!("media URL {url:?} has no host")))?.to_string();
    // A literal address never goes through the resolver: check it here.
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        if !policy.allow_private && is_internal(ip) {
            return Err(bad(format!("refusing to fetch media from {host}: it resolves to an internal address ({ip})")));
        }
    }
    let mut resp = client(policy)?.get(parsed).send().await.map_err(|e| {
        // The resolver's refusal sits somewhere down the error's chain.
        let mut why = String::new();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            why = s.to_string();
            if why.contains("internal address") {
                break;
            }
            source = s.source();
        }
        if why.contains("internal address") {
            bad(format!("refusing to fetch media from {host}: {why}"))
        } else {
            bad(format!("cannot fetch {url}: {}", e.without_url()))
        }
    })?;
    if !resp.status().is_success() {
        return Err(bad(format!("fetching {url} returned HTTP {}", resp.status().as_u16())));
    }
    let media_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !(media_type.starts_with("image/") || media_type == "application/pdf") {
        return Err(bad(format!("{url} is {media_type:?}, not an image or PDF")));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| bad(format!("reading {url}: {}", e.without_url())))? {
        if bytes.len() + chunk.len() > MAX_MEDIA_BYTES {
            return Err(bad(format!("{url} is larger than {} MiB", MAX_MEDIA_BYTES / (1024 * 1024))));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((media_type, bytes))
}

/// Loopback, private, link-local, CGNAT, unique-local, multicast, unspecified, documentation.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(!is_internal(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[tokio::test]
    async fn loopback_urls_are_refused_before_any_connection() {
        let mut req = Request::default();
        req.messages.push(crossbar_protocol::canonical::Message {
            role: crossbar_protocol::canonical::Role::User,
            parts: vec![Part::Image {
                source: MediaSource::Url { url: "http://127.0.0.1:9/cat.png".into() },
                detail: None,
            }],
        });
        let e = inline_remote_media(&mut req, MediaPolicy { allow_private: false }).await.expect_err("refused");
        assert!(e.message.contains("internal address"), "{}", e.message);
        assert_eq!(e.status, 400);
    }

    #[tokio::test]
    async fn names_resolving_to_internal_addresses_are_refused_by_the_shared_client() {
        let mut req = Request::default();
        req.messages.push(crossbar_protocol::canonical::Message {
            role: crossbar_protocol::canonical::Role::User,
            parts: vec![Part::Image {
                source: MediaSource::Url { url: "http://localhost:9/cat.png".into() },
                detail: None,
            }],
        });
        let e = inline_remote_media(&mut req, MediaPolicy { allow_private: false }).await.expect_err("refused");
        assert!(e.message.contains("internal address"), "{}", e.message);
    }
}
