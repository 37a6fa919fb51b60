//! What the mock reads from a request: `mock:` directives (in the last user message or the
//! `x-mock` header) and, per protocol, the few request facts a reply depends on.
//!
//! Extraction borrows from the parsed body; nothing is copied on the default path.

use serde_json::Value;

/// The parsed directives (see docs/mock-upstream.md). Unknown words and bad values are ignored.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Directives {
    pub tool: bool,
    pub tool_name: Option<String>,
    pub parallel: bool,
    /// `mock:steps=N`: call a tool (as `mock:tool`) until the conversation holds N tool
    /// results, then answer: an agent session of N tool turns.
    pub steps: Option<u64>,
    /// `mock:patch`: call the declared `apply_patch` tool with a valid patch adding a file.
    pub patch: bool,
    pub reasoning: bool,
    /// Unique reasoning tokens, and requests refused unless they bring them back (`state.rs`).
    pub verify_state: bool,
    pub json: bool,
    pub error: Option<u16>,
    /// `Some(None)`: the protocol's default mid-stream error; `Some(Some(s))`: status `s`'s kind.
    pub midstream_error: Option<Option<u16>>,
    pub drop: bool,
    /// `mock:eof`: a stream that starts, then ends cleanly without its terminal event.
    pub eof: bool,
    pub stall: Option<u64>,
    pub stall_mid: Option<u64>,
    pub slow: Option<u64>,
    pub words: Option<usize>,
    pub cached: Option<u64>,
    /// `mock:cache`: simulate the provider's prompt cache (`cache.rs`).
    pub cache: bool,
    /// Fault injection (per mock instance): fail this fraction of requests, deterministically.
    pub fail_rate: Option<f64>,
    /// Fail the first N requests this mock instance sees with fault directives.
    pub fail_first: Option<u64>,
    /// Fail every request after the first N this mock instance sees with fault directives.
    pub fail_after: Option<u64>,
    /// Status of injected failures (default 500).
    pub fail_status: Option<u16>,
    /// Seconds until a 429's limit resets (`retry-after` and reset headers; default 1).
    pub ratelimit_reset: Option<u64>,
    /// A Codex-style 429 `usage_limit_reached` with usage-window headers (with `fail-first=N`
    /// and the like: only for the requests those pick, so the window "resets" after them).
    pub usage_limit: bool,
    /// A 400 saying the prompt is longer than the context window.
    pub context_overflow: bool,
    /// Remaining quota in percent, reported on successful answers (header only).
    pub headroom: Option<u64>,
    /// `account-models=ACCOUNT:M1+M2` (header only): on the Codex backend, that ChatGPT account
    /// (the `chatgpt-account-id` header) serves only these models, as a lesser plan does.
    pub account_models: Vec<(String, Vec<String>)>,
}

impl Directives {
    /// Scan the texts for `mock:NAME[=VALUE]` words, then apply the header (which wins).
    pub fn parse<'a>(texts: impl IntoIterator<Item = &'a str>, header: Option<&str>) -> Self {
        let mut d = Self::default();
        for text in texts {
            d.scan(text);
        }
        for word in header.unwrap_or("").split_whitespace() {
            d.apply(word.strip_prefix("mock:").unwrap_or(word));
        }
        d
    }

    fn scan(&mut self, text: &str) {
        let mut rest = text;
        while let Some(at) = rest.find("mock:") {
            let boundary = rest[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
            let after = &rest[at + 5..];
            let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || "-_=.".contains(c))).unwrap_or(after.len());
            if boundary {
                self.apply(after[..len].trim_end_matches('.'));
            }
            rest = &after[len..];
        }
    }

    fn apply(&mut self, word: &str) {
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (word, None),
        };
        let num = || value.and_then(|v| v.parse::<u64>().ok());
        let status = || value.and_then(|v| v.parse::<u16>().ok()).filter(|s| (400..=599).contains(s));
        match name {
            "tool" => {
                self.tool = true;
                self.tool_name = value.filter(|v| !v.is_empty()).map(str::to_owned);
            }
            "parallel" => self.parallel = true,
            "steps" => self.steps = num().map(|n| n.min(10_000)).or(self.steps),
            "patch" => {
                self.patch = true;
                self.tool = true;
                self.tool_name = Some("apply_patch".to_owned());
            }
            "reasoning" => self.reasoning = true,
            "verify-state" => self.verify_state = true,
            "json" => self.json = true,
            "error" => self.error = status().or(self.error),
            "midstream-error" => self.midstream_error = Some(status()),
            "drop" => self.drop = true,
            "eof" => self.eof = true,
            "stall" => self.stall = num().or(self.stall),
            "stall-mid" => self.stall_mid = num().or(self.stall_mid),
            "slow" => self.slow = num().or(self.slow),
            "words" => self.words = num().map(|n| n.min(1_000_000) as usize).or(self.words),
            "cached" => self.cached = num().or(self.cached),
            "cache" => self.cache = true,
            "fail-rate" => {
                self.fail_rate =
                    value.and_then(|v| v.parse::<f64>().ok()).filter(|r| (0.0..=1.0).contains(r)).or(self.fail_rate)
            }
            "fail-first" => self.fail_first = num().or(self.fail_first),
            "fail-after" => self.fail_after = num().or(self.fail_after),
            "fail-status" => self.fail_status = status().or(self.fail_status),
            "ratelimit-reset" => self.ratelimit_reset = num().or(self.ratelimit_reset),
            "usage-limit" => self.usage_limit = true,
            "context-overflow" => self.context_overflow = true,
            "headroom" => self.headroom = num().filter(|p| *p <= 100).or(self.headroom),
            "account-models" => {
                if let Some((account, models)) = value.and_then(|v| v.split_once(':')) {
                    let models = models.split('+').filter(|m| !m.is_empty()).map(str::to_owned);
                    self.account_models.push((account.to_owned(), models.collect()));
                }
            }
            _ => {}
        }
    }
}

