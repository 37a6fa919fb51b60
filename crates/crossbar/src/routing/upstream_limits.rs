//! What an upstream's response headers say about its limits: how much quota is left (the
//! `headroom` strategy) and when a limit resets (how long a 429 parks a deployment).
//!
//! Families read: `retry-after` / `retry-after-ms`; OpenAI `x-ratelimit-{limit,remaining,reset}-
//! {requests,tokens}` (reset as `1m2.5s`); Anthropic `anthropic-ratelimit-*-{limit,remaining,reset}`
//! (reset as RFC 3339); Codex usage windows `x-codex-{primary,secondary}-used-percent` and
//! `-reset-at` (unix seconds) or `-reset-after-seconds`.
//! Must never: fail on odd values (they are ignored), or look at bodies.

use axum::http::{HeaderMap, HeaderName};
use std::time::Duration;

// Header names, built once: they are read on every upstream response, so they are neither
// `format!`ted nor parsed per lookup.
const fn n(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}
/// OpenAI: `[limit, remaining, reset]` per kind (requests, tokens).
static OPENAI: [[HeaderName; 3]; 2] = [
    [n("x-ratelimit-limit-requests"), n("x-ratelimit-remaining-requests"), n("x-ratelimit-reset-requests")],
    [n("x-ratelimit-limit-tokens"), n("x-ratelimit-remaining-tokens"), n("x-ratelimit-reset-tokens")],
];
/// Anthropic: `[limit, remaining, reset]` per kind.
static ANTHROPIC: [[HeaderName; 3]; 4] = [
    [
        n("anthropic-ratelimit-requests-limit"),
        n("anthropic-ratelimit-requests-remaining"),
        n("anthropic-ratelimit-requests-reset"),
    ],
    [
        n("anthropic-ratelimit-tokens-limit"),
        n("anthropic-ratelimit-tokens-remaining"),
        n("anthropic-ratelimit-tokens-reset"),
    ],
    [
        n("anthropic-ratelimit-input-tokens-limit"),
        n("anthropic-ratelimit-input-tokens-remaining"),
        n("anthropic-ratelimit-input-tokens-reset"),
    ],
    [
        n("anthropic-ratelimit-output-tokens-limit"),
        n("anthropic-ratelimit-output-tokens-remaining"),
        n("anthropic-ratelimit-output-tokens-reset"),
    ],
];
/// Codex: `[used percent, reset at, reset after seconds]` per window (primary, secondary).
static CODEX: [[HeaderName; 3]; 2] = [
    [n("x-codex-primary-used-percent"), n("x-codex-primary-reset-at"), n("x-codex-primary-reset-after-seconds")],
    [n("x-codex-secondary-used-percent"), n("x-codex-secondary-reset-at"), n("x-codex-secondary-reset-after-seconds")],
];

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Limits {
    /// The smallest remaining fraction (0..=1) over every limit reported.
    pub remaining: Option<f64>,
    /// When that scarcest limit resets.
    pub remaining_reset: Option<Duration>,
    /// A limit is used up (remaining 0 or 100 % used): the longest time until such a limit resets.
    pub exhausted_for: Option<Duration>,
    /// `retry-after` / `retry-after-ms`.
    pub retry_after: Option<Duration>,
}

impl Limits {
    pub fn read(h: &HeaderMap, unix_now: f64) -> Limits {
        // Most answers carry none of these headers (the mock, local servers, many proxies): one
        // look at the names instead of two dozen lookups.
        if !h.keys().any(|k| says_limits(k.as_str())) {
            return Limits::default();
        }
        let mut l = Limits { retry_after: retry_after(h, unix_now), ..Limits::default() };
        let s = |name: &HeaderName| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let num = |name: &HeaderName| s(name).and_then(|v| v.parse::<f64>().ok()).filter(|n| n.is_finite());
        for [limit, remaining, reset] in OPENAI.iter() {
            let (Some(limit), Some(rem)) = (num(limit), num(remaining)) else { continue };
            l.observe(limit, rem, s(reset).and_then(go_duration));
        }
        for [limit, remaining, reset] in ANTHROPIC.iter() {
            let (Some(limit), Some(rem)) = (num(limit), num(remaining)) else { continue };
            let reset = s(reset).and_then(rfc3339_unix).map(|t| secs((t - unix_now).max(0.0)));
            l.observe(limit, rem, reset);
        }
        for [used, reset_at, reset_after] in CODEX.iter() {
            let Some(used) = num(used) else { continue };
            let reset = num(reset_at)
                .map(|t| secs((t - unix_now).max(0.0)))
                .or_else(|| num(reset_after).map(|s| secs(s.max(0.0))));
            l.observe(100.0, 100.0 - used, reset);
        }
        l
    }

