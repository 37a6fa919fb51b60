//! The failover loop: choose a deployment, send, judge the answer *before anything is
//! committed to the client*, and either commit or move on.
//!
//! Commit point: a non-streamed answer commits once its whole 2xx body has arrived (bounded);
//! a stream commits with its first upstream bytes (the loop peeks them, bounded by the stream
//! idle timeout).
//! Before that, what to do with a failure is `crate::failure`'s verdict (the one table):
//! retried on another deployment (or the same one after a jittered backoff that honours
//! `Retry-After`, bounded by `[routing] max_wait_ms`), parked until its reset (429: moves on
//! without waiting), left out as not serving the model (only when none serves it does the
//! client get a 404), the client's answer unless a `fallbacks` model takes it (context-window
//! overflow, content filter), or the client's answer.
//! The budget is the route's `retries`. After the commit nothing is retried: a broken stream
//! ends with the client protocol's error event (`stream.rs`) and counts against the deployment.
//! Must never: retry after the commit point, wait unboundedly, or retry a request the client
//! got wrong.

mod affinity;
mod diagnose;

use crate::app::AppState;
use crate::failure::{self, Action, Class};
use crate::ingress::reply;
use crate::pipeline::translate::{codex_backend, count_tokens};
use crate::pipeline::{relay, translate, Endpoint, Inbound};
use crate::routing::deployment::{Deployment, InFlight};
use crate::routing::upstream_limits::Limits;
use crate::routing::{clock, strategy, Route};
use crate::upstream::{BodyStream, UpstreamError, UpstreamResponse};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use crossbar_protocol::canonical::{ErrorInfo, ErrorKind};
use futures_util::{Stream, StreamExt};
use rand::Rng;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Largest non-streamed answer held back until it is complete.
const MAX_BUFFERED: usize = 32 * 1024 * 1024;

/// Largest upstream error body kept for judging and replaying to the client.
const MAX_ERROR_BODY: usize = 1024 * 1024;

/// Longest wait for an upstream error body after its non-2xx head.
const ERROR_BODY_DEADLINE: Duration = Duration::from_secs(10);

pub async fn run(state: Arc<AppState>, inbound: Inbound, route: Arc<Route>) -> Response {
    let mut fallbacks = route.fallbacks.iter();
    let mut current = route.clone();
    loop {
        match attempt_route(&state, &inbound, &current).await {
            Ended::Answer(r) => return r,
            Ended::Fallback(r) => {
                let next = fallbacks
                    .by_ref()
                    .find_map(|name| state.routes().resolve(name).ok().filter(|r| !r.deployments.is_empty()));
                match next {
                    Some(n) => {
                        tracing::info!(from = %current.name, to = %n.name, "falling back to another model");
                        current = n;
                    }
                    None => return r,
                }
            }
        }
    }
}

enum Ended {
    Answer(Response),
    /// The request is too long for this model or was filtered: the next fallback may serve it.
    Fallback(Response),
}

/// Why an attempt did not commit, with `crate::failure`'s verdict on it.
enum Failure {
    Transport(UpstreamError),
    Http { status: u16, headers: HeaderMap, body: Bytes, class: Class },
}

impl Failure {
    fn class(&self) -> Class {
        match self {
            Failure::Transport(e) => failure::transport(e),
            Failure::Http { class, .. } => *class,
        }
    }
}

enum Verdict {
    Commit(UpstreamResponse, Duration),
    Retry(Failure),
    Final(Failure),
}

/// The failed attempt whose answer the client gets if nothing better comes.
struct Last {
    index: usize,
    failure: Failure,
    prepared: Option<translate::Prepared>,
}

