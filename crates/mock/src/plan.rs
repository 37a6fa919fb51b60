//! The reply plan: what to answer, decided once and protocol-independently. Each protocol
//! module only renders a `Plan` in its own wire format.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::directives::{Directives, Inputs, Tool, ToolKind};

/// The model name used when a request names none, and in the model lists.
pub const MODEL: &str = "mock-model";
/// Declared tools that count as "shell-like", in order of preference.
pub const SHELL_TOOLS: [&str; 7] =
    ["exec_command", "shell", "shell_command", "Bash", "bash", "run_shell_command", "local_shell"];
pub const SHELL_COMMAND: &str = "echo mock-tool-ran";
pub const REASONING: &str = "The user wants a mock answer, so I will give one.";
/// Opaque reasoning tokens (valid base64: the Gemini SDK decodes its signature).
pub const ANTHROPIC_SIGNATURE: &str = "bW9jay1zaWduYXR1cmU=";
pub const ENCRYPTED_REASONING: &str = "bW9jay1lbmNyeXB0ZWQtcmVhc29uaW5n";
pub const THOUGHT_SIGNATURE: &str = "bW9jay10aG91Z2h0LXNpZ25hdHVyZQ==";
const WORDS: [&str; 8] = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"];

/// One tool call. `args` is the arguments JSON text (for `Custom`, the raw input text).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: String,
    pub namespace: Option<String>,
    pub kind: ToolKind,
    pub args: String,
}

/// Deterministic usage: input = request bytes / 4 (at least 1), output = words of output.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub input: u64,
    /// Of `input`, how many were cache reads (`mock:cached=N`, capped at `input`).
    pub cached: u64,
    /// Includes `reasoning`.
    pub output: u64,
    pub reasoning: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input + self.output
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// Unique per mock; protocol modules derive their ids from it.
    pub id: u64,
    pub created: u64,
    pub model: String,
    pub reasoning: Option<&'static str>,
    pub text: Option<String>,
    pub calls: Vec<Call>,
    pub usage: Usage,
}

/// The deterministic token count of a request body.
pub fn input_tokens(body_len: usize) -> u64 {
    (body_len as u64 / 4).max(1)
}

fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// Stream pieces: one word (with its trailing space) at a time; they concatenate to `text`.
pub fn chunks(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive(' ')
}

/// Argument text in 2 or 3 fragments (1 when shorter than 2 bytes), split at char boundaries.
pub fn fragments(s: &str) -> Vec<&str> {
    let n = s.len().min(3);
    if n < 2 {
        return vec![s];
    }
    let size = s.len().div_ceil(n);
    let mut out = Vec::with_capacity(n);
    let mut rest = s;
    while !rest.is_empty() {
        let mut cut = size.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push(head);
        rest = tail;
    }
    out
}

impl Plan {
    pub fn new(inputs: &Inputs<'_>, d: &Directives, body_len: usize, id: u64) -> Plan {
        let mut text = None;
        let mut calls = Vec::new();
        if let Some(result) = &inputs.tool_result {
            text = Some(format!("MOCK_FINAL: the tool said: {}", result.trim()));
        } else if d.tool || d.parallel {
            calls = tool_calls(&inputs.tools, d);
        }
        if text.is_none() && calls.is_empty() {
            text = Some(reply_text(inputs, d));
        }
        let reasoning = d.reasoning.then_some(REASONING);
        let reasoning_words = reasoning.map_or(0, words);
        let output = text.as_deref().map_or(0, words)
            + reasoning_words
            + calls.iter().map(|c| 1 + words(&c.args)).sum::<u64>();
        let input = input_tokens(body_len);
        let model = if inputs.model.is_empty() { MODEL } else { inputs.model };
        Plan {
            id,
            created: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |t| t.as_secs()),
            model: model.to_owned(),
            reasoning,
            text,
            calls,
            usage: Usage { input, cached: d.cached.unwrap_or(0).min(input), output, reasoning: reasoning_words },
        }
    }
}

