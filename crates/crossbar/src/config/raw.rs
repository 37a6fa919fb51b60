//! The config file exactly as written: serde structs with `deny_unknown_fields`, spans kept on
//! the fields validation may complain about, so errors can say file:line.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub providers: Vec<RawProvider>,
    #[serde(default)]
    pub models: Vec<RawModel>,
    /// Overrides and additions to the built-in model table (limits and prices).
    #[serde(default)]
    pub catalog: Vec<RawCatalogEntry>,
    /// Failover and balancing defaults for every `[[models]]` entry.
    #[serde(default)]
    pub routing: RawRouting,
    /// Client keys: once present, every client request needs a crossbar key.
    pub auth: Option<Spanned<RawAuth>>,
    #[serde(default)]
    pub storage: RawStorage,
    pub redis: Option<RawRedis>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouting {
    /// Retries per request after the first attempt (default 3); `[[models]] retries` overrides.
    pub retries: Option<u32>,
    /// Base of the jittered exponential backoff before retrying the same deployment (default 100).
    pub backoff_ms: Option<u64>,
    /// Longest wait inside one request for a deployment (backoff or `Retry-After`; default 2000).
    pub max_wait_ms: Option<u64>,
    /// Consecutive failures that put a deployment in cooldown (default 3).
    pub failures_to_cooldown: Option<u32>,
    /// How long a failing deployment rests before one probe request (default 30000).
    pub cooldown_ms: Option<u64>,
    /// How long a 429 without reset headers parks a deployment (default 10000).
    pub rate_limit_park_ms: Option<u64>,
    /// How long a conversation stays pinned to its deployment after its last request (default 3600).
    pub sticky_ttl_secs: Option<u64>,
    /// Every N seconds, one tiny request to each deployment (active health checks; default 0 = off).
    pub health_check_secs: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// The environment variable holding the admin key (default `CROSSBAR_ADMIN_KEY`).
    pub admin_key_env: Option<String>,
    /// How long a key lookup is cached (default 500 ms; revocations take at most this long).
    pub cache_ttl_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    /// `postgres://…` or `sqlite:…`; default: `crossbar.db` in the data directory (or `DATABASE_URL`).
    pub url: Option<Spanned<String>>,
    /// How often usage records are written (default 200 ms).
    pub usage_flush_ms: Option<Spanned<u64>>,
    /// Usage records that may wait in memory before writers are counted as blocked (default 50000).
    pub usage_queue: Option<Spanned<u64>>,
    /// Days raw usage rows are kept (0 = forever, the default); hourly rollups are kept.
    pub retention_days: Option<Spanned<u64>>,
    /// Store request and response bodies, redacted and cut at 64 KiB each (default false).
    pub capture_bodies: Option<bool>,
    /// Days captured bodies are kept (default 7; 0 = as long as the usage rows).
    pub capture_retention_days: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedis {
    /// `redis://host:port/db` (or `REDIS_URL`): shared limit counters across instances.
    pub url: Option<Spanned<String>>,
    /// Prefix of every Redis key crossbar writes (default `crossbar`).
    pub prefix: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<Spanned<String>>,
    /// Largest accepted request body, in MiB (default 32).
    pub max_body_mb: Option<Spanned<u64>>,
    /// Seconds of stream silence before a `: keep-alive` comment is sent (default 15; 0 = off).
    pub keepalive_secs: Option<u64>,
    /// Upstream TCP/TLS connect timeout (default 10 s).
    pub connect_timeout_secs: Option<u64>,
    /// Time from sending a request upstream to its response headers (default 300 s: long
    /// reasoning turns answer late when not streaming).
    pub first_byte_timeout_secs: Option<u64>,
    /// Longest silence inside an upstream stream before it is declared dead (default 300 s,
    /// as Codex's own idle timeout).
    pub stream_idle_timeout_secs: Option<u64>,
    /// A non-streamed request's whole deadline (default 120 s, as the unified APIs document):
    /// past it the client gets 408 `timeout_error`, advising `stream: true`.
    pub request_timeout_secs: Option<u64>,
    /// Longest time to receive a client's request body (default 60 s).
    pub client_body_timeout_secs: Option<u64>,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish (default 30 s).
    pub drain_timeout_secs: Option<u64>,
    /// Let the media fetcher (remote images inlined for Gemini) reach internal addresses.
    /// For local testing only; default false.
    pub allow_private_media_fetch: Option<bool>,
    /// Responses over WebSocket on `GET /v1/responses` and `/backend-api/codex/responses`
    /// (default true; false answers the upgrade 426, so clients use HTTP).
    pub websocket: Option<bool>,
    /// Seconds an open socket may wait for its next `response.create` (default 300).
    pub websocket_idle_secs: Option<u64>,
    /// Open sockets per key (default 16).
    pub websocket_max_per_key: Option<u64>,
    /// Where crossbar keeps its state (the gateway key for opaque envelopes, later the database).
    pub data_dir: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    pub base_url: Option<Spanned<String>>,
    pub api_key: Option<Spanned<String>>,
    pub api_key_env: Option<Spanned<String>>,
    pub api_key_file: Option<Spanned<String>>,
    pub api_key_command: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Models to list for this provider when it has no models endpoint (or to restrict it).
    pub models: Option<Vec<String>>,
    /// Kind `chatgpt`: the OAuth token endpoint for refreshing account tokens.
    pub token_url: Option<Spanned<String>>,
    /// Kind `chatgpt`: the OpenAI auth server of device-code logins started from the dashboard
    /// or `/admin/accounts/login` (default `https://auth.openai.com`).
    pub issuer: Option<Spanned<String>>,
    /// Anthropic upstreams: ask for Anthropic's cache diagnostics (beta) on every request,
    /// relayed ones included.
    #[serde(default)]
    pub cache_diagnostics: bool,
    /// Kinds `openai` and `chatgpt`: open an upstream socket per client socket (default on for
    /// `chatgpt`, off for `openai`).
    pub websocket: Option<Spanned<bool>>,
    /// Replace an upstream socket older than this many seconds (default 3300).
    pub websocket_max_age_secs: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub name: Spanned<String>,
    pub targets: Spanned<Vec<RawTarget>>,
    /// priority | weighted | least-busy | latency | headroom (default priority).
    pub strategy: Option<Spanned<String>>,
    /// Other models to try when every deployment refuses the request as too long for its
    /// context window or blocks it by content filter.
    pub fallbacks: Option<Spanned<Vec<String>>>,
    pub retries: Option<u32>,
    /// Keep a conversation on one deployment (default true).
    pub sticky: Option<bool>,
    /// API-key deployments used only when every subscription account of the route's pools is
    /// exhausted (`overflow_on`): `"provider/model"` or a table like `targets`'.
    pub overflow: Option<Spanned<Vec<RawTarget>>>,
    /// When to overflow: `exhausted` (default: every account's usage window spent) or
    /// `unavailable` (also when every account is cooling, parked or failing).
    pub overflow_on: Option<Spanned<String>>,
}

/// A deployment: `"provider/model"`, or a table with the balancing knobs.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawTarget {
    Name(String),
    Table(RawTargetTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTargetTable {
    pub target: String,
    pub weight: Option<u32>,
    pub priority: Option<u32>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub max_parallel: Option<u32>,
}

impl RawTarget {
    pub fn target(&self) -> &str {
        match self {
            RawTarget::Name(s) => s,
            RawTarget::Table(t) => &t.target,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCatalogEntry {
    /// Upstream model name (e.g. `gpt-5`), matched exactly, or by prefix when it ends in `*`.
    pub model: String,
    pub context_window: Option<u64>,
    pub max_output_tokens: Option<u64>,
    /// USD per million tokens.
    pub input_price: Option<f64>,
    pub output_price: Option<f64>,
    pub cached_input_price: Option<f64>,
    pub cache_write_price: Option<f64>,
    /// A 1-hour prompt-cache write (Anthropic); default: `cache_write_price`.
    pub cache_write_1h_price: Option<f64>,
}
