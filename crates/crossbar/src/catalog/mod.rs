//! What crossbar knows about models: context window, output limit and price per million
//! tokens (input, output, cache read, cache write, and a long-context tier where the provider
//! has one). Three layers, first match wins:
//!
//! 1. `[[catalog]]` entries in the config;
//! 2. prices loaded into the store (`crossbar prices update`, `/admin/prices/apply`; `import.rs`
//!    reads LiteLLM's and models.dev's files), followed by running gateways (`refresh.rs`);
//! 3. the built-in table, `prices.json` embedded in the binary (`table.rs`).
//!
//! Lookup is by upstream model name: an exact entry wins (in any layer), else the longest
//! entry ending in `*` whose prefix matches (so dated snapshots such as
//! `claude-sonnet-4-5-20250929` find their family); a tie goes to the earlier layer.

pub mod import;
pub mod refresh;
mod table;
pub mod update;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    /// USD per million input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_price: Option<f64>,
    /// USD per million output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_price: Option<f64>,
    /// USD per million cached (cache-read) input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_price: Option<f64>,
    /// USD per million tokens written to the prompt cache (Anthropic's 5-minute write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_price: Option<f64>,
    /// USD per million tokens written to the prompt cache with a 1-hour TTL (Anthropic: 2×
    /// input); `None`: such writes cost the 5-minute write price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h_price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_context: Option<LongContext>,
}

/// Prices for a request whose input (cached tokens included) is above `above_tokens`: they
/// replace the base prices for the whole request (Anthropic's 1M-context and Gemini's >200k
/// tiers work so). A price left out here keeps the base one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongContext {
    pub above_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<f64>,
}

impl ModelInfo {
    /// An entry with only a name (for building one up).
    pub fn named(model: impl Into<String>) -> ModelInfo {
        ModelInfo {
            model: model.into(),
            context_window: None,
            max_output_tokens: None,
            input_price: None,
            output_price: None,
            cached_input_price: None,
            cache_write_price: None,
            cache_write_1h_price: None,
            long_context: None,
        }
    }

    /// Whether requests to this model can be costed (input and output prices known).
    pub fn is_priced(&self) -> bool {
        self.input_price.is_some() && self.output_price.is_some()
    }
}

/// Which provider family a built-in entry belongs to (used to list models for a provider
/// that has no models endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Openai,
    Anthropic,
    Gemini,
}

/// Where an effective price row comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Config,
    Store,
    Builtin,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Config => "config",
            Source::Store => "store",
            Source::Builtin => "builtin",
        }
    }
}

/// The built-in models of a family (exact names only), for listing.
pub fn builtin_models(family: Family) -> impl Iterator<Item = &'static str> {
    table::BUILTIN
        .iter()
        .filter(move |r| r.family == family && !r.info.model.ends_with('*'))
        .map(|r| r.info.model.as_str())
}

/// The built-in rows (for diffs and the admin listing).
pub fn builtin() -> impl Iterator<Item = &'static ModelInfo> {
    table::BUILTIN.iter().map(|r| &r.info)
}

/// `[[models]]` targets whose upstream model has no price in `[[catalog]]` or the built-in
/// table, as `(model alias, provider, upstream model)`; the built-in mock is free and left out.
pub fn unpriced_targets(config: &crate::config::Config) -> Vec<(String, String, String)> {
    let catalog = Catalog::new(config.catalog.clone());
    let mut out = Vec::new();
    for alias in &config.models {
        for t in &alias.targets {
            let mock =
                config.providers.iter().any(|p| p.name == t.provider && p.kind == crate::config::ProviderKind::Mock);
            if !mock && !catalog.lookup(&t.model).is_some_and(|i| i.is_priced()) {
                out.push((alias.name.clone(), t.provider.clone(), t.model.clone()));
            }
        }
    }
    out
}

/// The table crossbar runs with: config overrides, then store prices, then the built-in rows.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    overrides: Vec<ModelInfo>,
    /// Swapped whole when the store's prices are (re)loaded; shared by clones.
    stored: Arc<ArcSwap<Vec<ModelInfo>>>,
    /// Bumped after each swap of `stored`: it tells `memo` its answers are stale.
    generation: Arc<std::sync::atomic::AtomicU64>,
    /// `lookup`'s answers (a scan of every layer per request showed in relay profiles).
    memo: Arc<std::sync::Mutex<Memo>>,
}

/// Answers of `lookup` for one generation of the store layer.
#[derive(Debug, Default)]
struct Memo {
    generation: u64,
    answers: std::collections::HashMap<String, Option<(ModelInfo, Source)>>,
}

/// Distinct model names remembered before the memo starts again.
const MEMO_CAP: usize = 4096;

