//! The reply plan: what to answer, decided once and protocol-independently. Each protocol
//! module only renders a `Plan` in its own wire format.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::directives::{Directives, Inputs, Tool, ToolKind};
use crate::schema::{instance, schema_type};

/// The model name used when a request names none, and in the model lists.
pub const MODEL: &str = "mock-model";
/// Declared tools that count as "shell-like", in order of preference.
pub const SHELL_TOOLS: [&str; 7] =
    ["exec_command", "shell", "shell_command", "Bash", "bash", "run_shell_command", "local_shell"];
pub const SHELL_COMMAND: &str = "echo mock-tool-ran";
/// `mock:patch`: an apply_patch body (Codex's format) that adds `mock-patch.txt`.
pub const PATCH: &str = "*** Begin Patch\n*** Add File: mock-patch.txt\n+mock-patch-applied\n*** End Patch\n";
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
    /// Of `input`, how many were written to the cache (Anthropic `cache_creation_input_tokens`).
    pub written: u64,
    /// Of `written`, how many with a 1-hour TTL; `Some` when the request asked for one (its
    /// usage then reports `cache_creation` split by TTL).
    pub written_1h: Option<u64>,
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
    /// Strict reasoning state (see `state.rs`): unique tokens instead of the constants.
    pub strict: bool,
    /// Anthropic's cache diagnostics for this answer, when asked (`diagnostics.rs`).
    pub diagnostics: Option<Value>,
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
        let more_steps = d.steps.is_some_and(|n| (inputs.tool_results as u64) < n);
        if more_steps {
            calls = tool_calls(&inputs.tools, d);
        } else if let Some(result) = &inputs.tool_result {
            text = Some(format!("MOCK_FINAL: the tool said: {}", result.trim()));
        } else if d.tool || d.parallel {
            calls = tool_calls(&inputs.tools, d);
        }
        if text.is_none() && calls.is_empty() {
            text = Some(reply_text(inputs, d));
        }
        let reasoning = d.reasoning.then_some(REASONING);
        let reasoning_words = reasoning.map_or(0, words);
        let output =
            text.as_deref().map_or(0, words) + reasoning_words + calls.iter().map(|c| 1 + words(&c.args)).sum::<u64>();
        let input = input_tokens(body_len);
        let model = if inputs.model.is_empty() { MODEL } else { inputs.model };
        Plan {
            id,
            created: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |t| t.as_secs()),
            model: model.to_owned(),
            reasoning,
            text,
            calls,
            usage: Usage {
                input,
                cached: d.cached.unwrap_or(0).min(input),
                written: 0,
                written_1h: None,
                output,
                reasoning: reasoning_words,
            },
            strict: d.verify_state,
            diagnostics: None,
        }
    }

    /// A plan with nothing in it (for token derivations and tests).
    pub fn blank() -> Plan {
        Plan {
            id: 0,
            created: 0,
            model: MODEL.to_owned(),
            reasoning: None,
            text: None,
            calls: Vec::new(),
            usage: Usage::default(),
            strict: false,
            diagnostics: None,
        }
    }
}

