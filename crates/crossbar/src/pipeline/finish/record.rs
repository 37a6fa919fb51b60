//! One request's account: who asked (key), for what (model), which route served it, and —
//! exactly once, when the request is over — its usage record and the settlement of its limit
//! reservation.
//!
//! `handle` opens a `Ticket` and runs the rest of the request inside `scope`; the `Outcome`
//! that relay/translate create claims it (`claim`) and finishes it when the response body
//! ends or is dropped (client gone). A request that never reached an `Outcome` (refused,
//! routing error, upstream unreachable) is finished by `handle` with its response status.
//!
//! Cancellation safety: the ticket is also a drop guard. A request dropped at any point before
//! it finished (the client hung up while it was admitted, routed, waiting for a deployment or
//! for the upstream's first byte) is finished when its last reference goes: status 499, the
//! limit reservation given back, one usage record. Never recorded as 0 tokens when traffic
//! happened: what the upstream did not report is estimated (`tokens_estimated`): input from the
//! request, output from what was sent.

use crate::app::AppState;
use crate::limits::Reservation;
use crate::store::{now_ms, KeyRecord, UsageRecord};
use crate::upstream::Provider;
use crate::usage::cache_prompt::{Asked, TopSpans};
use crate::usage::cache_verdict::{reported_reads, Turn};
use crate::usage::capture::{Capture, Collector};
use crossbar_protocol::canonical::{Fingerprint, Protocol, Usage};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The status recorded for a request whose client went away before it finished (nginx's).
pub const CLIENT_GONE: u16 = 499;

tokio::task_local! {
    static TICKET: Arc<Ticket>;
}

/// What the dashboard shows about a request beyond its usage (filled by small hooks in
/// admit.rs, attempt.rs and translate.rs).
#[derive(Default)]
struct Detail {
    client: Option<&'static str>,
    attempts: Vec<Attempt>,
    dropped: Option<String>,
    refusal: Option<String>,
    /// The side of an overflow route the last attempt used (`routing::side`).
    side: Option<&'static str>,
}

/// One entry of the attempt chain (stored as JSON: `provider`, `model`, `status`, `ms`,
/// `outcome`, and on an overflow route `side` and `side_why`). Typed, and serialized once at
/// the end: building it as a `serde_json::Value` per attempt and printing that cost a served
/// request ~5 % of its instructions.
#[derive(serde::Serialize)]
struct Attempt {
    provider: String,
    model: String,
    status: Option<u16>,
    ms: u64,
    outcome: std::borrow::Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    side: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    side_why: Option<&'static str>,
}

struct Route {
    provider: String,
    /// The pooled ChatGPT account that served it (its id).
    account: Option<String>,
    upstream_model: String,
    protocol_out: Protocol,
}

pub struct Ticket {
    state: Arc<AppState>,
    pub key: Option<Arc<KeyRecord>>,
    model: String,
    protocol_in: Protocol,
    started: Instant,
    ts: i64,
    reservation: Mutex<Option<Reservation>>,
    route: Mutex<Option<Route>>,
    /// A UUID, sent to the client as `x-crossbar-request-id` and stored with the usage row.
    pub request_id: String,
    detail: Mutex<Detail>,
    claimed: AtomicBool,
    done: AtomicBool,
    /// The request body, for an input estimate when the upstream reports no usage and the
    /// prompt fingerprint, with where its prompt's members sit (`pipeline::body`), if known.
    request: Mutex<Option<(bytes::Bytes, Option<TopSpans>)>>,
    /// Output tokens estimated from what was sent (set by the `Outcome`).
    output_estimate: AtomicU64,
    /// With `[storage] capture_bodies`: the request's and the response's first bytes.
    capture: Option<Mutex<(Collector, Collector)>>,
    /// The conversation key (stickiness's), for the cache verdict.
    conversation: Mutex<Option<u64>>,
    /// With Redis: the conversation's turns as the instances share them (`load_shared_turns`).
    shared_turns: Mutex<Option<Vec<crate::usage::cache_verdict::Turn>>>,
    /// Anthropic's answer to cache diagnostics: the response's id and the provider's reason
    /// (`usage::cache_diagnostics`).
    diagnosis: Mutex<(Option<String>, Option<String>)>,
    /// The prompt's fingerprint, computed once: at the end, or while a large prompt's answer
    /// streams (`fingerprint_soon`).
    fingerprint: Arc<OnceLock<Option<(Fingerprint, Asked)>>>,
}

/// A prompt from this size on is fingerprinted on a blocking thread while its answer streams:
/// hashing 2 MB takes about 2 ms, which would otherwise hold back the stream's last bytes.
const FINGERPRINT_AHEAD_BYTES: usize = 256 * 1024;

impl Ticket {
    pub fn open(
        state: Arc<AppState>,
        key: Option<Arc<KeyRecord>>,
        model: &str,
        protocol_in: Protocol,
        started: Instant,
    ) -> Arc<Ticket> {
        let ts = now_ms() - i64::try_from(started.elapsed().as_millis()).unwrap_or(0);
        Arc::new(Ticket {
            key,
            model: model.to_string(),
            protocol_in,
            started,
            ts,
            reservation: Mutex::new(None),
            route: Mutex::new(None),
            // From the thread's RNG (no system call per request).
            request_id: uuid::Builder::from_random_bytes(rand::random()).into_uuid().to_string(),
            detail: Mutex::new(Detail::default()),
            claimed: AtomicBool::new(false),
            done: AtomicBool::new(false),
            request: Mutex::new(None),
            output_estimate: AtomicU64::new(0),
            capture: state.config.storage.capture_bodies.then(Mutex::default),
            state,
            conversation: Mutex::new(None),
            shared_turns: Mutex::new(None),
            diagnosis: Mutex::new((None, None)),
            fingerprint: Arc::default(),
        })
    }

    fn take_capture(&self) -> Option<Box<Capture>> {
        let mut c = self.capture.as_ref()?.lock().ok()?;
        let (request, response) = std::mem::take(&mut *c);
        Some(Box::new(Capture::new(request, response)))
    }

    /// Keep the request body's first bytes (with `capture_bodies`; a copy of at most 64 KiB).
    pub fn capture_request(&self, body: &[u8]) {
        if let Some(Ok(mut c)) = self.capture.as_ref().map(Mutex::lock) {
            c.0.push(body);
        }
    }

    /// Keep the response's first bytes as they go to the client (with `capture_bodies`).
    pub fn capture_response(&self, chunk: &[u8]) {
        if let Some(Ok(mut c)) = self.capture.as_ref().map(Mutex::lock) {
            c.1.push(chunk);
        }
    }

    /// The request body (a cheap clone), kept for an input estimate and the prompt
    /// fingerprint; `prompt`: where `pipeline::body::inspect` found its members.
    pub fn set_request(&self, body: bytes::Bytes, prompt: Option<TopSpans>) {
        if let Ok(mut slot) = self.request.lock() {
            *slot = Some((body, prompt));
        }
    }

    /// Output tokens estimated from what went to the client.
    pub fn estimate_output(&self, tokens: u64) {
        self.output_estimate.store(tokens, Ordering::Relaxed);
    }

    /// Fill what the upstream did not report, for a request that reached one: input from the
    /// request body, output from what was sent. Returns whether anything was estimated.
    /// Only generation is estimated: a request without a kept body (token counting, which
    /// costs nothing upstream) is recorded as reported.
    fn complete(&self, usage: &Usage, status: u16, routed: bool) -> (Usage, bool) {
        let traffic = routed && (status < 400 || status == CLIENT_GONE);
        if !traffic || (usage.input.is_some() && usage.output.is_some()) {
            return (*usage, false);
        }
        let Some(body) = self.request.lock().ok().and_then(|b| b.as_ref().map(|b| b.0.clone())) else {
            return (*usage, false);
        };
        let mut u = *usage;
        if u.input.is_none() {
            u.input = Some(estimate_input(&body));
        }
        if u.output.is_none() {
            u.output = Some(self.output_estimate.load(Ordering::Relaxed));
        }
        (u, true)
    }

    /// The request's conversation key: its usage record gets a cache verdict. (The prompt is
    /// fingerprinted after the upstream answered, off the path to the first byte: a 2 MB body's
    /// hash would otherwise sit in front of the upstream request.)
    pub fn set_conversation(&self, key: u64) {
        if let Ok(mut slot) = self.conversation.lock() {
            *slot = Some(key);
        }
    }

    /// The prompt's fingerprint (`usage::cache_prompt`), computed on first use.
    fn fingerprint(&self) -> Option<(Fingerprint, Asked)> {
        self.fingerprint
            .get_or_init(|| {
                let (body, spans) = self.request.lock().ok().and_then(|b| b.clone())?;
                crate::usage::cache_prompt::fingerprint(self.protocol_in, &body, spans.as_ref())
            })
            .clone()
    }

    /// A stream has begun: a large prompt of a conversation is fingerprinted now, on a blocking
    /// thread, so that the verdict at the stream's end finds it done. (At the end it would be
    /// computed before the stream's last bytes go out.)
    pub fn fingerprint_soon(&self) {
        if self.conversation.lock().ok().and_then(|c| *c).is_none() {
            return;
        }
        if self.fingerprint.get().is_some() {
            return;
        }
        // Cloned only for a large prompt: every stream passes here.
        let large = |b: &&(bytes::Bytes, Option<TopSpans>)| b.0.len() >= FINGERPRINT_AHEAD_BYTES;
        let Some((body, spans)) = self.request.lock().ok().and_then(|b| b.as_ref().filter(large).cloned()) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (cell, protocol) = (self.fingerprint.clone(), self.protocol_in);
        runtime.spawn_blocking(move || {
            // Whoever comes first computes it; the other waits for it or finds it done.
            cell.get_or_init(|| crate::usage::cache_prompt::fingerprint(protocol, &body, spans.as_ref()));
        });
    }

    /// With Redis: read the conversation's turns shared by the instances, once, before the
    /// request goes upstream (bounded: `usage::cache_shared`).
    pub async fn load_shared_turns(&self) {
        let Some(redis) = &self.state.redis else { return };
        let Some(conversation) = self.conversation.lock().ok().and_then(|c| *c) else { return };
        let key = crate::usage::cache_turns::key(conversation, &self.model);
        let turns = crate::usage::cache_shared::fetch(redis, key).await;
        if let Ok(mut slot) = self.shared_turns.lock() {
            *slot = turns;
        }
    }

    /// The upstream id of the conversation's previous response (Anthropic `msg_…`), for cache
    /// diagnostics: of the turn this request's prompt continues (`cache_turns::previous`).
    pub fn previous_message_id(&self) -> Option<String> {
        let conversation = self.conversation.lock().ok().and_then(|c| *c)?;
        let (cur, _) = self.fingerprint()?;
        let key = crate::usage::cache_turns::key(conversation, &self.model);
        let remote = self.shared_turns.lock().ok().and_then(|s| s.clone());
        let prev = self.state.cache_turns.previous(key, &cur, remote.as_deref())?;
        prev.message_id.filter(|_| prev.upstream == Protocol::Anthropic)
    }

    /// The protocol the request went upstream in, once routed.
    pub fn upstream_protocol(&self) -> Option<Protocol> {
        self.route.lock().ok()?.as_ref().map(|r| r.protocol_out)
    }

    /// What Anthropic's cache diagnostics said about this request's response.
    pub fn set_diagnosis(&self, message_id: Option<String>, reason: Option<String>) {
        if let Ok(mut d) = self.diagnosis.lock() {
            if message_id.is_some() {
                d.0 = message_id;
            }
            if reason.is_some() {
                d.1 = reason;
            }
        }
    }

    /// The cache verdict of a served turn of a conversation (`usage::cache_verdict`), which
    /// also becomes the conversation's previous turn.
    fn cache_verdict(&self, route: &Route, usage: &Usage, status: u16) -> Option<String> {
        if status >= 400 {
            return None;
        }
        let conversation = self.conversation.lock().ok().and_then(|c| *c)?;
        let turn = crate::usage::cache_verdict::turn_of(
            route.protocol_out,
            self.fingerprint()?,
            format!("{}/{}", route.provider, route.upstream_model),
            self.ts,
            usage.input,
        );
        let turn = Turn { message_id: self.diagnosis.lock().ok().and_then(|d| d.0.clone()), ..turn };
        let key = crate::usage::cache_turns::key(conversation, &self.model);
        let remote = self.shared_turns.lock().ok().and_then(|mut s| s.take());
        let (verdict, turns) = self.state.cache_turns.observe_shared(key, turn, usage.cache_read, remote);
        if let Some(redis) = &self.state.redis {
            crate::usage::cache_shared::store(redis.clone(), key, &turns);
        }
        self.state.metrics.record_verdict(&verdict);
        Some(verdict.code())
    }

    pub fn reserve(&self, r: Reservation) {
        if let Ok(mut slot) = self.reservation.lock() {
            *slot = Some(r);
        }
    }

    /// The target chosen for this request (the last one set wins: failover may change it).
    pub fn set_route(&self, provider: &Provider, upstream_model: &str, protocol_out: Protocol) {
        if let Ok(mut slot) = self.route.lock() {
            *slot = Some(Route {
                provider: provider.name().to_string(),
                account: provider.account().map(|a| a.id.clone()),
                upstream_model: upstream_model.to_string(),
                protocol_out,
            });
        }
    }

    /// The client program (from its User-Agent, `usage::client::classify`).
    pub fn set_client(&self, client: &'static str) {
        if let Ok(mut d) = self.detail.lock() {
            d.client = Some(client);
        }
    }

    /// The limit rule that refused the request (budget, rpm, tpm, parallel, models…) and when
    /// it resets (unix ms), if known.
    pub fn set_refusal(&self, rule: &str, message: &str, reset_ms: Option<i64>) {
        if let Ok(mut d) = self.detail.lock() {
            d.refusal = Some(serde_json::json!({"rule": rule, "message": message, "reset_ms": reset_ms}).to_string());
        }
    }

    /// Run `f` with this ticket as the current request's (for `claim`).
    pub async fn scope<F: std::future::Future>(self: &Arc<Self>, f: F) -> F::Output {
        TICKET.scope(self.clone(), f).await
    }

    /// Finish with no `Outcome` (the request ended before a response body): `status` only.
    pub fn finish_unclaimed(&self, status: u16) {
        if !self.claimed.load(Ordering::Acquire) {
            let error = (status >= 400).then(|| format!("http_{status}"));
            self.finish(status, &Usage::default(), None, error);
        }
    }

    /// Record the request and settle its reservation (once; later calls do nothing).
    pub fn finish(&self, status: u16, usage: &Usage, ttft: Option<Duration>, error_class: Option<String>) {
        if self.done.swap(true, Ordering::AcqRel) {
            return;
        }
        let route = self.route.lock().ok().and_then(|mut r| r.take());
        // Gemini leaves out the cache reads it did not make: 0, when it reported usage at all.
        let reads = route.as_ref().map_or(usage.cache_read, |r| reported_reads(r.protocol_out, usage));
        let (usage, estimated) = self.complete(&Usage { cache_read: reads, ..*usage }, status, route.is_some());
        let usage = &usage;
        let info = route.as_ref().and_then(|r| self.state.catalog.lookup(&r.upstream_model));
        let cost = crate::usage::pricing::cost(info.as_ref(), usage);
        if let Some(r) = route.as_ref().filter(|_| cost.is_none() && (usage.input.is_some() || usage.output.is_some()))
        {
            self.state.metrics.record_unpriced(&r.upstream_model);
        }
        let cache_verdict = route.as_ref().and_then(|r| self.cache_verdict(r, usage, status));
        let cache_diagnosis = self.diagnosis.lock().ok().and_then(|mut d| d.1.take());
        let record = UsageRecord {
            ts: self.ts,
            cache_verdict,
            cache_diagnosis,
            key_id: self.key.as_ref().map(|k| k.id.clone()),
            model: self.model.clone(),
            provider: route.as_ref().map(|r| r.provider.clone()),
            account: route.as_ref().and_then(|r| r.account.clone()),
            upstream_model: route.as_ref().map(|r| r.upstream_model.clone()),
            protocol_in: self.protocol_in.name(),
            protocol_out: route.as_ref().map(|r| r.protocol_out.name()),
            cost_usd: cost,
            latency_ms: i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX),
            ttft_ms: ttft.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            status,
            error_class,
            tokens_estimated: estimated,
            request_id: Some(self.request_id.clone()),
            ..UsageRecord::default()
        }
        .with_tokens(usage);
        let record = match self.detail.lock() {
            Ok(mut d) => UsageRecord {
                client: d.client,
                attempts: (!d.attempts.is_empty()).then(|| serde_json::to_string(&d.attempts).unwrap_or_default()),
                dropped: d.dropped.take(),
                refusal: d.refusal.take(),
                route_side: d.side,
                capture: self.take_capture(),
                ..record
            },
            Err(_) => record,
        };
        self.state.usage.record(record);
        let reservation = self.reservation.lock().ok().and_then(|mut r| r.take());
        if let Some(r) = reservation {
            let tokens = usage.input.unwrap_or(0).saturating_add(usage.output.unwrap_or(0));
            self.state.limiter.settle_soon(r, tokens, cost.unwrap_or(0.0), now_ms());
        }
    }
}

