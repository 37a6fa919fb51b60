//! Dollars for a request's tokens, from the catalog's prices ($ per million tokens).
//!
//! `input` counts cached tokens too (canonical semantics: Anthropic's cache reads and writes
//! are added into it), so cache reads and cache writes are taken out of it and priced at their
//! own rates (the input rate when the table lists none). When the request's input is above a
//! model's long-context threshold, the tier's prices apply to the whole request. `None` when
//! the model has no price or no tokens were reported: unknown, never $0. The 1-hour part of
//! the cache writes (`cache_write_1h`, Anthropic's `ephemeral_1h_input_tokens`) is priced at
//! the 1-hour write price (2× input for Claude), the rest at the 5-minute one (1.25×).

use crate::catalog::ModelInfo;
use crossbar_protocol::canonical::Usage;

/// The cost of `u` at `info`'s prices (also used to re-price stored usage).
pub fn cost(info: Option<&ModelInfo>, u: &Usage) -> Option<f64> {
    let info = info?;
    let (input, output, cache_read, cache_write) = (u.input, u.output, u.cache_read, u.cache_write);
    if input.is_none() && output.is_none() {
        return None;
    }
    let (mut inp, mut out) = (info.input_price?, info.output_price?);
    let mut read_price = info.cached_input_price;
    let mut write_price = info.cache_write_price;
    let mut write_1h_price = info.cache_write_1h_price;
    let input = input.unwrap_or(0);
    if let Some(tier) = info.long_context.as_ref().filter(|t| input > t.above_tokens) {
        inp = tier.input.unwrap_or(inp);
        out = tier.output.unwrap_or(out);
        read_price = tier.cache_read.or(read_price);
        write_price = tier.cache_write.or(write_price);
        write_1h_price = tier.cache_write_1h.or(write_1h_price);
    }
    let read = cache_read.unwrap_or(0).min(input);
    let write = cache_write.unwrap_or(0).min(input - read);
    let fresh = input - read - write;
    let write_1h = u.cache_write_1h.unwrap_or(0).min(write);
    let write_5m = write - write_1h;
    let write_price = write_price.unwrap_or(inp);
    let dollars = (fresh as f64 * inp
        + read as f64 * read_price.unwrap_or(inp)
        + write_5m as f64 * write_price
        + write_1h as f64 * write_1h_price.unwrap_or(write_price)
        + output.unwrap_or(0) as f64 * out)
        / 1_000_000.0;
    dollars.is_finite().then_some(dollars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, LongContext};

    fn info() -> ModelInfo {
        ModelInfo {
            input_price: Some(2.0),
            output_price: Some(10.0),
            cached_input_price: Some(0.5),
            ..ModelInfo::named("m")
        }
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn cached_tokens_are_priced_at_the_cached_rate() {
        let u = Usage { input: Some(1_000_000), output: Some(100_000), cache_read: Some(400_000), ..Usage::default() };
        close(cost(Some(&info()), &u).expect("priced"), 0.6 * 2.0 + 0.4 * 0.5 + 0.1 * 10.0);
        assert_eq!(cost(None, &u), None);
        assert_eq!(cost(Some(&info()), &Usage::default()), None);
        // No output price: unknown, not a partial sum.
        let half = ModelInfo { output_price: None, ..info() };
        assert_eq!(cost(Some(&half), &u), None);
    }

    #[test]
    fn cache_writes_have_their_own_price() {
        let i = ModelInfo { cache_write_price: Some(2.5), ..info() };
        let u = Usage {
            input: Some(1_000_000),
            output: Some(0),
            cache_read: Some(200_000),
            cache_write: Some(300_000),
            ..Usage::default()
        };
        close(cost(Some(&i), &u).expect("priced"), 0.5 * 2.0 + 0.2 * 0.5 + 0.3 * 2.5);
        // Without a cache-write price, writes cost the input rate.
        close(cost(Some(&info()), &u).expect("priced"), 0.8 * 2.0 + 0.2 * 0.5);
        // Counts that do not add up (cache above input) never go negative.
        let odd =
            Usage { input: Some(10), output: Some(0), cache_read: Some(8), cache_write: Some(8), ..Usage::default() };
        close(cost(Some(&i), &odd).expect("priced"), (8.0 * 0.5 + 2.0 * 2.5) / 1e6);
    }

    #[test]
    fn the_long_context_tier_prices_the_whole_request_above_its_threshold() {
        let i = ModelInfo {
            long_context: Some(LongContext {
                above_tokens: 200_000,
                input: Some(4.0),
                output: Some(15.0),
                cache_read: Some(1.0),
                cache_write: None,
                cache_write_1h: None,
            }),
            ..info()
        };
        let at = Usage { input: Some(200_000), output: Some(1_000), ..Usage::default() };
        close(cost(Some(&i), &at).expect("priced"), (200_000.0 * 2.0 + 1_000.0 * 10.0) / 1e6);
        let above = Usage { input: Some(300_000), output: Some(1_000), cache_read: Some(100_000), ..Usage::default() };
        close(cost(Some(&i), &above).expect("priced"), (200_000.0 * 4.0 + 100_000.0 * 1.0 + 1_000.0 * 15.0) / 1e6);
    }

    #[test]
    fn built_in_prices_cost_real_requests() {
        let c = Catalog::default();
        // Opus 4.5: 10k fresh input, 50k cache read, 20k cache write, 2k output.
        let u = Usage {
            input: Some(80_000),
            output: Some(2_000),
            cache_read: Some(50_000),
            cache_write: Some(20_000),
            ..Usage::default()
        };
        let opus = c.lookup("claude-opus-4-5-20251101");
        close(
            cost(opus.as_ref(), &u).expect("priced"),
            (10_000.0 * 5.0 + 50_000.0 * 0.5 + 20_000.0 * 6.25 + 2_000.0 * 25.0) / 1e6,
        );
        // Gemini 2.5 Pro above 200k input: $2.50 / $15.
        let long = Usage { input: Some(250_000), output: Some(10_000), ..Usage::default() };
        close(
            cost(c.lookup("gemini-2.5-pro").as_ref(), &long).expect("priced"),
            (250_000.0 * 2.5 + 10_000.0 * 15.0) / 1e6,
        );
        let short = Usage { input: Some(150_000), output: Some(10_000), ..Usage::default() };
        close(
            cost(c.lookup("gemini-2.5-pro").as_ref(), &short).expect("priced"),
            (150_000.0 * 1.25 + 10_000.0 * 10.0) / 1e6,
        );
    }

    #[test]
    fn one_hour_cache_writes_have_their_own_price() {
        let i = ModelInfo { cache_write_price: Some(2.5), cache_write_1h_price: Some(4.0), ..info() };
        let u = Usage {
            input: Some(1_000_000),
            output: Some(0),
            cache_write: Some(300_000),
            cache_write_1h: Some(100_000),
            ..Usage::default()
        };
        close(cost(Some(&i), &u).expect("priced"), 0.7 * 2.0 + 0.2 * 2.5 + 0.1 * 4.0);
        // No 1-hour price: every write at the 5-minute price.
        let five = ModelInfo { cache_write_price: Some(2.5), ..info() };
        close(cost(Some(&five), &u).expect("priced"), 0.7 * 2.0 + 0.3 * 2.5);
        // A 1-hour count above the writes is held to them.
        let odd = Usage { cache_write_1h: Some(900_000), ..u };
        close(cost(Some(&i), &odd).expect("priced"), 0.7 * 2.0 + 0.3 * 4.0);
    }
}
