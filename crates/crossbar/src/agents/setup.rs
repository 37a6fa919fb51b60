//! `crossbar setup <agent>`: point an agent at crossbar by merging crossbar's settings into
//! the agent's own config (other settings kept), backing up what it changes.
//!
//! - Codex: `config.toml` → `model_provider = "crossbar"`, `model`, and
//!   `[model_providers.crossbar]` with `base_url = <url>/v1`, `wire_api = "responses"` and an
//!   `auth` command printing the key (an auth command, unlike `env_key`, makes Codex fetch
//!   crossbar's model catalog, so it knows context windows and declares `apply_patch`), and
//!   `supports_websockets = true` (Responses over WebSocket; a gateway with it off answers
//!   426 and Codex stays on HTTP).
//! - Claude Code: `settings.json` → `env.ANTHROPIC_BASE_URL`, `ANTHROPIC_AUTH_TOKEN`,
//!   `ANTHROPIC_MODEL`, `ANTHROPIC_DEFAULT_HAIKU_MODEL`.
//! - OpenCode: `opencode.json` → provider `crossbar` (`@ai-sdk/openai-compatible`, Chat
//!   Completions at `<url>/v1`) with the gateway's models, `model` and `small_model`.
//! - Gemini CLI: `~/.gemini/settings.json` → API-key auth and `model.name`; `~/.gemini/.env` →
//!   `GOOGLE_GEMINI_BASE_URL` and `GEMINI_API_KEY` (Gemini CLI loads that file at start).

use super::files::{json_object, pretty, Change};
use super::{Agent, PROVIDER_ID};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone)]
pub struct Options {
    /// Gateway origin, e.g. `http://127.0.0.1:4141`.
    pub url: String,
    pub key: String,
    /// The model the agent uses by default.
    pub model: String,
    /// Every model to declare (OpenCode lists them); contains `model`.
    pub models: Vec<String>,
}

/// The changes `setup` would make for `agent`.
pub fn plan(agent: Agent, o: &Options) -> Result<Vec<Change>, String> {
    let io = |e: std::io::Error| format!("cannot read {}: {e}", agent.config_file().display());
    match agent {
        Agent::Codex => {
            let path = agent.config_file();
            let c = Change::new(path.clone(), String::new()).map_err(io)?;
            Ok(vec![Change {
                after: codex_toml(c.before.as_deref().unwrap_or(""), o)
                    .map_err(|e| format!("{}: {e}", path.display()))?,
                ..c
            }])
        }
        Agent::ClaudeCode => {
            let path = agent.config_file();
            let c = Change::new(path.clone(), String::new()).map_err(io)?;
            let mut m = json_object(&path, c.before.as_deref())?;
            let env = object_at(&mut m, "env");
            env.insert("ANTHROPIC_BASE_URL".into(), json!(o.url));
            env.insert("ANTHROPIC_AUTH_TOKEN".into(), json!(o.key));
            env.insert("ANTHROPIC_MODEL".into(), json!(o.model));
            env.insert("ANTHROPIC_DEFAULT_HAIKU_MODEL".into(), json!(o.model));
            Ok(vec![Change { after: pretty(&Value::Object(m)), ..c }])
        }
        Agent::Opencode => {
            let path = agent.config_file();
            let c = Change::new(path.clone(), String::new()).map_err(io)?;
            let mut m = json_object(&path, c.before.as_deref())?;
            m.entry("$schema").or_insert(json!("https://opencode.ai/config.json"));
            let models: Map<String, Value> =
                o.models.iter().map(|id| (id.clone(), json!({"name": id, "tool_call": true}))).collect();
            object_at(&mut m, "provider").insert(
                PROVIDER_ID.into(),
                json!({
                    "npm": "@ai-sdk/openai-compatible",
                    "name": "crossbar",
                    "options": {"baseURL": format!("{}/v1", o.url), "apiKey": o.key},
                    "models": models,
                }),
            );
            m.insert("model".into(), json!(format!("{PROVIDER_ID}/{}", o.model)));
            m.insert("small_model".into(), json!(format!("{PROVIDER_ID}/{}", o.model)));
            Ok(vec![Change { after: pretty(&Value::Object(m)), ..c }])
        }
        Agent::Gemini => {
            let path = agent.config_file();
            let c = Change::new(path.clone(), String::new()).map_err(io)?;
            let mut m = json_object(&path, c.before.as_deref())?;
            let security = object_at(&mut m, "security");
            object_at(security, "auth").insert("selectedType".into(), json!("gemini-api-key"));
            object_at(&mut m, "model").insert("name".into(), json!(o.model));
            let settings = Change { after: pretty(&Value::Object(m)), ..c };
            let env_path = gemini_env_file();
            let e = Change::new(env_path.clone(), String::new())
                .map_err(|e| format!("cannot read {}: {e}", env_path.display()))?;
            let after = merge_env(
                e.before.as_deref().unwrap_or(""),
                &[("GOOGLE_GEMINI_BASE_URL", o.url.as_str()), ("GEMINI_API_KEY", o.key.as_str())],
            );
            Ok(vec![settings, Change { after, ..e }])
        }
    }
}

pub fn gemini_env_file() -> std::path::PathBuf {
    super::home().join(".gemini").join(".env")
}

