//! `crossbar doctor`: check a running gateway the way a user would. Lists the models, sends
//! "Reply with exactly pong" through each client protocol, and for each agent installed here,
//! checks that its config points at this gateway. Each check passes or says what to fix.

use super::{files, setup, Agent, ALL};
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Debug)]
pub struct Check {
    pub name: String,
    /// `None`: skipped (with the reason in `detail`).
    pub ok: Option<bool>,
    pub detail: String,
}

impl Check {
    fn pass(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check { name: name.into(), ok: Some(true), detail: detail.into() }
    }
    fn fail(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check { name: name.into(), ok: Some(false), detail: detail.into() }
    }
    fn skip(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check { name: name.into(), ok: None, detail: detail.into() }
    }

    pub fn line(&self) -> String {
        let tag = match self.ok {
            Some(true) => "ok  ",
            Some(false) => "FAIL",
            None => "skip",
        };
        format!("{tag} {:<14} {}", self.name, self.detail)
    }
}

pub async fn run(url: &str, key: &str, model: Option<&str>) -> Vec<Check> {
    let mut checks = Vec::new();
    let http = match reqwest::Client::builder().timeout(Duration::from_secs(60)).build() {
        Ok(c) => c,
        Err(e) => return vec![Check::fail("http client", e.to_string())],
    };
    let models = match list_models(&http, url, key).await {
        Ok(m) if m.is_empty() => {
            checks.push(Check::fail(
                "models",
                "the gateway lists no models — fix: configure a provider (README: Configure it)",
            ));
            m
        }
        Ok(m) => {
            checks.push(Check::pass(
                "models",
                format!(
                    "{} listed ({}{})",
                    m.len(),
                    m[..m.len().min(5)].join(", "),
                    if m.len() > 5 { ", …" } else { "" }
                ),
            ));
            m
        }
        Err(e) => {
            checks.push(Check::fail("models", format!("{e} — fix: start crossbar (`crossbar serve`) or pass --url")));
            Vec::new()
        }
    };
    let chosen = model.map(str::to_string).or_else(|| models.first().cloned());
    match &chosen {
        Some(m) => {
            for (name, path, body) in pong_requests(m) {
                checks.push(pong(&http, url, key, name, &path, body).await);
            }
        }
        None => checks.push(Check::skip("protocols", "no model to try — pass --model")),
    }
    for agent in ALL {
        checks.push(agent_check(agent, url));
    }
    checks
}

/// The gateway's model ids (`GET /v1/models`).
pub async fn models(url: &str, key: &str) -> Result<Vec<String>, String> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| e.to_string())?;
    list_models(&http, url, key).await
}

async fn list_models(http: &reqwest::Client, url: &str, key: &str) -> Result<Vec<String>, String> {
    let resp = http
        .get(format!("{url}/v1/models"))
        .bearer_auth(key)
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = resp.status();
    let v: Value = resp.json().await.map_err(|e| format!("GET /v1/models answered {status} with non-JSON: {e}"))?;
    if !status.is_success() {
        return Err(format!("GET /v1/models answered {status}: {v}"));
    }
    Ok(v["data"].as_array().into_iter().flatten().filter_map(|m| m["id"].as_str().map(str::to_string)).collect())
}

const PONG: &str = "Reply with exactly pong";

fn pong_requests(model: &str) -> Vec<(&'static str, String, Value)> {
    vec![
        (
            "chat",
            "/v1/chat/completions".into(),
            json!({"model": model, "messages": [{"role": "user", "content": PONG}]}),
        ),
        ("responses", "/v1/responses".into(), json!({"model": model, "input": PONG})),
        (
            "anthropic",
            "/v1/messages".into(),
            json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": PONG}]}),
        ),
        (
            "gemini",
            format!("/v1beta/models/{model}:generateContent"),
            json!({"contents": [{"role": "user", "parts": [{"text": PONG}]}]}),
        ),
    ]
}

