//! Active health checks (`[routing] health_check_secs`, off by default): every N seconds one
//! tiny request ("ping", at most 16 output tokens) goes to each deployment the routing table
//! knows — `[[models]]` targets and the `provider/model` routes resolved so far, one probe per
//! `Deployment::tag` (each account of a `chatgpt` pool is its own) — and its answer feeds the
//! state client requests feed: a 2xx closes the breaker (a cooling deployment comes back
//! without a client request paying for it), what `crate::failure` says cools (connect errors,
//! timeouts, 408, 5xx, 401 and 403) counts towards cooldown, a 429 parks it until the reset,
//! the headers update its headroom. Other 4xx are recorded as its last error only: the probe's
//! own request may be at fault.
//! Each probe is also a usage record (`protocol_in = "health_check"`, no key, its tokens and
//! cost when the answer says), so what health checks spend shows in the usage reports.
//!
//! One round at a time, `CONCURRENCY` probes at once, each bounded by min(N, 30) s; the routing
//! table is taken afresh each round (account pools change it).
//! Must never: run on the request path, keep the gateway alive (it holds a weak reference),
//! or probe a deployment that is parked or known not to serve its model.

use crate::app::AppState;
use crate::config::ProviderKind;
use crate::pipeline::attempt;
use crate::routing::clock;
use crate::routing::deployment::Deployment;
use crate::routing::health::Availability;
use crate::upstream::{BodyStream, UpstreamRequest};
use axum::http::HeaderMap;
use bytes::{Bytes, BytesMut};
use crossbar_protocol::canonical::{Cx, Message, OpaqueCodec, Part, Protocol, Request, Role};
use futures_util::StreamExt;
use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Probes in flight at once.
const CONCURRENCY: usize = 8;
const MAX_OUTPUT_TOKENS: u32 = 16;
/// The longest one probe may take (shorter when probes come more often).
const MAX_TIMEOUT: Duration = Duration::from_secs(30);
/// Most of an answer read.
const MAX_BODY: usize = 1024 * 1024;

/// Check every `[routing] health_check` until the gateway is gone or `stop` turns true.
pub async fn run(state: Weak<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(every) = state.upgrade().map(|s| s.config.routing.health_check).filter(|d| !d.is_zero()) else { return };
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        let Some(state) = state.upgrade() else { return };
        tokio::select! {
            _ = round(&state, every.min(MAX_TIMEOUT)) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
    }
}

/// Probe each deployment of the routing table as it is now, once.
async fn round(state: &AppState, timeout: Duration) {
    let routes = state.routes();
    let now = clock::now_ms();
    let mut seen = HashSet::new();
    let due: Vec<Deployment> = routes
        .all_routes()
        .iter()
        .flat_map(|r| r.deployments.iter())
        .filter(|d| seen.insert(d.tag()))
        // Parked: nothing to learn before the reset. Unserved: the same 400 again.
        .filter(|d| d.state.serves(now) && !matches!(d.state.health.availability(now), Availability::ParkedUntil(_)))
        .cloned()
        .collect();
    futures_util::stream::iter(due)
        .map(|d| probe(state, d, timeout))
        .buffer_unordered(CONCURRENCY)
        .for_each(|_| async {})
        .await;
}

/// What one probe found out.
enum Found {
    /// A 2xx with its body (a streamed probe: its first bytes).
    Up(Bytes),
    /// Unreachable, too slow, a broken or empty body, 408, 5xx, 401, 403.
    Down(String),
    /// 429 (or a usage limit), with its body (a Codex body says when it resets).
    RateLimited(Bytes),
    /// Another 4xx.
    Refused(String),
}

async fn probe(state: &AppState, dep: Deployment, timeout: Duration) {
    let kind = dep.target.provider.kind();
    let (request, stream) = match request(kind, &dep.target.model, &state.codec) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(provider = %dep.target.provider.name(), model = %dep.target.model, error = %e, "cannot build a health check");
            return;
        }
    };
    let upstream = request.protocol;
    let started = std::time::Instant::now();
    let (found, headers) = match tokio::time::timeout(timeout, ask(&dep, request, stream)).await {
        Ok(r) => r,
        Err(_) => (Found::Down(format!("no answer within {timeout:?}")), HeaderMap::new()),
    };
    record(state, &dep, upstream, &found, started);
    feed(state, &dep, found, &headers);
}

