//! Wire types of the OpenAI Chat Completions protocol.
//!
//! Input types (`In*`, plus the response / chunk types that upstreams send) are lenient:
//! unknown fields are ignored, most fields default, and fields that real servers spell in
//! several ways (`arguments` as a string or an object, token counts as floats) are accepted.
//! Output types (`Out*`) are exact: `None` is skipped unless the protocol wants an explicit
//! `null` (`message.content`, `finish_reason`, `logprobs`).

use crate::canonical::{FinishReason, Usage};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Lenient helpers

/// A string, or any other JSON value re-serialized as text (some servers send tool-call
/// `arguments` as an object).
pub fn string_or_json<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

/// A string, or `None` for anything else (e.g. `reasoning` sent as an object by some servers).
pub fn string_only<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        _ => None,
    })
}

/// A token count: a non-negative integer, or a float truncated; anything else is "not reported".
pub use crate::raw_json::lenient_u64;

// ---------------------------------------------------------------------------------------------
// Request (client side input)

/// One entry of `messages` (content stays a raw value: a string, an array of parts, or null).
#[derive(Debug, Deserialize)]
pub struct InMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<Value>,
    #[serde(default, deserialize_with = "string_only")]
    pub name: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<InToolCall>>,
    #[serde(default, deserialize_with = "string_only")]
    pub tool_call_id: Option<String>,
    /// Legacy single function call on an assistant message.
    #[serde(default)]
    pub function_call: Option<InFunction>,
    /// DeepSeek / vLLM reasoning text.
    #[serde(default, deserialize_with = "string_only")]
    pub reasoning_content: Option<String>,
    /// OpenRouter / Ollama reasoning text.
    #[serde(default, deserialize_with = "string_only")]
    pub reasoning: Option<String>,
    #[serde(default, deserialize_with = "string_only")]
    pub refusal: Option<String>,
}

/// An assistant tool call (request history, non-streamed responses, and stream deltas).
#[derive(Debug, Default, Deserialize)]
pub struct InToolCall {
    /// Stream deltas only.
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default, deserialize_with = "string_only")]
    pub id: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "string_only")]
    pub kind: Option<String>,
    #[serde(default)]
    pub function: Option<InFunction>,
    #[serde(default)]
    pub custom: Option<InCustomCall>,
}