async fn attempt_route(state: &Arc<AppState>, inbound: &Inbound, route: &Route) -> Ended {
    let cfg = &state.config.routing;
    let tokens = (inbound.body.len() / 4) as u64;
    // A route with overflow remembers conversations even unsticky: they keep their side.
    let remembers = route.sticky || route.has_overflow();
    let session = if remembers && route.deployments.len() > 1 { inbound.conversation() } else { None };
    let mut tried: Vec<usize> = Vec::new();
    // Not again in this request: rate limited, key failures, or a `Retry-After` too long to wait.
    let mut excluded: Vec<usize> = Vec::new();
    let mut waits: Vec<(usize, Duration)> = Vec::new();
    let mut last: Option<Last> = None;
    let mut attempts = 0u32;
    // Attempts answered "model not served": bounded by the deployments, not the retry budget.
    let mut unserved = 0u32;

    let recalled = match session {
        Some(k) => affinity::recall(state, route, k, clock::now_ms()).await,
        None => None,
    };

    while attempts - unserved <= route.retries {
        let now = clock::now_ms();
        // Overflow: the preferred side first, then the other one if it may be used at all.
        let plan = route.plan(now, recalled);
        let choice = {
            let mut rng = rand::thread_rng();
            let fresh = |i: usize| tried.contains(&i) || excluded.contains(&i);
            let pick = |ok: &dyn Fn(usize) -> bool, rng: &mut rand::rngs::ThreadRng| {
                route
                    .choose(now, tokens, |i| fresh(i) || !ok(i), recalled, rng)
                    .or_else(|| route.choose(now, tokens, |i| excluded.contains(&i) || !ok(i), None, rng))
            };
            let first = pick(&|i| plan.prefers(i), &mut rng);
            if route.has_overflow() {
                first.or_else(|| pick(&|i| plan.allows(i), &mut rng))
            } else {
                first
            }
        };
        let index = match choice {
            Some(i) => i,
            None if last.is_some() => break,
            None if !route.deployments.iter().any(|d| d.state.serves(now)) => {
                return Ended::Answer(not_served(inbound, route, None));
            }
            None => match strategy::soonest(&route.deployments, now, tokens, |i| !plan.allows(i)) {
                // Everything is failing: probe the one that rested longest rather than refuse.
                Ok(i) => i,
                Err(parked) => return Ended::Answer(unavailable(inbound, route, parked, now)),
            },
        };
        if tried.contains(&index) {
            let hinted = waits.iter().filter(|(i, _)| *i == index).map(|(_, d)| *d).max().unwrap_or_default();
            let wait = backoff(cfg.backoff, attempts).max(hinted).min(cfg.max_wait);
            tokio::time::sleep(wait).await;
        }
        attempts += 1;
        tried.push(index);
        let dep = &route.deployments[index];
        let target = &dep.target;
        let upstream = target.provider.kind().upstream_protocol(inbound.protocol);
        crate::pipeline::finish::record::set_route(&target.provider, &target.model, upstream);
        if inbound.endpoint == Endpoint::CountTokens && upstream != inbound.protocol {
            return Ended::Answer(count_tokens::estimate(inbound));
        }
        let kind = target.provider.kind();
        let (mut request, prepared) = if upstream == inbound.protocol && codex_backend::relayable(inbound, kind) {
            (relay::request(inbound, target), None)
        } else {
            match translate::prepare(state, inbound, target, upstream).await {
                Ok((r, p)) => (r, Some(p)),
                Err(client_error) => return Ended::Answer(*client_error),
            }
        };
        let conversation = session
            .or_else(|| (kind == crate::config::ProviderKind::Chatgpt).then(|| inbound.conversation()).flatten());
        codex_backend::add_headers(kind, inbound.endpoint, &inbound.headers, conversation, &mut request.headers);
        let diagnosing = diagnose::prepare(inbound, target, upstream, &mut request);

        let mut flight = dep.begin(clock::now_ms(), tokens);
        let started = Instant::now();
        let sent = match &inbound.socket {
            // A client socket's turn, relayed as Responses to a provider with WebSocket mode:
            // that socket's own upstream socket (it falls back to HTTP itself).
            Some(turn) if prepared.is_none() && target.provider.config.websocket && upstream == inbound.protocol => {
                turn.send(&target.provider, request).await
            }
            _ => target.provider.send(request).await,
        };
        let verdict = judge(sent, upstream, inbound.stream, state.config.server.stream_idle_timeout, started).await;
        let now = clock::now_ms();
        let unix = clock::unix_now_secs_f64();
        let side = route.has_overflow().then(|| {
            let (side, why) = plan.explain(index);
            (side.name(), why)
        });
        note_attempt(target, &verdict, started, side);
        match verdict {
            Verdict::Commit(mut resp, ttft) => {
                dep.state.record_ttft(ttft);
                dep.state.health.success();
                observe(state, dep, &resp.headers, now, unix);
                flight.settle();
                if let Some(k) = session {
                    affinity::remember(state, route, k, index, recalled, now);
                }
                if diagnosing {
                    resp.body = diagnose::tap(resp.body);
                }
                resp.body = Box::pin(Tracked {
                    inner: resp.body,
                    flight,
                    threshold: cfg.failures_to_cooldown,
                    cooldown_ms: cfg.cooldown.as_millis() as u64,
                });
                let mut r = respond(state, inbound, route, index, prepared, resp).await;
                if let Ok(v) = HeaderValue::from_str(&attempts.to_string()) {
                    r.headers_mut().insert("x-crossbar-attempts", v);
                }
                return Ended::Answer(r);
            }
            Verdict::Retry(failure) => {
                flight.settle();
                record(state, route, index, &failure, now, unix, &mut excluded, &mut waits);
                last = Some(Last { index, failure, prepared });
            }
            Verdict::Final(failure) if route.deployments.len() > 1 && failure.class().action == Action::Unserved => {
                // Another deployment (another account's plan) may have the model: not the
                // client's mistake yet, and not a failure of this deployment's health.
                flight.settle();
                dep.state.mark_unserved(now, UNSERVED_MS);
                dep.state.set_last_error(format!("does not serve model {:?}", target.model));
                tracing::info!(provider = %target.provider.name(), model = %target.model, "upstream does not serve the model; trying another deployment");
                excluded.push(index);
                unserved += 1;
                last = Some(Last { index, failure, prepared });
            }
            Verdict::Final(failure) => {
                flight.settle();
                if failure.class().cools {
                    // The provider refused our key (401/403) or failed for good (5xx): the
                    // client gets the answer, the deployment's health counts it.
                    fail(state, dep, now);
                    dep.state.set_last_error(format!("{} ({})", failure.class().label, target.model));
                }
                let fallback = !route.fallbacks.is_empty() && failure.class().action == Action::Fallback;
                let r = Last { index, failure, prepared }.respond(state, inbound, route).await;
                return if fallback { Ended::Fallback(r) } else { Ended::Answer(r) };
            }
        }
    }
    match last {
        Some(l) if unserved > 0 && !route.deployments.iter().any(|d| d.state.serves(clock::now_ms())) => {
            Ended::Answer(not_served(inbound, route, Some(&l.failure)))
        }
        Some(l) => {
            let r = l.respond(state, inbound, route).await;
            Ended::Answer(r)
        }
        None => Ended::Answer(unavailable(inbound, route, None, clock::now_ms())),
    }
}