/// How a declared tool is called (only the Responses API has the non-function kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolKind {
    Function,
    /// Responses `custom` (freeform input text).
    Custom,
    /// Responses `local_shell` (a `local_shell_call` item).
    LocalShell,
}

#[derive(Debug, Clone)]
pub struct Tool<'a> {
    pub name: &'a str,
    pub namespace: Option<&'a str>,
    pub kind: ToolKind,
    pub schema: Option<&'a Value>,
}

/// The request facts a reply depends on.
#[derive(Debug, Default)]
pub struct Inputs<'a> {
    pub model: &'a str,
    pub stream: bool,
    /// Text parts of the last user message that has text, in order.
    pub user_texts: Vec<&'a str>,
    pub tools: Vec<Tool<'a>>,
    /// The text of the tool result(s), when the last message is one.
    pub tool_result: Option<String>,
    /// Tool results anywhere in the conversation (`mock:steps`).
    pub tool_results: usize,
    /// Structured output asked for: `Some(Some(schema))`, or `Some(None)` for "any JSON object".
    pub json: Option<Option<&'a Value>>,
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// Text parts of a content value: a string, or an array of parts whose `type` is one of `kinds`
/// (or a bare `{text}` when `kinds` is empty).
fn texts<'a>(content: &'a Value, kinds: &[&str]) -> Vec<&'a str> {
    match content {
        Value::String(s) => vec![s.as_str()],
        Value::Array(parts) => parts
            .iter()
            .filter(|p| kinds.is_empty() || kinds.contains(&str_of(&p["type"])))
            .filter_map(|p| p["text"].as_str())
            .collect(),
        _ => Vec::new(),
    }
}

/// Like `texts`, joined with newlines, as an owned string (tool results).
fn joined(content: &Value, kinds: &[&str]) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(_) => texts(content, kinds).join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn last_user<'a>(
    messages: &'a [Value],
    is_user: impl Fn(&Value) -> bool,
    text_of: impl Fn(&'a Value) -> Vec<&'a str>,
) -> Vec<&'a str> {
    messages.iter().rev().filter(|m| is_user(m)).map(text_of).find(|t| !t.is_empty()).unwrap_or_default()
}

fn schema_format<'a>(format: &'a Value, schema_key: Option<&str>) -> Option<Option<&'a Value>> {
    match str_of(&format["type"]) {
        "json_schema" => {
            let holder = schema_key.map_or(format, |k| &format[k]);
            Some(holder.get("schema"))
        }
        "json_object" => Some(None),
        _ => None,
    }
}

/// OpenAI Chat Completions.
pub fn chat(body: &Value) -> Inputs<'_> {
    let messages = arr(&body["messages"]);
    let last = messages.last();
    let tool_result =
        last.filter(|m| matches!(str_of(&m["role"]), "tool" | "function")).map(|m| joined(&m["content"], &["text"]));
    let mut tools: Vec<Tool<'_>> = arr(&body["tools"])
        .iter()
        .filter_map(|t| {
            let f = &t["function"];
            let name = f["name"].as_str()?;
            Some(Tool { name, namespace: None, kind: ToolKind::Function, schema: f.get("parameters") })
        })
        .collect();
    tools.extend(arr(&body["functions"]).iter().filter_map(|f| {
        let name = f["name"].as_str()?;
        Some(Tool { name, namespace: None, kind: ToolKind::Function, schema: f.get("parameters") })
    }));
    Inputs {
        model: str_of(&body["model"]),
        stream: body["stream"] == true,
        user_texts: last_user(messages, |m| m["role"] == "user", |m| texts(&m["content"], &["text"])),
        tools,
        tool_result,
        tool_results: messages.iter().filter(|m| matches!(str_of(&m["role"]), "tool" | "function")).count(),
        json: schema_format(&body["response_format"], Some("json_schema")),
    }
}

const RESPONSES_TEXT: [&str; 3] = ["input_text", "text", "output_text"];