/// The object under `key`, created (or replacing a non-object) if needed.
fn object_at<'a>(m: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = m.entry(key.to_string()).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    match slot {
        Value::Object(o) => o,
        _ => unreachable!("just made an object"),
    }
}

/// Codex's config.toml with crossbar's provider merged in (comments and other keys kept).
pub fn codex_toml(before: &str, o: &Options) -> Result<String, String> {
    use toml_edit::{value, Array, DocumentMut, Item, Table};
    let mut doc: DocumentMut = before.parse().map_err(|e| format!("not valid TOML: {e}"))?;
    doc["model_provider"] = value(PROVIDER_ID);
    doc["model"] = value(o.model.as_str());
    let mut provider = Table::new();
    provider["name"] = value("crossbar");
    provider["base_url"] = value(format!("{}/v1", o.url));
    provider["wire_api"] = value("responses");
    provider["supports_websockets"] = value(true);
    let mut auth = Table::new();
    auth["command"] = value("printf");
    let mut args = Array::new();
    args.push("%s");
    args.push(o.key.as_str());
    auth["args"] = value(args);
    provider["auth"] = Item::Table(auth);
    let providers = doc.entry("model_providers").or_insert(Item::Table(Table::new()));
    let Some(providers) = providers.as_table_mut() else {
        return Err("`model_providers` is not a table".into());
    };
    providers.set_implicit(true);
    providers.insert(PROVIDER_ID, Item::Table(provider));
    Ok(doc.to_string())
}

/// `KEY=value` lines set in a dotenv text (existing lines for those keys replaced).
pub fn merge_env(before: &str, vars: &[(&str, &str)]) -> String {
    let mut out: Vec<String> = before
        .lines()
        .filter(|l| {
            let k = l.trim_start().trim_start_matches("export ").split('=').next().unwrap_or("").trim();
            !vars.iter().any(|(v, _)| *v == k)
        })
        .map(str::to_string)
        .collect();
    for (k, v) in vars {
        out.push(format!("{k}={v}"));
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// Apply (or, with `print`, only show) the plan; returns what to tell the user.
pub fn run(agent: Agent, o: &Options, print: bool) -> Result<String, String> {
    let changes = plan(agent, o)?;
    let mut out = String::new();
    for c in &changes {
        if print {
            out.push_str(&format!(
                "--- {} ({})\n{}",
                c.path.display(),
                if c.is_noop() { "unchanged" } else { "would write" },
                c.after
            ));
            continue;
        }
        match c.apply() {
            Ok(_) if c.is_noop() => out.push_str(&format!("unchanged {}\n", c.path.display())),
            Ok(Some(b)) => out.push_str(&format!("updated {} (backup: {})\n", c.path.display(), b.display())),
            Ok(None) => out.push_str(&format!("created {}\n", c.path.display())),
            Err(e) => return Err(format!("cannot write {}: {e}", c.path.display())),
        }
    }
    if !print {
        out.push_str(&format!(
            "{} now uses crossbar at {} with model {:?}. Try: {}\n",
            agent.name(),
            o.url,
            o.model,
            match agent {
                Agent::Codex => "codex exec \"Say hi\"",
                Agent::ClaudeCode => "claude -p \"Say hi\"",
                Agent::Opencode => "opencode run \"Say hi\"",
                Agent::Gemini => "gemini -p \"Say hi\"",
            }
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            url: "http://127.0.0.1:4141".into(),
            key: "k1".into(),
            model: "sonnet".into(),
            models: vec!["sonnet".into()],
        }
    }

    #[test]
    fn codex_merge_keeps_other_settings_and_replaces_crossbar_provider() {
        let before = "# mine\nmodel = \"gpt-5\"\napproval_policy = \"never\"\n\n[model_providers.crossbar]\nenv_key = \"OLD\"\n\n[model_providers.other]\nname = \"x\"\n";
        let after = codex_toml(before, &opts()).expect("merge");
        let v: toml::Value = toml::from_str(&after).expect("toml");
        assert_eq!(v["model"].as_str(), Some("sonnet"));
        assert_eq!(v["model_provider"].as_str(), Some("crossbar"));
        assert_eq!(v["approval_policy"].as_str(), Some("never"));
        let p = &v["model_providers"]["crossbar"];
        assert_eq!(p["base_url"].as_str(), Some("http://127.0.0.1:4141/v1"));
        assert!(p.get("env_key").is_none(), "auth command and env_key cannot be combined");
        assert_eq!(p["auth"]["args"][1].as_str(), Some("k1"));
        assert_eq!(p["supports_websockets"].as_bool(), Some(true));
        assert_eq!(v["model_providers"]["other"]["name"].as_str(), Some("x"));
        assert!(after.starts_with("# mine"));
        assert!(codex_toml("not = [toml", &opts()).is_err());
    }

    #[test]
    fn dotenv_merge_replaces_only_its_keys() {
        let after = merge_env("A=1\nexport GEMINI_API_KEY=old\n", &[("GEMINI_API_KEY", "new"), ("B", "2")]);
        assert_eq!(after, "A=1\nGEMINI_API_KEY=new\nB=2\n");
    }
}