/// The dashboard's attempt chain: one entry per deployment tried (`record::attempt`).
fn note_attempt(
    target: &crate::routing::Target,
    verdict: &Verdict,
    started: Instant,
    side: Option<(&'static str, &'static str)>,
) {
    let ms = started.elapsed().as_millis();
    let failure = |f: &Failure| match f {
        Failure::Transport(e) => (None, e.to_string()),
        Failure::Http { status, .. } => (Some(*status), format!("HTTP {status}")),
    };
    let (status, outcome): (_, std::borrow::Cow<'static, str>) = match verdict {
        Verdict::Commit(r, _) => (Some(r.status), "served".into()),
        Verdict::Retry(f) if f.class().action == Action::Park => {
            (failure(f).0, "moved on: rate limited (parked until its reset)".into())
        }
        Verdict::Retry(f) => {
            let (s, why) = failure(f);
            (s, format!("moved on: {why}").into())
        }
        Verdict::Final(f) => match f.class().action {
            Action::Unserved => (failure(f).0, "moved on: model not served here".into()),
            Action::Fallback => (
                failure(f).0,
                format!("answered the client ({}; a fallback model may take it)", f.class().label).into(),
            ),
            _ => (failure(f).0, "answered the client".into()),
        },
    };
    crate::pipeline::finish::record::attempt(target.provider.name(), &target.model, status, ms, outcome, side);
}

