//! Responses over WebSocket: `GET /v1/responses` and `GET /backend-api/codex/responses`
//! upgraded to a socket (Codex with `supports_websockets`, OpenCode's built-in `openai` provider).
//!
//! The upgrade passed `auth::layer` like any request (no key → 401 before it); here it is
//! turned down with 426 when `[server] websocket = false` (clients then use HTTP), counted
//! against the key's socket cap, and handed to `session.rs`, which turns each
//! `response.create` frame into one ordinary streamed Responses request through
//! `pipeline::handle` (so admission, routing, failover and the usage record are the HTTP
//! path's) and sends the events back one per text frame (`frames.rs`). Every upstream kind is
//! bridged this way; no upstream socket is opened.

mod frames;
mod session;

use crate::app::AppState;
use crate::auth::Authed;
use crate::ingress::reply;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use crossbar_protocol::canonical::{ErrorInfo, ErrorKind, Protocol};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How long a new socket may take to send its first `response.create`.
pub const FIRST_MESSAGE: Duration = Duration::from_secs(30);

/// The open sockets: per key (`""` for requests without one) for the cap, in all for the
/// drain, and the shutdown signal that closes idle ones (`AppState::websockets`).
pub struct Sockets {
    open: Mutex<HashMap<String, usize>>,
    count: watch::Sender<usize>,
    closing: watch::Sender<bool>,
}

impl Default for Sockets {
    fn default() -> Self {
        Sockets { open: Mutex::default(), count: watch::Sender::new(0), closing: watch::Sender::new(false) }
    }
}

impl Sockets {
    /// Graceful shutdown: idle sockets close (1001) at once, busy ones after their response.
    pub fn shut_down(&self) {
        self.closing.send_replace(true);
    }

    /// Until every socket has closed.
    pub async fn drained(&self) {
        let mut rx = self.count.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Take a place for `key`, unless it already holds `max` sockets.
    fn acquire(self: &Arc<Self>, key: &str, max: usize) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key.to_owned()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        self.count.send_modify(|c| *c += 1);
        Some(Slot { sockets: self.clone(), key: key.to_owned() })
    }
}

/// One open socket's place; given back when the socket ends.
pub(super) struct Slot {
    sockets: Arc<Sockets>,
    key: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.sockets.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
        self.sockets.count.send_modify(|c| *c = c.saturating_sub(1));
    }
}

/// The handler of both upgrade paths (`GET` only; `POST` is the HTTP endpoint).
pub async fn upgrade(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let (mut parts, _body) = req.into_parts();
    if !state.config.server.websocket {
        return upgrade_required(
            "Responses over WebSocket is turned off on this gateway ([server] websocket = false); use HTTP",
        );
    }
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(ws) => ws,
        // Not an upgrade (a plain GET, a bad version header): axum's own answer (426/400/405).
        Err(rejection) => return rejection.into_response(),
    };
    let key = parts.extensions.get::<Authed>().map(|a| a.0.clone());
    let presented = crate::auth::presented(&parts.headers, parts.uri.query()).map(str::to_owned);
    let server = &state.config.server;
    let sockets = state.websockets.clone();
    let slot = sockets.acquire(key.as_ref().map_or("", |k| k.id.as_str()), server.websocket_max_per_key);
    let turn_state = super::openai::codex_turn_state(&parts.headers);
    // Frames up to twice the body limit reach the session, which answers those over the limit
    // with an error frame; anything larger ends the socket (close 1009).
    let limit = server.max_body_bytes.saturating_mul(2);
    let max = server.websocket_max_per_key;
    let headers = parts.headers;
    let mut resp = ws.max_message_size(limit).max_frame_size(limit).on_upgrade(move |socket| async move {
        let Some(slot) = slot else {
            let reason =
                format!("this key already has {max} open WebSocket connections ([server] websocket_max_per_key)");
            frames::close_now(socket, frames::CLOSE_POLICY, &reason).await;
            return;
        };
        session::Session::new(state, key, presented, headers, slot).run(socket).await;
    });
    if let Some(v) = turn_state {
        resp.headers_mut().insert("x-codex-turn-state", v);
    }
    resp
}

/// 426 Upgrade Required in the Responses error shape: Codex and OpenCode fall back to HTTP
/// for the session (403/404/405 would be retried first).
fn upgrade_required(message: &str) -> Response {
    let mut info = ErrorInfo::new(ErrorKind::InvalidRequest, message);
    info.status = 426;
    info.code = Some("websocket_unavailable".into());
    reply::error(Protocol::OpenaiResponses, &info)
}