fn responses_tools<'a>(list: &'a [Value], namespace: Option<&'a str>, out: &mut Vec<Tool<'a>>) {
    for t in list {
        let kind = match str_of(&t["type"]) {
            "function" => ToolKind::Function,
            "custom" => ToolKind::Custom,
            "local_shell" => {
                out.push(Tool { name: "local_shell", namespace, kind: ToolKind::LocalShell, schema: None });
                continue;
            }
            "namespace" => {
                responses_tools(arr(&t["tools"]), t["name"].as_str(), out);
                continue;
            }
            _ => continue,
        };
        if let Some(name) = t["name"].as_str() {
            out.push(Tool { name, namespace, kind, schema: t.get("parameters") });
        }
    }
}

/// OpenAI Responses.
pub fn responses(body: &Value) -> Inputs<'_> {
    let input = &body["input"];
    let items = arr(input);
    let user_texts = match input {
        Value::String(s) => vec![s.as_str()],
        _ => last_user(
            items,
            |m| m["role"] == "user" && matches!(m.get("type").and_then(Value::as_str), None | Some("message")),
            |m| texts(&m["content"], &RESPONSES_TEXT),
        ),
    };
    let tool_result =
        items.last().filter(|i| str_of(&i["type"]).ends_with("_output")).map(|i| joined(&i["output"], &RESPONSES_TEXT));
    let mut tools = Vec::new();
    responses_tools(arr(&body["tools"]), None, &mut tools);
    Inputs {
        model: str_of(&body["model"]),
        stream: body["stream"] == true,
        user_texts,
        tools,
        tool_result,
        tool_results: items.iter().filter(|i| str_of(&i["type"]).ends_with("_output")).count(),
        json: schema_format(&body["text"]["format"], None),
    }
}

/// Anthropic Messages (and count_tokens).
pub fn anthropic(body: &Value) -> Inputs<'_> {
    let messages = arr(&body["messages"]);
    let tool_result = messages.last().filter(|m| m["role"] == "user").and_then(|m| {
        let results: Vec<String> = arr(&m["content"])
            .iter()
            .filter(|b| b["type"] == "tool_result")
            .map(|b| joined(&b["content"], &["text"]))
            .collect();
        (!results.is_empty()).then(|| results.join("\n"))
    });
    let tools = arr(&body["tools"])
        .iter()
        .filter_map(|t| {
            let name = t["name"].as_str()?;
            Some(Tool { name, namespace: None, kind: ToolKind::Function, schema: t.get("input_schema") })
        })
        .collect();
    let format = body["output_config"].get("format").unwrap_or(&body["output_format"]);
    Inputs {
        model: str_of(&body["model"]),
        stream: body["stream"] == true,
        user_texts: last_user(messages, |m| m["role"] == "user", |m| texts(&m["content"], &["text"])),
        tools,
        tool_result,
        tool_results: messages
            .iter()
            .filter(|m| m["role"] == "user")
            .flat_map(|m| arr(&m["content"]))
            .filter(|b| b["type"] == "tool_result")
            .count(),
        json: schema_format(format, None),
    }
}

/// Gemini generateContent / streamGenerateContent (model and stream come from the path).
pub fn gemini(body: &Value) -> Inputs<'_> {
    let contents = arr(&body["contents"]);
    let tool_result = contents.last().and_then(|c| {
        let results: Vec<String> = arr(&c["parts"])
            .iter()
            .filter_map(|p| p.get("functionResponse"))
            .map(|f| {
                let r = &f["response"];
                let v = [&r["output"], &r["content"], &r["result"]].into_iter().find(|v| !v.is_null());
                v.map_or_else(|| r.to_string(), |v| joined(v, &[]))
            })
            .collect();
        (!results.is_empty()).then(|| results.join("\n"))
    });
    let tools = arr(&body["tools"])
        .iter()
        .flat_map(|t| arr(&t["functionDeclarations"]))
        .filter_map(|f| {
            let name = f["name"].as_str()?;
            let schema = f.get("parametersJsonSchema").or_else(|| f.get("parameters"));
            Some(Tool { name, namespace: None, kind: ToolKind::Function, schema })
        })
        .collect();
    let config = &body["generationConfig"];
    let json = (config["responseMimeType"] == "application/json")
        .then(|| ["responseJsonSchema", "responseSchema", "_responseJsonSchema"].iter().find_map(|k| config.get(*k)));
    Inputs {
        model: "",
        stream: false,
        user_texts: last_user(
            contents,
            |c| matches!(c.get("role").and_then(Value::as_str), None | Some("user")),
            |c| texts(&c["parts"], &[]),
        ),
        tools,
        tool_result,
        tool_results: contents
            .iter()
            .flat_map(|c| arr(&c["parts"]))
            .filter(|p| p.get("functionResponse").is_some())
            .count(),
        json,
    }
}

#[cfg(test)]
#[path = "directives_tests.rs"]
mod tests;
