//! Wire types of the Anthropic Messages protocol.
//!
//! Input types (`In*`) are lenient: unknown fields are ignored, most fields default, content is
//! a string or a list of blocks. Content blocks themselves are read as `serde_json::Value`
//! first and dispatched on their `type` (see `decode`), so an unknown block type survives as a
//! `Part::Unknown` instead of failing the whole request.
//!
//! Output types (`Out*`) are exact: `None`s are skipped unless the real API writes `null`
//! (`stop_reason`, `stop_sequence`).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

// === shared helpers ===

/// A string, or a list of content blocks (`system`, message `content`, `tool_result.content`).
/// Read by a visitor rather than `#[serde(untagged)]`, which would buffer the whole value first.
#[derive(Debug, Clone)]
pub enum InContent {
    Text(String),
    Blocks(Vec<Value>),
}

impl<'de> Deserialize<'de> for InContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ContentVisitor;
        impl<'de> serde::de::Visitor<'de> for ContentVisitor {
            type Value = InContent;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of content blocks")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<InContent, E> {
                Ok(InContent::Text(s.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<InContent, E> {
                Ok(InContent::Text(s))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<InContent, A::Error> {
                let mut blocks = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(block) = seq.next_element()? {
                    blocks.push(block);
                }
                Ok(InContent::Blocks(blocks))
            }
        }
        d.deserialize_any(ContentVisitor)
    }
}

/// A token count that tolerates `null`, floats and garbage (→ `None`): usage must never fail
/// a response or a stream.
pub use crate::raw_json::lenient_u64;

// === request ===

#[derive(Debug, Clone, Deserialize)]
pub struct InMessage {
    pub role: String,
    pub content: InContent,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InTool {
    /// Absent or `custom` for client tools; `web_search_20250305`, `bash_20250124`, … for
    /// server / Anthropic-defined tools.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub input_schema: Option<Value>,
    #[serde(default)]
    pub cache_control: Option<Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InToolChoice {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub disable_parallel_tool_use: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InThinking {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub budget_tokens: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct InOutputConfig {
    #[serde(default)]
    pub effort: Option<String>,
    #[serde(default)]
    pub format: Option<InFormat>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InFormat {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub schema: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct InMetadata {
    /// Claude Code sends a JSON-encoded object here, as a string.
    #[serde(default)]
    pub user_id: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InTextBlock {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub cache_control: Option<Value>,
    #[serde(default)]
    pub citations: Option<Value>,
}

/// `image.source` / `document.source`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InSource {
    Base64 {
        #[serde(default)]
        media_type: String,
        data: String,
    },
    Url {
        url: String,
    },
    /// Plain-text document.
    Text {
        #[serde(default)]
        data: String,
    },
    /// Document made of content blocks.
    Content {
        content: InContent,
    },
    File {
        file_id: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
pub struct InMediaBlock {
    pub source: InSource,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub cache_control: Option<Value>,
}

/// A request's `tool_use` block without its `input` (read in place, not copied).
#[derive(Debug, Clone, Deserialize)]
pub struct InToolUseHead {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InToolUseBlock {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub input: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InToolResultBlock {
    #[serde(default)]
    pub tool_use_id: String,
    #[serde(default)]
    pub content: Option<InContent>,
    #[serde(default)]
    pub is_error: Option<bool>,
    #[serde(default)]
    pub cache_control: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InThinkingBlock {
    #[serde(default)]
    pub thinking: String,
    #[serde(default)]
    pub signature: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InRedactedThinkingBlock {
    #[serde(default)]
    pub data: String,
}

// === response and stream input ===

#[derive(Debug, Clone, Default, Deserialize)]
pub struct InUsage {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub output_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub cache_read_input_tokens: Option<u64>,
    /// The cache writes split by TTL (`cache_control.ttl` of the breakpoints).
    #[serde(default)]
    pub cache_creation: Option<InCacheCreation>,
}

/// `usage.cache_creation`: tokens written to the prompt cache per TTL.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct InCacheCreation {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub ephemeral_5m_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub ephemeral_1h_input_tokens: Option<u64>,
}

impl InUsage {
    /// All cache writes: `cache_creation_input_tokens`, else the sum of the per-TTL counts.
    pub fn cache_write(&self) -> Option<u64> {
        self.cache_creation_input_tokens.or_else(|| {
            let c = self.cache_creation?;
            match (c.ephemeral_5m_input_tokens, c.ephemeral_1h_input_tokens) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
            }
        })
    }

    /// The 1-hour part of the cache writes, when the upstream split them.
    pub fn cache_write_1h(&self) -> Option<u64> {
        self.cache_creation.and_then(|c| c.ephemeral_1h_input_tokens)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct InResponse {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub content: Vec<Value>,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub stop_sequence: Option<String>,
    #[serde(default)]
    pub usage: Option<InUsage>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct InMessageDelta {
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub stop_sequence: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct InErrorBody {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// One upstream stream event, dispatched on `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InStreamEvent {
    MessageStart {
        message: InResponse,
    },
    ContentBlockStart {
        index: u64,
        content_block: Value,
    },
    ContentBlockDelta {
        index: u64,
        delta: Value,
    },
    ContentBlockStop {
        index: u64,
    },
    MessageDelta {
        #[serde(default)]
        delta: InMessageDelta,
        #[serde(default)]
        usage: Option<InUsage>,
    },
    MessageStop,
    Ping,
    Error {
        #[serde(default)]
        error: InErrorBody,
    },
    #[serde(other)]
    Unknown,
}

// === output ===

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutSource {
    Base64 { media_type: String, data: String },
    Url { url: String },
    Text { media_type: String, data: String },
    File { file_id: String },
}

/// `tool_result.content`: a plain string when it is one uncached text, else blocks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OutToolResultContent {
    Text(String),
    Blocks(Vec<OutBlock>),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutBlock {
    Text {
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Image {
        source: OutSource,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Document {
        source: OutSource,
        #[serde(skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<OutToolResultContent>,
        #[serde(skip_serializing_if = "Option::is_none")]
        is_error: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Thinking {
        thinking: String,
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
    /// A block we do not model, replayed verbatim (same-protocol `Part::Unknown`).
    #[serde(untagged)]
    Raw(Value),
}

impl OutBlock {
    /// The block's `cache_control` slot, when Anthropic allows a breakpoint on it (not on
    /// thinking blocks; raw blocks are the client's own).
    pub fn cache_slot(&mut self) -> Option<&mut Option<Value>> {
        match self {
            OutBlock::Text { cache_control, .. }
            | OutBlock::Image { cache_control, .. }
            | OutBlock::Document { cache_control, .. }
            | OutBlock::ToolUse { cache_control, .. }
            | OutBlock::ToolResult { cache_control, .. } => Some(cache_control),
            OutBlock::Thinking { .. } | OutBlock::RedactedThinking { .. } | OutBlock::Raw(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
}

/// The Message object (non-streamed reply, and `message_start.message`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutMessage {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub role: &'static str,
    pub model: String,
    pub content: Vec<OutBlock>,
    pub stop_reason: Option<&'static str>,
    pub stop_sequence: Option<String>,
    pub usage: OutUsage,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutDelta {
    TextDelta { text: String },
    ThinkingDelta { thinking: String },
    SignatureDelta { signature: String },
    InputJsonDelta { partial_json: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutMessageDeltaBody {
    pub stop_reason: Option<&'static str>,
    pub stop_sequence: Option<String>,
}

/// `message_delta.usage`: `output_tokens` always; the others when known (they are totals).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutDeltaUsage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    pub output_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutErrorBody {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub message: String,
}

/// One client stream event; `type` doubles as the SSE `event:` name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutStreamEvent {
    MessageStart { message: OutMessage },
    Ping,
    ContentBlockStart { index: usize, content_block: OutBlock },
    ContentBlockDelta { index: usize, delta: OutDelta },
    ContentBlockStop { index: usize },
    MessageDelta { delta: OutMessageDeltaBody, usage: OutDeltaUsage },
    MessageStop,
    Error { error: OutErrorBody },
}

impl OutStreamEvent {
    pub fn name(&self) -> &'static str {
        match self {
            OutStreamEvent::MessageStart { .. } => "message_start",
            OutStreamEvent::Ping => "ping",
            OutStreamEvent::ContentBlockStart { .. } => "content_block_start",
            OutStreamEvent::ContentBlockDelta { .. } => "content_block_delta",
            OutStreamEvent::ContentBlockStop { .. } => "content_block_stop",
            OutStreamEvent::MessageDelta { .. } => "message_delta",
            OutStreamEvent::MessageStop => "message_stop",
            OutStreamEvent::Error { .. } => "error",
        }
    }
}

/// `{"type":"error","error":{"type","message"}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutError {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub error: OutErrorBody,
}

// === upstream request (output) ===

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutRequest {
    pub model: String,
    pub max_tokens: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<OutBlock>,
    pub messages: Vec<OutMessageParam>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<OutTool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<OutToolChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<OutThinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_config: Option<OutOutputConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<OutMetadata>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutMessageParam {
    pub role: &'static str,
    pub content: Vec<OutBlock>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutTool {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub input_schema: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutToolChoice {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_parallel_tool_use: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutThinking {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_tokens: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutOutputConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<OutFormat>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutFormat {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub schema: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutMetadata {
    pub user_id: String,
}