/// Send's result → commit, retry or final. Streams are committed on their first bytes.
async fn judge(
    sent: Result<UpstreamResponse, UpstreamError>,
    upstream: crossbar_protocol::canonical::Protocol,
    stream: bool,
    idle: Duration,
    started: Instant,
) -> Verdict {
    let mut resp = match sent {
        Ok(r) => r,
        Err(e) => return Verdict::Retry(Failure::Transport(e)),
    };
    if (200..300).contains(&resp.status) {
        if !stream {
            return read_whole(resp, idle, started).await;
        }
        let first = tokio::time::timeout(idle, async {
            loop {
                match resp.body.next().await {
                    Some(Ok(b)) if b.is_empty() => continue,
                    other => return other,
                }
            }
        })
        .await;
        return match first {
            Ok(Some(Ok(chunk))) => {
                let ttft = started.elapsed();
                let rest = std::mem::replace(&mut resp.body, Box::pin(futures_util::stream::empty()));
                resp.body = Box::pin(futures_util::stream::once(async move { Ok(chunk) }).chain(rest));
                Verdict::Commit(resp, ttft)
            }
            Ok(Some(Err(e))) => Verdict::Retry(Failure::Transport(e)),
            Ok(None) => {
                Verdict::Retry(Failure::Transport(UpstreamError::Io("the stream ended before its first event".into())))
            }
            Err(_) => Verdict::Retry(Failure::Transport(UpstreamError::Idle(idle))),
        };
    }
    let mut body = Vec::new();
    // An error body is small and sent at once; one that trickles is cut at the deadline.
    let _ = tokio::time::timeout(ERROR_BODY_DEADLINE, async {
        while let Some(chunk) = resp.body.next().await {
            match chunk {
                Ok(c) if body.len() + c.len() <= MAX_ERROR_BODY => body.extend_from_slice(&c),
                _ => break,
            }
        }
    })
    .await;
    let class = failure::http(upstream, resp.status, &body);
    // The body as held (it may have been cut): what a relayed answer's length says.
    set_length(&mut resp.headers, body.len());
    let failure = Failure::Http { status: resp.status, headers: resp.headers, body: Bytes::from(body), class };
    match class.action {
        Action::Retry | Action::Park => Verdict::Retry(failure),
        Action::Unserved | Action::Fallback | Action::Final => Verdict::Final(failure),
    }
}

/// A non-streamed answer is read whole before it commits (up to `MAX_BUFFERED`; a larger one
/// commits with what has arrived), so a body cut half-way is retried like any other failure.
async fn read_whole(mut resp: UpstreamResponse, idle: Duration, started: Instant) -> Verdict {
    let mut buf = bytes::BytesMut::new();
    loop {
        match tokio::time::timeout(idle, resp.body.next()).await {
            Ok(Some(Ok(chunk))) => {
                buf.extend_from_slice(&chunk);
                if buf.len() > MAX_BUFFERED {
                    let head = buf.freeze();
                    let rest = std::mem::replace(&mut resp.body, Box::pin(futures_util::stream::empty()));
                    resp.body = Box::pin(futures_util::stream::once(async move { Ok(head) }).chain(rest));
                    return Verdict::Commit(resp, started.elapsed());
                }
            }
            Ok(Some(Err(e))) => return Verdict::Retry(Failure::Transport(e)),
            Ok(None) => break,
            Err(_) => return Verdict::Retry(Failure::Transport(UpstreamError::Idle(idle))),
        }
    }
    let whole = buf.freeze();
    // Whole now, however it arrived: a relay answers with its length, not chunked.
    set_length(&mut resp.headers, whole.len());
    resp.body = Box::pin(futures_util::stream::once(async move { Ok(whole) }));
    Verdict::Commit(resp, started.elapsed())
}

/// `content-length` for a body held whole (replacing the upstream's framing headers).
fn set_length(headers: &mut HeaderMap, len: usize) {
    headers.remove(axum::http::header::TRANSFER_ENCODING);
    headers.insert(axum::http::header::CONTENT_LENGTH, HeaderValue::from(len));
}

