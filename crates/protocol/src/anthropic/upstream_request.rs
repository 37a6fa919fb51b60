//! canonical request → a request for api.anthropic.com (`POST /v1/messages`).
//!
//! What Anthropic insists on, and what we do about it:
//! - `max_tokens` is required: the client's, else `DEFAULT_MAX_TOKENS`; with a thinking budget
//!   it must exceed the budget, so it is raised to `budget + requested` when it does not.
//! - Turns alternate user/assistant: consecutive same-role messages are merged, tool results
//!   become `tool_result` blocks at the front of a user turn, and mid-conversation
//!   system/developer messages become `<system-reminder>` text in a user turn.
//! - Thinking refuses forced tool choice and sampling knobs (dropped with a loss), and refuses a
//!   history whose assistant tool calls lack a signed thinking block (thinking is then turned
//!   off for the request, with a loss).
//! - Tool ids must match `^[a-zA-Z0-9_-]+$`: ids are mapped deterministically, the same way in
//!   `tool_use` and `tool_result`, so pairs stay matched.
//! - Reasoning is replayed only when it came from Anthropic.
//! - Anthropic caches a prompt only up to `cache_control` breakpoints (at most four), and
//!   clients of other protocols send none: `place_breakpoints` puts them where a careful native
//!   client does (see there). A request that already carries breakpoints keeps exactly those.

use super::convert::effort_out;
use super::encode::tool_input;
use super::wire::*;
use crate::canonical::reasoning::ReasoningConfig;
use crate::canonical::tools::custom_tool_parameters;
use crate::canonical::{
    Cx, Loss, MediaSource, Message, OutputFormat, Part, Protocol, ProtocolError, Request, Role, ToolChoice, ToolKind,
    ToolResult,
};
use crate::EncodedRequest;
use base64::Engine;
use serde_json::Value;

pub const PATH: &str = "/v1/messages";
/// `max_tokens` when the client set none.
pub const DEFAULT_MAX_TOKENS: u32 = 8192;
/// Anthropic's smallest thinking budget.
pub const MIN_BUDGET: u32 = 1024;

pub fn encode_request(req: &Request, _cx: &Cx) -> Result<EncodedRequest, ProtocolError> {
    let mut losses = Vec::new();
    let (mut thinking, effort, budget) = plan_thinking(req.reasoning.as_ref());
    if thinking.is_some() && !history_replays_thinking(&req.messages) {
        thinking = None;
        losses.push(Loss::new(
            "reasoning",
            "thinking disabled: earlier tool calls have no Anthropic thinking block to replay",
        ));
    }
    let budget = budget.filter(|_| thinking.is_some());

    let requested = req.sampling.max_tokens;
    let mut max_tokens = requested.unwrap_or(DEFAULT_MAX_TOKENS).max(1);
    if let Some(b) = budget {
        if max_tokens <= b {
            max_tokens = b.saturating_add(requested.unwrap_or(DEFAULT_MAX_TOKENS).max(1));
        }
    }

    let mut out = OutRequest {
        model: req.model.clone(),
        max_tokens,
        system: system_blocks(&req.system, &mut losses),
        messages: Turns::build(&req.messages, &mut losses),
        tools: Vec::new(),
        tool_choice: None,
        thinking,
        output_config: None,
        temperature: req.sampling.temperature,
        top_p: req.sampling.top_p,
        top_k: req.sampling.top_k,
        stop_sequences: req.sampling.stop.clone(),
        metadata: req.metadata.user.clone().map(|user_id| OutMetadata { user_id }),
        stream: req.stream,
    };
    encode_tools(req, &mut out, &mut losses);
    place_breakpoints(&mut out, req.metadata.cache_retention.as_deref() == Some("24h"));
    if out.thinking.is_some() {
        for (name, set) in [
            ("temperature", out.temperature.take().is_some()),
            ("top_p", out.top_p.take().is_some()),
            ("top_k", out.top_k.take().is_some()),
        ] {
            if set {
                losses.push(Loss::new(name, "Anthropic does not allow it with thinking"));
            }
        }
        if let Some(tc) = out.tool_choice.as_mut() {
            if tc.kind == "any" || tc.kind == "tool" {
                losses.push(Loss::new("tool_choice", "Anthropic cannot force a tool with thinking; sent as auto"));
                tc.kind = "auto";
                tc.name = None;
            }
        }
    }
    let format = match &req.output {
        Some(OutputFormat::JsonSchema { schema, .. }) => {
            Some(OutFormat { kind: "json_schema", schema: schema.clone() })
        }
        Some(OutputFormat::JsonObject) => {
            losses.push(Loss::new("response_format", "Anthropic has JSON schema output only, not JSON mode"));
            None
        }
        Some(OutputFormat::Text) | None => None,
    };
    if effort.is_some() || format.is_some() {
        out.output_config = Some(OutOutputConfig { effort, format });
    }

    for (name, set) in [
        ("seed", req.sampling.seed.is_some()),
        ("presence_penalty", req.sampling.presence_penalty.is_some()),
        ("frequency_penalty", req.sampling.frequency_penalty.is_some()),
        ("prompt_cache_key", req.metadata.prompt_cache_key.is_some()),
        ("store", req.metadata.store.is_some()),
        ("metadata", req.metadata.extra.is_some()),
    ] {
        if set {
            losses.push(Loss::new(name, "Anthropic has no such field"));
        }
    }
    let body = sonic_rs::to_vec(&out).map_err(|e| ProtocolError::invalid(format!("cannot encode request: {e}")))?;
    Ok(EncodedRequest { path: PATH.to_string(), body, losses })
}

