//! The built-in price table: `prices.json`, embedded in the binary and parsed once. Each row is
//! a model name (or a `prefix*` for dated snapshots), its limits, and USD per million tokens.

use super::{Family, LongContext, ModelInfo};
use serde::Deserialize;
use std::sync::LazyLock;

#[derive(Debug, Deserialize)]
struct File {
    models: Vec<Row>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    model: String,
    provider: Family,
    context_window: Option<u64>,
    max_output_tokens: Option<u64>,
    input: Option<f64>,
    output: Option<f64>,
    cache_read: Option<f64>,
    cache_write: Option<f64>,
    cache_write_1h: Option<f64>,
    long_context: Option<LongContext>,
}

pub(super) struct Builtin {
    pub family: Family,
    pub info: ModelInfo,
}

const JSON: &str = include_str!("prices.json");

fn parse(text: &str) -> Result<Vec<Builtin>, serde_json::Error> {
    let file: File = serde_json::from_str(text)?;
    Ok(file
        .models
        .into_iter()
        .map(|r| Builtin {
            family: r.provider,
            info: ModelInfo {
                model: r.model,
                context_window: r.context_window,
                max_output_tokens: r.max_output_tokens,
                input_price: r.input,
                output_price: r.output,
                cached_input_price: r.cache_read,
                cache_write_price: r.cache_write,
                cache_write_1h_price: r.cache_write_1h,
                long_context: r.long_context,
            },
        })
        .collect())
}

/// The parsed table (empty, with an error logged, if the embedded file were malformed; a test
/// parses it, so a release never ships that way).
pub(super) static BUILTIN: LazyLock<Vec<Builtin>> = LazyLock::new(|| {
    parse(JSON).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the built-in price table does not parse; every model is unpriced");
        Vec::new()
    })
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_table_parses_and_names_each_model_once() {
        let rows = parse(JSON).expect("prices.json parses");
        assert!(rows.len() > 40, "{}", rows.len());
        let mut names: Vec<&str> = rows.iter().map(|r| r.info.model.as_str()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a model appears twice in prices.json");
        for r in &rows {
            let i = &r.info;
            assert!(i.input_price.is_some() && i.output_price.is_some(), "{} lacks a price", i.model);
            for p in [i.input_price, i.output_price, i.cached_input_price, i.cache_write_price, i.cache_write_1h_price]
                .into_iter()
                .flatten()
            {
                assert!(p.is_finite() && p >= 0.0, "{}: {p}", i.model);
            }
        }
    }
}
