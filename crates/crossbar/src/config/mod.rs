//! Configuration: `raw` (the TOML as written) → `validate` → `Config` (immutable, checked).
//!
//! `crossbar check-config FILE` runs exactly these two steps. With no file at all,
//! `defaults::embedded()` builds a working config from the environment (plus the built-in mock).

pub mod defaults;
mod raw;
pub mod secret;
mod validate;
mod validate_keys;
pub use validate::parse_listen;

use crossbar_protocol::canonical::Protocol;
use secret::KeySource;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A provider's `websocket_max_age_secs` when unset: 55 minutes, under OpenAI's 60.
pub const DEFAULT_WEBSOCKET_MAX_AGE: Duration = Duration::from_secs(3300);

pub use validate::ConfigErrors;

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub providers: Vec<ProviderConfig>,
    pub models: Vec<ModelAlias>,
    pub catalog: Vec<crate::catalog::ModelInfo>,
    pub routing: RoutingConfig,
    /// `Some` once `[auth]` is configured: every client request needs a key.
    pub auth: Option<AuthConfig>,
    pub storage: StorageConfig,
    pub redis: Option<RedisConfig>,
    /// Where this config came from, for `/readyz` and logs.
    pub origin: String,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    /// `None`: no keep-alive comments.
    pub keepalive: Option<Duration>,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub stream_idle_timeout: Duration,
    /// A non-streamed request's whole deadline (408 `timeout_error` past it).
    pub request_timeout: Duration,
    /// Longest time to receive a client's request body.
    pub client_body_timeout: Duration,
    pub drain_timeout: Duration,
    pub data_dir: PathBuf,
    pub allow_private_media_fetch: bool,
    /// Responses over WebSocket (`GET …/responses` upgrades); off: the upgrade is answered 426.
    pub websocket: bool,
    /// Longest wait for the next `response.create` on an idle socket.
    pub websocket_idle: Duration,
    /// Open sockets one key may hold (the whole instance in no-auth mode).
    pub websocket_max_per_key: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4141)),
            max_body_bytes: 32 * 1024 * 1024,
            keepalive: Some(Duration::from_secs(15)),
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(300),
            stream_idle_timeout: Duration::from_secs(300),
            request_timeout: Duration::from_secs(120),
            client_body_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            data_dir: defaults::data_dir(),
            allow_private_media_fetch: false,
            websocket: true,
            websocket_idle: Duration::from_secs(300),
            websocket_max_per_key: 16,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub admin_key_env: String,
    pub cache_ttl: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { admin_key_env: "CROSSBAR_ADMIN_KEY".into(), cache_ttl: Duration::from_millis(500) }
    }
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// `None`: `DATABASE_URL` if set, else SQLite in the data directory.
    pub url: Option<String>,
    pub usage_flush: Duration,
    pub usage_queue: usize,
    /// Raw usage rows older than this many days are purged (0: kept forever).
    pub retention_days: u64,
    /// Store each request's and response's body (redacted, the first 64 KiB each).
    pub capture_bodies: bool,
    /// Captured bodies older than this many days are purged (0: as long as their usage rows).
    pub capture_retention_days: u64,
}

impl StorageConfig {
    /// Days captured bodies are kept: the shorter of the two retentions (0: forever).
    pub fn body_retention_days(&self) -> u64 {
        match (self.retention_days, self.capture_retention_days) {
            (0, c) => c,
            (r, 0) => r,
            (r, c) => r.min(c),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            url: None,
            usage_flush: Duration::from_millis(200),
            usage_queue: 50_000,
            retention_days: 0,
            capture_bodies: false,
            capture_retention_days: 7,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `None`: `REDIS_URL` (the section alone asks for Redis).
    pub url: Option<String>,
    pub prefix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    OpenaiChat,
    OpenaiResponses,
    /// OpenAI's own API: Chat and Responses both; the client's protocol picks (others use Responses).
    Openai,
    Anthropic,
    Gemini,
    /// The built-in mock provider, in-process; it speaks whatever the client speaks.
    Mock,
    /// ChatGPT subscription accounts through the Codex backend (`/backend-api/codex/responses`),
    /// one deployment per imported account.
    Chatgpt,
}

impl ProviderKind {
    pub const NAMES: &'static [&'static str] =
        &["openai", "openai-chat", "openai-responses", "anthropic", "gemini", "mock", "chatgpt"];

    pub fn parse(s: &str) -> Option<ProviderKind> {
        Some(match s {
            "openai" => ProviderKind::Openai,
            "openai-chat" => ProviderKind::OpenaiChat,
            "openai-responses" => ProviderKind::OpenaiResponses,
            "anthropic" => ProviderKind::Anthropic,
            "gemini" => ProviderKind::Gemini,
            "mock" => ProviderKind::Mock,
            "chatgpt" => ProviderKind::Chatgpt,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::OpenaiChat => "openai-chat",
            ProviderKind::OpenaiResponses => "openai-responses",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Mock => "mock",
            ProviderKind::Chatgpt => "chatgpt",
        }
    }

    /// The public endpoint used when `base_url` is not set.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::Openai | ProviderKind::OpenaiChat | ProviderKind::OpenaiResponses => {
                "https://api.openai.com/v1"
            }
            ProviderKind::Anthropic => "https://api.anthropic.com",
            ProviderKind::Gemini => "https://generativelanguage.googleapis.com",
            ProviderKind::Mock => "mock://in-process",
            ProviderKind::Chatgpt => "https://chatgpt.com",
        }
    }

    /// The protocol this provider is spoken to in, for a client speaking `client`.
    /// Same protocol means the byte relay; anything else means translation.
    pub fn upstream_protocol(self, client: Protocol) -> Protocol {
        match self {
            ProviderKind::OpenaiChat => Protocol::OpenaiChat,
            ProviderKind::OpenaiResponses | ProviderKind::Chatgpt => Protocol::OpenaiResponses,
            ProviderKind::Anthropic => Protocol::Anthropic,
            ProviderKind::Gemini => Protocol::Gemini,
            ProviderKind::Openai => match client {
                Protocol::OpenaiChat => Protocol::OpenaiChat,
                _ => Protocol::OpenaiResponses,
            },
            ProviderKind::Mock => client,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    /// Without a trailing slash.
    pub base_url: String,
    pub key: KeySource,
    pub headers: Vec<(String, String)>,
    pub models: Option<Vec<String>>,
    /// Kind `chatgpt`: where access tokens are refreshed (default Codex's OAuth endpoint).
    pub token_url: Option<String>,
    /// Kind `chatgpt`: the auth server of device-code logins started by an admin (default
    /// `https://auth.openai.com`), without a trailing slash.
    pub issuer: Option<String>,
    /// Ask an Anthropic upstream for its cache diagnostics (beta header and
    /// `diagnostics.previous_message_id`) on every request, relayed ones too (default false).
    pub cache_diagnostics: bool,
    /// Kinds `openai` and `chatgpt`: a client's Responses socket gets its own upstream socket
    /// (`upstream/websocket/`) instead of a request per turn (default on for `chatgpt`).
    pub websocket: bool,
    /// An upstream socket older than this is replaced before its next turn (default 55 min,
    /// under OpenAI's 60-minute limit).
    pub websocket_max_age: Duration,
}

/// One deployment of a model: where it goes and how it is balanced.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub provider: String,
    pub model: String,
    /// Share under `weighted` (default 1).
    pub weight: u32,
    /// Lower is preferred: every strategy chooses within the lowest priority that has a usable
    /// deployment (default 0).
    pub priority: u32,
    /// Requests per minute this instance sends it (`None`: no cap).
    pub rpm: Option<u32>,
    /// Estimated input tokens per minute (request bytes / 4).
    pub tpm: Option<u64>,
    /// Most requests in flight at once.
    pub max_parallel: Option<u32>,
}

