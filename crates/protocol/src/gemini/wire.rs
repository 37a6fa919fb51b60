//! Wire types of the Gemini `generateContent` / `streamGenerateContent` protocol (v1beta).
//!
//! Field names are camelCase on the wire; the REST API also accepts snake_case, so every
//! input field has a snake_case alias. Output skips `None`s. Unknown input fields are ignored
//! (a part keeps them in `extra`, so an unmodelled part can be replayed to a Gemini upstream).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// `GenerateContentRequest` as crossbar writes it to an upstream. (Client requests are read
/// field by field in `decode.rs`, so that errors can name the offending field.)
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    pub contents: Vec<Content>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<WirePart>,
}

/// One `Part`: exactly one data field (`text`, `inlineData`, `fileData`, `functionCall`,
/// `functionResponse`, `executableCode`, `codeExecutionResult`) plus `thought` and
/// `thoughtSignature` metadata. Read by a hand-written visitor (`part_de.rs`): a derived
/// `#[serde(flatten)]` would buffer every part before reading it. The `alias`es below document
/// the snake_case names it accepts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WirePart {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    #[serde(default, alias = "inline_data", skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Blob>,
    #[serde(default, alias = "file_data", skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData>,
    #[serde(default, alias = "function_call", skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    #[serde(default, alias = "function_response", skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponse>,
    #[serde(default, alias = "executable_code", skip_serializing_if = "Option::is_none")]
    pub executable_code: Option<Value>,
    #[serde(default, alias = "code_execution_result", skip_serializing_if = "Option::is_none")]
    pub code_execution_result: Option<Value>,
    #[serde(default, alias = "thought_signature", skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
    /// Anything else (`videoMetadata`, `partMetadata`, …), kept for same-protocol replay.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl WirePart {
    pub fn text(text: impl Into<String>) -> WirePart {
        WirePart { text: Some(text.into()), ..Default::default() }
    }
    pub fn thought(text: impl Into<String>) -> WirePart {
        WirePart { text: Some(text.into()), thought: Some(true), ..Default::default() }
    }
    pub fn is_thought(&self) -> bool {
        self.thought == Some(true)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    #[serde(default, alias = "mime_type")]
    pub mime_type: String,
    #[serde(default)]
    pub data: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData {
    #[serde(default, alias = "mime_type", skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, alias = "file_uri")]
    pub file_uri: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    /// Multimodal function responses (`[{inlineData}|{fileData}]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<WirePart>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    #[serde(default, alias = "function_declarations", skip_serializing_if = "Vec::is_empty")]
    pub function_declarations: Vec<FunctionDeclaration>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// OpenAPI-subset `Schema` (upper-case types, `nullable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Plain JSON Schema (what Gemini CLI sends).
    #[serde(default, alias = "parameters_json_schema", skip_serializing_if = "Option::is_none")]
    pub parameters_json_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    #[serde(default, alias = "function_calling_config", skip_serializing_if = "Option::is_none")]
    pub function_calling_config: Option<FunctionCallingConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, alias = "allowed_function_names", skip_serializing_if = "Option::is_none")]
    pub allowed_function_names: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, alias = "top_p", skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Integers on the wire, read as any number so `64.0` is accepted (and written as `64`).
    #[serde(default, alias = "top_k", skip_serializing_if = "Option::is_none")]
    pub top_k: Option<Number>,
    #[serde(default, alias = "max_output_tokens", skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<Number>,
    #[serde(default, alias = "stop_sequences", skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<StringOrList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<Number>,
    #[serde(default, alias = "presence_penalty", skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(default, alias = "frequency_penalty", skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(default, alias = "candidate_count", skip_serializing_if = "Option::is_none")]
    pub candidate_count: Option<Number>,
    #[serde(default, alias = "response_mime_type", skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    #[serde(default, alias = "response_schema", skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
    #[serde(
        default,
        alias = "response_json_schema",
        alias = "_responseJsonSchema",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_json_schema: Option<Value>,
    #[serde(default, alias = "response_modalities", skip_serializing_if = "Option::is_none")]
    pub response_modalities: Option<Vec<String>>,
    #[serde(default, alias = "thinking_config", skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ThinkingConfig>,
    #[serde(default, alias = "response_logprobs", skip_serializing_if = "Option::is_none")]
    pub response_logprobs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
    #[serde(default, alias = "speech_config", skip_serializing_if = "Option::is_none")]
    pub speech_config: Option<Value>,
    #[serde(default, alias = "media_resolution", skip_serializing_if = "Option::is_none")]
    pub media_resolution: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingConfig {
    #[serde(default, alias = "include_thoughts", skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
    #[serde(default, alias = "thinking_budget", skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<i64>,
    #[serde(default, alias = "thinking_level", skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<String>,
}

/// A string or a list of strings (`stopSequences` is a list; some clients send one string).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            StringOrList::One(s) => vec![s],
            StringOrList::Many(v) => v,
        }
    }
}

/// `GenerateContentResponse`: the non-streamed body, and every chunk of a stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
    #[serde(default, alias = "prompt_feedback", skip_serializing_if = "Option::is_none")]
    pub prompt_feedback: Option<PromptFeedback>,
    #[serde(default, alias = "usage_metadata", skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
    #[serde(default, alias = "model_version", skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    #[serde(default, alias = "response_id", skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    #[serde(default, alias = "finish_reason", skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(default, alias = "finish_message", skip_serializing_if = "Option::is_none")]
    pub finish_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    #[serde(default, alias = "block_reason", skip_serializing_if = "Option::is_none")]
    pub block_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    #[serde(default, alias = "prompt_token_count", skip_serializing_if = "Option::is_none")]
    pub prompt_token_count: Option<u64>,
    #[serde(default, alias = "candidates_token_count", skip_serializing_if = "Option::is_none")]
    pub candidates_token_count: Option<u64>,
    #[serde(default, alias = "total_token_count", skip_serializing_if = "Option::is_none")]
    pub total_token_count: Option<u64>,
    #[serde(default, alias = "thoughts_token_count", skip_serializing_if = "Option::is_none")]
    pub thoughts_token_count: Option<u64>,
    #[serde(default, alias = "cached_content_token_count", skip_serializing_if = "Option::is_none")]
    pub cached_content_token_count: Option<u64>,
    #[serde(default, alias = "tool_use_prompt_token_count", skip_serializing_if = "Option::is_none")]
    pub tool_use_prompt_token_count: Option<u64>,
}

/// `{"error": {"code", "message", "status", "details"}}` (Google's `google.rpc.Status`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Value>,
}
