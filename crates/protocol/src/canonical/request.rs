//! The canonical request.
//!
//! Conventions every adapter follows:
//! - Leading system/developer text goes to `Request::system`; system or developer messages that
//!   appear later in the conversation stay in `messages` with `Role::System`/`Role::Developer`.
//! - Tool results live in a message of `Role::Tool`, one or more `Part::ToolResult` each.
//!   Decoders split a provider message that mixes tool results and text (Anthropic user turns)
//!   into a `Tool` message followed by a `User` message, keeping order.
//! - Tool-call arguments are kept as the raw JSON text the model produced (providers stream
//!   them as fragments). For `ToolCallKind::Custom` (freeform) calls they are the raw input text.

use super::opaque::Opaque;
use super::reasoning::ReasoningConfig;
use super::Loss;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The upstream model name (the application sets it before encoding upstream).
    pub model: String,
    /// Leading system / developer instructions, in order.
    pub system: Vec<Part>,
    /// True when the leading instructions were a `developer` message (OpenAI) rather than `system`.
    pub system_is_developer: bool,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolDef>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub sampling: Sampling,
    pub reasoning: Option<ReasoningConfig>,
    pub output: Option<OutputFormat>,
    pub stream: bool,
    pub metadata: Metadata,
    /// What the decoder could not carry (harmless drops; fatal ones are `ProtocolError`).
    pub losses: Vec<Loss>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache: Option<CacheHint>,
    },
    Image {
        source: MediaSource,
        /// OpenAI `detail` (`auto|low|high|original`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    File {
        source: MediaSource,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
    },
    ToolCall(ToolCall),
    ToolResult(ToolResult),
    Reasoning(Reasoning),
    /// Something this protocol has that we do not model. Encoders of the same protocol may
    /// replay it; every other encoder drops it and records a `Loss`.
    Unknown {
        origin: super::Protocol,
        value: Value,
    },
}

impl Part {
    pub fn text(s: impl Into<String>) -> Part {
        Part::Text { text: s.into(), cache: None }
    }
}

/// Anthropic `cache_control` breakpoint, kept only for Anthropic upstreams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheHint {
    /// The raw `cache_control` object (`{"type":"ephemeral","ttl":"1h"}`).
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MediaSource {
    Url { url: String },
    Base64 { media_type: String, data: String },
    FileId { id: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolCallKind {
    #[default]
    Function,
    /// OpenAI freeform (`custom`) tool: `arguments` is the raw input text.
    Custom,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    /// The flat name (for Codex namespace tools, `ns__name`; see `ToolIndex`).
    pub name: String,
    /// Raw JSON text for functions, raw input text for custom tools.
    pub arguments: String,
    #[serde(default)]
    pub kind: ToolCallKind,
    /// Provider state attached to the call (Gemini `thoughtSignature` on a `functionCall`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opaque: Option<Opaque>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    pub call_id: String,
    /// Gemini needs the function name on its `functionResponse`; others may leave it empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Text and images. A plain string result is one `Part::Text`.
    pub content: Vec<Part>,
    #[serde(default)]
    pub is_error: bool,
    /// The result of a `custom` (freeform) call rather than a function call.
    #[serde(default)]
    pub kind: ToolCallKind,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reasoning {
    /// Raw reasoning / thinking text (Anthropic `thinking`, Responses `reasoning_text`,
    /// Chat `reasoning_content`, Gemini thought text).
    #[serde(default)]
    pub text: String,
    /// Responses reasoning summaries, one string per summary part.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub summary: Vec<String>,
    /// The provider's own reasoning state that must be replayed (signature, encrypted content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opaque: Option<Opaque>,
    /// Anthropic `redacted_thinking`: no text, only `opaque`.
    #[serde(default)]
    pub redacted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    /// Name inside its namespace (or the only name when there is none).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments (functions). For custom tools: `{}`.
    pub parameters: Value,
    pub kind: ToolKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheHint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolKind {
    Function,
    /// OpenAI freeform tool; `format` is the raw `format` object (e.g. a lark grammar).
    Custom {
        format: Option<Value>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    /// Force this tool (flat name).
    Named {
        name: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        schema: Value,
        #[serde(default)]
        strict: bool,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// End-user id (OpenAI `user`, Anthropic `metadata.user_id`, Responses `safety_identifier`).
    pub user: Option<String>,
    /// Conversation key for provider prompt caches and sticky routing (`prompt_cache_key`).
    pub prompt_cache_key: Option<String>,
    /// How long the client wants its prompt cache kept (OpenAI `prompt_cache_retention`:
    /// `in_memory` or `24h`); an Anthropic upstream gets `ttl: "1h"` breakpoints for `24h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_retention: Option<String>,
    /// Whether the client asked the provider to store the response (OpenAI `store`).
    pub store: Option<bool>,
    /// Provider-side request metadata (OpenAI `metadata`, Responses `client_metadata`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}
