//! Token usage, and the single cross-protocol mapping table.
//!
//! `None` means "the provider did not report it"; `Some(0)` means "reported as zero".
//!
//! Canonical semantics follow OpenAI: `input` is the **total** prompt tokens, cached ones
//! included; `output` is the **total** generated tokens, reasoning included.
//!
//! | canonical    | OpenAI Chat                                   | OpenAI Responses                          | Anthropic                                                          | Gemini                                   |
//! |--------------|-----------------------------------------------|-------------------------------------------|--------------------------------------------------------------------|------------------------------------------|
//! | input        | `prompt_tokens`                               | `input_tokens`                            | `input_tokens + cache_read_input_tokens + cache_creation_input_tokens` | `promptTokenCount`                  |
//! | output       | `completion_tokens`                           | `output_tokens`                           | `output_tokens`                                                    | `candidatesTokenCount + thoughtsTokenCount` |
//! | cache_read   | `prompt_tokens_details.cached_tokens`         | `input_tokens_details.cached_tokens`      | `cache_read_input_tokens`                                          | `cachedContentTokenCount`                |
//! | cache_write  | —                                             | `input_tokens_details.cache_write_tokens` | `cache_creation_input_tokens`                                      | —                                        |
//! | cache_write_1h | —                                           | —                                         | `cache_creation.ephemeral_1h_input_tokens` (part of cache_write)    | —                                        |
//! | reasoning    | `completion_tokens_details.reasoning_tokens`  | `output_tokens_details.reasoning_tokens`  | — (counted inside `output_tokens`)                                 | `thoughtsTokenCount`                     |
//!
//! Encoding into Anthropic subtracts cache reads and writes from `input` (saturating).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
    /// The part of `cache_write` written with a 1-hour TTL (Anthropic prices it apart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<u64>,
    pub reasoning: Option<u64>,
}

impl Usage {
    /// Fold a later report into this one: reported fields overwrite, unreported ones are kept.
    /// (Anthropic reports input in `message_start` and output in `message_delta`.)
    pub fn merge(&mut self, later: &Usage) {
        if later.input.is_some() {
            self.input = later.input;
        }
        if later.output.is_some() {
            self.output = later.output;
        }
        if later.cache_read.is_some() {
            self.cache_read = later.cache_read;
        }
        if later.cache_write.is_some() {
            self.cache_write = later.cache_write;
        }
        if later.cache_write_1h.is_some() {
            self.cache_write_1h = later.cache_write_1h;
        }
        if later.reasoning.is_some() {
            self.reasoning = later.reasoning;
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }

    pub fn total(&self) -> u64 {
        self.input.unwrap_or(0).saturating_add(self.output.unwrap_or(0))
    }
}

#[cfg(test)]
mod total_tests {
    use super::Usage;

    #[test]
    fn a_huge_reported_count_saturates_instead_of_overflowing() {
        // Found by the fuzzer: `"prompt_tokens": 1E60` decodes to u64::MAX.
        let u = Usage { input: Some(u64::MAX), output: Some(37), ..Usage::default() };
        assert_eq!(u.total(), u64::MAX);
    }
}
