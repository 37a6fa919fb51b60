//! Price files in the shapes people maintain, read into catalog rows, and the difference
//! they would make:
//!
//! - LiteLLM's `model_prices_and_context_window.json`: `{name: {input_cost_per_token, …}}`,
//!   USD per token (`cache_read_input_token_cost`, `cache_creation_input_token_cost`,
//!   `cache_creation_input_token_cost_above_1hr` for 1-hour cache writes, and
//!   `…_above_200k_tokens` for a long-context tier); only `chat`/`responses` rows;
//! - models.dev's catalog (`https://models.dev/api.json`): `{provider: {models: {id: {cost:
//!   {input, output, cache_read, cache_write, context_over_200k}, limit: {context, output}}}}}`,
//!   USD per million; a model listed by several providers takes its own vendor's row; it has
//!   no 1-hour cache-write price, so Anthropic's rows get Anthropic's rule (2x input);
//! - crossbar's own `prices.json` shape (`{"models": [{model, input, output, …}]}`).
//!
//! Names with a `/` (aggregator routes such as `openrouter/…`) are left out: crossbar looks
//! prices up by the upstream model name. Rows without both an input and an output price are
//! left out too.

use super::{Catalog, LongContext, ModelInfo};
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Litellm,
    #[serde(rename = "models.dev")]
    ModelsDev,
    Crossbar,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Litellm => "litellm",
            Format::ModelsDev => "models.dev",
            Format::Crossbar => "crossbar",
        }
    }
}

/// Read a price file of any known shape.
pub fn parse(text: &str) -> Result<(Format, Vec<ModelInfo>), String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(top) = v else { return Err("a price file is a JSON object".into()) };
    let mut rows = if let Some(Value::Array(models)) = top.get("models") {
        (Format::Crossbar, crossbar(models)?)
    } else if top.values().any(|p| p.get("models").is_some_and(Value::is_object)) {
        (Format::ModelsDev, models_dev(&top))
    } else if top.values().any(|m| m.get("input_cost_per_token").is_some() || m.get("litellm_provider").is_some()) {
        (Format::Litellm, litellm(&top))
    } else {
        return Err("unknown price file: expected LiteLLM's model_prices_and_context_window.json, \
                    models.dev's api.json or crossbar's prices.json"
            .into());
    };
    rows.1.retain(|r| !r.model.contains('/') && !r.model.trim().is_empty() && r.is_priced());
    rows.1.sort_by(|a, b| a.model.cmp(&b.model));
    rows.1.dedup_by(|a, b| a.model == b.model);
    Ok(rows)
}

/// A price that is a finite, non-negative number (anything else is no price).
fn num(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64).filter(|p| p.is_finite() && *p >= 0.0)
}

fn count(v: Option<&Value>) -> Option<u64> {
    v.and_then(|v| v.as_u64().or_else(|| v.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64)))
}

/// USD per token → USD per million, rounded to 1e-9 (so 5e-6 is 5, not 4.999…).
fn per_million(v: Option<&Value>) -> Option<f64> {
    num(v).map(|p| (p * 1e6 * 1e9).round() / 1e9).filter(|p| p.is_finite())
}

fn litellm(top: &Map<String, Value>) -> Vec<ModelInfo> {
    let mut out = Vec::new();
    for (name, m) in top {
        let Some(m) = m.as_object() else { continue };
        let mode = m.get("mode").and_then(Value::as_str).unwrap_or("chat");
        if name == "sample_spec" || !matches!(mode, "chat" | "responses") {
            continue;
        }
        let g = |k: &str| per_million(m.get(k));
        // The tier suffix LiteLLM uses (`_above_200k_tokens`, `_above_128k_tokens`, …).
        let tier = m.keys().find_map(|k| {
            let rest = k.strip_prefix("input_cost_per_token_above_")?;
            let n: u64 = rest.strip_suffix("k_tokens")?.parse().ok()?;
            Some((n, rest.to_string()))
        });
        let long_context = tier.and_then(|(n, suffix)| {
            let t = LongContext {
                above_tokens: n * 1000,
                input: g(&format!("input_cost_per_token_above_{suffix}")),
                output: g(&format!("output_cost_per_token_above_{suffix}")),
                cache_read: g(&format!("cache_read_input_token_cost_above_{suffix}")),
                cache_write: g(&format!("cache_creation_input_token_cost_above_{suffix}")),
                cache_write_1h: g(&format!("cache_creation_input_token_cost_above_1hr_above_{suffix}")),
            };
            t.input.is_some().then_some(t)
        });
        out.push(ModelInfo {
            model: name.clone(),
            context_window: count(m.get("max_input_tokens")),
            max_output_tokens: count(m.get("max_output_tokens")),
            input_price: g("input_cost_per_token"),
            output_price: g("output_cost_per_token"),
            cached_input_price: g("cache_read_input_token_cost"),
            cache_write_price: g("cache_creation_input_token_cost"),
            cache_write_1h_price: g("cache_creation_input_token_cost_above_1hr"),
            long_context,
        });
    }
    out
}

