//! Keys: for an admin, every key with its spend and remaining budget, create (the secret is
//! shown once, in the answer to the create form), set or clear limits, revoke — through the
//! same store calls and validation as `/admin/keys`. For a member, their own key's limits and
//! spend. Both get the "use this key" set-up snippets.

use super::{fmt, layout, Viewer};
use crate::admin::keys::CreateKey;
use crate::agents::setup;
use crate::app::AppState;
use crate::limits::period;
use crate::store::{now_ms, KeyPatch, KeyRecord, Period};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use std::collections::HashMap;
use std::sync::Arc;

/// The placeholder the snippets carry where the key goes (a key is shown once, at creation).
pub const KEY_PLACEHOLDER: &str = "<YOUR_CROSSBAR_KEY>";

struct Row {
    key: KeyRecord,
    spent: f64,
}

async fn rows(state: &AppState, only: Option<&str>) -> Result<Vec<Row>, Response> {
    let keys = match only {
        Some(id) => state.store.get_key(id).await.map(|k| k.into_iter().collect()),
        None => state.store.list_keys().await,
    }
    .map_err(super::store_error)?;
    let now = now_ms();
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let since = period::start(key.limits.budget_period, now);
        let spent = state.store.spend(&key.id, since).await.map_err(super::store_error)?;
        out.push(Row { key, spent });
    }
    Ok(out)
}

/// `http(s)://host` of the request, for the snippets.
fn origin(headers: &HeaderMap) -> String {
    let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1:4141");
    let https = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p == "https");
    format!("{}://{host}", if https { "https" } else { "http" })
}

fn default_model(state: &AppState) -> (String, Vec<String>) {
    let routes = state.routes();
    let mut models: Vec<String> = routes.aliases().map(|(n, _)| n.clone()).collect();
    models.sort();
    if models.is_empty() {
        models = routes.all_routes().iter().map(|r| r.name.clone()).collect();
        models.sort();
    }
    let model = models.first().cloned().unwrap_or_else(|| "gpt-5".into());
    if models.is_empty() {
        models.push(model.clone());
    }
    (model, models)
}

pub async fn page(State(state): State<Arc<AppState>>, v: Viewer, headers: HeaderMap) -> Response {
    let rows = match rows(&state, v.scope()).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let body = html! {
        @if v.is_admin() { (create_form(&v)) }
        (list(&v, &rows))
        (snippets(&state, &origin(&headers), KEY_PLACEHOLDER))
    };
    let title = if v.is_admin() { "Keys" } else { "My key" };
    layout::page(&v, "/ui/keys", title, body).into_response()
}

fn limit_inputs(k: Option<&KeyRecord>) -> Markup {
    let n = |v: Option<String>| v.unwrap_or_default();
    let l = k.map(|k| k.limits.clone()).unwrap_or_default();
    let expiry = k.and_then(|k| k.expires_at).map(fmt::date).unwrap_or_default();
    html! {
        label { "Requests / min" input type="number" name="rpm" min="1" value=(n(l.rpm.map(|v| v.to_string()))); }
        label { "Tokens / min" input type="number" name="tpm" min="1" value=(n(l.tpm.map(|v| v.to_string()))); }
        label { "Parallel" input type="number" name="max_parallel" min="1" value=(n(l.max_parallel.map(|v| v.to_string()))); }
        label { "Budget $" input type="number" name="budget_usd" min="0" step="0.01" value=(n(l.budget_usd.map(|v| v.to_string()))); }
        label { "Budget period" select name="budget_period" {
            @for p in [Period::Total, Period::Month, Period::Day] { option value=(p.name()) selected[l.budget_period == p] { (p.name()) } }
        } }
        label.wide { "Models (comma-separated; empty = all)" input type="text" name="models" value=(l.models.map(|m| m.join(", ")).unwrap_or_default()); }
        label { "Expires (UTC date)" input type="date" name="expires" value=(expiry); }
    }
}