/// Breakpoints for a request that has none, as Claude Code places them: the last tool (tools
/// cached), the last system block (tools + system), the newest block of the conversation (what
/// the next turn reads back), and the end of the previous exchange two messages earlier (what
/// this turn reads, even when the turn added more blocks than Anthropic's 20-block lookback).
/// Anthropic keys its cache on the content, not on where the markers are, so moving the
/// conversation's marker each turn keeps the earlier prefix valid. `ttl: "1h"` when the client
/// asked for long retention (`prompt_cache_retention: "24h"`), else the 5-minute default.
fn place_breakpoints(out: &mut OutRequest, long: bool) {
    let clients = out.tools.iter().any(|t| t.cache_control.is_some())
        || out
            .system
            .iter_mut()
            .chain(out.messages.iter_mut().flat_map(|m| m.content.iter_mut()))
            .filter_map(OutBlock::cache_slot)
            .any(|slot| slot.is_some());
    if clients {
        return;
    }
    let mark = || {
        if long {
            serde_json::json!({"type": "ephemeral", "ttl": "1h"})
        } else {
            serde_json::json!({"type": "ephemeral"})
        }
    };
    if let Some(t) = out.tools.last_mut() {
        t.cache_control = Some(mark());
    }
    if let Some(slot) = out.system.last_mut().and_then(OutBlock::cache_slot) {
        *slot = Some(mark());
    }
    // Two in the conversation: with tools and system, Anthropic's limit of four.
    let n = out.messages.len();
    for i in [n.checked_sub(1), n.checked_sub(3)].into_iter().flatten() {
        if let Some(slot) = out.messages[i].content.iter_mut().rev().find_map(OutBlock::cache_slot) {
            *slot = Some(mark());
        }
    }
}

/// `(thinking, output_config.effort, budget)` for the request's reasoning config.
/// Adaptive → `{type: adaptive}` plus the effort; an effort or budget → `{type: enabled,
/// budget_tokens}` (table in canonical/reasoning.rs, at least 1024); `Effort::None` → no thinking.
fn plan_thinking(rc: Option<&ReasoningConfig>) -> (Option<OutThinking>, Option<&'static str>, Option<u32>) {
    let Some(rc) = rc else { return (None, None, None) };
    if rc.disabled() {
        return (None, None, None);
    }
    if rc.adaptive {
        let thinking = OutThinking { kind: "adaptive", budget_tokens: None };
        return (Some(thinking), rc.effort.and_then(effort_out), None);
    }
    match rc.budget() {
        Some(b) => {
            let b = b.max(MIN_BUDGET);
            (Some(OutThinking { kind: "enabled", budget_tokens: Some(b) }), None, Some(b))
        }
        None => (None, None, None),
    }
}

