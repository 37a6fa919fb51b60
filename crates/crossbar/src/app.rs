//! The application: shared state and the router with its few tower layers.

use crate::auth::Authenticator;
use crate::catalog::Catalog;
use crate::config::secret::Secret;
use crate::config::Config;
use crate::limits::Limiter;
use crate::redis_conn::RedisConn;
use crate::routing::Routes;
use crate::store::Store;
use crate::telemetry::Metrics;
use crate::upstream::Provider;
use crate::usage::Recorder;
use axum::Router;
use crossbar_protocol::canonical::OpaqueCodec;
use std::sync::Arc;

pub struct AppState {
    pub config: Config,
    /// The routing table; swapped whole when a `chatgpt` pool's accounts change (`routes()`).
    routes: arc_swap::ArcSwap<Routes>,
    /// With `[redis]` (or `REDIS_URL`): limits and conversation affinity shared by instances.
    pub redis: Option<Arc<RedisConn>>,
    pub metrics: Metrics,
    pub catalog: Catalog,
    /// Seals the gateway-owned opaque state that travels through clients.
    pub codec: Arc<OpaqueCodec>,
    /// Keys and usage (SQLite in the data dir, or PostgreSQL).
    pub store: Store,
    /// ChatGPT accounts (in `store`, their tokens sealed).
    pub accounts: crate::accounts::db::AccountStore,
    /// `Some` once `[auth]` is configured.
    pub auth: Option<Authenticator>,
    pub limiter: Arc<Limiter>,
    pub usage: Recorder,
    /// The admin API's key (`[auth] admin_key_env`, default `CROSSBAR_ADMIN_KEY`), if set.
    pub admin_key: Option<Secret>,
    /// The dashboard's in-process state (sign-in failure counts).
    pub ui: crate::ui::UiState,
    /// Open Responses WebSocket connections (per-key cap, drain on shutdown).
    pub websockets: Arc<crate::ingress::websocket::Sockets>,
    /// One pool rebuild at a time.
    reloading: tokio::sync::Mutex<()>,
    /// Each conversation's previous turn, for the cache verdict on usage records.
    pub cache_turns: crate::usage::cache_turns::Turns,
    /// What this instance shares with the fleet through Redis (`fleet.rs`).
    pub fleet: crate::fleet::Fleet,
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
        let redis = match redis_url(&config) {
            Some(url) => {
                let prefix = config.redis.as_ref().map_or("crossbar", |r| r.prefix.as_str());
                Some(Arc::new(RedisConn::new(&url, prefix)?))
            }
            None => None,
        };
        let sealer = crate::accounts::seal::Sealer::open(&config.server.data_dir)?;
        let accounts = crate::accounts::db::AccountStore::new(store.clone(), sealer, redis.clone());
        let limiter = Arc::new(redis.clone().map_or_else(Limiter::local, Limiter::redis));
        let auth = config.auth.as_ref().map(|a| Authenticator::new(store.clone(), a.cache_ttl));
        let admin_env = config.auth.as_ref().map_or("CROSSBAR_ADMIN_KEY", |a| a.admin_key_env.as_str());
        let admin_key = std::env::var(admin_env).ok().filter(|k| !k.trim().is_empty()).map(Secret::new);
        let metrics = Metrics::new();
        let usage = Recorder::start(store.clone(), config.storage.usage_queue, config.storage.usage_flush, &metrics);
        Ok(Arc::new(AppState {
            catalog: Catalog::new(config.catalog.clone()),
            routes: arc_swap::ArcSwap::from_pointee(routes),
            redis,
            metrics,
            codec: Arc::new(OpaqueCodec::new(key)),
            store,
            accounts,
            auth,
            limiter,
            usage,
            admin_key,
            ui: crate::ui::UiState::default(),
            websockets: Arc::default(),
            reloading: Default::default(),
            cache_turns: Default::default(),
            fleet: Default::default(),
            config,
        }))
    }

    /// The routing table now (a request keeps the one it started with).
    pub fn routes(&self) -> Arc<Routes> {
        self.routes.load_full()
    }

    /// Rebuild the `chatgpt` pools from the stored accounts and, when their members changed,
    /// swap in a routing table over them (health, quotas and affinity carry over). Returns the
    /// number of pooled accounts after a swap, `None` when nothing changed. Concurrent calls
    /// (the poll and a notification, an admin's change) run one after the other.
    pub async fn reload_accounts(&self) -> anyhow::Result<Option<usize>> {
        let _one = self.reloading.lock().await;
        let accounts = self.accounts.all().await?;
        let old = self.routes();
        let mut pooled = 0;
        let mut providers = Vec::with_capacity(old.providers().len());
        let mut logins: Vec<Arc<Provider>> = Vec::new();
        let mut changed = false;
        for p in old.providers() {
            if p.kind() == crate::config::ProviderKind::Chatgpt && p.account().is_none() {
                let fresh = p.with_accounts(&self.config.server, &accounts, &self.accounts)?;
                let same =
                    fresh.pool.len() == p.pool.len() && fresh.pool.iter().zip(&p.pool).all(|(a, b)| Arc::ptr_eq(a, b));
                changed |= !same;
                logins.extend(fresh.pool.iter().filter(|m| !p.pool.iter().any(|o| Arc::ptr_eq(o, m))).cloned());
                pooled += fresh.pool.len();
                providers.push(if same { p.clone() } else { Arc::new(fresh) });
            } else {
                providers.push(p.clone());
            }
        }
        if !changed {
            return Ok(None);
        }
        let fresh: Vec<&str> = logins.iter().map(|m| m.name()).collect();
        self.routes.store(Arc::new(old.successor(&self.config, providers, &fresh)));
        Ok(Some(pooled))
    }

    /// Whether a provider pools ChatGPT accounts (then the stored accounts are followed).
    pub fn has_account_pools(&self) -> bool {
        self.config.providers.iter().any(|p| p.kind == crate::config::ProviderKind::Chatgpt)
    }

    /// Connect to the database (running migrations) and to Redis, so a bad URL fails at start.
    pub async fn ready(&self) -> anyhow::Result<()> {
        self.store.ready().await.map_err(|e| anyhow::anyhow!("{} ({})", e, self.store.label))?;
        self.limiter.ready().await.map_err(|e| anyhow::anyhow!("redis: {e}"))?;
        if let Err(e) = self.accounts.import_file(&self.config.server.data_dir).await {
            tracing::warn!(error = %e, "accounts: the account file could not be imported; it stays where it is");
        }
        if self.has_account_pools() {
            match self.reload_accounts().await {
                Ok(n) => tracing::info!(accounts = n.unwrap_or(0), "accounts: pools loaded from the store"),
                Err(e) => {
                    tracing::warn!(error = %e, "accounts: the stored accounts cannot be read; the pools start empty")
                }
            }
        }
        match crate::catalog::refresh::load(&self.catalog, &self.store).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "prices: the store's prices override the built-in table"),
            Err(e) => {
                tracing::warn!(error = %e, "prices: the store's prices could not be read; using the built-in table")
            }
        }
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
        // The dashboard has its own sign-in (ui/session.rs).
        .merge(crate::ui::routes())
        // Codex (ChatGPT login) sends zstd bodies; the size limit applies after decompression.
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        .with_state(state)
}