/// A probe is a request the gateway made (and an upstream may bill): it goes into the usage
/// records like any other, with `protocol_in = "health_check"` and no key.
fn record(state: &AppState, dep: &Deployment, upstream: Protocol, found: &Found, started: std::time::Instant) {
    let (status, usage, error) = match found {
        Found::Up(body) => {
            let usage = crossbar_protocol::decode_response(upstream, body, &Cx::new(state.codec.clone()))
                .map(|r| r.usage)
                .unwrap_or_default();
            (200, usage, None)
        }
        Found::Down(_) => (502, Default::default(), Some("health_check_down")),
        Found::RateLimited(_) => (429, Default::default(), Some("http_429")),
        Found::Refused(_) => (400, Default::default(), Some("health_check_refused")),
    };
    let (provider, model) = (dep.target.provider.name(), dep.target.model.as_str());
    let info = state.catalog.lookup(model);
    state.usage.record(
        crate::store::UsageRecord {
            ts: crate::store::now_ms(),
            key_id: None,
            model: format!("{provider}/{model}"),
            provider: Some(provider.to_string()),
            upstream_model: Some(model.to_string()),
            protocol_in: "health_check",
            protocol_out: Some(upstream.name()),
            cost_usd: crate::usage::pricing::cost(info.as_ref(), &usage),
            latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            ttft_ms: None,
            status,
            error_class: error.map(str::to_string),
            ..Default::default()
        }
        .with_tokens(&usage),
    );
}

/// The probe for a deployment of `kind` serving `model`, in its upstream protocol; and whether
/// it streams (the Codex backend serves streams only, keeps nothing and takes no output limit).
fn request(
    kind: ProviderKind,
    model: &str,
    codec: &Arc<OpaqueCodec>,
) -> Result<(UpstreamRequest, bool), crossbar_protocol::canonical::ProtocolError> {
    let upstream = kind.upstream_protocol(Protocol::OpenaiChat);
    let codex = kind == ProviderKind::Chatgpt;
    let mut req = Request {
        model: model.to_string(),
        messages: vec![Message { role: Role::User, parts: vec![Part::text("ping")] }],
        stream: codex,
        ..Request::default()
    };
    if codex {
        // The backend refuses a request without instructions.
        req.system = vec![Part::text("Reply with one word.")];
    } else {
        req.sampling.max_tokens = Some(MAX_OUTPUT_TOKENS);
    }
    let encoded = crossbar_protocol::encode_request(upstream, &req, &Cx::new(codec.clone()))?;
    let headers = crate::pipeline::forward_headers(upstream, &HeaderMap::new(), false);
    Ok((UpstreamRequest { protocol: upstream, path: encoded.path, headers, body: Bytes::from(encoded.body) }, codex))
}

async fn ask(dep: &Deployment, request: UpstreamRequest, stream: bool) -> (Found, HeaderMap) {
    let protocol = request.protocol;
    let resp = match dep.target.provider.send(request).await {
        Ok(r) => r,
        Err(e) => return (Found::Down(e.to_string()), HeaderMap::new()),
    };
    let status = resp.status;
    if (200..300).contains(&status) {
        let found = match read(resp.body, stream).await {
            Ok(b) if b.is_empty() => Found::Down("an empty answer".to_string()),
            Ok(b) => Found::Up(b),
            Err(e) => Found::Down(e),
        };
        return (found, resp.headers);
    }
    let body = read(resp.body, false).await.unwrap_or_default();
    let class = crate::failure::http(protocol, status, &body);
    let found = match class.action {
        crate::failure::Action::Park => Found::RateLimited(body),
        _ if class.cools => Found::Down(format!("HTTP {status}")),
        _ => Found::Refused(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body).chars().take(300).collect::<String>()
        )),
    };
    (found, resp.headers)
}