impl Drop for Ticket {
    /// Dropped unfinished: the request's future was dropped (the client went away) before a
    /// response or an `Outcome` finished it.
    fn drop(&mut self) {
        if !self.done.load(Ordering::Acquire) {
            self.finish(CLIENT_GONE, &Usage::default(), None, Some("client_disconnect".to_string()));
        }
    }
}

/// Input tokens of a request body whose upstream reported none: the `count_tokens` estimate
/// (about four characters a token, images flat), or a quarter of its bytes when not JSON.
fn estimate_input(body: &[u8]) -> u64 {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => crate::pipeline::translate::count_tokens::estimate_tokens(&v),
        Err(_) => (body.len() as u64).div_ceil(4),
    }
}

/// The current request's ticket (inside `Ticket::scope`), not claimed.
pub fn current() -> Option<Arc<Ticket>> {
    TICKET.try_with(Arc::clone).ok()
}

/// The current request's ticket, marked as taken over by an `Outcome`.
pub fn claim() -> Option<Arc<Ticket>> {
    TICKET
        .try_with(|t| {
            t.claimed.store(true, Ordering::Release);
            t.clone()
        })
        .ok()
}

/// Set the current request's route (inside `Ticket::scope`; the last call wins, so failover
/// records the deployment that finally served the request).
pub fn set_route(provider: &Provider, upstream_model: &str, protocol_out: Protocol) {
    let _ = TICKET.try_with(|t| t.set_route(provider, upstream_model, protocol_out));
}

/// One deployment tried for the current request: its status (`None`: no HTTP answer), time,
/// and what happened (`served`, or why the loop moved on).
/// On a route with overflow, `side` is the side the deployment is on and why it was used.
pub fn attempt(
    provider: &str,
    model: &str,
    status: Option<u16>,
    ms: u128,
    outcome: std::borrow::Cow<'static, str>,
    side: Option<(&'static str, &'static str)>,
) {
    let _ = TICKET.try_with(|t| {
        if let Ok(mut d) = t.detail.lock() {
            if let Some((side, _)) = side {
                d.side = Some(side);
            }
            d.attempts.push(Attempt {
                provider: provider.to_string(),
                model: model.to_string(),
                status,
                ms: u64::try_from(ms).unwrap_or(u64::MAX),
                outcome,
                side: side.map(|s| s.0),
                side_why: side.map(|s| s.1),
            });
        }
    });
}

/// The parameters the current request's translation dropped (as in `x-crossbar-dropped`).
pub fn set_dropped(fields: &str) {
    let _ = TICKET.try_with(|t| {
        if let Ok(mut d) = t.detail.lock() {
            d.dropped = Some(fields.to_string());
        }
    });
}