impl Catalog {
    pub fn new(overrides: Vec<ModelInfo>) -> Catalog {
        Catalog { overrides, ..Catalog::default() }
    }

    /// Replace the store layer (every clone of this catalog sees it at once).
    pub fn set_stored(&self, rows: Vec<ModelInfo>) {
        self.stored.store(Arc::new(rows));
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// The same catalog without its `[[catalog]]` layer (what a price update compares with).
    pub fn without_config(&self) -> Catalog {
        Catalog {
            overrides: Vec::new(),
            stored: self.stored.clone(),
            generation: self.generation.clone(),
            memo: Arc::default(),
        }
    }

    pub fn stored(&self) -> Arc<Vec<ModelInfo>> {
        self.stored.load_full()
    }

    pub fn lookup(&self, model: &str) -> Option<ModelInfo> {
        self.lookup_with_source(model).map(|(i, _)| i)
    }

    pub fn lookup_with_source(&self, model: &str) -> Option<(ModelInfo, Source)> {
        // The generation is read before the layers: a swap in between leaves an answer filed
        // under the older generation, which the next lookup throws away.
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        if let Ok(memo) = self.memo.lock() {
            if memo.generation == generation {
                if let Some(answer) = memo.answers.get(model) {
                    return answer.clone();
                }
            }
        }
        let answer = self.scan(model);
        if let Ok(mut memo) = self.memo.lock() {
            if memo.generation != generation || memo.answers.len() >= MEMO_CAP {
                memo.answers.clear();
                memo.generation = generation;
            }
            memo.answers.insert(model.to_string(), answer.clone());
        }
        answer
    }

    /// Every layer, for the best match: exact name, else the longest `prefix*`.
    fn scan(&self, model: &str) -> Option<(ModelInfo, Source)> {
        let stored = self.stored.load();
        let layers = self
            .overrides
            .iter()
            .map(|i| (i, Source::Config))
            .chain(stored.iter().map(|i| (i, Source::Store)))
            .chain(builtin().map(|i| (i, Source::Builtin)));
        let mut best: Option<(usize, &ModelInfo, Source)> = None;
        for (info, source) in layers {
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
            // Strictly greater: an earlier layer wins a tie.
            if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                best = Some((score, info, source));
            }
        }
        best.map(|(_, info, source)| (info.clone(), source))
    }