fn create_form(v: &Viewer) -> Markup {
    html! {
        details.panel {
            summary { "Create a key" }
            form.grid method="post" action="/ui/keys" {
                (layout::csrf(v))
                label.wide { "Name" input type="text" name="name" required maxlength="200" placeholder="who or what uses it"; }
                (limit_inputs(None))
                p.hint.wide { "Empty fields mean no limit." }
                button type="submit" { "Create key" }
            }
        }
    }
}

fn list(v: &Viewer, rows: &[Row]) -> Markup {
    let now = now_ms();
    html! {
        @if rows.is_empty() {
            (layout::empty("No keys yet.", html! { "Create one above (or " code { "crossbar keys create NAME" } "); with " code { "[auth]" } " configured every client needs one." }))
        } @else {
            div.scroll { table.keys {
                thead { tr { th { "Id" } th { "Name" } th { "State" } th { "Limits" } th.num { "Spent" } th.num { "Budget left" } th { "Expires" } @if v.is_admin() { th { "Change" } } } }
                tbody {
                    @for r in rows {
                        @let k = &r.key;
                        @let l = &k.limits;
                        tr data-key=(k.id) {
                            td { code { (k.id) } }
                            td { (k.name) }
                            td { (k.unusable(now).unwrap_or("active")) }
                            td {
                                @let parts = [
                                    l.rpm.map(|v| format!("{v} rpm")), l.tpm.map(|v| format!("{} tpm", fmt::tokens(v as i64))),
                                    l.max_parallel.map(|v| format!("{v} parallel")),
                                    l.budget_usd.map(|b| format!("{} / {}", fmt::usd(b), l.budget_period.name())),
                                    l.models.as_ref().map(|m| format!("models: {}", m.join(", "))),
                                ];
                                @let parts: Vec<String> = parts.into_iter().flatten().collect();
                                @if parts.is_empty() { "none" } @else { (parts.join(" · ")) }
                            }
                            td.num { (fmt::usd(r.spent)) " " span.muted { "(" (l.budget_period.name()) ")" } }
                            td.num { (l.budget_usd.map_or_else(|| "no budget".to_string(), |b| fmt::usd((b - r.spent).max(0.0)))) }
                            td { (k.expires_at.map_or_else(|| "never".to_string(), fmt::date)) }
                            @if v.is_admin() {
                                td {
                                    @if k.revoked_at.is_none() {
                                        details {
                                            summary { "Edit" }
                                            form.grid method="post" action=(format!("/ui/keys/{}", k.id)) {
                                                (layout::csrf(v))
                                                (limit_inputs(Some(k)))
                                                button type="submit" { "Save limits" }
                                            }
                                        }
                                        form method="post" action=(format!("/ui/keys/{}/revoke", k.id)) {
                                            (layout::csrf(v))
                                            button.danger type="submit" data-confirm=(format!("Revoke key {}? Clients using it are refused at once.", k.id)) { "Revoke" }
                                        }
                                    } @else { span.muted { "revoked" } }
                                }
                            }
                        }
                    }
                }
            } }
        }
    }
}

