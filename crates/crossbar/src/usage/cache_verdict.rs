//! The cache verdict of one request: did the provider's prompt cache serve what the
//! conversation's previous turn left in it, and if not, why. Pure: the previous turn comes from
//! `cache_turns::Turns`, the cached tokens from the upstream's usage.
//!
//! | verdict   | when                                                                          |
//! |-----------|-------------------------------------------------------------------------------|
//! | `unknown` | the provider reported no cached-token count (never read as 0 %)               |
//! | `hit`     | cache reads ≥ 80 % of the previous turn's prompt (this prompt's, on a first turn) |
//! | `partial` | some cache reads, fewer than that                                             |
//! | `miss`    | no cache reads                                                                |
//!
//! A miss (and a partial, where one is found) names its reason, first that applies:
//! `first_turn` (no previous turn remembered), `moved` (another deployment or pool account
//! than the previous turn), `ttl_expired` (longer since the previous turn than the provider
//! keeps a cache: Anthropic 5 min, 1 h when asked; OpenAI and Gemini 10 min, 24 h when asked),
//! `prefix_changed` with where (`tools`, `system`, `message:<i>`), `too_short` (the previous
//! prompt was below the least the provider caches: `min_cached_tokens`), `best_effort` (a
//! Gemini upstream: its implicit caching promises nothing, so an unchanged prefix may miss),
//! else `unexplained`. A partial only takes `prefix_changed`: the rest explain a whole miss.
//!
//! Gemini leaves `cachedContentTokenCount` out when it read nothing (a proto3 default), so a
//! Gemini response that reports usage without it counts as 0 cached (`reported_reads`), not
//! as unknown.
//!
//! Stored as one text: `hit`, `partial`, `partial:prefix_changed:message:3`, `miss:moved`,
//! `miss:ttl_expired:612s`, `miss:prefix_changed:system`, `unknown` (`Verdict::code`).

use crossbar_protocol::canonical::{Divergence, Fingerprint, Protocol, Usage};

/// The smallest prompt a provider caches (Anthropic Sonnet/Opus, OpenAI), in tokens.
pub const MIN_CACHED_TOKENS: u64 = 1024;

/// The smallest prompt `model` caches on `upstream`, in tokens. Gemini's implicit caching
/// (Google's table): 2.5 Flash and 3 Flash 1024, Flash-Lite 2048, the Pro models 4096; a
/// Gemini model not named there 2048.
pub fn min_cached_tokens(upstream: Protocol, model: &str) -> u64 {
    if upstream != Protocol::Gemini {
        return MIN_CACHED_TOKENS;
    }
    let m = model.to_ascii_lowercase();
    if m.contains("flash-lite") {
        2048
    } else if m.contains("pro") {
        4096
    } else if m.contains("flash") {
        1024
    } else {
        2048
    }
}

/// The cache reads a response reported: Gemini's absent `cachedContentTokenCount` on a
/// response that reported its prompt is 0, every other absence is unknown (`None`).
pub fn reported_reads(upstream: Protocol, usage: &Usage) -> Option<u64> {
    match usage.cache_read {
        None if upstream == Protocol::Gemini && usage.input.is_some() => Some(0),
        r => r,
    }
}
/// A hit reads at least this share of the prompt the previous turn left in the cache.
const HIT_SHARE: f64 = 0.8;

const MINUTE_MS: u64 = 60_000;

/// What one turn of a conversation left behind, kept (without any text) for the next turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// `provider/upstream model` that served it (a pool account is its own provider).
    pub deployment: String,
    /// Unix ms of the request.
    pub at_ms: i64,
    /// How long the provider keeps what this turn wrote.
    pub ttl_ms: u64,
    /// Its whole prompt in tokens (cached ones included), when reported.
    pub input: Option<u64>,
    pub fingerprint: Fingerprint,
    /// The protocol it went upstream in (whose caching rules apply).
    pub upstream: Protocol,
    /// The upstream's id of its response (Anthropic `msg_…`), when read: the next turn's
    /// `diagnostics.previous_message_id` (`cache_diagnostics`).
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Hit,
    Partial,
    Miss,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    FirstTurn,
    Moved,
    /// With the gap since the previous turn, in seconds.
    TtlExpired(u64),
    PrefixChanged(Divergence),
    TooShort,
    /// Gemini's implicit caching: an unchanged prefix is cached on a best-effort basis only.
    BestEffort,
    Unexplained,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub kind: Kind,
    pub reason: Option<Reason>,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Hit => "hit",
            Kind::Partial => "partial",
            Kind::Miss => "miss",
            Kind::Unknown => "unknown",
        }
    }
}