    /// Every row in effect, with its layer: a name defined by an earlier layer hides the
    /// same name in later ones. Sorted by name.
    pub fn effective(&self) -> Vec<(ModelInfo, Source)> {
        let stored = self.stored.load();
        let mut out: Vec<(ModelInfo, Source)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let layers = self
            .overrides
            .iter()
            .map(|i| (i, Source::Config))
            .chain(stored.iter().map(|i| (i, Source::Store)))
            .chain(builtin().map(|i| (i, Source::Builtin)));
        for (info, source) in layers {
            if seen.insert(info.model.clone()) {
                out.push((info.clone(), source));
            }
        }
        out.sort_by(|a, b| a.0.model.cmp(&b.0.model));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices(c: &Catalog, m: &str) -> (f64, f64, Option<f64>, Option<f64>) {
        let i = c.lookup(m).unwrap_or_else(|| panic!("{m} has no price"));
        (i.input_price.unwrap_or(-1.0), i.output_price.unwrap_or(-1.0), i.cached_input_price, i.cache_write_price)
    }

    #[test]
    fn well_known_models_have_their_published_prices() {
        let c = Catalog::default();
        // Anthropic: Opus 4.5 is a third of Opus 4.1 (and must not fall to an older Opus row).
        assert_eq!(prices(&c, "claude-opus-4-5"), (5.0, 25.0, Some(0.50), Some(6.25)));
        assert_eq!(prices(&c, "claude-opus-4-5-20251101"), (5.0, 25.0, Some(0.50), Some(6.25)));
        assert_eq!(prices(&c, "claude-opus-4-1-20250805"), (15.0, 75.0, Some(1.50), Some(18.75)));
        assert_eq!(prices(&c, "claude-sonnet-4-5-20250929"), (3.0, 15.0, Some(0.30), Some(3.75)));
        assert_eq!(prices(&c, "claude-haiku-4-5"), (1.0, 5.0, Some(0.10), Some(1.25)));
        let sonnet = c.lookup("claude-sonnet-4-5").and_then(|i| i.long_context).expect("sonnet 4.5 long tier");
        assert_eq!((sonnet.above_tokens, sonnet.input, sonnet.output), (200_000, Some(6.0), Some(22.5)));
        // OpenAI.
        assert_eq!(prices(&c, "gpt-5"), (1.25, 10.0, Some(0.125), None));
        assert_eq!(prices(&c, "gpt-5-2025-08-07"), (1.25, 10.0, Some(0.125), None));
        assert_eq!(prices(&c, "gpt-5-mini"), (0.25, 2.0, Some(0.025), None));
        assert_eq!(prices(&c, "gpt-5.2"), (1.75, 14.0, Some(0.175), None));
        assert_eq!(prices(&c, "gpt-5.1-codex-mini"), (0.25, 2.0, Some(0.025), None));
        assert_eq!(prices(&c, "gpt-5-pro"), (15.0, 120.0, None, None));
        // Gemini, with 2.5 Pro's and 3 Pro's >200k tiers.
        assert_eq!(prices(&c, "gemini-2.5-pro"), (1.25, 10.0, Some(0.125), None));
        let pro = c.lookup("gemini-2.5-pro").and_then(|i| i.long_context).expect("2.5 pro long tier");
        assert_eq!(
            (pro.above_tokens, pro.input, pro.output, pro.cache_read),
            (200_000, Some(2.5), Some(15.0), Some(0.25))
        );
        assert_eq!(prices(&c, "gemini-2.5-flash"), (0.30, 2.50, Some(0.03), None));
        assert_eq!(prices(&c, "gemini-3-pro-preview"), (2.0, 12.0, Some(0.20), None));
        // Newer Claude generations are not priced like an older row of their family.
        assert_eq!(prices(&c, "claude-opus-5-5"), (4.0, 20.0, Some(0.20), Some(5.0)));
        assert_eq!(prices(&c, "claude-opus-5"), (5.0, 25.0, Some(0.50), Some(6.25)));
        assert_eq!(prices(&c, "claude-sonnet-5"), (2.0, 10.0, Some(0.20), Some(2.5)));
        // A family the table does not know is unpriced, not priced like a neighbour.
        assert!(c.lookup("claude-opus-4-9").is_none());
        assert!(c.lookup("claude-opus-5-7").is_none());
        assert!(c.lookup("gpt-5.9").is_none());
        assert!(c.lookup("llama3").is_none());
    }

    #[test]
    fn a_remembered_answer_gives_way_to_new_store_prices_in_every_clone() {
        let c = Catalog::new(Vec::new());
        let clone = c.clone();
        assert!(c.lookup("house-model").is_none());
        assert!(c.lookup("house-model").is_none(), "asked twice: the memo's answer");
        clone.set_stored(vec![ModelInfo {
            input_price: Some(2.0),
            output_price: Some(5.0),
            ..ModelInfo::named("house-model")
        }]);
        assert_eq!(c.lookup("house-model").and_then(|i| i.output_price), Some(5.0));
        clone.set_stored(vec![ModelInfo {
            input_price: Some(2.0),
            output_price: Some(6.0),
            ..ModelInfo::named("house-model")
        }]);
        assert_eq!(c.lookup("house-model").and_then(|i| i.output_price), Some(6.0));
        assert_eq!(c.without_config().lookup("house-model").and_then(|i| i.output_price), Some(6.0));
    }

    #[test]
    fn config_beats_store_beats_builtin_and_exact_beats_wildcard() {
        let over = ModelInfo { context_window: Some(1), input_price: Some(9.0), ..ModelInfo::named("gpt-5") };
        let c = Catalog::new(vec![over]);
        assert_eq!(c.lookup("gpt-5").and_then(|i| i.input_price), Some(9.0));
        c.set_stored(vec![
            ModelInfo { input_price: Some(7.0), output_price: Some(8.0), ..ModelInfo::named("gpt-5") },
            ModelInfo { input_price: Some(4.0), output_price: Some(4.0), ..ModelInfo::named("gpt-5-mini") },
            ModelInfo { input_price: Some(3.0), output_price: Some(3.0), ..ModelInfo::named("gpt-5*") },
        ]);
        assert_eq!(c.lookup_with_source("gpt-5").map(|(i, s)| (i.input_price, s)), Some((Some(9.0), Source::Config)));
        assert_eq!(
            c.lookup_with_source("gpt-5-mini").map(|(i, s)| (i.input_price, s)),
            Some((Some(4.0), Source::Store))
        );
        // The built-in exact row beats the stored wildcard; an unknown snapshot takes the wildcard.
        assert_eq!(c.lookup_with_source("gpt-5-nano").map(|(_, s)| s), Some(Source::Builtin));
        assert_eq!(
            c.lookup_with_source("gpt-5-whatever").map(|(i, s)| (i.input_price, s)),
            Some((Some(3.0), Source::Store))
        );
        let eff = c.effective();
        let gpt5: Vec<_> = eff.iter().filter(|(i, _)| i.model == "gpt-5").collect();
        assert_eq!(gpt5.len(), 1);
        assert_eq!(gpt5[0].1, Source::Config);
    }
}