fn reply_text(inputs: &Inputs<'_>, d: &Directives) -> String {
    if d.json || inputs.json.is_some() {
        let value = match inputs.json.flatten() {
            Some(schema) => instance(schema, schema, 0),
            None => json!({"answer": "mock"}),
        };
        return value.to_string();
    }
    if let Some(n) = d.words {
        let mut s = String::with_capacity(n * 8);
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(WORDS[i % WORDS.len()]);
        }
        return s;
    }
    let last = inputs.user_texts.last().map_or("", |t| t.trim());
    match last.strip_prefix("Reply with exactly ") {
        Some(exact) => exact.trim().to_owned(),
        None => format!("echo: {last}"),
    }
}

fn tool_calls(tools: &[Tool<'_>], d: &Directives) -> Vec<Call> {
    let chosen = match &d.tool_name {
        Some(name) => Some(tools.iter().find(|t| t.name == name).cloned().unwrap_or(Tool {
            name,
            namespace: None,
            kind: ToolKind::Function,
            schema: None,
        })),
        None => SHELL_TOOLS
            .iter()
            .find_map(|s| tools.iter().find(|t| t.name == *s))
            .or_else(|| tools.first())
            .cloned(),
    };
    let Some(tool) = chosen else { return Vec::new() };
    let call = Call {
        name: tool.name.to_owned(),
        namespace: tool.namespace.map(str::to_owned),
        kind: tool.kind,
        args: arguments(&tool),
    };
    if d.parallel {
        vec![call.clone(), call]
    } else {
        vec![call]
    }
}

/// Arguments for a call: a minimal instance of the schema; shell-like tools get the command.
fn arguments(tool: &Tool<'_>) -> String {
    match tool.kind {
        ToolKind::Custom => return "mock".to_owned(),
        ToolKind::LocalShell => return json!({"command": shell_argv()}).to_string(),
        ToolKind::Function => {}
    }
    let empty = json!({});
    let schema = tool.schema.unwrap_or(&empty);
    let mut args = instance(schema, schema, 0);
    if SHELL_TOOLS.contains(&tool.name) {
        if !args.is_object() {
            args = json!({});
        }
        let props = &schema["properties"];
        let key = ["command", "cmd"].into_iter().find(|k| props.get(*k).is_some()).unwrap_or("command");
        let value = if schema_type(&props[key]).as_deref() == Some("array") {
            shell_argv()
        } else {
            json!(SHELL_COMMAND)
        };
        args[key] = value;
    }
    args.to_string()
}

pub fn shell_argv() -> Value {
    json!(["bash", "-lc", SHELL_COMMAND])
}

/// A schema's type, lowercased (Gemini writes `STRING`); the first non-null one of a list.
fn schema_type(schema: &Value) -> Option<String> {
    match &schema["type"] {
        Value::String(t) => Some(t.to_ascii_lowercase()),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null").map(str::to_ascii_lowercase),
        _ => None,
    }
}

/// A minimal value valid for `schema` (required properties only; all of them when the schema
/// lists none as required).
pub fn instance(schema: &Value, root: &Value, depth: usize) -> Value {
    if depth > 16 {
        return Value::Null;
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(target) = schema["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        let resolved = root.pointer(target).unwrap_or(&Value::Null);
        return instance(resolved, root, depth + 1);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = schema[key].as_array().and_then(|a| a.first()) {
            return instance(first, root, depth + 1);
        }
    }
    let ty = schema_type(schema);
    match ty.as_deref() {
        Some("string") => json!("mock"),
        Some("integer") | Some("number") => schema.get("minimum").cloned().unwrap_or(json!(1)),
        Some("boolean") => json!(false),
        Some("null") => Value::Null,
        Some("array") => {
            let n = schema["minItems"].as_u64().unwrap_or(0).min(8) as usize;
            let item = instance(&schema["items"], root, depth + 1);
            Value::Array(vec![item; n])
        }
        Some("object") | None if schema.get("properties").is_some() || ty.is_some() => {
            let props = &schema["properties"];
            let names: Vec<&str> = match schema["required"].as_array() {
                Some(req) => req.iter().filter_map(Value::as_str).collect(),
                None => props.as_object().map_or_else(Vec::new, |p| p.keys().map(String::as_str).collect()),
            };
            let mut obj = Map::new();
            for name in names {
                obj.insert(name.to_owned(), instance(&props[name], root, depth + 1));
            }
            Value::Object(obj)
        }
        _ => json!("mock"),
    }
}