/// Feed a failed attempt back into the deployment's health.
#[allow(clippy::too_many_arguments)]
fn record(
    state: &AppState,
    route: &Route,
    index: usize,
    failure: &Failure,
    now: u64,
    unix: f64,
    excluded: &mut Vec<usize>,
    waits: &mut Vec<(usize, Duration)>,
) {
    let cfg = &state.config.routing;
    let dep = &route.deployments[index];
    let provider = dep.target.provider.name().to_string();
    let class = failure.class();
    let (kind, message) = match failure {
        Failure::Transport(e) => (class.label, e.to_string()),
        Failure::Http { status, .. } => (class.label, format!("HTTP {status}")),
    };
    state
        .metrics
        .upstream_errors
        .get_or_create(&crate::telemetry::UpstreamErrorLabels { provider: provider.clone(), kind })
        .inc();
    tracing::warn!(provider = %provider, model = %dep.target.model, error = %message, "attempt failed; trying another deployment");
    dep.state.set_last_error(message);
    match failure {
        Failure::Transport(UpstreamError::Key(_)) => {
            fail(state, dep, now);
            excluded.push(index);
        }
        Failure::Transport(_) => {
            fail(state, dep, now);
        }
        Failure::Http { headers, body, class, .. } if class.action == Action::Park => {
            park_rate_limited(state, dep, headers, body, now, unix);
            excluded.push(index);
        }
        Failure::Http { headers, .. } => {
            dep.state.observe_limits(&Limits::read(headers, unix), now);
            fail(state, dep, now);
            if let Some(hint) = crate::routing::upstream_limits::retry_after(headers, unix) {
                if hint > cfg.max_wait {
                    excluded.push(index);
                } else {
                    waits.push((index, hint));
                }
            }
        }
    }
}

/// Take in what an answer's headers say about the upstream's limits (headroom, a used-up
/// quota; a ChatGPT account's usage windows).
pub(crate) fn observe(state: &AppState, dep: &Deployment, headers: &HeaderMap, now: u64, unix: f64) {
    dep.state.observe_limits(&Limits::read(headers, unix), now);
    observe_windows(state, dep, headers);
}

/// A pooled account's usage windows from an answer's headers, shared with the fleet when
/// they changed.
fn observe_windows(state: &AppState, dep: &Deployment, headers: &HeaderMap) {
    if let Some(a) = dep.target.provider.account() {
        if let Some(w) = a.observe_windows(headers) {
            crate::fleet::windows(state, &a.id, &w);
        }
    }
}

/// A failure counted against `dep`'s breaker; when it opens, the fleet cools it too.
fn fail(state: &AppState, dep: &Deployment, now: u64) {
    let cfg = &state.config.routing;
    if dep.state.health.failure(now, cfg.failures_to_cooldown, cfg.cooldown.as_millis() as u64) {
        crate::fleet::cool(state, dep.target.provider.name(), &dep.target.model, cfg.cooldown);
    }
}

/// A 429 (or a usage limit): park the deployment until the reset its headers or its Codex body
/// announce, else for `[routing] rate_limit_park_ms`.
pub(crate) fn park_rate_limited(
    state: &AppState,
    dep: &Deployment,
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
    unix: f64,
) {
    observe_windows(state, dep, headers);
    let limits = Limits::read(headers, unix);
    dep.state.observe_limits(&limits, now);
    let park = limits
        .retry_after
        .or(limits.exhausted_for)
        .or_else(|| body_reset(body, unix))
        .unwrap_or(state.config.routing.rate_limit_park);
    dep.state.health.park(clock::ms_after(now, park));
    if let Some(a) = dep.target.provider.account() {
        crate::fleet::park(state, &a.id, park);
    }
}

/// A Codex `usage_limit_reached` body: `error.resets_in_seconds` or `error.resets_at`.
fn body_reset(body: &[u8], unix: f64) -> Option<Duration> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error")?;
    if let Some(s) = e.get("resets_in_seconds").and_then(|s| s.as_f64()) {
        return Some(Duration::from_secs_f64(s.clamp(0.0, 1e9)));
    }
    let at = e.get("resets_at").and_then(|s| s.as_f64())?;
    Some(Duration::from_secs_f64((at - unix).clamp(0.0, 1e9)))
}