impl Reason {
    /// The metric label (no index or time: bounded cardinality).
    pub fn name(self) -> &'static str {
        match self {
            Reason::FirstTurn => "first_turn",
            Reason::Moved => "moved",
            Reason::TtlExpired(_) => "ttl_expired",
            Reason::PrefixChanged(_) => "prefix_changed",
            Reason::TooShort => "too_short",
            Reason::BestEffort => "best_effort",
            Reason::Unexplained => "unexplained",
        }
    }

    fn detail(self) -> Option<String> {
        match self {
            Reason::TtlExpired(secs) => Some(format!("{secs}s")),
            Reason::PrefixChanged(Divergence::Tools) => Some("tools".into()),
            Reason::PrefixChanged(Divergence::System) => Some("system".into()),
            Reason::PrefixChanged(Divergence::Message(i)) => Some(format!("message:{i}")),
            _ => None,
        }
    }
}

impl Verdict {
    /// The stored text (see the module doc).
    pub fn code(&self) -> String {
        let mut s = self.kind.name().to_string();
        if let Some(r) = self.reason {
            s.push(':');
            s.push_str(r.name());
            if let Some(d) = r.detail() {
                s.push(':');
                s.push_str(&d);
            }
        }
        s
    }
}

/// A stored verdict in words, for the dashboard (`None` for a code this build does not know).
pub fn describe(code: &str) -> Option<String> {
    let mut parts = code.splitn(3, ':');
    let kind = parts.next()?;
    if !matches!(kind, "hit" | "partial" | "miss" | "unknown") {
        return None;
    }
    let why = match (parts.next(), parts.next()) {
        (None, _) if kind == "unknown" => "the provider did not report cached tokens".to_string(),
        (None, _) => return Some(kind.to_string()),
        (Some("first_turn"), _) => "first turn of the conversation".into(),
        (Some("moved"), _) => "another deployment or account served the previous turn".into(),
        (Some("ttl_expired"), Some(gap)) => {
            format!("{} since the previous turn, longer than the provider keeps its cache", gap.replace('s', " s"))
        }
        (Some("prefix_changed"), Some("tools")) => "the tools changed since the previous turn".into(),
        (Some("prefix_changed"), Some("system")) => "the system prompt changed since the previous turn".into(),
        (Some("prefix_changed"), Some(m)) => {
            let i = m.strip_prefix("message:")?.parse::<u64>().ok()?;
            format!("the prompt changed at message {} of the previous turn", i.saturating_add(1))
        }
        (Some("too_short"), _) => "the previous prompt was shorter than the least the provider caches".into(),
        (Some("best_effort"), _) => {
            "same deployment and prefix, but the provider's implicit caching is best effort".into()
        }
        (Some("unexplained"), _) => "same deployment, within the cache TTL and the same prefix: no reason found".into(),
        _ => return None,
    };
    Some(format!("{kind}: {why}"))
}

/// How long a provider keeps a prefix that `upstream` was sent, given what the request asked
/// for: an Anthropic breakpoint with `ttl: "1h"`, or `prompt_cache_retention: "24h"`.
pub fn ttl_ms(upstream: Protocol, asked_1h: bool, asked_24h: bool) -> u64 {
    match upstream {
        Protocol::Anthropic if asked_1h || asked_24h => 60 * MINUTE_MS,
        Protocol::Anthropic => 5 * MINUTE_MS,
        _ if asked_24h => 24 * 60 * MINUTE_MS,
        _ => 10 * MINUTE_MS,
    }
}

