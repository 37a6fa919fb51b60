//! raw → `Config`, collecting every problem with its file, line and field.

use super::raw::{RawConfig, RawProvider, RawRouting, RawTarget};
use super::secret::{KeySource, Secret};
use super::{
    Config, ModelAlias, OverflowOn, ProviderConfig, ProviderKind, RoutingConfig, ServerConfig, Strategy, Target,
};
use crate::catalog::ModelInfo;
use std::collections::HashSet;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub origin: String,
    pub line: Option<usize>,
    /// The field, as a path (`providers[1].kind`).
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn single(origin: String, line: Option<usize>, field: &str, message: String) -> ConfigErrors {
        ConfigErrors(vec![ConfigError { origin, line, field: field.to_string(), message }])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            write!(f, "{}", e.origin)?;
            if let Some(l) = e.line {
                write!(f, ":{l}")?;
            }
            if e.field.is_empty() {
                writeln!(f, ": {}", e.message)?;
            } else {
                writeln!(f, ": {}: {}", e.field, e.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

pub(super) struct Ctx<'a> {
    text: &'a str,
    origin: &'a str,
    errors: Vec<ConfigError>,
}

impl Ctx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text.get(..offset).map_or(1, |s| s.matches('\n').count() + 1)
    }

    pub(super) fn err<T>(&mut self, at: Option<&Spanned<T>>, field: impl Into<String>, message: impl Into<String>) {
        let line = at.map(|s| self.line_of(s.span().start));
        self.errors.push(ConfigError {
            origin: self.origin.to_string(),
            line,
            field: field.into(),
            message: message.into(),
        });
    }
}

pub fn validate(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
    let raw: RawConfig = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let line = e.span().map(|s| text.get(..s.start).map_or(1, |p| p.matches('\n').count() + 1));
            return Err(ConfigErrors::single(origin.to_string(), line, "", e.message().to_string()));
        }
    };
    let mut cx = Ctx { text, origin, errors: Vec::new() };
    let server = server(&mut cx, &raw);
    let providers: Vec<ProviderConfig> =
        raw.providers.iter().enumerate().filter_map(|(i, p)| provider(&mut cx, i, p)).collect();

    let mut seen = HashSet::new();
    for (i, p) in raw.providers.iter().enumerate() {
        if !seen.insert(p.name.get_ref().clone()) {
            cx.err(
                Some(&p.name),
                format!("providers[{i}].name"),
                format!("duplicate provider name {:?}", p.name.get_ref()),
            );
        }
    }

    let mut models = Vec::new();
    let mut alias_names = HashSet::new();
    for (i, m) in raw.models.iter().enumerate() {
        let name = m.name.get_ref().trim().to_string();
        if name.is_empty() {
            cx.err(Some(&m.name), format!("models[{i}].name"), "must not be empty");
            continue;
        }
        if !alias_names.insert(name.clone()) {
            cx.err(Some(&m.name), format!("models[{i}].name"), format!("duplicate model name {name:?}"));
        }
        if m.targets.get_ref().is_empty() {
            cx.err(Some(&m.targets), format!("models[{i}].targets"), "needs at least one \"provider/model\" target");
        }
        let mut targets = Vec::new();
        for (j, t) in m.targets.get_ref().iter().enumerate() {
            if let Some(target) = deployment(&mut cx, &raw, i, j, "targets", &m.targets, t) {
                targets.push(target);
            }
        }
        let mut overflow = Vec::new();
        if let Some(o) = &m.overflow {
            for (j, t) in o.get_ref().iter().enumerate() {
                if let Some(target) = deployment(&mut cx, &raw, i, j, "overflow", o, t) {
                    overflow.push(target);
                }
            }
        }
        let overflow_on = match &m.overflow_on {
            None => OverflowOn::default(),
            Some(s) => OverflowOn::parse(s.get_ref()).unwrap_or_else(|| {
                cx.err(
                    Some(s),
                    format!("models[{i}].overflow_on"),
                    format!("unknown value {:?} (expected exhausted or unavailable)", s.get_ref()),
                );
                OverflowOn::default()
            }),
        };
        let strategy = match &m.strategy {
            None => Strategy::default(),
            Some(s) => Strategy::parse(s.get_ref()).unwrap_or_else(|| {
                cx.err(
                    Some(s),
                    format!("models[{i}].strategy"),
                    format!("unknown strategy {:?} (expected one of: {})", s.get_ref(), Strategy::NAMES.join(", ")),
                );
                Strategy::default()
            }),
        };
        let fallbacks = m.fallbacks.as_ref().map(|f| f.get_ref().clone()).unwrap_or_default();
        models.push(ModelAlias {
            name,
            targets,
            strategy,
            fallbacks,
            retries: m.retries,
            sticky: m.sticky.unwrap_or(true),
            overflow,
            overflow_on,
        });
    }
    for (i, m) in raw.models.iter().enumerate() {
        let Some(f) = &m.fallbacks else { continue };
        for (j, name) in f.get_ref().iter().enumerate() {
            let known = alias_names.contains(name.as_str())
                || name
                    .split_once('/')
                    .is_some_and(|(p, rest)| !rest.is_empty() && raw.providers.iter().any(|rp| rp.name.get_ref() == p));
            if !known {
                cx.err(
                    Some(f),
                    format!("models[{i}].fallbacks[{j}]"),
                    format!("{name:?} is neither a [[models]] name nor \"provider/model\""),
                );
            } else if name.trim() == m.name.get_ref().trim() {
                cx.err(Some(f), format!("models[{i}].fallbacks[{j}]"), "a model cannot fall back to itself");
            }
        }
    }

    let catalog = raw
        .catalog
        .iter()
        .map(|c| ModelInfo {
            model: c.model.clone(),
            context_window: c.context_window,
            max_output_tokens: c.max_output_tokens,
            input_price: c.input_price,
            output_price: c.output_price,
            cached_input_price: c.cached_input_price,
            cache_write_price: c.cache_write_price,
            cache_write_1h_price: c.cache_write_1h_price,
            long_context: None,
        })
        .collect();

    let routing = routing(&mut cx, &raw.routing);
    let (auth, storage, redis) = super::validate_keys::sections(&mut cx, &raw);
    if cx.errors.is_empty() {
        Ok(Config { server, providers, models, catalog, routing, auth, storage, redis, origin: origin.to_string() })
    } else {
        Err(ConfigErrors(cx.errors))
    }
}