/// Whether every assistant message that calls tools carries replayable Anthropic thinking.
fn history_replays_thinking(messages: &[Message]) -> bool {
    messages.iter().filter(|m| m.role == Role::Assistant).all(|m| {
        let calls = m.parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
        let signed = m.parts.iter().any(|p| match p {
            Part::Reasoning(r) => r.opaque.as_ref().is_some_and(|o| o.origin == Protocol::Anthropic),
            _ => false,
        });
        !calls || signed
    })
}

fn system_blocks(system: &[Part], losses: &mut Vec<Loss>) -> Vec<OutBlock> {
    let mut blocks = Vec::new();
    for (i, p) in system.iter().enumerate() {
        match p {
            Part::Text { text, cache } => {
                if !text.trim().is_empty() {
                    blocks.push(OutBlock::Text {
                        text: text.clone(),
                        cache_control: cache.as_ref().map(|c| c.value.clone()),
                    });
                }
            }
            _ => losses.push(Loss::new(format!("system[{i}]"), "Anthropic system prompts hold text only")),
        }
    }
    blocks
}

fn encode_tools(req: &Request, out: &mut OutRequest, losses: &mut Vec<Loss>) {
    for (i, t) in req.tools.iter().enumerate() {
        let input_schema = match &t.kind {
            ToolKind::Function => object_schema(&t.parameters),
            ToolKind::Custom { format } => {
                if format.is_some() {
                    losses.push(Loss::new(format!("tools[{i}].format"), "the grammar is not enforced by Anthropic"));
                }
                custom_tool_parameters()
            }
        };
        if t.strict == Some(true) {
            losses.push(Loss::new(format!("tools[{i}].strict"), "strict tool schemas are not requested"));
        }
        out.tools.push(OutTool {
            name: t.flat_name(),
            description: t.description.clone(),
            input_schema,
            cache_control: t.cache.as_ref().map(|c| c.value.clone()),
        });
    }
    let disable_parallel = (req.parallel_tool_calls == Some(false)).then_some(true);
    let choice = match &req.tool_choice {
        None if disable_parallel.is_some() => Some(ToolChoice::Auto),
        other => other.clone(),
    };
    let Some(choice) = choice else { return };
    if out.tools.is_empty() {
        if matches!(choice, ToolChoice::Required | ToolChoice::Named { .. }) {
            losses.push(Loss::new("tool_choice", "no tools were declared"));
        }
        return;
    }
    out.tool_choice = Some(match choice {
        ToolChoice::Auto => OutToolChoice { kind: "auto", name: None, disable_parallel_tool_use: disable_parallel },
        ToolChoice::Required => OutToolChoice { kind: "any", name: None, disable_parallel_tool_use: disable_parallel },
        ToolChoice::Named { name } => {
            OutToolChoice { kind: "tool", name: Some(name), disable_parallel_tool_use: disable_parallel }
        }
        ToolChoice::None => OutToolChoice { kind: "none", name: None, disable_parallel_tool_use: None },
    });
}

/// Anthropic wants an object schema with `type: object`.
fn object_schema(parameters: &Value) -> Value {
    match parameters {
        Value::Object(map) => {
            let mut map = map.clone();
            map.entry("type").or_insert_with(|| Value::String("object".into()));
            Value::Object(map)
        }
        _ => serde_json::json!({ "type": "object", "properties": {} }),
    }
}

// === messages ===

/// Builds alternating turns. A user turn keeps its `tool_result` blocks apart so they can be
/// put first.
struct Turns {
    turns: Vec<(&'static str, Vec<OutBlock>, Vec<OutBlock>)>,
    ids: IdMap,
}

impl Turns {
    fn build(messages: &[Message], losses: &mut Vec<Loss>) -> Vec<OutMessageParam> {
        let mut t = Turns { turns: Vec::new(), ids: IdMap::default() };
        for (i, m) in messages.iter().enumerate() {
            t.message(m, &format!("messages[{i}]"), losses);
        }
        t.turns
            .into_iter()
            .map(|(role, mut results, blocks)| {
                results.extend(blocks);
                OutMessageParam { role, content: results }
            })
            .collect()
    }

