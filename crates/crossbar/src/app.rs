//! The application: shared state and the router with its few tower layers.

use crate::auth::Authenticator;
use crate::catalog::Catalog;
use crate::config::secret::Secret;
use crate::limits::Limiter;
use crate::store::Store;
use crate::usage::Recorder;
use crate::config::Config;
use crate::routing::Routes;
use crate::telemetry::Metrics;
use crate::upstream::Provider;
use axum::Router;
use crossbar_protocol::canonical::OpaqueCodec;
use std::sync::Arc;

pub struct AppState {
    pub config: Config,
    pub routes: Routes,
    pub metrics: Metrics,
    pub catalog: Catalog,
    /// Seals the gateway-owned opaque state that travels through clients.
    pub codec: Arc<OpaqueCodec>,
    /// Keys and usage (SQLite in the data dir, or PostgreSQL).
    pub store: Store,
    /// `Some` once `[auth]` is configured.
    pub auth: Option<Authenticator>,
    pub limiter: Limiter,
    pub usage: Recorder,
    /// The admin API's key (`[auth] admin_key_env`, default `CROSSBAR_ADMIN_KEY`), if set.
    pub admin_key: Option<Secret>,
}

impl AppState {
    /// Build everything a running gateway needs from a validated config.
    pub fn new(config: Config) -> anyhow::Result<Arc<AppState>> {
        let key = crate::gateway_key::load_or_create(&config.server.data_dir)?;
        let providers = config
            .providers
            .iter()
            .map(|p| Provider::new(p.clone(), &config.server).map(Arc::new))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let routes = Routes::new(&config, providers);
        let store = open_store(&config)?;
        let limiter = match redis_url(&config) {
            Some(url) => {
                let prefix = config.redis.as_ref().map_or("crossbar", |r| r.prefix.as_str());
                Limiter::redis(&url, prefix)?
            }
            None => Limiter::local(),
        };
        let auth = config.auth.as_ref().map(|a| Authenticator::new(store.clone(), a.cache_ttl));
        let admin_env = config.auth.as_ref().map_or("CROSSBAR_ADMIN_KEY", |a| a.admin_key_env.as_str());
        let admin_key = std::env::var(admin_env).ok().filter(|k| !k.trim().is_empty()).map(Secret::new);
        let metrics = Metrics::new();
        let usage = Recorder::start(store.clone(), config.storage.usage_queue, config.storage.usage_flush, &metrics);
        Ok(Arc::new(AppState {
            catalog: Catalog::new(config.catalog.clone()),
            routes,
            metrics,
            codec: Arc::new(OpaqueCodec::new(key)),
            store,
            auth,
            limiter,
            usage,
            admin_key,
            config,
        }))
    }

    /// Connect to the database (running migrations) and to Redis, so a bad URL fails at start.
    pub async fn ready(&self) -> anyhow::Result<()> {
        self.store.ready().await.map_err(|e| anyhow::anyhow!("{} ({})", e, self.store.label))?;
        self.limiter.ready().await.map_err(|e| anyhow::anyhow!("redis: {e}"))?;
        Ok(())
    }
}

/// The configured store: `[storage] url`, else `DATABASE_URL`, else SQLite in the data dir.
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    let env = std::env::var("DATABASE_URL").ok();
    let url = config.storage.url.clone().or(env);
    Ok(Store::open(url.as_deref(), &config.server.data_dir)?)
}

/// `[redis] url`, else `REDIS_URL` (when set), else none (in-process limits).
fn redis_url(config: &Config) -> Option<String> {
    config
        .redis
        .as_ref()
        .and_then(|r| r.url.clone())
        .or_else(|| std::env::var("REDIS_URL").ok())
        .filter(|u| !u.trim().is_empty())
}

pub fn router(state: Arc<AppState>) -> Router {
    crate::ingress::routes()
        // With `[auth]`, every client route needs a key; admin routes (merged after) have their own.
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::layer))
        .merge(crate::admin::routes())
        // Codex (ChatGPT login) sends zstd bodies; the size limit applies after decompression.
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        .with_state(state)
}
