//! The canonical model: one request, one response and one stream-event model that every
//! protocol decodes into and encodes from. Each protocol is therefore written twice (decode
//! and encode), never once per pair.
//!
//! Naming: the two sides are *client* (who called crossbar) and *upstream* (the provider).

mod collect;
mod error;
mod event;
pub mod fingerprint;
mod loss;
pub mod opaque;
pub mod reasoning;
mod request;
mod response;
pub mod tools;
mod usage;

pub use collect::Collector;
pub use error::{ErrorInfo, ErrorKind, ProtocolError};
pub use event::{PartKind, StreamEvent};
pub use fingerprint::{Divergence, Fingerprint};
pub use loss::Loss;
pub use opaque::{Opaque, OpaqueCodec, Origin};
pub use reasoning::{Effort, ReasoningConfig};
pub use request::{
    CacheHint, MediaSource, Message, Metadata, OutputFormat, Part, Reasoning, Request, Role, Sampling, ToolCall,
    ToolCallKind, ToolChoice, ToolDef, ToolKind, ToolResult,
};
pub use response::{FinishReason, Response};
pub use tools::ToolIndex;
pub use usage::Usage;

/// Which wire protocol a payload is in. Client protocols and upstream kinds share this enum:
/// a provider of kind `anthropic` speaks `Protocol::Anthropic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    OpenaiChat,
    OpenaiResponses,
    Anthropic,
    Gemini,
}

impl Protocol {
    pub const ALL: [Protocol; 4] =
        [Protocol::OpenaiChat, Protocol::OpenaiResponses, Protocol::Anthropic, Protocol::Gemini];

    /// Low-cardinality name, used in metrics, logs and config (`kind = "openai-chat"`).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::OpenaiChat => "openai-chat",
            Protocol::OpenaiResponses => "openai-responses",
            Protocol::Anthropic => "anthropic",
            Protocol::Gemini => "gemini",
        }
    }
}

/// What every adapter function gets besides its payload.
///
/// Built once per request by the application. `tools` are the tools the *client* declared
/// (after decoding), so client-side encoders can restore what a foreign upstream flattened:
/// a `custom` (freeform) tool sent upstream as a one-string-argument function, or a Codex
/// `namespace` tool sent as `ns__name`.
#[derive(Debug, Clone)]
pub struct Cx {
    /// Seals and opens gateway-owned opaque state (see `opaque`).
    pub codec: std::sync::Arc<OpaqueCodec>,
    /// Tools the client declared, by their flat (upstream) name.
    pub tools: std::sync::Arc<ToolIndex>,
    /// OpenAI Chat: the client set `stream_options.include_usage`.
    pub include_usage: bool,
    /// Gemini: the client asked for `alt=sse` framing (otherwise a streamed JSON array).
    pub sse: bool,
    /// Unix seconds, used for `created` / `created_at` fields the encoders write.
    pub created: u64,
    /// A unique id for this exchange (e.g. `resp_…`, `msg_…`, `chatcmpl-…` are derived from it).
    pub id: String,
}

impl Cx {
    /// A context with no declared tools, for tests and simple callers.
    pub fn new(codec: std::sync::Arc<OpaqueCodec>) -> Self {
        Cx {
            codec,
            tools: std::sync::Arc::new(ToolIndex::default()),
            include_usage: false,
            sse: true,
            created: 0,
            id: "0000000000000000".to_string(),
        }
    }
}