/// A body (up to `MAX_BODY`), or only its first bytes; an error when it breaks.
async fn read(mut body: BodyStream, first_only: bool) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        buf.extend_from_slice(&chunk[..chunk.len().min(MAX_BODY - buf.len())]);
        if buf.len() >= MAX_BODY || (first_only && !buf.is_empty()) {
            break;
        }
    }
    Ok(buf.freeze())
}

/// Into the deployment's state, as a client request's outcome would go.
fn feed(state: &AppState, dep: &Deployment, found: Found, headers: &HeaderMap) {
    let cfg = &state.config.routing;
    let (now, unix) = (clock::now_ms(), clock::unix_now_secs_f64());
    let (provider, model) = (dep.target.provider.name(), dep.target.model.as_str());
    let outcome = match found {
        Found::Up(_) => {
            if dep.state.health.availability(now) != Availability::Ready {
                tracing::info!(provider, model, "health check answered: deployment back in service");
            }
            dep.state.health.success();
            attempt::observe(state, dep, headers, now, unix);
            "up"
        }
        Found::Down(e) => {
            attempt::observe(state, dep, headers, now, unix);
            dep.state.set_last_error(format!("health check: {e}"));
            if dep.state.health.failure(now, cfg.failures_to_cooldown, cfg.cooldown.as_millis() as u64) {
                tracing::warn!(provider, model, error = %e, "health check failed: deployment cooling down");
                crate::fleet::cool(state, provider, model, cfg.cooldown);
            }
            "down"
        }
        Found::RateLimited(body) => {
            dep.state.set_last_error("health check: HTTP 429".to_string());
            attempt::park_rate_limited(state, dep, headers, &body, now, unix);
            "rate_limited"
        }
        Found::Refused(e) => {
            attempt::observe(state, dep, headers, now, unix);
            tracing::info!(provider, model, error = %e, "health check refused (not counted against the deployment)");
            dep.state.set_last_error(format!("health check: {e}"));
            "refused"
        }
    };
    state
        .metrics
        .health_checks
        .get_or_create(&crate::telemetry::HealthCheckLabels { provider: provider.to_string(), outcome })
        .inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: ProviderKind) -> (UpstreamRequest, bool, serde_json::Value) {
        let (r, stream) = request(kind, "m-1", &Arc::new(OpaqueCodec::new([7; 32]))).expect("encodes");
        let v = serde_json::from_slice(&r.body).expect("json");
        (r, stream, v)
    }

    #[test]
    fn a_tiny_request_in_each_upstream_protocol() {
        let (r, stream, v) = body(ProviderKind::OpenaiChat);
        assert_eq!((r.path.as_str(), stream), ("/chat/completions", false));
        assert_eq!(v["messages"][0]["content"], "ping", "{v}");
        assert_eq!(v["max_tokens"].as_u64().or(v["max_completion_tokens"].as_u64()), Some(16), "{v}");
        let (r, _, v) = body(ProviderKind::Anthropic);
        assert_eq!((r.path.as_str(), v["max_tokens"].as_u64()), ("/v1/messages", Some(16)), "{v}");
        let (r, _, v) = body(ProviderKind::Gemini);
        assert!(r.path.contains("m-1:generateContent"), "{}", r.path);
        assert_eq!(v["generationConfig"]["maxOutputTokens"], 16, "{v}");
        let (r, stream, v) = body(ProviderKind::OpenaiResponses);
        assert_eq!(
            (r.path.as_str(), stream, v["max_output_tokens"].as_u64(), v["stream"].as_bool()),
            ("/responses", false, Some(16), Some(false)),
            "{v}"
        );
    }

    #[test]
    fn the_codex_backend_gets_a_stream_it_does_not_store_without_an_output_limit() {
        let (r, stream, v) = body(ProviderKind::Chatgpt);
        assert_eq!((r.path.as_str(), r.protocol, stream), ("/responses", Protocol::OpenaiResponses, true));
        assert_eq!((v["stream"].as_bool(), v["store"].as_bool()), (Some(true), Some(false)), "{v}");
        assert!(v.get("max_output_tokens").is_none(), "{v}");
        assert!(v["instructions"].is_string(), "{v}");
        assert!(v.to_string().contains("ping"), "{v}");
    }
}
