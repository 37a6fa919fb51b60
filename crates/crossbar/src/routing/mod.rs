//! Model names → the deployments that can serve them.
//!
//! A client names a model as an alias from `[[models]]`, or as `provider/model` where the
//! rest after the first `/` is the upstream model name (which may itself contain `/`).
//! This module only resolves names; choosing among several targets (failover, balancing,
//! stickiness) builds on the ordered list it returns.

use crate::config::Config;
use crate::upstream::Provider;
use crossbar_protocol::canonical::{ErrorInfo, ErrorKind};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Target {
    pub provider: Arc<Provider>,
    /// The model name the upstream gets.
    pub model: String,
}

#[derive(Debug, Default)]
pub struct Routes {
    providers: Vec<Arc<Provider>>,
    by_name: HashMap<String, Arc<Provider>>,
    aliases: HashMap<String, Vec<(String, String)>>,
}

impl Routes {
    pub fn new(config: &Config, providers: Vec<Arc<Provider>>) -> Routes {
        let by_name = providers.iter().map(|p| (p.name().to_string(), p.clone())).collect();
        let aliases = config
            .models
            .iter()
            .map(|m| (m.name.clone(), m.targets.iter().map(|t| (t.provider.clone(), t.model.clone())).collect()))
            .collect();
        Routes { providers, by_name, aliases }
    }

    pub fn providers(&self) -> &[Arc<Provider>] {
        &self.providers
    }

    pub fn aliases(&self) -> impl Iterator<Item = (&String, &Vec<(String, String)>)> {
        self.aliases.iter()
    }

    /// The ordered targets for a client's model name, or a 404-kind error that says what exists.
    pub fn resolve(&self, model: &str) -> Result<Vec<Target>, ErrorInfo> {
        let model = model.trim();
        if model.is_empty() {
            return Err(ErrorInfo::new(ErrorKind::InvalidRequest, "`model` must not be empty"));
        }
        if let Some(targets) = self.aliases.get(model) {
            return Ok(targets
                .iter()
                .filter_map(|(p, m)| self.by_name.get(p).map(|p| Target { provider: p.clone(), model: m.clone() }))
                .collect());
        }
        if let Some((provider, upstream_model)) = model.split_once('/') {
            if let Some(p) = self.by_name.get(provider) {
                if upstream_model.is_empty() {
                    return Err(self.unknown(model));
                }
                if let Some(allowed) = &p.config.models {
                    if !allowed.iter().any(|m| m == upstream_model) {
                        return Err(ErrorInfo::new(
                            ErrorKind::NotFound,
                            format!("provider {provider:?} does not serve model {upstream_model:?} (it serves: {})", allowed.join(", ")),
                        ));
                    }
                }
                return Ok(vec![Target { provider: p.clone(), model: upstream_model.to_string() }]);
            }
        }
        Err(self.unknown(model))
    }

    fn unknown(&self, model: &str) -> ErrorInfo {
        let mut providers: Vec<&str> = self.providers.iter().map(|p| p.name()).collect();
        providers.sort_unstable();
        let mut aliases: Vec<&str> = self.aliases.keys().map(String::as_str).collect();
        aliases.sort_unstable();
        let mut msg = format!(
            "unknown model {model:?}: name a model as \"provider/model\" (providers: {})",
            if providers.is_empty() { "none configured".to_string() } else { providers.join(", ") }
        );
        if !aliases.is_empty() {
            msg.push_str(&format!(" or use an alias ({})", aliases.join(", ")));
        }
        let mut e = ErrorInfo::new(ErrorKind::NotFound, msg);
        e.code = Some("model_not_found".to_string());
        e.param = Some("model".to_string());
        e
    }
}
