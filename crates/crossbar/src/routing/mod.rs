//! Model names → routes: the deployments that can serve a name, and how to choose among them.
//!
//! A client names a model as an alias from `[[models]]`, or as `provider/model` where the
//! rest after the first `/` is the upstream model name (which may itself contain `/`). A
//! `Route` holds the deployments with their live state (`deployment`), the model's strategy
//! (`strategy`), its fallbacks and retry budget, and the conversation affinity (`sticky`).
//! Deployment state is shared by every route naming the same `provider/model`. A route with
//! `overflow` deployments has two sides (`side`): the overflow one is used only while every
//! primary deployment is exhausted.
//! This module decides *where*; `pipeline::attempt` sends, judges the answer and feeds the
//! outcome back (`health`, `upstream_limits`).
//! Must never: do I/O, or hold a lock across an await.

pub mod clock;
pub mod deployment;
pub mod health;
pub mod side;
pub mod sticky;
pub mod strategy;
pub mod upstream_limits;

use crate::config::{self, Config, RoutingConfig, Strategy};
use crate::upstream::Provider;
use crossbar_protocol::canonical::{ErrorInfo, ErrorKind};
use deployment::{Deployment, DeploymentState};
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// Most distinct `provider/model` names whose state is remembered (clients choose these names).
const MAX_DIRECT: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Target {
    pub provider: Arc<Provider>,
    /// The model name the upstream gets.
    pub model: String,
}

impl Target {
    /// A target on a fresh in-process mock provider named `provider` (tests and benchmarks).
    pub fn detached(provider: &str, model: &str) -> Target {
        let mut p = config::defaults::mock_provider();
        p.name = provider.to_string();
        let provider =
            Provider::new(p, &config::ServerConfig::default()).map(Arc::new).expect("the mock provider needs no I/O");
        Target { provider, model: model.to_string() }
    }
}

/// Everything one model name resolves to.
#[derive(Debug)]
pub struct Route {
    pub name: String,
    /// The primary side's deployments, then the overflow side's (from `primary` on).
    pub deployments: Vec<Deployment>,
    /// How many of `deployments` are the primary side (all of them without overflow).
    pub primary: usize,
    pub overflow_on: config::OverflowOn,
    pub strategy: Strategy,
    /// Models to try when the request is too long for this one or hits a content filter.
    pub fallbacks: Vec<String>,
    pub retries: u32,
    pub sticky: bool,
    pub affinity: Arc<sticky::Affinity>,
}

impl Route {
    /// The deployment for the next attempt: `preferred` (the conversation's own) if it is
    /// usable, else the strategy's choice among those `skip` leaves.
    pub fn choose(
        &self,
        now: u64,
        tokens: u64,
        skip: impl Fn(usize) -> bool,
        preferred: Option<usize>,
        rng: &mut impl Rng,
    ) -> Option<usize> {
        if let Some(i) = preferred {
            if self.deployments.get(i).is_some_and(|d| !skip(i) && d.usable(now, tokens)) {
                return Some(i);
            }
        }
        strategy::choose(&self.deployments, self.strategy, now, tokens, skip, rng)
    }

    /// The deployment this instance last sent the conversation `key` to.
    pub fn recall(&self, key: u64, now: u64) -> Option<usize> {
        let tag = self.affinity.get(key, now)?;
        self.deployments.iter().position(|d| d.tag() == tag)
    }

    pub fn remember(&self, key: u64, index: usize, now: u64, ttl_ms: u64) {
        if let Some(d) = self.deployments.get(index) {
            self.affinity.set(key, d.tag(), now, ttl_ms);
        }
    }
}

/// What outlives one routing table: deployment state and conversation affinity, so a table
/// rebuilt (accounts added or removed) keeps health, parking, quotas and stickiness.
#[derive(Debug, Default)]
struct Memory {
    states: Mutex<HashMap<(String, String), Arc<DeploymentState>>>,
    affinities: Mutex<HashMap<String, Arc<sticky::Affinity>>>,
    /// Providers parked as a whole (a ChatGPT account whose usage window another instance
    /// found spent) until a monotonic ms: applied to their states now and to those made later.
    parks: Mutex<HashMap<String, u64>>,
}

