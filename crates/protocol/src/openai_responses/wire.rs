//! Wire types of the OpenAI Responses protocol (`POST /v1/responses`).
//!
//! Input types are lenient: unknown fields are ignored, almost everything has a default, and
//! the places where the API takes a string *or* an array accept both. Items are dispatched on
//! their `type` by the decoder (from a `serde_json::Value`), so an error can name the item.
//! Output types (in `wire/output.rs`) are exact: `None`s are skipped, and the fields the
//! `openai` SDK and Codex read are always present.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::Value;

mod output;
mod request_out;
pub use output::*;
pub use request_out::*;

// === input: items and content parts (client requests, and upstream output items) ===

/// A string, or any other JSON value kept as its JSON text (some clients send tool-call
/// `arguments` as an object instead of a JSON string).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JsonText(pub String);

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => JsonText(s),
            Value::Null => JsonText(String::new()),
            other => JsonText(other.to_string()),
        })
    }
}

/// `content` of a message or `output` of a tool result: a string or a list of parts.
#[derive(Debug, Clone, PartialEq)]
pub enum StringOrParts {
    String(String),
    Parts(Vec<Value>),
}

impl Default for StringOrParts {
    fn default() -> Self {
        StringOrParts::String(String::new())
    }
}

impl<'de> Deserialize<'de> for StringOrParts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(StringOrParts::String(s)),
            Value::Null => Ok(StringOrParts::default()),
            Value::Array(a) => Ok(StringOrParts::Parts(a)),
            Value::Object(o) => Ok(StringOrParts::Parts(vec![Value::Object(o)])),
            other => Err(de::Error::custom(format!(
                "expected a string or an array of content parts, got {}",
                kind_of(&other)
            ))),
        }
    }
}

pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[derive(Debug, Deserialize)]
pub struct MessageItem {
    pub role: String,
    #[serde(default)]
    pub content: StringOrParts,
}

#[derive(Debug, Deserialize)]
pub struct FunctionCallItem {
    #[serde(default)]
    pub id: Option<String>,
    pub call_id: String,
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub arguments: JsonText,
}

#[derive(Debug, Deserialize)]
pub struct CustomToolCallItem {
    #[serde(default)]
    pub id: Option<String>,
    pub call_id: String,
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub input: String,
}

#[derive(Debug, Deserialize)]
pub struct ToolOutputItem {
    pub call_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub output: StringOrParts,
}

#[derive(Debug, Default, Deserialize)]
pub struct ReasoningItem {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub summary: Vec<TextPiece>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub content: Vec<TextPiece>,
    #[serde(default)]
    pub encrypted_content: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CompactionItem {
    #[serde(default)]
    pub encrypted_content: Option<String>,
}

/// `summary_text`, `reasoning_text`, `output_text`, `input_text`, `refusal`: anything with text.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct TextPiece {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub refusal: Option<String>,
}

impl TextPiece {
    pub fn text(&self) -> &str {
        self.text.as_deref().or(self.refusal.as_deref()).unwrap_or("")
    }
}

#[derive(Debug, Deserialize)]
pub struct ImagePart {
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default)]
    pub file_id: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct FilePart {
    #[serde(default)]
    pub file_data: Option<String>,
    #[serde(default)]
    pub file_id: Option<String>,
    #[serde(default)]
    pub file_url: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

// === input: tools and request options ===

#[derive(Debug, Deserialize)]
pub struct FunctionTool {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct CustomTool {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub format: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct NamespaceTool {
    pub name: String,
    #[serde(default)]
    pub tools: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ReasoningParam {
    #[serde(default)]
    pub effort: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    /// Deprecated spelling of `summary`.
    #[serde(default)]
    pub generate_summary: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct TextParam {
    #[serde(default)]
    pub format: Option<Value>,
    #[serde(default)]
    pub verbosity: Option<String>,
}

// === usage (both directions) ===

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct UsageIn {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub input_tokens_details: Option<InputDetailsIn>,
    #[serde(default)]
    pub output_tokens_details: Option<OutputDetailsIn>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct InputDetailsIn {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
    #[serde(default)]
    pub cache_write_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct OutputDetailsIn {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

// === upstream responses and stream events (what OpenAI sends us) ===

/// The parts of a Response object the decoders read (`output` is read separately when needed).
#[derive(Debug, Default, Deserialize)]
pub struct ResponseHead {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub usage: Option<UsageIn>,
    #[serde(default)]
    pub incomplete_details: Option<IncompleteIn>,
    #[serde(default)]
    pub error: Option<ErrorBody>,
}

#[derive(Debug, Default, Deserialize)]
pub struct IncompleteIn {
    #[serde(default)]
    pub reason: Option<String>,
}

/// `{message, type, param, code}`: the body of an OpenAI error, of `response.error`, and of a
/// top-level `error` stream event. `code` and `param` are sometimes numbers or null.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub param: Option<Value>,
    #[serde(default)]
    pub code: Option<Value>,
}

/// One upstream stream event, with the fields any event type carries we care about.
#[derive(Debug, Default, Deserialize)]
pub struct StreamEventIn {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub output_index: Option<u64>,
    #[serde(default)]
    pub summary_index: Option<u64>,
    #[serde(default)]
    pub delta: Option<JsonText>,
    #[serde(default)]
    pub item: Option<StreamItemIn>,
    #[serde(default)]
    pub response: Option<ResponseHead>,
    /// Top-level `error` events carry these directly…
    #[serde(default)]
    pub code: Option<Value>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub param: Option<Value>,
    /// …or nested (some proxies).
    #[serde(default)]
    pub error: Option<ErrorBody>,
}

/// An output item as a stream event carries it (`output_item.added` / `.done`).
#[derive(Debug, Default, Deserialize)]
pub struct StreamItemIn {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub call_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub arguments: Option<JsonText>,
    #[serde(default)]
    pub input: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub content: Vec<TextPiece>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub summary: Vec<TextPiece>,
    #[serde(default)]
    pub encrypted_content: Option<String>,
}

/// An OpenAI-shaped error response body: `{"error": {...}}`.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorEnvelope {
    #[serde(default)]
    pub error: Option<ErrorBody>,
    /// The ChatGPT backend answers `{"detail": "..."}`.
    #[serde(default)]
    pub detail: Option<Value>,
}

/// A JSON `code` as a string (`"rate_limit_exceeded"`, `429` → `"429"`).
pub fn code_string(v: &Option<Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}
