//! What crossbar knows about models: context window, output limit and price per million
//! tokens. A built-in table for the popular OpenAI, Anthropic and Gemini models (list prices
//! as published by the vendors, late 2025; verify before billing on them), overridable and
//! extendable with `[[catalog]]` entries in the config.
//!
//! Lookup is by upstream model name: an exact entry wins, else the longest entry ending in
//! `*` whose prefix matches (so dated snapshots such as `claude-sonnet-4-5-20250929` and
//! `gpt-5-2025-08-07` find their family).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    /// USD per million input tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_price: Option<f64>,
    /// USD per million output tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_price: Option<f64>,
    /// USD per million cached (cache-read) input tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_input_price: Option<f64>,
}

/// Which provider family a built-in entry belongs to (used to list models for a provider
/// that has no models endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Openai,
    Anthropic,
    Gemini,
}

/// `(model, family, context window, max output, input $/M, output $/M, cached input $/M)`
type Row = (&'static str, Family, u64, u64, f64, f64, f64);

const BUILTIN: &[Row] = &[
    ("gpt-5", Family::Openai, 400_000, 128_000, 1.25, 10.0, 0.125),
    ("gpt-5*", Family::Openai, 400_000, 128_000, 1.25, 10.0, 0.125),
    ("gpt-5-mini", Family::Openai, 400_000, 128_000, 0.25, 2.0, 0.025),
    ("gpt-5-mini*", Family::Openai, 400_000, 128_000, 0.25, 2.0, 0.025),
    ("gpt-5-nano", Family::Openai, 400_000, 128_000, 0.05, 0.40, 0.005),
    ("gpt-5-nano*", Family::Openai, 400_000, 128_000, 0.05, 0.40, 0.005),
    ("gpt-5-codex", Family::Openai, 400_000, 128_000, 1.25, 10.0, 0.125),
    ("gpt-4.1", Family::Openai, 1_047_576, 32_768, 2.0, 8.0, 0.50),
    ("gpt-4.1-mini", Family::Openai, 1_047_576, 32_768, 0.40, 1.60, 0.10),
    ("gpt-4.1-nano", Family::Openai, 1_047_576, 32_768, 0.10, 0.40, 0.025),
    ("gpt-4o", Family::Openai, 128_000, 16_384, 2.50, 10.0, 1.25),
    ("gpt-4o-mini", Family::Openai, 128_000, 16_384, 0.15, 0.60, 0.075),
    ("o3", Family::Openai, 200_000, 100_000, 2.0, 8.0, 0.50),
    ("o4-mini", Family::Openai, 200_000, 100_000, 1.10, 4.40, 0.275),
    ("claude-opus-4-1", Family::Anthropic, 200_000, 32_000, 15.0, 75.0, 1.50),
    ("claude-opus-4-1*", Family::Anthropic, 200_000, 32_000, 15.0, 75.0, 1.50),
    ("claude-opus-4*", Family::Anthropic, 200_000, 32_000, 15.0, 75.0, 1.50),
    ("claude-sonnet-4-5", Family::Anthropic, 200_000, 64_000, 3.0, 15.0, 0.30),
    ("claude-sonnet-4-5*", Family::Anthropic, 200_000, 64_000, 3.0, 15.0, 0.30),
    ("claude-sonnet-4*", Family::Anthropic, 200_000, 64_000, 3.0, 15.0, 0.30),
    ("claude-haiku-4-5", Family::Anthropic, 200_000, 64_000, 1.0, 5.0, 0.10),
    ("claude-haiku-4-5*", Family::Anthropic, 200_000, 64_000, 1.0, 5.0, 0.10),
    ("claude-3-5-haiku*", Family::Anthropic, 200_000, 8_192, 0.80, 4.0, 0.08),
    ("gemini-2.5-pro", Family::Gemini, 1_048_576, 65_536, 1.25, 10.0, 0.31),
    ("gemini-2.5-flash", Family::Gemini, 1_048_576, 65_536, 0.30, 2.50, 0.075),
    ("gemini-2.5-flash-lite", Family::Gemini, 1_048_576, 65_536, 0.10, 0.40, 0.025),
    ("gemini-2.0-flash", Family::Gemini, 1_048_576, 8_192, 0.10, 0.40, 0.025),
];

fn row_info(r: &Row) -> ModelInfo {
    ModelInfo {
        model: r.0.to_string(),
        context_window: Some(r.2),
        max_output_tokens: Some(r.3),
        input_price: Some(r.4),
        output_price: Some(r.5),
        cached_input_price: Some(r.6),
    }
}

/// The built-in models of a family (exact names only), for listing.
pub fn builtin_models(family: Family) -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().filter(move |r| r.1 == family && !r.0.ends_with('*')).map(|r| r.0)
}

/// The table crossbar runs with: config overrides first, then the built-in rows.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    overrides: Vec<ModelInfo>,
}

impl Catalog {
    pub fn new(overrides: Vec<ModelInfo>) -> Catalog {
        Catalog { overrides }
    }

    pub fn lookup(&self, model: &str) -> Option<ModelInfo> {
        let builtin = BUILTIN.iter().map(row_info);
        let mut best: Option<(usize, ModelInfo)> = None;
        // Overrides are consulted first and win ties.
        for info in self.overrides.iter().cloned().chain(builtin) {
            let score = if info.model == model {
                usize::MAX
            } else if let Some(prefix) = info.model.strip_suffix('*') {
                if model.starts_with(prefix) {
                    prefix.len()
                } else {
                    continue;
                }
            } else {
                continue;
            };
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, info));
            }
        }
        best.map(|(_, info)| info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_longest_prefix_then_overrides() {
        let c = Catalog::default();
        assert_eq!(c.lookup("gpt-5-mini").and_then(|i| i.input_price), Some(0.25));
        assert_eq!(c.lookup("gpt-5-mini-2025-08-07").and_then(|i| i.input_price), Some(0.25));
        assert_eq!(c.lookup("claude-sonnet-4-5-20250929").and_then(|i| i.output_price), Some(15.0));
        assert!(c.lookup("llama3").is_none());
        let c = Catalog::new(vec![ModelInfo {
            model: "gpt-5".into(),
            context_window: Some(1),
            max_output_tokens: None,
            input_price: Some(9.0),
            output_price: None,
            cached_input_price: None,
        }]);
        assert_eq!(c.lookup("gpt-5").and_then(|i| i.input_price), Some(9.0));
    }
}