#[derive(Debug, Default)]
pub struct Routes {
    providers: Vec<Arc<Provider>>,
    by_name: HashMap<String, Arc<Provider>>,
    aliases: HashMap<String, Vec<(String, String)>>,
    routes: HashMap<String, Arc<Route>>,
    direct: RwLock<HashMap<String, Arc<Route>>>,
    memory: Arc<Memory>,
    pub config: RoutingConfig,
}

impl Routes {
    pub fn new(config: &Config, providers: Vec<Arc<Provider>>) -> Routes {
        Routes::build(config, providers, Arc::default())
    }

    /// The table again over `providers` (a pool's accounts changed), keeping what `self` learnt
    /// except about `fresh` providers (a new login starts healthy, with unknown quota).
    pub fn successor(&self, config: &Config, providers: Vec<Arc<Provider>>, fresh: &[&str]) -> Routes {
        if let Ok(mut states) = self.memory.states.lock() {
            states.retain(|(p, _), _| !fresh.contains(&p.as_str()));
        }
        Routes::build(config, providers, self.memory.clone())
    }

    fn build(config: &Config, providers: Vec<Arc<Provider>>, memory: Arc<Memory>) -> Routes {
        let by_name: HashMap<String, Arc<Provider>> =
            providers.iter().map(|p| (p.name().to_string(), p.clone())).collect();
        let aliases = config
            .models
            .iter()
            .map(|m| (m.name.clone(), m.targets.iter().map(|t| (t.provider.clone(), t.model.clone())).collect()))
            .collect();
        let mut routes =
            Routes { providers, by_name, aliases, memory, config: config.routing.clone(), ..Routes::default() };
        for m in &config.models {
            let mut deployments: Vec<Deployment> =
                m.targets.iter().flat_map(|t| routes.deployments(t.clone())).collect();
            let primary = deployments.len();
            deployments.extend(m.overflow.iter().flat_map(|t| routes.deployments(t.clone())));
            let route = Route {
                name: m.name.clone(),
                deployments,
                primary,
                overflow_on: m.overflow_on,
                strategy: m.strategy,
                fallbacks: m.fallbacks.clone(),
                retries: m.retries.unwrap_or(config.routing.retries),
                sticky: m.sticky,
                affinity: routes.affinity(&m.name),
            };
            routes.routes.insert(m.name.clone(), Arc::new(route));
        }
        routes
    }

    /// The deployments of one target: one, or one per account of a pooled provider.
    fn deployments(&self, settings: config::Target) -> Vec<Deployment> {
        let Some(provider) = self.by_name.get(&settings.provider) else { return Vec::new() };
        let members: Vec<Arc<Provider>> =
            if provider.pool.is_empty() { vec![provider.clone()] } else { provider.pool.clone() };
        members
            .into_iter()
            .map(|p| {
                let state = self.state(p.name(), &settings.model);
                Deployment {
                    target: Target { provider: p, model: settings.model.clone() },
                    settings: settings.clone(),
                    state,
                }
            })
            .collect()
    }

    /// The conversation affinity of a route name (kept across rebuilt tables).
    fn affinity(&self, route: &str) -> Arc<sticky::Affinity> {
        let Ok(mut all) = self.memory.affinities.lock() else { return Default::default() };
        if let Some(a) = all.get(route) {
            return a.clone();
        }
        let a = Arc::new(sticky::Affinity::default());
        if all.len() < MAX_DIRECT {
            all.insert(route.to_string(), a.clone());
        }
        a
    }

    /// The shared state of `provider/model` (unshared once too many names were seen).
    fn state(&self, provider: &str, model: &str) -> Arc<DeploymentState> {
        let Ok(mut states) = self.memory.states.lock() else { return Default::default() };
        let key = (provider.to_string(), model.to_string());
        if let Some(s) = states.get(&key) {
            return s.clone();
        }
        let s = Arc::new(DeploymentState::default());
        if let Some(until) = self.memory.parks.lock().ok().and_then(|p| p.get(provider).copied()) {
            s.health.park(until);
        }
        if states.len() < MAX_DIRECT {
            states.insert(key, s.clone());
        }
        s
    }

