//! Running the gateway: bind, serve, and shut down gracefully on SIGTERM/SIGINT — stop
//! accepting, let in-flight requests and streams finish (bounded by the drain timeout), exit.

use crate::app::{self, AppState};
use crate::config::Config;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Refuse to expose an unauthenticated gateway beyond this machine (with `[auth]`, any
/// address is allowed: every client request then needs a key).
pub fn check_exposure(addr: &SocketAddr, auth: bool) -> anyhow::Result<()> {
    if auth || addr.ip().is_loopback() {
        return Ok(());
    }
    anyhow::bail!(
        "refusing to listen on {addr}: client authentication is not configured, so anyone who can reach \
         that address could spend your provider keys. Add an [auth] section (keys: `crossbar keys create`) or listen on a loopback address (127.0.0.1 or [::1])."
    )
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    check_exposure(&config.server.listen, config.auth.is_some())?;
    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.server.listen))?;
    let state = AppState::new(config)?;
    state.ready().await?;
    run(listener, state, shutdown_signal()).await
}

/// Serve on `listener` until `shutdown` resolves, then drain.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let drain = state.config.server.drain_timeout;
    let providers: Vec<String> =
        state.routes().providers().iter().map(|p| format!("{} ({})", p.name(), p.kind().name())).collect();
    tracing::info!(%addr, config = %state.config.origin, providers = %providers.join(", "), "crossbar listening");
    let (tx, rx) = tokio::sync::watch::channel(false);
    if state.has_account_pools() {
        tokio::spawn(crate::accounts::watch::run(Arc::downgrade(&state), rx.clone()));
    }
    if state.redis.is_some() {
        tokio::spawn(crate::fleet::run(Arc::downgrade(&state), rx.clone()));
    }
    if !state.config.routing.health_check.is_zero() {
        tokio::spawn(crate::health_check::run(Arc::downgrade(&state), rx.clone()));
    }
    tokio::spawn(crate::catalog::refresh::run(Arc::downgrade(&state), rx.clone()));
    if state.config.storage.retention_days > 0 || state.config.storage.body_retention_days() > 0 {
        tokio::spawn(crate::usage::retention::run(Arc::downgrade(&state), rx.clone()));
    }
    let kept = state.clone();
    let sockets = state.websockets.clone();
    let live = state.ui.live.clone();
    let router = app::router(state);
    // Accepted sockets send at once (no Nagle delay on small SSE frames), as upstream ones do.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY on an accepted socket failed");
        }
    });
    let router = router.into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!(?drain, "shutting down: draining in-flight requests");
        // WebSocket connections are upgraded out of the server's sight: close the idle ones,
        // and wait below for the busy ones to finish their response.
        sockets.shut_down();
        // The dashboard's live streams never end by themselves.
        live.shut_down();
        let _ = tx.send(true);
    });
    let mut drained = rx.clone();
    let sockets = kept.websockets.clone();
    let served = async move {
        server.await?;
        sockets.drained().await;
        anyhow::Ok(())
    };
    tokio::select! {
        r = served => r?,
        _ = async {
            let _ = drained.wait_for(|v| *v).await;
            tokio::time::sleep(drain).await;
        } => tracing::warn!("drain timeout reached; closing remaining connections"),
    }
    // Every finished request has queued its usage record by now: write them all.
    kept.usage.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_without_auth() {
        assert!(check_exposure(&"127.0.0.1:1".parse().expect("addr"), false).is_ok());
        assert!(check_exposure(&"[::1]:1".parse().expect("addr"), false).is_ok());
        let e = check_exposure(&"0.0.0.0:1".parse().expect("addr"), false).expect_err("refused").to_string();
        assert!(e.contains("authentication"), "{e}");
        assert!(check_exposure(&"0.0.0.0:1".parse().expect("addr"), true).is_ok());
    }
}