impl Target {
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Target {
        Target {
            provider: provider.into(),
            model: model.into(),
            weight: 1,
            priority: 0,
            rpm: None,
            tpm: None,
            max_parallel: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// The first usable deployment in the order written.
    #[default]
    Priority,
    /// Weighted random.
    Weighted,
    /// Fewest requests in flight.
    LeastBusy,
    /// Lowest recent time to first token (EWMA).
    Latency,
    /// Most remaining upstream quota (rate-limit and usage-window headers).
    Headroom,
}

impl Strategy {
    pub const NAMES: &'static [&'static str] = &["priority", "weighted", "least-busy", "latency", "headroom"];

    pub fn name(self) -> &'static str {
        Strategy::NAMES[self as usize]
    }

    pub fn parse(s: &str) -> Option<Strategy> {
        Some(match s {
            "priority" => Strategy::Priority,
            "weighted" => Strategy::Weighted,
            "least-busy" => Strategy::LeastBusy,
            "latency" => Strategy::Latency,
            "headroom" => Strategy::Headroom,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct ModelAlias {
    pub name: String,
    pub targets: Vec<Target>,
    pub strategy: Strategy,
    pub fallbacks: Vec<String>,
    /// `None`: `[routing] retries`.
    pub retries: Option<u32>,
    pub sticky: bool,
    /// Deployments used only when the primary side is exhausted (`routing::side`).
    pub overflow: Vec<Target>,
    pub overflow_on: OverflowOn,
}

/// When a route with `overflow` deployments sends new conversations to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowOn {
    /// Every subscription account of the primary side has its usage window spent.
    #[default]
    Exhausted,
    /// Every primary deployment is exhausted, cooling, parked or not serving the model.
    Unavailable,
}

impl OverflowOn {
    pub fn name(self) -> &'static str {
        match self {
            OverflowOn::Exhausted => "exhausted",
            OverflowOn::Unavailable => "unavailable",
        }
    }

    pub fn parse(s: &str) -> Option<OverflowOn> {
        match s {
            "exhausted" => Some(OverflowOn::Exhausted),
            "unavailable" => Some(OverflowOn::Unavailable),
            _ => None,
        }
    }
}

/// `[routing]`: failover and health defaults.
#[derive(Debug, Clone)]
pub struct RoutingConfig {
    pub retries: u32,
    pub backoff: Duration,
    pub max_wait: Duration,
    pub failures_to_cooldown: u32,
    pub cooldown: Duration,
    pub rate_limit_park: Duration,
    pub sticky_ttl: Duration,
    /// How often every deployment gets a health-check request; zero: never (passive health only).
    pub health_check: Duration,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            retries: 3,
            backoff: Duration::from_millis(100),
            max_wait: Duration::from_millis(2000),
            failures_to_cooldown: 3,
            cooldown: Duration::from_secs(30),
            rate_limit_park: Duration::from_secs(10),
            sticky_ttl: Duration::from_secs(3600),
            health_check: Duration::ZERO,
        }
    }
}

impl Config {
    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigErrors::single(path.display().to_string(), None, "", format!("cannot read: {e}")))?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Validate config text; `origin` names it in errors (a file path).
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
        validate::validate(text, origin)
    }
}