async fn pong(http: &reqwest::Client, url: &str, key: &str, name: &str, path: &str, body: Value) -> Check {
    let resp = http
        .post(format!("{url}{path}"))
        .bearer_auth(key)
        .header("x-api-key", key)
        .header("x-goog-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => return Check::fail(name, format!("POST {path}: {e}")),
    };
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        return Check::fail(
            name,
            format!("POST {path} answered {status}: {}", text.chars().take(300).collect::<String>()),
        );
    }
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let reply = reply_text(&v);
    if reply.trim().trim_end_matches('.').eq_ignore_ascii_case("pong") {
        Check::pass(name, format!("POST {path} → \"pong\""))
    } else {
        Check::fail(
            name,
            format!("POST {path} answered {reply:?} instead of \"pong\" — the model or the translation misbehaves"),
        )
    }
}

/// The reply text of a non-streamed answer in any of the four protocols.
fn reply_text(v: &Value) -> String {
    if let Some(s) = v.pointer("/choices/0/message/content").and_then(Value::as_str) {
        return s.to_string();
    }
    let mut out = String::new();
    for item in v["output"].as_array().into_iter().flatten() {
        for p in item["content"].as_array().into_iter().flatten() {
            out.push_str(p["text"].as_str().unwrap_or_default());
        }
    }
    for b in v["content"].as_array().into_iter().flatten() {
        if b["type"] == "text" {
            out.push_str(b["text"].as_str().unwrap_or_default());
        }
    }
    for p in v.pointer("/candidates/0/content/parts").and_then(Value::as_array).into_iter().flatten() {
        if p["thought"] != json!(true) {
            out.push_str(p["text"].as_str().unwrap_or_default());
        }
    }
    out
}

/// Whether an installed agent's config points at `url`.
pub fn agent_check(agent: Agent, url: &str) -> Check {
    let name = agent.name();
    if !agent.installed() {
        return Check::skip(name, "not installed");
    }
    let fix = format!("fix: crossbar setup {name} --url {url}");
    let path = agent.config_file();
    let text = match files::read_optional(&path) {
        Ok(Some(t)) => t,
        Ok(None) => return Check::fail(name, format!("{} does not exist — {fix}", path.display())),
        Err(e) => return Check::fail(name, format!("cannot read {}: {e}", path.display())),
    };
    let points = match agent {
        Agent::Codex => codex_base_url(&text),
        Agent::ClaudeCode => json_at(&text, "/env/ANTHROPIC_BASE_URL").or_else(|| env_var("ANTHROPIC_BASE_URL")),
        Agent::Opencode => serde_json::from_str::<Value>(&text).ok().and_then(|v| {
            let provider = v["model"].as_str()?.split('/').next()?.to_string();
            v["provider"][provider]["options"]["baseURL"].as_str().map(str::to_string)
        }),
        Agent::Gemini => files::read_optional(&setup::gemini_env_file())
            .ok()
            .flatten()
            .and_then(|env| {
                env.lines().find_map(|l| l.trim().strip_prefix("GOOGLE_GEMINI_BASE_URL=").map(|v| v.trim().to_string()))
            })
            .or_else(|| env_var("GOOGLE_GEMINI_BASE_URL")),
    };
    match points {
        Some(u) if super::origin(&u) == url => Check::pass(name, format!("{} points at {url}", path.display())),
        Some(u) => Check::fail(name, format!("{} points at {u}, not {url} — {fix}", path.display())),
        None => Check::fail(name, format!("{} does not point at crossbar — {fix}", path.display())),
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn codex_base_url(text: &str) -> Option<String> {
    let v: toml::Value = toml::from_str(text).ok()?;
    let provider = v.get("model_provider")?.as_str()?;
    v.get("model_providers")?.get(provider)?.get("base_url")?.as_str().map(str::to_string)
}

fn json_at(text: &str, pointer: &str) -> Option<String> {
    serde_json::from_str::<Value>(text).ok()?.pointer(pointer)?.as_str().map(str::to_string)
}