/// One `[[models]] targets` entry.
fn deployment(
    cx: &mut Ctx,
    raw: &RawConfig,
    i: usize,
    j: usize,
    list: &str,
    at: &Spanned<Vec<RawTarget>>,
    t: &RawTarget,
) -> Option<Target> {
    let name = t.target();
    let field = format!("models[{i}].{list}[{j}]");
    let mut target = match name.split_once('/') {
        Some((p, model)) if !model.is_empty() && raw.providers.iter().any(|rp| rp.name.get_ref() == p) => {
            Target::new(p, model)
        }
        Some((p, model)) if !model.is_empty() => {
            cx.err(Some(at), field, format!("no provider named {p:?} (targets are \"provider/model\")"));
            return None;
        }
        _ => {
            cx.err(Some(at), field, format!("{name:?} is not \"provider/model\""));
            return None;
        }
    };
    if let RawTarget::Table(t) = t {
        if t.weight == Some(0) {
            cx.err(Some(at), format!("{field}.weight"), "must be at least 1 (remove the deployment to stop using it)");
        }
        if t.max_parallel == Some(0) || t.rpm == Some(0) || t.tpm == Some(0) {
            cx.err(Some(at), field.clone(), "rpm, tpm and max_parallel must be at least 1 when set");
        }
        target.weight = t.weight.unwrap_or(1).max(1);
        target.priority = t.priority.unwrap_or(0);
        target.rpm = t.rpm;
        target.tpm = t.tpm;
        target.max_parallel = t.max_parallel;
    }
    Some(target)
}

/// Longest `[routing] health_check_secs`: rarer checks than hourly would not help routing.
const MAX_HEALTH_CHECK_SECS: u64 = 3600;

fn routing(cx: &mut Ctx, r: &RawRouting) -> RoutingConfig {
    let d = RoutingConfig::default();
    let ms = |v: Option<u64>, d: Duration| v.map_or(d, Duration::from_millis);
    let health_check = match &r.health_check_secs {
        Some(s) if *s.get_ref() > MAX_HEALTH_CHECK_SECS => {
            cx.err(
                Some(s),
                "routing.health_check_secs",
                format!("must be at most {MAX_HEALTH_CHECK_SECS} (0 turns health checks off)"),
            );
            d.health_check
        }
        Some(s) => Duration::from_secs(*s.get_ref()),
        None => d.health_check,
    };
    RoutingConfig {
        retries: r.retries.unwrap_or(d.retries),
        backoff: ms(r.backoff_ms, d.backoff),
        max_wait: ms(r.max_wait_ms, d.max_wait),
        failures_to_cooldown: r.failures_to_cooldown.unwrap_or(d.failures_to_cooldown).max(1),
        cooldown: ms(r.cooldown_ms, d.cooldown),
        rate_limit_park: ms(r.rate_limit_park_ms, d.rate_limit_park),
        sticky_ttl: r.sticky_ttl_secs.map_or(d.sticky_ttl, Duration::from_secs),
        health_check,
    }
}

