//! The application: shared state and the router with its few tower layers.

use crate::catalog::Catalog;
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
        Ok(Arc::new(AppState {
            catalog: Catalog::new(config.catalog.clone()),
            routes,
            metrics: Metrics::new(),
            codec: Arc::new(OpaqueCodec::new(key)),
            config,
        }))
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    crate::ingress::routes()
        // Codex (ChatGPT login) sends zstd bodies; the size limit applies after decompression.
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        .with_state(state)
}
