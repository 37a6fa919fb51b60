//! The overview's server push: `GET /ui/overview/stream` is a Server-Sent Events stream of the
//! overview's live fragment (event `overview`: the same escaped HTML as `/ui/overview/live`),
//! held to the viewer (a member sees only their key).
//!
//! A stream renders once at its start, then again when this instance's usage writer commits a
//! batch (`Recorder::written`) or every `TICK` regardless (another instance's writes, a rolling
//! range), never more often than every `MIN_GAP`, and sends only a fragment that changed. The
//! request path does nothing for it beyond the writer's counter bump.
//!
//! Must never: outlive its session (each render checks it; a signed-out session gets event
//! `signed-out` and the stream ends), hold more than `MAX_PER_SESSION` streams per session
//! (more: 429), or hold up a graceful shutdown (`LiveStreams::shut_down` ends every stream).

use super::{layout, overview, Viewer};
use crate::app::AppState;
use crate::store::now_ms;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Open streams one session may hold (a browser keeps about six connections per host).
pub const MAX_PER_SESSION: usize = 4;
/// Least time between two renders of one stream.
pub const MIN_GAP: Duration = Duration::from_secs(2);
/// Render at least this often (another instance's writes reach only the database).
pub const TICK: Duration = Duration::from_secs(10);
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The open streams, counted per session.
pub struct LiveStreams {
    open: Mutex<HashMap<String, usize>>,
    closing: watch::Sender<bool>,
}

impl Default for LiveStreams {
    fn default() -> Self {
        LiveStreams { open: Mutex::default(), closing: watch::Sender::new(false) }
    }
}

impl LiveStreams {
    /// A slot for one more stream of `session`, if it has fewer than `MAX_PER_SESSION`.
    fn open(self: &Arc<Self>, session: &str) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(session.to_string()).or_insert(0);
        if *n >= MAX_PER_SESSION {
            return None;
        }
        *n += 1;
        Some(Slot { streams: self.clone(), session: session.to_string() })
    }

    /// Streams open now (all sessions).
    pub fn count(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).values().sum()
    }

    /// Graceful shutdown: end every stream (and refuse none: the server stops accepting).
    pub fn shut_down(&self) {
        self.closing.send_replace(true);
    }
}

/// One open stream's place in the count, given back when the stream is dropped.
struct Slot {
    streams: Arc<LiveStreams>,
    session: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.session) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.session);
            }
        }
    }
}

pub async fn stream(
    State(state): State<Arc<AppState>>,
    v: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let who = v.session.clone().unwrap_or_else(|| "open".to_string());
    let Some(slot) = state.ui.live.open(&who) else {
        return layout::message(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many live views",
            "This session already has its live overviews open; close another tab.",
        );
    };
    let written = state.usage.written();
    let closing = state.ui.live.closing.subscribe();
    let live = Live { state, v, q, written, closing, last: None, sent: String::new(), ended: false, _slot: slot };
    let events = futures_util::stream::unfold(live, next);
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response()
}

/// One stream's state between events.
struct Live {
    state: Arc<AppState>,
    v: Viewer,
    q: HashMap<String, String>,
    written: watch::Receiver<u64>,
    closing: watch::Receiver<bool>,
    /// When it last rendered (`None`: not yet).
    last: Option<Instant>,
    /// The fragment last sent.
    sent: String,
    ended: bool,
    _slot: Slot,
}

async fn next(mut l: Live) -> Option<(Result<Event, Infallible>, Live)> {
    loop {
        if l.ended || *l.closing.borrow() {
            return None;
        }
        if let Some(last) = l.last {
            tokio::select! {
                r = l.written.changed() => if r.is_err() { return None },
                _ = tokio::time::sleep(TICK) => {}
                _ = l.closing.wait_for(|c| *c) => return None,
            }
            tokio::select! {
                _ = tokio::time::sleep_until(last + MIN_GAP) => {}
                _ = l.closing.wait_for(|c| *c) => return None,
            }
        }
        l.last = Some(Instant::now());
        // Batches committed until now are in this render.
        l.written.borrow_and_update();
        if !l.v.still_signed_in(&l.state).await {
            l.ended = true;
            return Some((Ok(Event::default().event("signed-out").data("/ui/signin")), l));
        }
        let span = overview::span(&l.q, now_ms());
        // A store error is logged by `live_markup`; the next signal tries again.
        if let Ok(m) = overview::live_markup(&l.state, &l.v, &span).await {
            let html = m.into_string();
            if html != l.sent {
                l.sent.clone_from(&html);
                return Some((Ok(Event::default().event("overview").data(html)), l));
            }
        }
    }
}
