//! What clients get: output items, the Response object, usage and error bodies.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// Usage as clients get it: every field Codex and the SDK read is present (zero when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UsageOut {
    pub input_tokens: u64,
    pub input_tokens_details: InputDetailsOut,
    pub output_tokens: u64,
    pub output_tokens_details: OutputDetailsOut,
    pub total_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct InputDetailsOut {
    pub cached_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OutputDetailsOut {
    pub reasoning_tokens: u64,
}

// === output: items and the response object (what clients get) ===

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutItem {
    Message {
        id: String,
        status: &'static str,
        role: &'static str,
        content: Vec<OutputText>,
    },
    Reasoning {
        id: String,
        summary: Vec<SummaryText>,
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<Vec<ReasoningText>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
    FunctionCall {
        id: String,
        status: &'static str,
        call_id: String,
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        arguments: String,
    },
    CustomToolCall {
        id: String,
        status: &'static str,
        call_id: String,
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        input: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputText {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    pub annotations: [(); 0],
    pub logprobs: [(); 0],
}

impl OutputText {
    pub fn new(text: impl Into<String>) -> OutputText {
        OutputText { kind: "output_text", text: text.into(), annotations: [], logprobs: [] }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryText {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
}

impl SummaryText {
    pub fn new(text: impl Into<String>) -> SummaryText {
        SummaryText { kind: "summary_text", text: text.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReasoningText {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncompleteDetails {
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TextConfig {
    pub format: TextFormatOut,
}

#[derive(Debug, Clone, Serialize)]
pub struct TextFormatOut {
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// The Response object (`object: "response"`), as the non-streamed body and inside the
/// lifecycle events. The request echo fields (`tool_choice`, `tools`, …) carry neutral values:
/// the encoders see the response, not the request.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseObject<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created_at: u64,
    pub status: &'static str,
    pub background: bool,
    pub error: Option<ResponseError>,
    pub incomplete_details: Option<IncompleteDetails>,
    pub instructions: Option<String>,
    pub max_output_tokens: Option<u64>,
    pub model: &'a str,
    pub output: &'a [Box<RawValue>],
    pub parallel_tool_calls: bool,
    pub previous_response_id: Option<String>,
    pub store: bool,
    pub temperature: Option<f64>,
    pub text: TextConfig,
    pub tool_choice: &'static str,
    pub tools: [(); 0],
    pub top_p: Option<f64>,
    pub truncation: &'static str,
    pub usage: Option<UsageOut>,
    pub metadata: serde_json::Map<String, Value>,
}

impl<'a> ResponseObject<'a> {
    pub fn new(id: &'a str, created_at: u64, model: &'a str, output: &'a [Box<RawValue>]) -> Self {
        ResponseObject {
            id,
            object: "response",
            created_at,
            status: "in_progress",
            background: false,
            error: None,
            incomplete_details: None,
            instructions: None,
            max_output_tokens: None,
            model,
            output,
            parallel_tool_calls: true,
            previous_response_id: None,
            store: false,
            temperature: None,
            text: TextConfig { format: TextFormatOut { kind: "text" } },
            tool_choice: "auto",
            tools: [],
            top_p: None,
            truncation: "disabled",
            usage: None,
            metadata: serde_json::Map::new(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ErrorEnvelopeOut<'a> {
    pub error: ErrorBodyOut<'a>,
}

#[derive(Debug, Serialize)]
pub struct ErrorBodyOut<'a> {
    pub message: &'a str,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub param: Option<&'a str>,
    pub code: Option<&'a str>,
}