    fn message(&mut self, m: &Message, path: &str, losses: &mut Vec<Loss>) {
        let mut results = Vec::new();
        let mut blocks = Vec::new();
        let role = match m.role {
            Role::Assistant => "assistant",
            Role::User | Role::Tool | Role::System | Role::Developer => "user",
        };
        if matches!(m.role, Role::System | Role::Developer) {
            let text: Vec<&str> = m
                .parts
                .iter()
                .filter_map(|p| match p {
                    Part::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            if text.len() < m.parts.len() {
                losses.push(Loss::new(path, "only text is kept from a mid-conversation system message"));
            }
            let text = text.join("\n");
            if !text.trim().is_empty() {
                blocks.push(OutBlock::Text {
                    text: format!("<system-reminder>\n{text}\n</system-reminder>"),
                    cache_control: None,
                });
            }
        } else {
            for (j, p) in m.parts.iter().enumerate() {
                self.part(p, m.role, &format!("{path}.parts[{j}]"), &mut results, &mut blocks, losses);
            }
        }
        if results.is_empty() && blocks.is_empty() {
            return;
        }
        match self.turns.last_mut() {
            Some((last, r, b)) if *last == role => {
                r.extend(results);
                b.extend(blocks);
            }
            _ => self.turns.push((role, results, blocks)),
        }
    }

    fn part(
        &mut self,
        p: &Part,
        role: Role,
        path: &str,
        results: &mut Vec<OutBlock>,
        blocks: &mut Vec<OutBlock>,
        losses: &mut Vec<Loss>,
    ) {
        let assistant = role == Role::Assistant;
        match p {
            Part::ToolResult(r) if !assistant => results.push(self.tool_result(r, path, losses)),
            Part::ToolCall(c) if assistant => {
                if c.opaque.as_ref().is_some_and(|o| o.origin != Protocol::Anthropic) {
                    losses.push(Loss::new(format!("{path}.opaque"), "another provider's state is not replayed"));
                }
                blocks.push(OutBlock::ToolUse {
                    id: self.ids.call(&c.id),
                    name: c.name.clone(),
                    input: tool_input(c),
                    cache_control: None,
                });
            }
            Part::ToolResult(_) | Part::ToolCall(_) => {
                losses.push(Loss::new(path, "tool call or result in a message of the wrong role"))
            }
            Part::Reasoning(r) => match &r.opaque {
                Some(o) if o.origin == Protocol::Anthropic && assistant => blocks.push(if r.redacted {
                    OutBlock::RedactedThinking { data: o.payload.clone() }
                } else {
                    OutBlock::Thinking { thinking: r.text.clone(), signature: o.payload.clone() }
                }),
                Some(_) => losses.push(Loss::new(path, "reasoning state from another provider is not replayed")),
                None => {}
            },
            other => {
                if let Some(b) = content_block(other, path, losses) {
                    blocks.push(b);
                }
            }
        }
    }

    fn tool_result(&mut self, r: &ToolResult, path: &str, losses: &mut Vec<Loss>) -> OutBlock {
        let content = match r.content.as_slice() {
            [] => None,
            [Part::Text { text, cache: None }] => Some(OutToolResultContent::Text(text.clone())),
            parts => {
                let mut inner = Vec::new();
                for (k, p) in parts.iter().enumerate() {
                    let ppath = format!("{path}.content[{k}]");
                    match p {
                        Part::Text { .. } | Part::Image { .. } | Part::File { .. } | Part::Unknown { .. } => {
                            inner.extend(content_block(p, &ppath, losses))
                        }
                        _ => losses.push(Loss::new(ppath, "not allowed inside a tool result")),
                    }
                }
                (!inner.is_empty()).then_some(OutToolResultContent::Blocks(inner))
            }
        };
        OutBlock::ToolResult {
            tool_use_id: self.ids.result(&r.call_id),
            content,
            is_error: r.is_error.then_some(true),
            cache_control: None,
        }
    }
}

/// Text, images, files and same-protocol unknown blocks. Empty text is dropped: Anthropic
/// refuses empty text blocks (OpenAI assistants often send `content: ""` with tool calls).
fn content_block(p: &Part, path: &str, losses: &mut Vec<Loss>) -> Option<OutBlock> {
    match p {
        Part::Text { text, cache } => (!text.trim().is_empty())
            .then(|| OutBlock::Text { text: text.clone(), cache_control: cache.as_ref().map(|c| c.value.clone()) }),
        Part::Image { source, detail } => {
            if detail.is_some() {
                losses.push(Loss::new(format!("{path}.detail"), "Anthropic has no image detail setting"));
            }
            let source = match source {
                MediaSource::Base64 { media_type, data } => {
                    OutSource::Base64 { media_type: media_type.clone(), data: data.clone() }
                }
                MediaSource::Url { url } => OutSource::Url { url: url.clone() },
                MediaSource::FileId { .. } => {
                    losses.push(Loss::new(path, "file ids belong to the provider that issued them"));
                    return None;
                }
            };
            Some(OutBlock::Image { source, cache_control: None })
        }
        Part::File { source, filename } => file_block(source, filename, path, losses),
        Part::Unknown { origin: Protocol::Anthropic, value } => Some(OutBlock::Raw(value.clone())),
        Part::Unknown { origin, .. } => {
            losses.push(Loss::new(path, format!("a {} item has no Anthropic form", origin.name())));
            None
        }
        Part::ToolCall(_) | Part::ToolResult(_) | Part::Reasoning(_) => None,
    }
}

/// PDFs → `document`; plain text → a text `document`; images sent as files → `image`.
fn file_block(source: &MediaSource, filename: &Option<String>, path: &str, losses: &mut Vec<Loss>) -> Option<OutBlock> {
    let title = filename.clone();
    match source {
        MediaSource::Base64 { media_type, data } => {
            if media_type.starts_with("image/") {
                return Some(OutBlock::Image {
                    source: OutSource::Base64 { media_type: media_type.clone(), data: data.clone() },
                    cache_control: None,
                });
            }
            if media_type == "application/pdf" {
                return Some(OutBlock::Document {
                    source: OutSource::Base64 { media_type: media_type.clone(), data: data.clone() },
                    title,
                    cache_control: None,
                });
            }
            if media_type.starts_with("text/") {
                let text = base64::engine::general_purpose::STANDARD
                    .decode(data.as_bytes())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok());
                if let Some(text) = text {
                    return Some(OutBlock::Document {
                        source: OutSource::Text { media_type: "text/plain".into(), data: text },
                        title,
                        cache_control: None,
                    });
                }
            }
            losses.push(Loss::new(path, format!("Anthropic documents cannot be `{media_type}`")));
            None
        }
        MediaSource::Url { url } => {
            Some(OutBlock::Document { source: OutSource::Url { url: url.clone() }, title, cache_control: None })
        }
        MediaSource::FileId { .. } => {
            losses.push(Loss::new(path, "file ids belong to the provider that issued them"));
            None
        }
    }
}

// === tool ids ===

/// Maps tool ids onto Anthropic's `^[a-zA-Z0-9_-]+$`. Valid ids pass unchanged; others get
/// their invalid characters replaced and a hash of the original appended (so two ids that
/// differ only in invalid characters stay distinct). Empty ids are numbered in order, calls and
/// results separately, so the n-th id-less call pairs with the n-th id-less result.
#[derive(Default)]
struct IdMap {
    empty_calls: usize,
    empty_results: usize,
}

impl IdMap {
    fn call(&mut self, id: &str) -> String {
        if id.is_empty() {
            self.empty_calls += 1;
            return format!("toolu_crossbar_{}", self.empty_calls);
        }
        sanitize_id(id)
    }

    fn result(&mut self, id: &str) -> String {
        if id.is_empty() {
            self.empty_results += 1;
            return format!("toolu_crossbar_{}", self.empty_results);
        }
        sanitize_id(id)
    }
}

pub fn sanitize_id(id: &str) -> String {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if id.chars().all(valid) {
        return id.to_string();
    }
    let mapped: String = id.chars().map(|c| if valid(c) { c } else { '_' }).collect();
    // FNV-1a: stable across builds and platforms (unlike `DefaultHasher`).
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("{mapped}_{hash:016x}")
}