/// "Use this key": set-up for the agents and SDKs (the settings `crossbar setup` writes).
pub fn snippets(state: &AppState, url: &str, key: &str) -> Markup {
    let (model, models) = default_model(state);
    let o = setup::Options { url: url.to_string(), key: key.to_string(), model: model.clone(), models: models.clone() };
    let codex = setup::codex_toml("", &o).unwrap_or_default();
    let claude = serde_json::to_string_pretty(&serde_json::json!({"env": {
        "ANTHROPIC_BASE_URL": url, "ANTHROPIC_AUTH_TOKEN": key, "ANTHROPIC_MODEL": model, "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
    }}))
    .unwrap_or_default();
    let oc_models: serde_json::Map<String, serde_json::Value> =
        models.iter().map(|m| (m.clone(), serde_json::json!({"name": m, "tool_call": true}))).collect();
    let opencode = serde_json::to_string_pretty(&serde_json::json!({
        "$schema": "https://opencode.ai/config.json",
        "provider": {"crossbar": {"npm": "@ai-sdk/openai-compatible", "name": "crossbar",
            "options": {"baseURL": format!("{url}/v1"), "apiKey": key}, "models": oc_models}},
        "model": format!("crossbar/{model}"), "small_model": format!("crossbar/{model}"),
    }))
    .unwrap_or_default();
    let gemini_env = setup::merge_env("", &[("GOOGLE_GEMINI_BASE_URL", url), ("GEMINI_API_KEY", key)]);
    let gemini_settings = serde_json::to_string_pretty(&serde_json::json!({
        "security": {"auth": {"selectedType": "gemini-api-key"}}, "model": {"name": model},
    }))
    .unwrap_or_default();
    let openai = format!(
        "from openai import OpenAI\n\nclient = OpenAI(base_url=\"{url}/v1\", api_key=\"{key}\")\nr = client.chat.completions.create(model=\"{model}\", messages=[{{\"role\": \"user\", \"content\": \"hi\"}}])\nprint(r.choices[0].message.content)\n"
    );
    let anthropic = format!(
        "import anthropic\n\nclient = anthropic.Anthropic(base_url=\"{url}\", api_key=\"{key}\")\nm = client.messages.create(model=\"{model}\", max_tokens=256, messages=[{{\"role\": \"user\", \"content\": \"hi\"}}])\nprint(m.content[0].text)\n"
    );
    let items: [(&str, &str, String); 7] = [
        ("Codex", "~/.codex/config.toml (or: crossbar setup codex)", codex),
        ("Claude Code", "~/.claude/settings.json (or: crossbar setup claude-code)", claude),
        ("OpenCode", "~/.config/opencode/opencode.json (or: crossbar setup opencode)", opencode),
        ("Gemini CLI", "~/.gemini/.env (or: crossbar setup gemini)", gemini_env),
        ("Gemini CLI settings", "~/.gemini/settings.json", gemini_settings),
        ("OpenAI SDK (Python)", "pip install openai", openai),
        ("Anthropic SDK (Python)", "pip install anthropic", anthropic),
    ];
    html! {
        section.snippets #use {
            h2 { "Use this key" }
            p.hint { "Replace " code { (KEY_PLACEHOLDER) } " with the key (shown once when it was created)." }
            @for (i, (name, file, text)) in items.iter().enumerate() {
                details open[i == 0] {
                    summary { (name) " " span.muted { (file) } }
                    div.code {
                        button.copy type="button" data-copy=(format!("snippet-{i}")) { "Copy" }
                        pre #(format!("snippet-{i}")) { code { (text) } }
                    }
                }
            }
        }
    }
}

type FormMap = HashMap<String, String>;

fn field<'a>(f: &'a FormMap, k: &str) -> Option<&'a str> {
    f.get(k).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn number<T: std::str::FromStr>(f: &FormMap, k: &str, what: &str) -> Result<Option<T>, String> {
    field(f, k).map(|v| v.parse::<T>().map_err(|_| format!("{what}: a number, or empty for no limit"))).transpose()
}