    pub fn providers(&self) -> &[Arc<Provider>] {
        &self.providers
    }

    /// Park every deployment of `provider` (each model) until `until` (monotonic ms), including
    /// those routed later; returns how many exist now.
    pub fn park_provider(&self, provider: &str, until: u64) -> usize {
        if let Ok(mut parks) = self.memory.parks.lock() {
            parks.retain(|_, t| *t > clock::now_ms());
            let t = parks.entry(provider.to_string()).or_insert(0);
            *t = (*t).max(until);
        }
        let Ok(states) = self.memory.states.lock() else { return 0 };
        let mine = states.iter().filter(|((p, _), _)| p == provider);
        mine.map(|(_, s)| s.health.park(until)).count()
    }

    /// Cool `provider/model` until `until` (monotonic ms): another instance's breaker opened.
    /// False when this instance has no such provider (or pooled account).
    pub fn cool(&self, provider: &str, model: &str, until: u64) -> bool {
        let known = self.providers.iter().any(|p| p.name() == provider || p.pool.iter().any(|m| m.name() == provider));
        if known {
            self.state(provider, model).health.cool_until(until);
        }
        known
    }

    /// Until when `provider` is parked as a whole (`park_provider`), if it is.
    pub fn provider_parked_until(&self, provider: &str) -> Option<u64> {
        let until = self.memory.parks.lock().ok()?.get(provider).copied()?;
        (until > clock::now_ms()).then_some(until)
    }

    pub fn aliases(&self) -> impl Iterator<Item = (&String, &Vec<(String, String)>)> {
        self.aliases.iter()
    }

    /// Every route with deployments (aliases, then `provider/model` names seen so far).
    pub fn all_routes(&self) -> Vec<Arc<Route>> {
        let mut out: Vec<Arc<Route>> = self.routes.values().cloned().collect();
        if let Ok(d) = self.direct.read() {
            out.extend(d.values().cloned());
        }
        out
    }

    /// The route for a client's model name, or a 404-kind error that says what exists.
    pub fn resolve(&self, model: &str) -> Result<Arc<Route>, ErrorInfo> {
        let model = model.trim();
        if model.is_empty() {
            return Err(ErrorInfo::new(ErrorKind::InvalidRequest, "`model` must not be empty"));
        }
        if let Some(route) = self.routes.get(model) {
            return Ok(route.clone());
        }
        if let Some(route) = self.direct.read().ok().and_then(|d| d.get(model).cloned()) {
            return Ok(route);
        }
        let Some((provider, upstream_model)) = model.split_once('/') else { return Err(self.unknown(model)) };
        let Some(p) = self.by_name.get(provider) else { return Err(self.unknown(model)) };
        if upstream_model.is_empty() {
            return Err(self.unknown(model));
        }
        if let Some(allowed) = &p.config.models {
            if !allowed.iter().any(|m| m == upstream_model) {
                return Err(ErrorInfo::new(
                    ErrorKind::NotFound,
                    format!(
                        "provider {provider:?} does not serve model {upstream_model:?} (it serves: {})",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        let deployments = self.deployments(config::Target::new(provider, upstream_model));
        let pooled = !p.pool.is_empty();
        let route = Arc::new(Route {
            name: model.to_string(),
            primary: deployments.len(),
            overflow_on: config::OverflowOn::default(),
            deployments,
            // An account pool balances on what each account has left, and keeps conversations
            // on their account (its prompt cache).
            strategy: if pooled { Strategy::Headroom } else { Strategy::Priority },
            fallbacks: Vec::new(),
            retries: self.config.retries,
            sticky: pooled,
            affinity: self.affinity(model),
        });
        if let Ok(mut d) = self.direct.write() {
            if d.len() < MAX_DIRECT {
                d.insert(model.to_string(), route.clone());
            }
        }
        Ok(route)
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