/// The providers whose models.dev rows are the vendor's own prices.
const VENDORS: &[&str] = &["openai", "anthropic", "google"];

fn models_dev(top: &Map<String, Value>) -> Vec<ModelInfo> {
    let mut out: Vec<(ModelInfo, bool)> = Vec::new();
    for (provider, p) in top {
        let Some(models) = p.get("models").and_then(Value::as_object) else { continue };
        let vendor = VENDORS.contains(&provider.as_str());
        for (id, m) in models {
            let cost = m.get("cost");
            let c = |k: &str| num(cost.and_then(|c| c.get(k)));
            let over = cost.and_then(|c| c.get("context_over_200k"));
            // models.dev lists no 1-hour cache-write price; Anthropic's is 2x input.
            let hour = |input: Option<f64>| input.filter(|_| provider == "anthropic").map(|i| i * 2.0);
            let long_context = over.and_then(|o| {
                let t = LongContext {
                    above_tokens: 200_000,
                    input: num(o.get("input")),
                    output: num(o.get("output")),
                    cache_read: num(o.get("cache_read")),
                    cache_write: num(o.get("cache_write")),
                    cache_write_1h: hour(num(o.get("input"))),
                };
                t.input.is_some().then_some(t)
            });
            let limit = m.get("limit");
            let info = ModelInfo {
                model: m.get("id").and_then(Value::as_str).unwrap_or(id).to_string(),
                context_window: count(limit.and_then(|l| l.get("context"))),
                max_output_tokens: count(limit.and_then(|l| l.get("output"))),
                input_price: c("input"),
                output_price: c("output"),
                cached_input_price: c("cache_read"),
                cache_write_price: c("cache_write"),
                cache_write_1h_price: hour(c("input")),
                long_context,
            };
            if !info.is_priced() {
                continue;
            }
            match out.iter_mut().find(|(o, _)| o.model == info.model) {
                Some(slot) if vendor && !slot.1 => *slot = (info, true),
                Some(_) => {}
                None => out.push((info, vendor)),
            }
        }
    }
    out.into_iter().map(|(i, _)| i).collect()
}

fn crossbar(models: &[Value]) -> Result<Vec<ModelInfo>, String> {
    let mut out = Vec::new();
    for (n, m) in models.iter().enumerate() {
        let Some(model) = m.get("model").and_then(Value::as_str) else {
            return Err(format!("models[{n}] has no \"model\" name"));
        };
        let long_context = match m.get("long_context") {
            None | Some(Value::Null) => None,
            Some(l) => Some(
                serde_json::from_value::<LongContext>(l.clone())
                    .map_err(|e| format!("models[{n}].long_context: {e}"))?,
            ),
        };
        out.push(ModelInfo {
            model: model.to_string(),
            context_window: count(m.get("context_window")),
            max_output_tokens: count(m.get("max_output_tokens")),
            input_price: num(m.get("input")),
            output_price: num(m.get("output")),
            cached_input_price: num(m.get("cache_read")),
            cache_write_price: num(m.get("cache_write")),
            cache_write_1h_price: num(m.get("cache_write_1h")),
            long_context,
        });
    }
    Ok(out)
}

/// `rows` in crossbar's own file shape (what `parse` reads back as the same rows).
pub fn to_crossbar(rows: &[ModelInfo]) -> String {
    let models: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = serde_json::json!({
                "model": r.model,
                "context_window": r.context_window,
                "max_output_tokens": r.max_output_tokens,
                "input": r.input_price,
                "output": r.output_price,
                "cache_read": r.cached_input_price,
                "cache_write": r.cache_write_price,
                "cache_write_1h": r.cache_write_1h_price,
            });
            if let Some(l) = &r.long_context {
                v["long_context"] = serde_json::to_value(l).unwrap_or(Value::Null);
            }
            v
        })
        .collect();
    serde_json::json!({ "models": models }).to_string()
}

/// One price (or limit) that changes: its name, the value in effect and the new one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub old: Option<f64>,
    pub new: Option<f64>,
}

/// A model whose row would change (or be added).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub model: String,
    /// The row in effect before (`None`: the model had no price), and its layer.
    pub was: Option<super::Source>,
    pub changes: Vec<FieldChange>,
    #[serde(skip)]
    pub row: ModelInfo,
}