/// The limits a key form sets (empty fields clear).
fn patch_from(f: &FormMap) -> Result<KeyPatch, String> {
    let models = field(f, "models")
        .map(|m| m.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect::<Vec<_>>());
    let expires = match field(f, "expires") {
        None => None,
        Some(d) => Some(period::parse_date(d).ok_or("expires: a date YYYY-MM-DD")?),
    };
    let period = match field(f, "budget_period") {
        None => Period::Total,
        Some(p) => Period::parse(p).ok_or("budget period: total, month or day")?,
    };
    Ok(KeyPatch {
        name: None,
        rpm: Some(number(f, "rpm", "requests per minute")?),
        tpm: Some(number(f, "tpm", "tokens per minute")?),
        max_parallel: Some(number(f, "max_parallel", "parallel")?),
        budget_usd: Some(number(f, "budget_usd", "budget")?),
        budget_period: Some(period),
        models: Some(models.filter(|m| !m.is_empty())),
        expires_at: Some(expires),
    })
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    v: Viewer,
    headers: HeaderMap,
    Form(f): Form<FormMap>,
) -> Response {
    if let Err(r) = v.check_post(&headers, f.get("csrf").map(String::as_str)) {
        return r;
    }
    if let Err(r) = super::admin_only(&v) {
        return r;
    }
    let p = match patch_from(&f) {
        Ok(p) => p,
        Err(m) => return layout::message(StatusCode::BAD_REQUEST, "Not created", &m),
    };
    let req = CreateKey {
        name: field(&f, "name").unwrap_or("").to_string(),
        rpm: p.rpm.flatten(),
        tpm: p.tpm.flatten(),
        max_parallel: p.max_parallel.flatten(),
        budget_usd: p.budget_usd.flatten(),
        budget_period: p.budget_period.unwrap_or_default(),
        models: p.models.flatten(),
        expires_at: p.expires_at.flatten(),
    };
    let (plaintext, new) = req.into_new();
    let record = match state.store.create_key(&new).await {
        Ok(r) => r,
        Err(e) => return super::store_error(e),
    };
    let body = html! {
        section.created {
            h2 { "Key created: " (record.name) }
            p { "This is the only time the key is shown. Copy it now; crossbar keeps only its hash." }
            div.code.secret {
                button.copy type="button" data-copy="new-key" { "Copy" }
                pre #new-key { code { (plaintext) } }
            }
            p { a href="/ui/keys" { "Done: back to the keys" } }
        }
        (snippets(&state, &origin(&headers), &plaintext))
    };
    let mut r = (StatusCode::CREATED, layout::page(&v, "/ui/keys", "Key created", body)).into_response();
    r.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    r
}

pub async fn update(
    State(state): State<Arc<AppState>>,
    v: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<FormMap>,
) -> Response {
    if let Err(r) = v.check_post(&headers, f.get("csrf").map(String::as_str)) {
        return r;
    }
    if let Err(r) = super::admin_only(&v) {
        return r;
    }
    let patch = match patch_from(&f) {
        Ok(p) => p,
        Err(m) => return layout::message(StatusCode::BAD_REQUEST, "Not saved", &m),
    };
    match state.store.update_key(&id, patch).await {
        Ok(Some(_)) => {
            if let Some(a) = &state.auth {
                a.forget(&id);
            }
            Redirect::to("/ui/keys").into_response()
        }
        Ok(None) => layout::message(StatusCode::NOT_FOUND, "No such key", "That key does not exist."),
        Err(e) => super::store_error(e),
    }
}

pub async fn revoke(
    State(state): State<Arc<AppState>>,
    v: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<FormMap>,
) -> Response {
    if let Err(r) = v.check_post(&headers, f.get("csrf").map(String::as_str)) {
        return r;
    }
    if let Err(r) = super::admin_only(&v) {
        return r;
    }
    match state.store.revoke_key(&id).await {
        Ok(Some(_)) => {
            if let Some(a) = &state.auth {
                a.forget(&id);
            }
            Redirect::to("/ui/keys").into_response()
        }
        Ok(None) => layout::message(StatusCode::NOT_FOUND, "No such key", "That key does not exist."),
        Err(e) => super::store_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_clear_limits() {
        let mut f = FormMap::new();
        f.insert("rpm".into(), "60".into());
        f.insert("tpm".into(), "".into());
        f.insert("models".into(), " a, b ,".into());
        f.insert("budget_period".into(), "month".into());
        let p = patch_from(&f).expect("valid");
        assert_eq!(p.rpm, Some(Some(60)));
        assert_eq!(p.tpm, Some(None));
        assert_eq!(p.budget_usd, Some(None));
        assert_eq!(p.models, Some(Some(vec!["a".to_string(), "b".to_string()])));
        assert_eq!(p.budget_period, Some(Period::Month));
        f.insert("rpm".into(), "lots".into());
        assert!(patch_from(&f).expect_err("not a number").contains("requests per minute"));
    }
}
