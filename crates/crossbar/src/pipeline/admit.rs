//! Admission: may this key use this model now? Model allow-list (403), budget (402), rate
//! and parallel limits (429 with `Retry-After` and `x-ratelimit-*`), each in the client's
//! protocol error shape. Without a key (no-auth mode) everything is admitted.

use super::record::Ticket;
use super::{Endpoint, Inbound};
use crate::app::AppState;
use crate::ingress::reply;
use crate::limits::{Denial, DenialKind};
use crate::store::now_ms;
use axum::http::HeaderValue;
use axum::response::Response;
use crossbar_protocol::canonical::{ErrorInfo, ErrorKind};

pub async fn admit(state: &AppState, inbound: &Inbound, ticket: &Ticket) -> Result<(), Response> {
    let Some(key) = &ticket.key else { return Ok(()) };
    let deny = |reason: &'static str| {
        state.metrics.limit_denials.get_or_create(&crate::telemetry::ReasonLabels { reason }).inc()
    };
    if let Some(models) = &key.limits.models {
        if !models.contains(&inbound.model) {
            deny("model");
            let info = ErrorInfo::new(
                ErrorKind::PermissionDenied,
                format!("this key may not use model {:?} (allowed: {})", inbound.model, models.join(", ")),
            );
            return Err(reply::error(inbound.protocol, &info));
        }
    }
    if inbound.endpoint == Endpoint::CountTokens {
        // Token counting costs nothing upstream: no rate or budget is taken.
        return Ok(());
    }
    match state.limiter.admit(key, &state.store, now_ms()).await {
        Ok(r) => {
            if r.fallback {
                state.metrics.limit_fallbacks.inc();
            }
            ticket.reserve(r);
            Ok(())
        }
        Err(d) => {
            deny(match d.kind {
                DenialKind::Budget => "budget",
                DenialKind::Rate => "rate",
                DenialKind::Unavailable => "unavailable",
            });
            Err(denied(inbound, &d))
        }
    }
}

fn denied(inbound: &Inbound, d: &Denial) -> Response {
    let kind = match d.kind {
        DenialKind::Budget => ErrorKind::QuotaExceeded,
        DenialKind::Rate => ErrorKind::RateLimited,
        DenialKind::Unavailable => ErrorKind::Overloaded,
    };
    let mut r = reply::error(inbound.protocol, &ErrorInfo::new(kind, d.message.clone()));
    let h = r.headers_mut();
    if let Some(secs) = d.retry_after {
        h.insert("retry-after", HeaderValue::from(secs));
    }
    if let Some((what, limit, remaining, reset)) = d.headers {
        let name = |k: &str| axum::http::HeaderName::try_from(format!("x-ratelimit-{k}-{what}"));
        for (k, v) in
            [("limit", limit.to_string()), ("remaining", remaining.to_string()), ("reset", format!("{reset}s"))]
        {
            if let (Ok(n), Ok(v)) = (name(k), HeaderValue::from_str(&v)) {
                h.insert(n, v);
            }
        }
    }
    r
}
