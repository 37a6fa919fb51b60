//! Logs (tracing) and metrics (Prometheus text at `/metrics`).
//!
//! Each `AppState` owns its own registry (no global recorder), so tests can run several
//! gateways in one process. Labels are low-cardinality: protocol names, provider names,
//! status classes and error kinds, never model names typed by clients or key ids.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub client_protocol: &'static str,
    pub provider: String,
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabels {
    pub client_protocol: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamErrorLabels {
    pub provider: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HealthCheckLabels {
    pub provider: String,
    /// `up`, `down`, `rate_limited` or `refused` (another 4xx: recorded, not counted against it).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub provider: String,
    pub direction: &'static str,
}

/// The upstream model (a name from the config or the provider, not what a client typed).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub model: String,
}

/// Prompt-cache input tokens: `read`, `write` or `uncached` (the rest of the input).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheTokenLabels {
    pub kind: &'static str,
    pub provider: String,
}

/// A request's cache verdict and its reason (`none` for a hit or an unexplained partial).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub verdict: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<ProtocolLabels, Histogram>,
    pub first_byte: Family<ProtocolLabels, Histogram>,
    pub upstream_errors: Family<UpstreamErrorLabels, Counter>,
    /// Active health-check requests (`[routing] health_check_secs`) by provider and outcome.
    pub health_checks: Family<HealthCheckLabels, Counter>,
    pub inflight_streams: Gauge,
    pub tokens: Family<TokenLabels, Counter>,
    /// Requests refused for their key (missing, invalid, revoked, expired, unavailable).
    pub auth_failures: Family<ReasonLabels, Counter>,
    /// Requests refused by a limit (rpm, tpm, parallel, budget, model, unavailable).
    pub limit_denials: Family<ReasonLabels, Counter>,
    /// Admissions taken on this instance's counters because Redis did not answer in time.
    pub limit_fallbacks: Counter,
    /// Events for the fleet (`fleet.rs`) dropped because the publish queue was full.
    pub fleet_events_dropped: Counter,
    pub usage: std::sync::Arc<crate::usage::UsageMetrics>,
    /// Requests recorded with tokens but no cost: their upstream model has no price, so
    /// budgets cannot count them.
    pub unpriced_requests: Family<ModelLabels, Counter>,
    /// Responses WebSocket connections open now.
    pub websocket_connections: Gauge,
    /// Native upstream Responses sockets open now (`upstream/websocket/`).
    pub upstream_websockets: Gauge,
    /// The dashboard's live overview streams open now (set when `/metrics` is scraped).
    pub dashboard_live_streams: Gauge,
    /// `response.create` frames that generated (each also a request and a usage record).
    pub websocket_responses: Counter,
    /// Input tokens of requests whose provider reported cache reads, by cache kind.
    pub cache_input_tokens: Family<CacheTokenLabels, Counter>,
    /// Cache verdicts (`usage::cache_verdict`) by verdict and reason.
    pub cache_verdicts: Family<VerdictLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 100 µs … ~ 420 s
    Histogram::new(exponential_buckets(0.0001, 2.5, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("crossbar");
        let requests = Family::<RequestLabels, Counter>::default();
        let duration =
            Family::<ProtocolLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let first_byte =
            Family::<ProtocolLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let upstream_errors = Family::<UpstreamErrorLabels, Counter>::default();
        let health_checks = Family::<HealthCheckLabels, Counter>::default();
        let inflight_streams = Gauge::default();
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register("requests", "Client requests by protocol, provider and status class", requests.clone());
        registry.register("request_duration_seconds", "Time from request to the end of the response", duration.clone());
        registry.register("first_byte_seconds", "Time from request to the first response byte", first_byte.clone());
        registry.register("upstream_errors", "Upstream failures by provider and kind", upstream_errors.clone());
        registry.register(
            "health_checks",
            "Active health-check requests by provider and outcome",
            health_checks.clone(),
        );
        registry.register("inflight_streams", "Streams being relayed right now", inflight_streams.clone());
        registry.register(
            "tokens",
            "Tokens by provider and direction (input, output, cached, reasoning)",
            tokens.clone(),
        );
        let cache_input_tokens = Family::<CacheTokenLabels, Counter>::default();
        let cache_verdicts = Family::<VerdictLabels, Counter>::default();
        registry.register(
            "cache_input_tokens",
            "Input tokens by prompt-cache kind (read, write, uncached) and provider, where the provider reports cache reads",
            cache_input_tokens.clone(),
        );
        registry.register(
            "cache_verdicts",
            "Requests by prompt-cache verdict (hit, partial, miss, unknown) and the miss reason",
            cache_verdicts.clone(),
        );
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        let limit_denials = Family::<ReasonLabels, Counter>::default();
        let usage = std::sync::Arc::new(crate::usage::UsageMetrics::default());
        let limit_fallbacks = Counter::default();
        registry.register(
            "limit_fallbacks",
            "Admissions counted on this instance because Redis did not answer in time",
            limit_fallbacks.clone(),
        );
        let fleet_events_dropped = Counter::default();
        registry.register(
            "fleet_events_dropped",
            "Parkings, cooldowns and usage windows not shared with the fleet: the publish queue was full",
            fleet_events_dropped.clone(),
        );
        registry.register("auth_failures", "Client requests refused for their key, by reason", auth_failures.clone());
        registry.register("limit_denials", "Client requests refused by a key limit, by reason", limit_denials.clone());
        registry.register(
            "usage_channel_full",
            "Usage records that had to wait for room in the recorder queue",
            usage.channel_full.clone(),
        );
        registry.register(
            "usage_write_failures",
            "Usage records that could not be written",
            usage.write_failures.clone(),
        );
        registry.register("usage_written", "Usage records written to the store", usage.written.clone());
        let unpriced_requests = Family::<ModelLabels, Counter>::default();
        registry.register(
            "unpriced_requests",
            "Requests recorded without a cost because their upstream model has no price",
            unpriced_requests.clone(),
        );
        let websocket_connections = Gauge::default();
        let websocket_responses = Counter::default();
        let upstream_websockets = Gauge::default();
        registry.register(
            "upstream_websockets",
            "Upstream Responses WebSocket connections open now (one per client socket at most)",
            upstream_websockets.clone(),
        );
        registry.register(
            "websocket_connections",
            "Responses WebSocket connections open now",
            websocket_connections.clone(),
        );
        registry.register(
            "websocket_responses",
            "Responses generated over WebSocket (response.create frames that generated)",
            websocket_responses.clone(),
        );
        let dashboard_live_streams = Gauge::default();
        registry.register(
            "dashboard_live_streams",
            "The dashboard's live overview streams (Server-Sent Events) open now",
            dashboard_live_streams.clone(),
        );
        Metrics {
            registry,
            websocket_connections,
            upstream_websockets,
            dashboard_live_streams,
            websocket_responses,
            cache_input_tokens,
            cache_verdicts,
            requests,
            duration,
            first_byte,
            upstream_errors,
            health_checks,
            inflight_streams,
            tokens,
            auth_failures,
            limit_denials,
            limit_fallbacks,
            fleet_events_dropped,
            usage,
            unpriced_requests,
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// A request recorded without a cost although it used tokens (no price for `model`).
    pub fn record_unpriced(&self, model: &str) {
        self.unpriced_requests.get_or_create(&ModelLabels { model: model.to_string() }).inc();
    }

    pub fn record_usage(&self, provider: &str, usage: &crossbar_protocol::canonical::Usage) {
        let add = |direction: &'static str, n: Option<u64>| {
            if let Some(n) = n.filter(|n| *n > 0) {
                self.tokens.get_or_create(&TokenLabels { provider: provider.to_string(), direction }).inc_by(n);
            }
        };
        add("input", usage.input);
        add("output", usage.output);
        add("cached", usage.cache_read);
        add("cache_write", usage.cache_write);
        add("reasoning", usage.reasoning);
        // The hit rate's base: only requests whose provider said how much it read from cache.
        if let (Some(read), Some(input)) = (usage.cache_read, usage.input) {
            let write = usage.cache_write.unwrap_or(0);
            let uncached = input.saturating_sub(read).saturating_sub(write);
            for (kind, n) in [("read", read), ("write", write), ("uncached", uncached)] {
                if n > 0 {
                    self.cache_input_tokens
                        .get_or_create(&CacheTokenLabels { kind, provider: provider.to_string() })
                        .inc_by(n);
                }
            }
        }
    }

    pub fn record_verdict(&self, v: &crate::usage::cache_verdict::Verdict) {
        let reason = v.reason.map_or("none", |r| r.name());
        self.cache_verdicts.get_or_create(&VerdictLabels { verdict: v.kind.name(), reason }).inc();
    }
}

pub fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

/// Logs to stderr; `RUST_LOG` filters (default `info`), `CROSSBAR_LOG_FORMAT=json` for JSON lines.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("CROSSBAR_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}