fn reply_text(inputs: &Inputs<'_>, d: &Directives) -> String {
    if d.json || inputs.json.is_some() {
        let value = match inputs.json.flatten() {
            Some(schema) => instance(schema),
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
        None => SHELL_TOOLS.iter().find_map(|s| tools.iter().find(|t| t.name == *s)).or_else(|| tools.first()).cloned(),
    };
    let Some(tool) = chosen else {
        return Vec::new();
    };
    let call = Call {
        name: tool.name.to_owned(),
        namespace: tool.namespace.map(str::to_owned),
        kind: tool.kind,
        args: if d.patch { patch_arguments(&tool) } else { arguments(&tool) },
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
    let mut args = instance(schema);
    if !args.is_object() {
        args = json!({});
    }
    if SHELL_TOOLS.contains(&tool.name) {
        let props = &schema["properties"];
        let key = ["command", "cmd"].into_iter().find(|k| props.get(*k).is_some()).unwrap_or("command");
        let value =
            if schema_type(&props[key]).as_deref() == Some("array") { shell_argv() } else { json!(SHELL_COMMAND) };
        args[key] = value;
    }
    args.to_string()
}

/// `mock:patch`: freeform tools get the patch as their raw input; function tools get it in
/// their `input` (or `patch`) string property.
fn patch_arguments(tool: &Tool<'_>) -> String {
    if tool.kind == ToolKind::Custom {
        return PATCH.to_owned();
    }
    let props = tool.schema.map(|s| &s["properties"]);
    let key = ["input", "patch"].into_iter().find(|k| props.and_then(|p| p.get(*k)).is_some()).unwrap_or("input");
    json!({ key: PATCH }).to_string()
}

pub fn shell_argv() -> Value {
    json!(["bash", "-lc", SHELL_COMMAND])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directives::{self, Directives};
    use serde_json::json;

    #[test]
    fn patch_directive_calls_apply_patch_with_a_valid_patch() {
        let body = json!({"tools": [{"type": "function", "function": {"name": "apply_patch",
            "parameters": {"type": "object", "properties": {"input": {"type": "string"}}}}}]});
        let inputs = directives::chat(&body);
        let d = Directives::parse(["mock:patch"], None);
        let p = Plan::new(&inputs, &d, 0, 1);
        assert_eq!(p.calls[0].name, "apply_patch");
        let args: Value = serde_json::from_str(&p.calls[0].args).expect("json");
        assert_eq!(args["input"], PATCH);
        assert!(PATCH.starts_with("*** Begin Patch\n") && PATCH.ends_with("*** End Patch\n"));
    }

    #[test]
    fn steps_call_a_tool_until_the_conversation_holds_n_results() {
        let body = |results: usize| {
            let mut messages = vec![json!({"role": "user", "content": "work mock:steps=3"})];
            for i in 0..results {
                messages.push(json!({"role": "assistant", "tool_calls": [{"id": format!("c{i}")}]}));
                messages.push(json!({"role": "tool", "tool_call_id": format!("c{i}"), "content": "mock-tool-ran"}));
            }
            json!({"messages": messages, "tools": [{"function": {"name": "shell"}}]})
        };
        for results in 0..3 {
            let b = body(results);
            let inputs = directives::chat(&b);
            let d = Directives::parse(inputs.user_texts.iter().copied(), None);
            assert_eq!(d.steps, Some(3));
            let p = Plan::new(&inputs, &d, 0, 1);
            assert_eq!((p.calls.len(), p.text), (1, None), "step {results}: another call");
        }
        let b = body(3);
        let inputs = directives::chat(&b);
        let p = Plan::new(&inputs, &Directives::parse(inputs.user_texts.iter().copied(), None), 0, 1);
        assert!(p.calls.is_empty());
        assert_eq!(p.text.as_deref(), Some("MOCK_FINAL: the tool said: mock-tool-ran"));
    }

    #[test]
    fn fragments_cover_the_text() {
        for s in ["", "{", "{}", r#"{"command":"echo é"}"#, "ééé"] {
            let f = fragments(s);
            assert_eq!(f.concat(), s);
            assert!(s.len() < 2 || f.len() >= 2, "{s}");
        }
    }

    #[test]
    fn usage_and_choices() {
        let body = json!({"messages": [{"role": "user", "content": "hi mock:tool mock:reasoning"}],
            "tools": [{"function": {"name": "read"}}, {"function": {"name": "shell",
                "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}}}]});
        let inputs = directives::chat(&body);
        let d = Directives::parse(inputs.user_texts.iter().copied(), Some("cached=1000"));
        let p = Plan::new(&inputs, &d, 400, 1);
        assert_eq!(p.calls[0].name, "shell");
        assert_eq!(p.calls[0].args, r#"{"command":["bash","-lc","echo mock-tool-ran"]}"#);
        assert_eq!(p.text, None);
        assert_eq!(p.usage.input, 100);
        assert_eq!(p.usage.cached, 100, "capped at input");
        assert_eq!(p.usage.reasoning, words(REASONING));
        assert_eq!(p.usage.output, words(REASONING) + 1 + 2, "a call: 1 + words of its arguments");
        assert_eq!(p.model, MODEL);

        let d = Directives::parse(["mock:tool"], None);
        let none = Plan::new(&directives::chat(&json!({})), &d, 0, 2);
        assert_eq!(none.text.as_deref(), Some("echo: "), "no tools declared: text");
        assert_eq!(none.usage.input, 1);

        let body = json!({"tools": [{"function": {"name": "read"}}]});
        let d = Directives::parse(["mock:tool=nowhere mock:parallel"], None);
        let p = Plan::new(&directives::chat(&body), &d, 0, 3);
        assert_eq!(p.calls.len(), 2);
        assert_eq!((p.calls[0].name.as_str(), p.calls[0].args.as_str()), ("nowhere", "{}"));
        let d = Directives::parse(["mock:tool"], None);
        assert_eq!(Plan::new(&directives::chat(&body), &d, 0, 4).calls[0].args, "{}");
    }
}
