//! Which models a provider offers: its own models endpoint where it has one (cached for
//! ten minutes), else the configured `models` list, else the built-in table of its family.

use super::Provider;
use crate::catalog::{builtin_models, Family};
use crate::config::ProviderKind;
use axum::http::HeaderMap;
use crossbar_protocol::canonical::Protocol;
use std::time::{Duration, Instant};

pub const CACHE_TTL: Duration = Duration::from_secs(600);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct ModelsCache {
    pub fetched: Option<(Instant, Vec<String>)>,
}

impl Provider {
    /// The upstream model names this provider offers (without the `provider/` prefix).
    pub async fn list_models(&self) -> Vec<String> {
        if let Some(list) = &self.config.models {
            return list.clone();
        }
        if let Some((at, list)) = &self.models_cache.lock().await.fetched {
            if at.elapsed() < CACHE_TTL {
                return list.clone();
            }
        }
        let fetched = self.fetch_models().await;
        let list = match fetched {
            Some(list) if !list.is_empty() => {
                self.models_cache.lock().await.fetched = Some((Instant::now(), list.clone()));
                list
            }
            _ => self.builtin_models(),
        };
        list
    }

    fn builtin_models(&self) -> Vec<String> {
        let family = match self.config.kind {
            ProviderKind::Openai | ProviderKind::OpenaiChat | ProviderKind::OpenaiResponses | ProviderKind::Chatgpt => {
                Family::Openai
            }
            ProviderKind::Anthropic => Family::Anthropic,
            ProviderKind::Gemini => Family::Gemini,
            ProviderKind::Mock => return vec!["echo".to_string()],
        };
        // An OpenAI-compatible server that is not OpenAI has no business listing GPT models.
        if self.config.kind == ProviderKind::OpenaiChat && !self.config.base_url.contains("api.openai.com") {
            return Vec::new();
        }
        builtin_models(family).map(str::to_string).collect()
    }

    async fn fetch_models(&self) -> Option<Vec<String>> {
        let (protocol, path) = match self.config.kind {
            ProviderKind::Openai | ProviderKind::OpenaiChat | ProviderKind::OpenaiResponses => {
                (Protocol::OpenaiChat, "/models")
            }
            ProviderKind::Anthropic => (Protocol::Anthropic, "/v1/models?limit=1000"),
            ProviderKind::Gemini => (Protocol::Gemini, "/v1beta/models?pageSize=1000"),
            ProviderKind::Mock => (Protocol::OpenaiChat, "/models"),
            // The Codex backend's model list needs a client version; the built-in table serves.
            ProviderKind::Chatgpt => return None,
        };
        let key = self.key.get().await.ok()?;
        let mut headers = HeaderMap::new();
        super::auth::apply(protocol, key.as_ref(), &mut headers);
        let path = self.path(protocol, path);
        let (status, body) = self.transport.get(&path, headers, FETCH_TIMEOUT).await.ok()?;
        if !(200..300).contains(&status) {
            tracing::debug!(provider = self.name(), status, "models endpoint failed; using the built-in table");
            return None;
        }
        parse_models(&body)
    }
}

/// OpenAI / Anthropic `{"data":[{"id"}]}` or Gemini `{"models":[{"name":"models/x"}]}`.
fn parse_models(body: &[u8]) -> Option<Vec<String>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    if let Some(data) = v.get("data").and_then(|d| d.as_array()) {
        return Some(data.iter().filter_map(|m| m.get("id")?.as_str().map(str::to_string)).collect());
    }
    let models = v.get("models")?.as_array()?;
    Some(
        models
            .iter()
            .filter_map(|m| m.get("name")?.as_str())
            .map(|n| n.strip_prefix("models/").unwrap_or(n).to_string())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_three_list_shapes() {
        assert_eq!(
            parse_models(br#"{"object":"list","data":[{"id":"a"},{"id":"b"}]}"#),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(parse_models(br#"{"models":[{"name":"models/gemini-x"}]}"#), Some(vec!["gemini-x".into()]));
        assert_eq!(parse_models(b"nope"), None);
    }
}
