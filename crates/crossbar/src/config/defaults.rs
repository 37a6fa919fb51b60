//! The embedded defaults: what `crossbar serve` runs with when there is no config file.
//!
//! Loopback only; a provider for each standard key variable that is set; and always the
//! built-in `mock` provider, so a newcomer with no keys and no network has a working gateway.

use super::secret::KeySource;
use super::{Config, ProviderConfig, ProviderKind, ServerConfig};
use std::path::PathBuf;

/// `(provider name, kind, key variable, base_url override)`
const ENV_PROVIDERS: &[(&str, ProviderKind, &str, Option<&str>)] = &[
    ("openai", ProviderKind::Openai, "OPENAI_API_KEY", None),
    ("anthropic", ProviderKind::Anthropic, "ANTHROPIC_API_KEY", None),
    ("gemini", ProviderKind::Gemini, "GEMINI_API_KEY", None),
    ("openrouter", ProviderKind::OpenaiChat, "OPENROUTER_API_KEY", Some("https://openrouter.ai/api/v1")),
];

pub fn embedded() -> Config {
    let mut providers: Vec<ProviderConfig> = ENV_PROVIDERS
        .iter()
        .filter(|(_, _, var, _)| std::env::var(var).is_ok_and(|v| !v.trim().is_empty()))
        .map(|(name, kind, var, base)| ProviderConfig {
            name: (*name).to_string(),
            kind: *kind,
            base_url: base.unwrap_or(kind.default_base_url()).to_string(),
            key: KeySource::Env((*var).to_string()),
            headers: Vec::new(),
            models: None,
            token_url: None,
            issuer: None,
            cache_diagnostics: false,
            websocket: false,
            websocket_max_age: super::DEFAULT_WEBSOCKET_MAX_AGE,
        })
        .collect();
    providers.push(mock_provider());
    Config {
        server: ServerConfig::default(),
        providers,
        models: Vec::new(),
        catalog: Vec::new(),
        routing: Default::default(),
        auth: None,
        storage: super::StorageConfig::default(),
        redis: None,
        origin: "embedded defaults".to_string(),
    }
}

pub fn mock_provider() -> ProviderConfig {
    ProviderConfig {
        name: "mock".to_string(),
        kind: ProviderKind::Mock,
        base_url: ProviderKind::Mock.default_base_url().to_string(),
        key: KeySource::None,
        headers: Vec::new(),
        models: None,
        token_url: None,
        issuer: None,
        cache_diagnostics: false,
        websocket: false,
        websocket_max_age: super::DEFAULT_WEBSOCKET_MAX_AGE,
    }
}

/// `$CROSSBAR_DATA_DIR`, else `$XDG_DATA_HOME/crossbar`, else `~/.local/share/crossbar`,
/// else `./.crossbar`.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CROSSBAR_DATA_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(d).join("crossbar");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".local/share/crossbar");
    }
    PathBuf::from(".crossbar")
}
