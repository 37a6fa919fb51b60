//! What an upstream `/responses` gets: the request body and its input items, serialized
//! straight from borrowed canonical data.
//!
//! Field order is alphabetical in every struct: the body used to be built from
//! `serde_json::Value` maps (sorted keys), and upstream goldens pin those bytes. `kind` is the
//! wire `type` field.

use serde::Serialize;
use serde_json::Value;

#[derive(Serialize)]
pub struct RequestOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include: Option<[&'static str; 1]>,
    pub input: Vec<InputItemOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<&'a Value>,
    pub model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_cache_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_cache_retention: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<ReasoningParamOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety_identifier: Option<&'a str>,
    pub store: bool,
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
}

#[derive(Serialize)]
pub struct ReasoningParamOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effort: Option<&'static str>,
    pub summary: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum InputItemOut<'a> {
    Message {
        content: Vec<ContentOut<'a>>,
        role: &'static str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    FunctionCall {
        arguments: &'a str,
        call_id: &'a str,
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<&'a str>,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    CustomToolCall {
        call_id: &'a str,
        input: String,
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<&'a str>,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    ToolOutput {
        call_id: &'a str,
        output: ToolOutputOut<'a>,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    Reasoning {
        encrypted_content: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
        summary: Vec<TextOut<'a>>,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    /// A replayed item this gateway does not model (hosted tool calls).
    Raw(&'a Value),
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum ToolOutputOut<'a> {
    Text(String),
    Parts(Vec<ContentOut<'a>>),
}

/// `{"text", "type"}`: `input_text`, `output_text`, `summary_text`.
#[derive(Serialize)]
pub struct TextOut<'a> {
    pub text: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum ContentOut<'a> {
    Text(TextOut<'a>),
    Image {
        detail: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        file_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        image_url: Option<String>,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    File {
        #[serde(skip_serializing_if = "Option::is_none")]
        file_data: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        file_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        file_url: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        filename: Option<&'a str>,
        #[serde(rename = "type")]
        kind: &'static str,
    },
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum ToolOut<'a> {
    Function {
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<&'a str>,
        name: &'a str,
        parameters: &'a Value,
        strict: bool,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    Custom {
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        format: Option<&'a Value>,
        name: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    Namespace {
        name: &'a str,
        tools: Vec<ToolOut<'a>>,
        #[serde(rename = "type")]
        kind: &'static str,
    },
}