    fn observe(&mut self, limit: f64, remaining: f64, reset: Option<Duration>) {
        if limit <= 0.0 {
            return;
        }
        let frac = (remaining / limit).clamp(0.0, 1.0);
        if self.remaining.is_none_or(|r| frac < r) {
            self.remaining = Some(frac);
            self.remaining_reset = reset;
        }
        if frac <= 0.0 {
            let reset = reset.unwrap_or(Duration::ZERO);
            self.exhausted_for = Some(self.exhausted_for.map_or(reset, |e| e.max(reset)));
        }
    }
}

/// Whether a header is one `Limits::read` looks at.
fn says_limits(name: &str) -> bool {
    name.starts_with("x-ratelimit-")
        || name.starts_with("anthropic-ratelimit-")
        || name.starts_with("x-codex-")
        || name.starts_with("retry-after")
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.min(1e9))
}

/// `Retry-After: 3`, `Retry-After: <HTTP date>`, `retry-after-ms: 1500`.
pub fn retry_after(h: &HeaderMap, unix_now: f64) -> Option<Duration> {
    if let Some(ms) = h.get("retry-after-ms").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(secs(ms / 1000.0));
        }
    }
    let v = h.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(s) = v.parse::<f64>() {
        return (s.is_finite() && s >= 0.0).then(|| secs(s));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    let at = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64();
    Some(secs((at - unix_now).max(0.0)))
}

/// OpenAI's reset format: `1s`, `6m0s`, `20ms`, `1h2m3.5s`.
pub fn go_duration(s: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut rest = s;
    let mut any = false;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        total += n * match &rest[..u_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        rest = &rest[u_end..];
        any = true;
    }
    any.then(|| secs(total))
}

/// `2025-01-02T03:04:05.678Z` or with a `±hh:mm` offset → unix seconds.
pub fn rfc3339_unix(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let int = |r: std::ops::Range<usize>| s.get(r).and_then(|v| v.parse::<i64>().ok());
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let (y, mo, d) = (int(0..4)?, int(5..7)?, int(8..10)?);
    let (h, mi, sec) = (int(11..13)?, int(14..16)?, int(17..19)?);
    let mut i = 19;
    let mut frac = 0.0;
    if b.get(i) == Some(&b'.') {
        let end = s[i + 1..].find(|c: char| !c.is_ascii_digit()).map_or(s.len(), |e| e + i + 1);
        frac = format!("0{}", &s[i..end]).parse().ok()?;
        i = end;
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let o = int(i + 1..i + 3)? * 3600 + int(i + 4..i + 6)? * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Days from the civil calendar (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + sec - offset) as f64 + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("value"));
        }
        h
    }

    #[test]
    fn formats() {
        assert_eq!(go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(go_duration("1h2m3.5s"), Some(Duration::from_secs_f64(3723.5)));
        assert_eq!(go_duration("soon"), None);
        assert_eq!(rfc3339_unix("1970-01-01T00:00:10Z"), Some(10.0));
        assert_eq!(rfc3339_unix("2024-03-01T00:00:00Z"), Some(1_709_251_200.0));
        assert_eq!(rfc3339_unix("2024-03-01T01:00:00.5+01:00"), Some(1_709_251_200.5));
        assert_eq!(rfc3339_unix("yesterday"), None);
    }

    #[test]
    fn scarcest_limit_wins_and_exhaustion_is_seen() {
        let h = headers(&[
            ("x-ratelimit-limit-requests", "100"),
            ("x-ratelimit-remaining-requests", "50"),
            ("x-ratelimit-limit-tokens", "1000"),
            ("x-ratelimit-remaining-tokens", "100"),
            ("x-ratelimit-reset-tokens", "2s"),
        ]);
        let l = Limits::read(&h, 0.0);
        assert_eq!(l.remaining, Some(0.1));
        assert_eq!(l.remaining_reset, Some(Duration::from_secs(2)));
        assert_eq!(l.exhausted_for, None);

        let h = headers(&[
            ("x-codex-primary-used-percent", "100"),
            ("x-codex-primary-reset-at", "1030"),
            ("anthropic-ratelimit-requests-limit", "10"),
            ("anthropic-ratelimit-requests-remaining", "5"),
            ("retry-after", "7"),
        ]);
        let l = Limits::read(&h, 1000.0);
        assert_eq!(l.remaining, Some(0.0));
        assert_eq!(l.exhausted_for, Some(Duration::from_secs(30)));
        assert_eq!(l.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(Limits::read(&headers(&[("retry-after", "junk")]), 0.0), Limits::default());
    }
}
