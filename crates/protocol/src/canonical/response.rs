//! The canonical (non-streamed) response.

use super::request::Part;
use super::usage::Usage;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The upstream's response id (adapters may mint their own prefix when encoding).
    pub id: String,
    /// The model the upstream says served the request.
    pub model: String,
    /// Output parts in order: `Text`, `Reasoning`, `ToolCall` (and `Image` where supported).
    pub parts: Vec<Part>,
    pub finish: Option<FinishReason>,
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum FinishReason {
    /// Natural end (`stop`, `end_turn`, `STOP`, Responses `completed`).
    Stop,
    /// A stop sequence matched; the sequence when the provider says which.
    StopSequence(Option<String>),
    /// Output token limit (`length`, `max_tokens`, `MAX_TOKENS`, `incomplete: max_output_tokens`).
    Length,
    /// The model called tools (`tool_calls`, `tool_use`; Gemini reports `STOP` with function calls).
    ToolCalls,
    /// Safety / content filter (`content_filter`, `refusal`, `SAFETY`, `RECITATION`, …).
    ContentFilter,
    /// Anthropic `pause_turn` and anything else, carrying the raw value.
    Other(String),
}