/// This turn, from its prompt's fingerprint (`cache_prompt::fingerprint`). `upstream` is the
/// protocol it went out in, which sets the cache's TTL.
pub fn turn_of(
    upstream: Protocol,
    (fingerprint, asked): (Fingerprint, super::cache_prompt::Asked),
    deployment: String,
    at_ms: i64,
    input: Option<u64>,
) -> Turn {
    let ttl_ms = ttl_ms(upstream, asked.hour, asked.day);
    Turn { deployment, at_ms, ttl_ms, input, fingerprint, upstream, message_id: None }
}

/// The verdict on `cur` (this turn) after `prev` (the conversation's previous turn, if any),
/// given the cache reads the provider reported (`None`: not reported).
pub fn judge(prev: Option<&Turn>, cur: &Turn, cache_read: Option<u64>) -> Verdict {
    let Some(read) = cache_read else { return Verdict { kind: Kind::Unknown, reason: None } };
    if read > 0 {
        let expected = prev.and_then(|p| p.input).or(cur.input).unwrap_or(0);
        let kind = if read as f64 >= HIT_SHARE * expected as f64 { Kind::Hit } else { Kind::Partial };
        let reason = match (kind, prev.map(|p| p.fingerprint.divergence(&cur.fingerprint))) {
            (Kind::Partial, Some(d)) if d != Divergence::None => Some(Reason::PrefixChanged(d)),
            _ => None,
        };
        return Verdict { kind, reason };
    }
    Verdict { kind: Kind::Miss, reason: Some(why_missed(prev, cur)) }
}