fn server(cx: &mut Ctx, raw: &RawConfig) -> ServerConfig {
    let mut s = ServerConfig::default();
    let r = &raw.server;
    if let Some(listen) = &r.listen {
        match parse_listen(listen.get_ref()) {
            Some(addr) => s.listen = addr,
            None => cx.err(
                Some(listen),
                "server.listen",
                format!("{:?} is not an address like \"127.0.0.1:4141\"", listen.get_ref()),
            ),
        }
    }
    if let Some(mb) = &r.max_body_mb {
        if *mb.get_ref() == 0 || *mb.get_ref() > 4096 {
            cx.err(Some(mb), "server.max_body_mb", "must be between 1 and 4096");
        } else {
            s.max_body_bytes = (*mb.get_ref() as usize) * 1024 * 1024;
        }
    }
    if let Some(k) = r.keepalive_secs {
        s.keepalive = (k > 0).then(|| Duration::from_secs(k));
    }
    let secs = |v: Option<u64>, d: Duration| v.filter(|n| *n > 0).map_or(d, Duration::from_secs);
    s.connect_timeout = secs(r.connect_timeout_secs, s.connect_timeout);
    s.first_byte_timeout = secs(r.first_byte_timeout_secs, s.first_byte_timeout);
    s.stream_idle_timeout = secs(r.stream_idle_timeout_secs, s.stream_idle_timeout);
    s.request_timeout = secs(r.request_timeout_secs, s.request_timeout);
    s.client_body_timeout = secs(r.client_body_timeout_secs, s.client_body_timeout);
    s.drain_timeout = secs(r.drain_timeout_secs, s.drain_timeout);
    s.allow_private_media_fetch = r.allow_private_media_fetch.unwrap_or(false);
    s.websocket = r.websocket.unwrap_or(true);
    s.websocket_idle = secs(r.websocket_idle_secs, s.websocket_idle);
    if let Some(n) = r.websocket_max_per_key.filter(|n| *n > 0) {
        s.websocket_max_per_key = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(d) = &r.data_dir {
        s.data_dir = PathBuf::from(d);
    }
    s
}

/// `ip:port`, `[v6]:port`, or `localhost:port`.
pub fn parse_listen(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse() {
        return Some(a);
    }
    if let Some(port) = s.strip_prefix("localhost:") {
        return port.parse::<u16>().ok().map(|p| SocketAddr::from(([127, 0, 0, 1], p)));
    }
    s.to_socket_addrs().ok()?.next()
}

fn provider(cx: &mut Ctx, i: usize, p: &RawProvider) -> Option<ProviderConfig> {
    let at = |f: &str| format!("providers[{i}].{f}");
    let name = p.name.get_ref().trim().to_string();
    let mut ok = true;
    if name.is_empty() || name.contains('/') || name.contains(char::is_whitespace) {
        cx.err(Some(&p.name), at("name"), "must be a non-empty name without '/' or spaces");
        ok = false;
    }
    let kind = ProviderKind::parse(p.kind.get_ref());
    if kind.is_none() {
        cx.err(
            Some(&p.kind),
            at("kind"),
            format!("unknown kind {:?} (expected one of: {})", p.kind.get_ref(), ProviderKind::NAMES.join(", ")),
        );
        ok = false;
    }
    let kind = kind.unwrap_or(ProviderKind::Mock);
    let base_url = match &p.base_url {
        Some(u) => {
            let trimmed = u.get_ref().trim_end_matches('/').to_string();
            match reqwest::Url::parse(&trimmed) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => trimmed,
                _ => {
                    cx.err(Some(u), at("base_url"), format!("{:?} is not an http(s) URL", u.get_ref()));
                    ok = false;
                    String::new()
                }
            }
        }
        None => kind.default_base_url().to_string(),
    };
    let sources = [p.api_key.is_some(), p.api_key_env.is_some(), p.api_key_file.is_some(), p.api_key_command.is_some()];
    if sources.iter().filter(|b| **b).count() > 1 {
        cx.err(Some(&p.name), at("api_key"), "set at most one of api_key, api_key_env, api_key_file, api_key_command");
        ok = false;
    }
    let key = if let Some(k) = &p.api_key {
        KeySource::Literal(Secret::new(k.get_ref().clone()))
    } else if let Some(v) = &p.api_key_env {
        KeySource::Env(v.get_ref().clone())
    } else if let Some(f) = &p.api_key_file {
        KeySource::File(PathBuf::from(f.get_ref()))
    } else if let Some(c) = &p.api_key_command {
        if c.get_ref().is_empty() {
            cx.err(Some(c), at("api_key_command"), "must name a program: [\"cmd\", \"arg\", …]");
            ok = false;
        }
        KeySource::Command(c.get_ref().clone())
    } else {
        KeySource::None
    };
    for (h, v) in &p.headers {
        if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err()
            || reqwest::header::HeaderValue::from_str(v).is_err()
        {
            cx.err(Some(&p.name), at(&format!("headers.{h}")), "is not a valid HTTP header");
            ok = false;
        }
    }
    for (field, u) in [("token_url", &p.token_url), ("issuer", &p.issuer)] {
        let Some(u) = u else { continue };
        if !reqwest::Url::parse(u.get_ref()).is_ok_and(|url| matches!(url.scheme(), "http" | "https")) {
            cx.err(Some(u), at(field), format!("{:?} is not an http(s) URL", u.get_ref()));
            ok = false;
        }
    }
    let websocket = match &p.websocket {
        Some(w) if *w.get_ref() && !matches!(kind, ProviderKind::Openai | ProviderKind::Chatgpt) => {
            cx.err(
                Some(w),
                at("websocket"),
                format!("kind {:?} has no WebSocket mode (only \"openai\" and \"chatgpt\")", kind.name()),
            );
            ok = false;
            false
        }
        Some(w) => *w.get_ref(),
        None => kind == ProviderKind::Chatgpt,
    };
    let websocket_max_age = match &p.websocket_max_age_secs {
        Some(s) if *s.get_ref() == 0 => {
            cx.err(Some(s), at("websocket_max_age_secs"), "must be at least 1");
            ok = false;
            super::DEFAULT_WEBSOCKET_MAX_AGE
        }
        Some(s) => Duration::from_secs(*s.get_ref()),
        None => super::DEFAULT_WEBSOCKET_MAX_AGE,
    };
    ok.then(|| ProviderConfig {
        name,
        kind,
        base_url,
        key,
        headers: p.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        models: p.models.clone(),
        token_url: p.token_url.as_ref().map(|u| u.get_ref().clone()),
        issuer: p.issuer.as_ref().map(|u| u.get_ref().trim_end_matches('/').to_string()),
        cache_diagnostics: p.cache_diagnostics,
        websocket,
        websocket_max_age,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_example_parses() {
        let text = r#"
[server]
listen = "127.0.0.1:4141"

[[providers]]
name = "work-anthropic"
kind = "anthropic"
base_url = "https://api.anthropic.com"
api_key = "literal"
headers = { "x-extra" = "v" }

[[models]]
name = "sonnet"
targets = ["work-anthropic/claude-sonnet-4-5"]
"#;
        let c = validate(text, "crossbar.toml").expect("valid");
        assert_eq!(c.providers[0].kind, ProviderKind::Anthropic);
        assert_eq!(c.models[0].targets[0], Target::new("work-anthropic", "claude-sonnet-4-5"));
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let text =
            "[[providers]]\nname = \"a\"\nkind = \"nope\"\n\n[[models]]\nname = \"m\"\ntargets = [\"b/x\", \"bad\"]\n";
        let e = validate(text, "c.toml").expect_err("invalid").to_string();
        assert!(e.contains("c.toml:3: providers[0].kind: unknown kind \"nope\""), "{e}");
        assert!(e.contains("c.toml:7: models[0].targets[0]: no provider named \"b\""), "{e}");
        assert!(e.contains("models[0].targets[1]: \"bad\" is not \"provider/model\""), "{e}");
    }

    #[test]
    fn unknown_fields_and_syntax_errors_have_lines() {
        let e = validate("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n", "c.toml").expect_err("invalid").to_string();
        assert!(e.starts_with("c.toml:3"), "{e}");
        assert!(e.contains("lisen"), "{e}");
        let e = validate("[[providers]\n", "c.toml").expect_err("invalid").to_string();
        assert!(e.starts_with("c.toml:1"), "{e}");
    }

    #[test]
    fn one_key_source_only_and_bad_urls() {
        let text = "[[providers]]\nname = \"a\"\nkind = \"openai\"\napi_key = \"x\"\napi_key_env = \"Y\"\nbase_url = \"ftp://x\"\n";
        let e = validate(text, "c.toml").expect_err("invalid").to_string();
        assert!(e.contains("at most one"), "{e}");
        assert!(e.contains("base_url"), "{e}");
    }

    #[test]
    fn deployments_as_tables_strategies_and_fallbacks() {
        let text = r#"
[routing]
retries = 5
backoff_ms = 0

[[providers]]
name = "a"
kind = "mock"

[[providers]]
name = "b"
kind = "mock"

[[models]]
name = "small"
targets = ["a/s"]

[[models]]
name = "big"
strategy = "weighted"
fallbacks = ["small", "b/other"]
targets = ["a/x", { target = "b/y", weight = 3, priority = 1, rpm = 60, tpm = 1000, max_parallel = 4 }]
"#;
        let c = validate(text, "c.toml").expect("valid");
        let big = &c.models[1];
        assert_eq!(big.strategy, Strategy::Weighted);
        assert_eq!(big.targets[0], Target::new("a", "x"));
        let y = &big.targets[1];
        assert_eq!((y.weight, y.priority, y.rpm, y.tpm, y.max_parallel), (3, 1, Some(60), Some(1000), Some(4)));
        assert_eq!(big.fallbacks, ["small", "b/other"]);
        assert_eq!(c.routing.retries, 5);
        assert_eq!(c.routing.backoff, Duration::ZERO);
    }

    #[test]
    fn overflow_deployments_and_when_to_use_them() {
        let text = "[[providers]]\nname = \"a\"\nkind = \"mock\"\n\n[[models]]\nname = \"m\"\ntargets = [\"a/x\"]\n\
                    overflow = [\"a/y\", { target = \"a/z\", weight = 2 }]\noverflow_on = \"unavailable\"\n";
        let c = validate(text, "c.toml").expect("valid");
        let m = &c.models[0];
        assert_eq!(m.overflow.len(), 2);
        assert_eq!((m.overflow[0].model.as_str(), m.overflow[1].weight), ("y", 2));
        assert_eq!(m.overflow_on, OverflowOn::Unavailable);
        let plain = validate(
            "[[providers]]\nname = \"a\"\nkind = \"mock\"\n\n[[models]]\nname = \"m\"\ntargets = [\"a/x\"]\n",
            "c.toml",
        )
        .expect("valid");
        assert!(plain.models[0].overflow.is_empty());
        assert_eq!(plain.models[0].overflow_on, OverflowOn::Exhausted);
        let bad = text.replace("\"unavailable\"", "\"sometimes\"").replace("a/y", "q/y");
        let e = validate(&bad, "c.toml").expect_err("invalid").to_string();
        assert!(e.contains("models[0].overflow[0]: no provider named \"q\""), "{e}");
        assert!(e.contains("models[0].overflow_on: unknown value \"sometimes\""), "{e}");
    }

    #[test]
    fn health_checks_are_off_unless_asked_for_and_bounded() {
        assert_eq!(validate("", "c.toml").expect("valid").routing.health_check, Duration::ZERO);
        let c = validate("[routing]\nhealth_check_secs = 15\n", "c.toml").expect("valid");
        assert_eq!(c.routing.health_check, Duration::from_secs(15));
        let c = validate("[routing]\nhealth_check_secs = 0\n", "c.toml").expect("valid");
        assert_eq!(c.routing.health_check, Duration::ZERO, "0 turns them off");
        let e = validate("[routing]\nretries = 1\nhealth_check_secs = 30000\n", "c.toml")
            .expect_err("too rare")
            .to_string();
        assert!(e.contains("c.toml:3: routing.health_check_secs: must be at most 3600"), "{e}");
        let e = validate("[routing]\nhealth_check_secs = -1\n", "c.toml").expect_err("negative").to_string();
        assert!(e.starts_with("c.toml:2"), "{e}");
    }

    #[test]
    fn bad_strategies_weights_and_fallbacks_are_named() {
        let text = "[[providers]]\nname = \"a\"\nkind = \"mock\"\n\n[[models]]\nname = \"m\"\nstrategy = \"fastest\"\nfallbacks = [\"nope\", \"m\"]\ntargets = [{ target = \"a/x\", weight = 0 }]\n";
        let e = validate(text, "c.toml").expect_err("invalid").to_string();
        assert!(e.contains("c.toml:7: models[0].strategy: unknown strategy \"fastest\""), "{e}");
        assert!(e.contains("models[0].fallbacks[0]: \"nope\" is neither"), "{e}");
        assert!(e.contains("models[0].fallbacks[1]: a model cannot fall back to itself"), "{e}");
        assert!(e.contains("models[0].targets[0].weight"), "{e}");
    }
}