#[derive(Debug, Default, Deserialize)]
pub struct InFunction {
    #[serde(default, deserialize_with = "string_only")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "string_or_json")]
    pub arguments: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct InCustomCall {
    #[serde(default, deserialize_with = "string_only")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "string_or_json")]
    pub input: Option<String>,
}

/// `image_url` content part body.
#[derive(Debug, Deserialize)]
pub struct InImageUrl {
    pub url: String,
    #[serde(default)]
    pub detail: Option<String>,
}

/// `file` content part body.
#[derive(Debug, Deserialize)]
pub struct InFile {
    #[serde(default)]
    pub file_data: Option<String>,
    #[serde(default)]
    pub file_id: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
}

/// One entry of `tools`.
#[derive(Debug, Deserialize)]
pub struct InTool {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub function: Option<InFunctionDef>,
    #[serde(default)]
    pub custom: Option<InCustomDef>,
}

#[derive(Debug, Deserialize)]
pub struct InFunctionDef {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct InCustomDef {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub format: Option<Value>,
}

/// `response_format`.
#[derive(Debug, Deserialize)]
pub struct InResponseFormat {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub json_schema: Option<InJsonSchema>,
}

#[derive(Debug, Deserialize)]
pub struct InJsonSchema {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub schema: Option<Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Response and stream chunks (upstream side input)

#[derive(Debug, Default, Deserialize)]
pub struct InCompletion {
    #[serde(default, deserialize_with = "string_only")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "string_only")]
    pub model: Option<String>,
    #[serde(default)]
    pub choices: Option<Vec<InChoice>>,
    #[serde(default)]
    pub usage: Option<InUsage>,
    #[serde(default)]
    pub error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct InChoice {
    #[serde(default)]
    pub index: Option<u64>,
    /// Non-streamed responses.
    #[serde(default)]
    pub message: Option<InDelta>,
    /// Stream chunks.
    #[serde(default)]
    pub delta: Option<InDelta>,
    #[serde(default, deserialize_with = "string_only")]
    pub finish_reason: Option<String>,
}

/// A response message or a stream delta (same fields).
#[derive(Debug, Default, Deserialize)]
pub struct InDelta {
    #[serde(default, deserialize_with = "string_only")]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "string_only")]
    pub reasoning_content: Option<String>,
    #[serde(default, deserialize_with = "string_only")]
    pub reasoning: Option<String>,
    #[serde(default, deserialize_with = "string_only")]
    pub refusal: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<InToolCall>>,
    #[serde(default)]
    pub function_call: Option<InFunction>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct InUsage {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub prompt_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub completion_tokens: Option<u64>,
    #[serde(default)]
    pub prompt_tokens_details: Option<InPromptDetails>,
    #[serde(default)]
    pub completion_tokens_details: Option<InCompletionDetails>,
    /// DeepSeek reports cache hits at the top level.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct InPromptDetails {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub cached_tokens: Option<u64>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct InCompletionDetails {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub reasoning_tokens: Option<u64>,
}

impl InUsage {
    /// Chat usage → canonical usage (see the table in `canonical::usage`).
    pub fn to_canonical(&self) -> Usage {
        Usage {
            input: self.prompt_tokens,
            output: self.completion_tokens,
            cache_read: self.prompt_tokens_details.and_then(|d| d.cached_tokens).or(self.prompt_cache_hit_tokens),
            cache_write: None,
            cache_write_1h: None,
            reasoning: self.completion_tokens_details.and_then(|d| d.reasoning_tokens),
        }
    }
}

/// Chat `finish_reason` → canonical.
pub fn finish_from_wire(s: &str) -> FinishReason {
    match s {
        "stop" | "end_turn" | "eos" => FinishReason::Stop,
        "length" | "max_tokens" => FinishReason::Length,
        "tool_calls" | "function_call" | "tool_use" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

/// Canonical → Chat `finish_reason`. `saw_tool_call` turns a plain stop into `tool_calls`
/// (Gemini reports `STOP` when it called functions).
pub fn finish_to_wire(reason: Option<&FinishReason>, saw_tool_call: bool) -> &'static str {
    match reason {
        Some(FinishReason::Length) => "length",
        Some(FinishReason::ContentFilter) => "content_filter",
        Some(FinishReason::ToolCalls) => "tool_calls",
        _ if saw_tool_call => "tool_calls",
        _ => "stop",
    }
}

// ---------------------------------------------------------------------------------------------
// Output types (upstream requests, client responses and chunks)

#[derive(Debug, Serialize)]
pub struct OutRequest<'a> {
    pub model: &'a str,
    pub messages: Vec<OutMessage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_cache_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_cache_retention: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<&'a Value>,
}

#[derive(Debug, Serialize)]
pub struct OutMessage {
    pub role: &'static str,
    /// A string, an array of content parts, or null (assistant with only tool calls).
    pub content: Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OutToolCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<OutFunction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom: Option<OutCustom>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutFunction {
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutCustom {
    pub name: String,
    pub input: String,
}

#[derive(Debug, Serialize)]
pub struct OutTool<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: OutFunctionDef<'a>,
}

#[derive(Debug, Serialize)]
pub struct OutFunctionDef<'a> {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<std::borrow::Cow<'a, str>>,
    pub parameters: std::borrow::Cow<'a, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `chat.completion` (non-streamed client response).
#[derive(Debug, Serialize)]
pub struct OutCompletion<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: [OutChoice; 1],
    pub usage: OutUsage,
}

#[derive(Debug, Serialize)]
pub struct OutChoice {
    pub index: u32,
    pub message: OutResponseMessage,
    pub finish_reason: &'static str,
    pub logprobs: Option<()>,
}

#[derive(Debug, Serialize)]
pub struct OutResponseMessage {
    pub role: &'static str,
    pub content: Option<String>,
    pub refusal: Option<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OutToolCall>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct OutUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<OutPromptDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<OutCompletionDetails>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct OutPromptDetails {
    pub cached_tokens: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct OutCompletionDetails {
    pub reasoning_tokens: u64,
}

impl OutUsage {
    /// Canonical → Chat usage (see the table in `canonical::usage`).
    pub fn from_canonical(u: &Usage) -> OutUsage {
        let prompt = u.input.unwrap_or(0);
        let completion = u.output.unwrap_or(0);
        OutUsage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
            prompt_tokens_details: u.cache_read.map(|c| OutPromptDetails { cached_tokens: c }),
            completion_tokens_details: u.reasoning.map(|r| OutCompletionDetails { reasoning_tokens: r }),
        }
    }
}

/// `chat.completion.chunk`.
#[derive(Debug, Serialize)]
pub struct OutChunk<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: Vec<OutChunkChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<OutUsage>,
}

#[derive(Debug, Serialize)]
pub struct OutChunkChoice<'a> {
    pub index: u32,
    pub delta: OutDelta<'a>,
    pub logprobs: Option<()>,
    pub finish_reason: Option<&'static str>,
}

#[derive(Debug, Default, Serialize)]
pub struct OutDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OutToolCallDelta<'a>>,
}

/// A tool-call delta: `index` always; `id`/`type`/`function.name` on the first one only.
#[derive(Debug, Serialize)]
pub struct OutToolCallDelta<'a> {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<OutFunctionDelta<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom: Option<OutCustomDelta<'a>>,
}

#[derive(Debug, Serialize)]
pub struct OutFunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub arguments: &'a str,
}

#[derive(Debug, Serialize)]
pub struct OutCustomDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub input: &'a str,
}

/// The error body (`{"error": {...}}`), both directions.
#[derive(Debug, Serialize)]
pub struct OutErrorBody<'a> {
    pub error: OutError<'a>,
}

#[derive(Debug, Serialize)]
pub struct OutError<'a> {
    pub message: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub param: Option<&'a str>,
    pub code: Option<&'a str>,
}