/// How long a deployment that said "no such model" is left out of its routes.
const UNSERVED_MS: u64 = 15 * 60 * 1000;

/// No deployment of the route serves the model (each one said so): the client's own 404.
fn not_served(inbound: &Inbound, route: &Route, last: Option<&Failure>) -> Response {
    let mut msg = format!("model {:?} is not served by any of its {} deployments", route.name, route.deployments.len());
    if let Some(Failure::Http { body, .. }) = last {
        let said = upstream_message(body);
        if !said.is_empty() {
            msg.push_str(&format!(" (the last said: {said})"));
        }
    }
    let mut info = ErrorInfo::new(ErrorKind::NotFound, msg);
    info.code = Some("model_not_found".to_string());
    info.param = Some("model".to_string());
    reply::error(inbound.protocol, &info)
}

/// The message of an upstream error body, whatever its shape (bounded).
fn upstream_message(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text =
        ["/error/message", "/detail", "/message"].iter().find_map(|p| v.pointer(p)?.as_str()).unwrap_or_default();
    text.chars().take(300).collect()
}

impl Last {
    /// What the client gets from this failed attempt: the upstream's own error (relayed as is,
    /// or re-shaped into the client's protocol), or a gateway 502/504.
    async fn respond(self, state: &Arc<AppState>, inbound: &Inbound, route: &Route) -> Response {
        let target = &route.deployments[self.index].target;
        match self.failure {
            Failure::Transport(e) => crate::pipeline::upstream_failure(state, inbound, target, &e),
            Failure::Http { status, headers, body, .. } => {
                let body: BodyStream = Box::pin(futures_util::stream::once(async move { Ok(body) }));
                let resp = UpstreamResponse { status, headers, body };
                respond(state, inbound, route, self.index, self.prepared, resp).await
            }
        }
    }
}

async fn respond(
    state: &Arc<AppState>,
    inbound: &Inbound,
    route: &Route,
    index: usize,
    prepared: Option<translate::Prepared>,
    resp: UpstreamResponse,
) -> Response {
    let target = &route.deployments[index].target;
    match prepared {
        None => relay::respond(state.clone(), inbound, target, resp),
        Some(p) => translate::respond(state.clone(), inbound, target, p, resp).await,
    }
}

/// Nothing could be tried: every deployment is rate limited (429 until the first reset) or at
/// its `max_parallel`/`rpm`/`tpm` cap.
fn unavailable(inbound: &Inbound, route: &Route, parked_until: Option<u64>, now: u64) -> Response {
    let (msg, secs) = match parked_until {
        Some(t) => (
            format!("every deployment of {:?} is rate limited upstream; retry later", route.name),
            t.saturating_sub(now).div_ceil(1000).max(1),
        ),
        None => (format!("every deployment of {:?} is at its capacity limit; retry shortly", route.name), 1),
    };
    let mut info = ErrorInfo::new(ErrorKind::RateLimited, msg);
    info.code = Some("rate_limit_exceeded".to_string());
    let mut r = reply::error(inbound.protocol, &info);
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert("retry-after", v);
    }
    r
}

/// Jittered exponential backoff: base × 2^(n−1) × [0.5, 1.5).
fn backoff(base: Duration, attempt: u32) -> Duration {
    if base.is_zero() {
        return Duration::ZERO;
    }
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    exp.mul_f64(rand::thread_rng().gen_range(0.5..1.5))
}

/// A committed upstream body: keeps the attempt in flight until it ends, and counts a broken
/// stream against the deployment's health.
struct Tracked {
    inner: BodyStream,
    flight: InFlight,
    threshold: u32,
    cooldown_ms: u64,
}

impl Stream for Tracked {
    type Item = Result<Bytes, UpstreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Err(e))) = &item {
            let (threshold, cooldown) = (self.threshold, self.cooldown_ms);
            self.flight.state.health.failure(clock::now_ms(), threshold, cooldown);
            self.flight.state.set_last_error(e.to_string());
        }
        item
    }
}
