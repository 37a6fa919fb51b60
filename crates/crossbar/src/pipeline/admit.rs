//! Admission: may this key use this model now? Model allow-list (403), budget (402), rate
//! and parallel limits (429 with `Retry-After` and `x-ratelimit-*`), each in the client's
//! protocol error shape. Without a key (no-auth mode) everything is admitted.

use super::finish::record::Ticket;
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
            ticket.set_refusal("models", "model not in the key's allow-list", None);
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
            ticket.set_refusal(refusal_rule(&d), &d.message, refusal_reset(key, &d));
            Err(denied(inbound, &d))
        }
    }
}

/// The dashboard's name for the limit that refused (read from the denial).
fn refusal_rule(d: &Denial) -> &'static str {
    match (d.kind, d.headers.map(|h| h.0)) {
        (DenialKind::Budget, _) => "budget",
        (DenialKind::Unavailable, _) => "unavailable",
        (DenialKind::Rate, Some("tokens")) => "tpm",
        (DenialKind::Rate, _) if d.message.contains("in flight") => "parallel",
        (DenialKind::Rate, _) => "rpm",
    }
}

/// When the refusing limit lets requests through again (unix ms): a rate limit's
/// `Retry-After`, a day or month budget's next period; `None` for a total budget.
fn refusal_reset(key: &crate::store::KeyRecord, d: &Denial) -> Option<i64> {
    use crate::limits::period;
    use crate::store::Period;
    let now = now_ms();
    match d.kind {
        DenialKind::Budget => match key.limits.budget_period {
            Period::Day => Some(period::start(Period::Day, now) + 86_400_000),
            Period::Month => Some(period::start(Period::Month, period::start(Period::Month, now) + 32 * 86_400_000)),
            Period::Total => None,
        },
        _ => d.retry_after.map(|s| now + i64::try_from(s).unwrap_or(0) * 1000),
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
