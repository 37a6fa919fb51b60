//! What the mock's WebSocket endpoint is told and what it counts: the socket age limit and its
//! clock (`CROSSBAR_MOCK_WS_MAX_AGE_SECS`, `POST /_mock/websocket/advance?secs=N`), forgetting
//! every socket's responses (`POST /_mock/websocket/forget`, as after an upstream restart), and
//! the traffic received per transport (`GET /_mock/traffic`: request bytes over HTTP and over
//! sockets, sockets opened, open now and closed with a close frame), which the native-socket benchmark and tests read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Mock;

/// OpenAI closes a Responses socket after 60 minutes.
const DEFAULT_MAX_AGE_SECS: u64 = 3600;

pub struct Traffic {
    pub http_bytes: AtomicU64,
    pub websocket_bytes: AtomicU64,
    pub websocket_opened: AtomicU64,
    pub websocket_open: AtomicU64,
    /// Sockets the client ended with a close frame (not a dropped connection).
    pub websocket_close_frames: AtomicU64,
    /// Seconds added to every socket's age (`/_mock/websocket/advance`).
    advanced: AtomicU64,
    max_age: u64,
    /// Bumped by `/_mock/websocket/forget`: sockets drop their responses when it moves.
    epoch: AtomicU64,
}

impl Default for Traffic {
    fn default() -> Self {
        let max_age = std::env::var("CROSSBAR_MOCK_WS_MAX_AGE_SECS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_MAX_AGE_SECS);
        Traffic {
            http_bytes: AtomicU64::new(0),
            websocket_bytes: AtomicU64::new(0),
            websocket_opened: AtomicU64::new(0),
            websocket_open: AtomicU64::new(0),
            websocket_close_frames: AtomicU64::new(0),
            advanced: AtomicU64::new(0),
            max_age,
            epoch: AtomicU64::new(0),
        }
    }
}

/// One socket's view of the clock and of the forget epoch.
pub struct SocketClock {
    opened: Instant,
    advanced_at_open: u64,
    epoch: u64,
}

impl Traffic {
    pub fn open(&self) -> SocketClock {
        self.websocket_opened.fetch_add(1, Ordering::Relaxed);
        self.websocket_open.fetch_add(1, Ordering::Relaxed);
        SocketClock {
            opened: Instant::now(),
            advanced_at_open: self.advanced.load(Ordering::Relaxed),
            epoch: self.epoch.load(Ordering::Relaxed),
        }
    }

    pub fn close(&self) {
        self.websocket_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Whether a socket opened at `clock` has reached the age limit.
    pub fn expired(&self, clock: &SocketClock) -> bool {
        let advanced = self.advanced.load(Ordering::Relaxed).saturating_sub(clock.advanced_at_open);
        clock.opened.elapsed() + Duration::from_secs(advanced) >= Duration::from_secs(self.max_age)
    }

    /// Whether the socket must forget its responses (a forget since it last looked).
    pub fn forgotten(&self, clock: &mut SocketClock) -> bool {
        let now = self.epoch.load(Ordering::Relaxed);
        std::mem::replace(&mut clock.epoch, now) != now
    }
}

#[derive(serde::Deserialize)]
pub struct Advance {
    secs: u64,
}

pub async fn advance(State(mock): State<Mock>, Query(a): Query<Advance>) -> StatusCode {
    mock.inner.traffic.advanced.fetch_add(a.secs, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

pub async fn forget(State(mock): State<Mock>) -> StatusCode {
    mock.inner.traffic.epoch.fetch_add(1, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

pub async fn report(State(mock): State<Mock>) -> Response {
    let t = &mock.inner.traffic;
    axum::Json(json!({
        "http_bytes": t.http_bytes.load(Ordering::Relaxed),
        "websocket_bytes": t.websocket_bytes.load(Ordering::Relaxed),
        "websocket_opened": t.websocket_opened.load(Ordering::Relaxed),
        "websocket_open": t.websocket_open.load(Ordering::Relaxed),
        "websocket_close_frames": t.websocket_close_frames.load(Ordering::Relaxed),
    }))
    .into_response()
}
