//! Dollars for a request's tokens, from the catalog's prices ($ per million tokens).
//!
//! `input` counts cached tokens too (canonical semantics), so cache reads are taken out of it
//! and priced at the cached rate (the input rate when no cached rate is listed); cache writes
//! are priced at the input rate (the catalog has no separate cache-write price). `None` when
//! the model has no price or no tokens were reported.

use crate::catalog::ModelInfo;
use crossbar_protocol::canonical::Usage;

pub fn cost(info: Option<&ModelInfo>, u: &Usage) -> Option<f64> {
    let info = info?;
    if u.input.is_none() && u.output.is_none() {
        return None;
    }
    let (inp, out) = (info.input_price?, info.output_price?);
    let cached = u.cache_read.unwrap_or(0);
    let fresh = u.input.unwrap_or(0).saturating_sub(cached);
    let cached_price = info.cached_input_price.unwrap_or(inp);
    let dollars =
        (fresh as f64 * inp + cached as f64 * cached_price + u.output.unwrap_or(0) as f64 * out) / 1_000_000.0;
    Some(dollars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_tokens_are_priced_at_the_cached_rate() {
        let info = ModelInfo {
            model: "m".into(),
            context_window: None,
            max_output_tokens: None,
            input_price: Some(2.0),
            output_price: Some(10.0),
            cached_input_price: Some(0.5),
        };
        let u = Usage { input: Some(1_000_000), output: Some(100_000), cache_read: Some(400_000), ..Usage::default() };
        let c = cost(Some(&info), &u).expect("priced");
        assert!((c - (0.6 * 2.0 + 0.4 * 0.5 + 0.1 * 10.0)).abs() < 1e-9, "{c}");
        assert_eq!(cost(None, &u), None);
        assert_eq!(cost(Some(&info), &Usage::default()), None);
    }
}