fn fields(i: Option<&ModelInfo>) -> [(&'static str, Option<f64>); 13] {
    let l = i.and_then(|i| i.long_context.as_ref());
    let f = |v: Option<u64>| v.map(|v| v as f64);
    [
        ("input", i.and_then(|i| i.input_price)),
        ("output", i.and_then(|i| i.output_price)),
        ("cache_read", i.and_then(|i| i.cached_input_price)),
        ("cache_write", i.and_then(|i| i.cache_write_price)),
        ("cache_write_1h", i.and_then(|i| i.cache_write_1h_price)),
        ("context_window", f(i.and_then(|i| i.context_window))),
        ("max_output_tokens", f(i.and_then(|i| i.max_output_tokens))),
        ("long_context.above_tokens", f(l.map(|l| l.above_tokens))),
        ("long_context.input", l.and_then(|l| l.input)),
        ("long_context.output", l.and_then(|l| l.output)),
        ("long_context.cache_read", l.and_then(|l| l.cache_read)),
        ("long_context.cache_write", l.and_then(|l| l.cache_write)),
        ("long_context.cache_write_1h", l.and_then(|l| l.cache_write_1h)),
    ]
}

/// What loading `rows` into the store would change, against the prices in effect below the
/// config (store, then built-in: `[[catalog]]` still wins after an update, so it is not what
/// an update replaces). Rows equal to what is in effect are not listed.
pub fn diff(current: &Catalog, rows: Vec<ModelInfo>) -> Vec<Change> {
    let below = current.without_config();
    let mut out = Vec::new();
    for row in rows {
        let old = below.lookup_with_source(&row.model);
        let changes: Vec<FieldChange> = fields(old.as_ref().map(|(i, _)| i))
            .into_iter()
            .zip(fields(Some(&row)))
            .filter(|((_, o), (_, n))| match (o, n) {
                (Some(o), Some(n)) => (o - n).abs() > 1e-9,
                (None, None) => false,
                _ => true,
            })
            .map(|((field, old), (_, new))| FieldChange { field, old, new })
            .collect();
        if !changes.is_empty() {
            out.push(Change { model: row.model.clone(), was: old.map(|(_, s)| s), changes, row });
        }
    }
    out
}

/// `model: input 15 → 5, output 75 → 25` (prices in $/M; `–` for none).
pub fn describe(c: &Change) -> String {
    let v = |p: Option<f64>| p.map_or_else(|| "–".to_string(), |p| format!("{p}"));
    let parts: Vec<String> = c.changes.iter().map(|f| format!("{} {} → {}", f.field, v(f.old), v(f.new))).collect();
    let new = if c.was.is_none() { " (new)" } else { "" };
    format!("{}{new}: {}", c.model, parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn litellm_rows_become_prices_per_million_with_their_tier() {
        let text = r#"{
            "sample_spec": {"input_cost_per_token": 0, "output_cost_per_token": 0, "mode": "chat"},
            "claude-opus-4-5": {"input_cost_per_token": 5e-06, "output_cost_per_token": 2.5e-05,
                "cache_read_input_token_cost": 5e-07, "cache_creation_input_token_cost": 6.25e-06,
                "cache_creation_input_token_cost_above_1hr": 1e-05,
                "max_input_tokens": 200000, "max_output_tokens": 64000, "litellm_provider": "anthropic", "mode": "chat"},
            "gemini-2.5-pro": {"input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05,
                "input_cost_per_token_above_200k_tokens": 2.5e-06, "output_cost_per_token_above_200k_tokens": 1.5e-05,
                "cache_read_input_token_cost_above_200k_tokens": 2.5e-07, "mode": "chat"},
            "text-embedding-3-small": {"input_cost_per_token": 2e-08, "output_cost_per_token": 0, "mode": "embedding"},
            "openrouter/x": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06, "mode": "chat"},
            "no-output": {"input_cost_per_token": 1e-06, "mode": "chat"}
        }"#;
        let (format, rows) = parse(text).expect("parses");
        assert_eq!(format, Format::Litellm);
        let names: Vec<&str> = rows.iter().map(|r| r.model.as_str()).collect();
        assert_eq!(names, ["claude-opus-4-5", "gemini-2.5-pro"]);
        assert_eq!(
            (rows[0].input_price, rows[0].output_price, rows[0].cached_input_price, rows[0].cache_write_price),
            (Some(5.0), Some(25.0), Some(0.5), Some(6.25))
        );
        assert_eq!(rows[0].context_window, Some(200_000));
        assert!(rows[0].cache_write_1h_price.is_some_and(|p| (p - 10.0).abs() < 1e-9), "{:?}", rows[0]);
        assert_eq!(rows[1].cache_write_1h_price, None);
        let tier = rows[1].long_context.as_ref().expect("tier");
        assert_eq!(
            (tier.above_tokens, tier.input, tier.output, tier.cache_read),
            (200_000, Some(2.5), Some(15.0), Some(0.25))
        );
    }

    #[test]
    fn models_dev_rows_prefer_the_vendor() {
        let text = r#"{
            "zz-reseller": {"id": "zz-reseller", "models": {"gpt-5": {"id": "gpt-5", "cost": {"input": 9, "output": 9}}}},
            "openai": {"id": "openai", "models": {
                "gpt-5": {"id": "gpt-5", "cost": {"input": 1.25, "output": 10, "cache_read": 0.125}, "limit": {"context": 400000, "output": 128000}},
                "free-thing": {"id": "free-thing", "limit": {"context": 1}}}},
            "google": {"id": "google", "models": {
                "gemini-2.5-pro": {"id": "gemini-2.5-pro", "cost": {"input": 1.25, "output": 10, "cache_read": 0.125,
                    "context_over_200k": {"input": 2.5, "output": 15, "cache_read": 0.25}}}}}
        }"#;
        let (format, rows) = parse(text).expect("parses");
        assert_eq!(format, Format::ModelsDev);
        assert_eq!(rows.len(), 2);
        let gpt5 = rows.iter().find(|r| r.model == "gpt-5").expect("gpt-5");
        assert_eq!((gpt5.input_price, gpt5.max_output_tokens), (Some(1.25), Some(128_000)));
        let pro = rows.iter().find(|r| r.model == "gemini-2.5-pro").expect("pro");
        assert_eq!(pro.long_context.as_ref().map(|t| (t.above_tokens, t.output)), Some((200_000, Some(15.0))));
    }

    #[test]
    fn crossbar_rows_read_back_as_themselves() {
        let (_, rows) = parse(include_str!("prices.json")).expect("prices.json is an import file too");
        let (format, again) = parse(&to_crossbar(&rows)).expect("parses");
        assert_eq!((format, again), (Format::Crossbar, rows));
    }

    #[test]
    fn unknown_or_broken_files_are_refused() {
        assert!(parse("[1]").is_err());
        assert!(parse("{\"a\": 1}").is_err());
        assert!(parse("not json").is_err());
        assert!(parse("{\"models\": [{\"input\": 1}]}").is_err());
        // Prices that are not numbers, negative or overflow are no price (the row is left out).
        let odd = r#"{"a": {"input_cost_per_token": 1e300, "output_cost_per_token": 1e-6, "mode": "chat"},
                      "b": {"input_cost_per_token": -1e-6, "output_cost_per_token": 1e-6, "mode": "chat"},
                      "c": {"input_cost_per_token": "1", "output_cost_per_token": 1e-6, "mode": "chat"}}"#;
        assert_eq!(parse(odd).map(|(_, rows)| rows.len()), Ok(0));
    }

    #[test]
    fn the_diff_lists_only_what_changes_against_the_table_in_effect() {
        let c = Catalog::new(vec![ModelInfo { input_price: Some(99.0), ..ModelInfo::named("claude-opus-4-5") }]);
        let rows = vec![
            // Same as built in: no change.
            ModelInfo {
                input_price: Some(1.25),
                output_price: Some(10.0),
                cached_input_price: Some(0.125),
                context_window: Some(400_000),
                max_output_tokens: Some(128_000),
                ..ModelInfo::named("gpt-5")
            },
            // Opus 4.5 priced like Opus 4.1: compared with the built-in row, not the config's.
            ModelInfo {
                input_price: Some(15.0),
                output_price: Some(75.0),
                cached_input_price: Some(0.5),
                cache_write_price: Some(6.25),
                cache_write_1h_price: Some(10.0),
                context_window: Some(200_000),
                max_output_tokens: Some(64_000),
                ..ModelInfo::named("claude-opus-4-5")
            },
            ModelInfo { input_price: Some(1.0), output_price: Some(2.0), ..ModelInfo::named("brand-new") },
        ];
        let d = diff(&c, rows);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(describe(&d[0]), "claude-opus-4-5: input 5 → 15, output 25 → 75");
        assert_eq!(d[0].was, Some(super::super::Source::Builtin));
        assert!(describe(&d[1]).starts_with("brand-new (new): input – → 1, output – → 2"), "{}", describe(&d[1]));
    }
}