fn why_missed(prev: Option<&Turn>, cur: &Turn) -> Reason {
    let Some(prev) = prev else { return Reason::FirstTurn };
    if prev.deployment != cur.deployment {
        return Reason::Moved;
    }
    let gap = u64::try_from(cur.at_ms.saturating_sub(prev.at_ms)).unwrap_or(0);
    if gap > prev.ttl_ms {
        return Reason::TtlExpired(gap / 1000);
    }
    match prev.fingerprint.divergence(&cur.fingerprint) {
        Divergence::None => {}
        d => return Reason::PrefixChanged(d),
    }
    let model = prev.deployment.split_once('/').map_or("", |(_, m)| m);
    if prev.input.is_some_and(|t| t < min_cached_tokens(prev.upstream, model)) {
        return Reason::TooShort;
    }
    if cur.upstream == Protocol::Gemini {
        return Reason::BestEffort;
    }
    Reason::Unexplained
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(deployment: &str, at_s: i64, messages: &[u64], input: u64) -> Turn {
        Turn {
            deployment: deployment.into(),
            at_ms: at_s * 1000,
            ttl_ms: 5 * MINUTE_MS,
            input: Some(input),
            fingerprint: Fingerprint { tools: 1, system: 2, messages: messages.to_vec() },
            upstream: Protocol::Anthropic,
            message_id: None,
        }
    }

    #[test]
    fn gemini_misses_are_explained() {
        let on_gemini = |t: Turn| Turn { upstream: Protocol::Gemini, deployment: "g/gemini-2.5-pro".into(), ..t };
        let usage = |cache_read| Usage { input: Some(5000), cache_read, ..Default::default() };
        assert_eq!(reported_reads(Protocol::Gemini, &usage(None)), Some(0), "left out: nothing was cached");
        assert_eq!(reported_reads(Protocol::Gemini, &usage(Some(7))), Some(7));
        assert_eq!(reported_reads(Protocol::Gemini, &Usage::default()), None, "no usage at all: unknown");
        assert_eq!(reported_reads(Protocol::Anthropic, &usage(None)), None);
        let one = on_gemini(turn("a/m", 0, &[1, 2], 5000));
        let two = on_gemini(turn("a/m", 60, &[1, 2, 3], 6000));
        assert_eq!(judge(Some(&one), &two, Some(0)).code(), "miss:best_effort");
        // 3000 tokens are enough for Flash, not for Pro.
        let short = on_gemini(turn("a/m", 0, &[1, 2], 3000));
        assert_eq!(judge(Some(&short), &two, Some(0)).code(), "miss:too_short");
        let flash = |t: Turn| Turn { deployment: "g/gemini-2.5-flash".into(), ..t };
        assert_eq!(judge(Some(&flash(short.clone())), &flash(two.clone()), Some(0)).code(), "miss:best_effort");
        assert_eq!(min_cached_tokens(Protocol::Gemini, "gemini-2.5-flash-lite"), 2048);
        assert_eq!(min_cached_tokens(Protocol::Gemini, "gemini-3-pro-preview"), 4096);
        assert_eq!(min_cached_tokens(Protocol::OpenaiResponses, "gpt-5-pro"), 1024);
        assert_eq!(describe("miss:best_effort").as_deref().map(|d| d.starts_with("miss: same deployment")), Some(true));
    }

    #[test]
    fn each_verdict_and_reason() {
        let one = turn("a/m", 0, &[1, 2], 5000);
        let two = turn("a/m", 60, &[1, 2, 3, 4], 6000);
        let code = |prev: Option<&Turn>, cur: &Turn, read| judge(prev, cur, read).code();
        assert_eq!(code(Some(&one), &two, None), "unknown", "not reported is not 0 %");
        assert_eq!(code(Some(&one), &two, Some(4900)), "hit");
        assert_eq!(code(Some(&one), &two, Some(1024)), "partial");
        assert_eq!(code(None, &one, Some(0)), "miss:first_turn");
        assert_eq!(code(Some(&one), &turn("b/m", 60, &[1, 2, 3], 6000), Some(0)), "miss:moved");
        assert_eq!(code(Some(&one), &turn("a/m", 400, &[1, 2, 3], 6000), Some(0)), "miss:ttl_expired:400s");
        assert_eq!(code(Some(&one), &turn("a/m", 60, &[1, 9, 3], 6000), Some(0)), "miss:prefix_changed:message:1");
        assert_eq!(
            code(Some(&one), &turn("a/m", 60, &[1, 9, 3], 6000), Some(1024)),
            "partial:prefix_changed:message:1"
        );
        let mut sys = two.clone();
        sys.fingerprint.system = 7;
        assert_eq!(code(Some(&one), &sys, Some(0)), "miss:prefix_changed:system");
        sys.fingerprint.tools = 7;
        assert_eq!(code(Some(&one), &sys, Some(0)), "miss:prefix_changed:tools");
        assert_eq!(code(Some(&turn("a/m", 0, &[1], 300)), &two, Some(0)), "miss:too_short");
        assert_eq!(code(Some(&one), &two, Some(0)), "miss:unexplained");
    }

    #[test]
    fn codes_read_as_words() {
        assert_eq!(describe("hit").as_deref(), Some("hit"));
        assert_eq!(
            describe("miss:prefix_changed:message:3").as_deref(),
            Some("miss: the prompt changed at message 4 of the previous turn")
        );
        assert_eq!(
            describe("miss:ttl_expired:612s").as_deref(),
            Some("miss: 612 s since the previous turn, longer than the provider keeps its cache")
        );
        assert_eq!(describe("unknown").as_deref(), Some("unknown: the provider did not report cached tokens"));
        assert_eq!(describe("miss:prefix_changed:message:x"), None);
        assert_eq!(describe("bogus"), None);
    }

    #[test]
    fn ttls_follow_the_provider_and_the_request() {
        assert_eq!(ttl_ms(Protocol::Anthropic, false, false), 5 * MINUTE_MS);
        assert_eq!(ttl_ms(Protocol::Anthropic, true, false), 60 * MINUTE_MS);
        assert_eq!(ttl_ms(Protocol::OpenaiResponses, false, false), 10 * MINUTE_MS);
        assert_eq!(ttl_ms(Protocol::OpenaiChat, false, true), 24 * 60 * MINUTE_MS);
        // An hour-long breakpoint is Anthropic's: OpenAI keeps its own time.
        assert_eq!(ttl_ms(Protocol::Gemini, true, false), 10 * MINUTE_MS);
    }
}
