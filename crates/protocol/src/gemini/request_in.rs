//! A client's `GenerateContentRequest` → canonical `Request`.
//!
//! Read field by field from a `serde_json::Value` so that errors name the offending field
//! (`contents[2].parts[0]: invalid type ...`). camelCase and snake_case are both accepted.
//!
//! Tool call ids: Gemini often omits `functionCall.id`; a missing one becomes
//! `call_<content index>_<part index>` (stable across turns, since history only grows), and a
//! `functionResponse` without an id answers the earliest unanswered call of the same name.

use super::convert::{args_from_wire, file_data_to_part, inline_to_part};
use super::decode::{client_signature, ClientSig};
use super::options_in::{decode_tools, generation_config, tool_choice};
use super::wire::{Content, FunctionResponse, GenerationConfig, ToolConfig, WirePart};
use crate::canonical::{
    Cx, Loss, Message, Opaque, Part, Protocol, ProtocolError, Reasoning, Request, Role, ToolCall, ToolCallKind,
    ToolResult,
};
use crate::raw_json::{self, Fields};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;

pub fn decode_request(body: &[u8], cx: &Cx) -> Result<Request, ProtocolError> {
    let fields: Fields = match serde_json::from_slice(body) {
        Ok(fields) => fields,
        Err(e) => {
            return Err(match serde_json::from_slice::<Value>(body) {
                Ok(_) => ProtocolError::invalid("request body must be a JSON object (a GenerateContentRequest)"),
                Err(_) => ProtocolError::invalid(format!("request body is not valid JSON: {e}")),
            })
        }
    };
    let obj = Obj(&fields);
    let mut req = Request::default();

    if let Some(v) = obj.value("systemInstruction", "system_instruction")? {
        req.system = system_parts(&v, &mut req.losses)?;
    }
    let contents = match obj.raw("contents", "contents") {
        Some(raw) if raw.get().starts_with('[') => raw,
        Some(_) => {
            return Err(ProtocolError::invalid_param("contents", "`contents` must be an array of Content objects"))
        }
        None => return Err(ProtocolError::invalid_param("contents", "`contents` is required")),
    };
    let mut calls = Vec::new();
    // Straight into wire types in one pass; when that fails, content by content through
    // `Value`, which names the offending content and part in the error.
    match serde_json::from_str::<Vec<ContentIn>>(contents.get()) {
        Ok(contents) if contents.is_empty() => {
            return Err(ProtocolError::invalid_param("contents", "`contents` must not be empty"))
        }
        Ok(contents) => {
            for (i, c) in contents.into_iter().enumerate() {
                decode_parts(
                    c.role.as_deref(),
                    PartsIn::Typed(c.parts.unwrap_or_default()),
                    i,
                    cx,
                    &mut calls,
                    &mut req,
                )?;
            }
        }
        Err(_) => {
            let contents: Vec<Value> = raw_json::parse(contents).map_err(|_| {
                ProtocolError::invalid_param("contents", "`contents` must be an array of Content objects")
            })?;
            if contents.is_empty() {
                return Err(ProtocolError::invalid_param("contents", "`contents` must not be empty"));
            }
            for (i, content) in contents.iter().enumerate() {
                decode_content(content, i, cx, &mut calls, &mut req)?;
            }
        }
    }
    if let Some(v) = obj.value("tools", "tools")? {
        req.tools = decode_tools(&v, &mut req.losses)?;
    }
    if let Some(v) = obj.value("toolConfig", "tool_config")? {
        let tc: ToolConfig = parse(&v, "toolConfig")?;
        if let Some(fcc) = tc.function_calling_config {
            req.tool_choice = tool_choice(&fcc, &mut req.losses)?;
        }
    }
    if let Some(v) = obj.value("generationConfig", "generation_config")? {
        let gc: GenerationConfig = parse(&v, "generationConfig")?;
        generation_config(gc, &mut req)?;
    }
    if let Some(v) = obj.raw("safetySettings", "safety_settings") {
        if v.get() != "[]" && !is_empty_array(v) {
            req.losses.push(Loss::new("safetySettings", "Gemini safety settings have no equivalent upstream"));
        }
    }
    if obj.raw("cachedContent", "cached_content").is_some() {
        return Err(ProtocolError::unsupported(
            "cachedContent",
            "a Gemini cached-content handle cannot be resolved for another provider",
        ));
    }
    Ok(req)
}

fn is_empty_array(raw: &RawValue) -> bool {
    serde_json::from_str::<Vec<&RawValue>>(raw.get()).is_ok_and(|a| a.is_empty())
}

/// The request's top-level fields; each accepted in camelCase or snake_case.
struct Obj<'f, 'a>(&'f Fields<'a>);

impl<'a> Obj<'_, 'a> {
    /// The field unless absent or `null` (camelCase first).
    fn raw(&self, camel: &str, snake: &str) -> Option<&'a RawValue> {
        self.0.get(camel).or_else(|| self.0.get(snake)).copied().filter(|raw| !raw_json::is_null(raw))
    }

    /// A small field as a `Value`, for the field-by-field readers.
    fn value(&self, camel: &str, snake: &str) -> Result<Option<Value>, ProtocolError> {
        match self.raw(camel, snake) {
            None => Ok(None),
            Some(raw) => raw_json::parse(raw)
                .map(Some)
                .map_err(|e| ProtocolError::invalid_param(camel, format!("`{camel}`: {e}"))),
        }
    }
}

/// A `Content` read straight into wire parts.
#[derive(Deserialize)]
struct ContentIn<'a> {
    #[serde(default, borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(default)]
    parts: Option<Vec<WirePart>>,
}

pub(super) fn parse<T: DeserializeOwned>(v: &Value, field: &str) -> Result<T, ProtocolError> {
    T::deserialize(v).map_err(|e| ProtocolError::invalid_param(field, format!("`{field}`: {e}")))
}

fn system_parts(v: &Value, losses: &mut Vec<Loss>) -> Result<Vec<Part>, ProtocolError> {
    let content: Content = match v {
        Value::String(s) => return Ok(vec![Part::text(s.clone())]),
        other => parse(other, "systemInstruction")?,
    };
    let mut out = Vec::new();
    for (j, p) in content.parts.iter().enumerate() {
        if p.is_thought() {
            continue;
        }
        if let Some(t) = &p.text {
            out.push(Part::text(t.clone()));
        } else if let Some(b) = &p.inline_data {
            out.push(inline_to_part(b));
        } else if let Some(fd) = &p.file_data {
            out.push(file_data_to_part(fd));
        } else {
            losses.push(Loss::new(
                format!("systemInstruction.parts[{j}]"),
                "only text and media are kept in instructions",
            ));
        }
    }
    Ok(out)
}

struct PendingCall {
    id: String,
    name: String,
    answered: bool,
}

fn decode_content(
    content: &Value,
    i: usize,
    cx: &Cx,
    calls: &mut Vec<PendingCall>,
    req: &mut Request,
) -> Result<(), ProtocolError> {
    let field = format!("contents[{i}]");
    let Value::Object(c) = content else {
        return Err(ProtocolError::invalid_param(&field, format!("`{field}` must be a Content object")));
    };
    let role = match c.get("role") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(ProtocolError::invalid_param(&field, format!("`{field}.role` must be a string"))),
    };
    let parts: &[Value] = match c.get("parts") {
        None | Some(Value::Null) => &[],
        Some(Value::Array(a)) => a,
        Some(_) => return Err(ProtocolError::invalid_param(&field, format!("`{field}.parts` must be an array"))),
    };
    decode_parts(role, PartsIn::Values(parts), i, cx, calls, req)
}

/// A content's parts: read as wire parts (the usual case) or still `Value`s.
enum PartsIn<'p> {
    Typed(Vec<WirePart>),
    Values(&'p [Value]),
}

fn decode_parts(
    role: Option<&str>,
    parts: PartsIn,
    i: usize,
    cx: &Cx,
    calls: &mut Vec<PendingCall>,
    req: &mut Request,
) -> Result<(), ProtocolError> {
    let field = format!("contents[{i}]");
    let role = client_role(role, &field)?;
    let parts = match parts {
        PartsIn::Typed(parts) => parts,
        PartsIn::Values(values) => values
            .iter()
            .enumerate()
            .map(|(j, p)| parse(p, &format!("{field}.parts[{j}]")))
            .collect::<Result<_, _>>()?,
    };
    let mut entries: Vec<(Role, Part)> = Vec::new();
    for (j, wp) in parts.into_iter().enumerate() {
        let pf = format!("{field}.parts[{j}]");
        decode_part(wp, role, (i, j), &pf, cx, calls, &mut entries, &mut req.losses)?;
    }
    // One message per run of the same role, in order (tool results split from the rest).
    let mut msgs: Vec<Message> = Vec::new();
    for (r, part) in entries {
        match msgs.last_mut() {
            Some(m) if m.role == r => m.parts.push(part),
            _ => msgs.push(Message { role: r, parts: vec![part] }),
        }
    }
    req.messages.extend(msgs);
    Ok(())
}

fn client_role(role: Option<&str>, field: &str) -> Result<Role, ProtocolError> {
    match role.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("user") | Some("function") | Some("tool") => Ok(Role::User),
        Some("model") | Some("assistant") => Ok(Role::Assistant),
        Some("system") => Ok(Role::System),
        Some(other) => Err(ProtocolError::invalid_param(
            field,
            format!("`{field}.role`: unknown role `{other}` (expected `user` or `model`)"),
        )),
    }
}

#[allow(clippy::too_many_arguments)]
fn decode_part(
    wp: WirePart,
    role: Role,
    (i, j): (usize, usize),
    pf: &str,
    cx: &Cx,
    calls: &mut Vec<PendingCall>,
    entries: &mut Vec<(Role, Part)>,
    losses: &mut Vec<Loss>,
) -> Result<(), ProtocolError> {
    let sig_field = format!("{pf}.thoughtSignature");
    let sig = client_signature(wp.thought_signature.as_deref(), cx, &sig_field)?;

    if let Some(fc) = wp.function_call {
        if fc.name.is_empty() {
            return Err(ProtocolError::invalid_param(pf, format!("`{pf}.functionCall.name` is required")));
        }
        let id = fc.id.filter(|s| !s.is_empty()).unwrap_or_else(|| format!("call_{i}_{j}"));
        let mut opaque = None;
        match sig {
            ClientSig::None => {}
            ClientSig::Reasoning(r) => push_restored_reasoning(r, role, entries),
            ClientSig::Call(o) => opaque = o,
            ClientSig::Raw(s) => opaque = Some(Opaque::new(Protocol::Gemini, s)),
            ClientSig::Misplaced => losses.push(misplaced(&sig_field)),
        }
        calls.push(PendingCall { id: id.clone(), name: fc.name.clone(), answered: false });
        let call = ToolCall {
            id,
            name: fc.name,
            arguments: args_from_wire(fc.args.as_ref()),
            kind: ToolCallKind::Function,
            opaque,
        };
        entries.push((role, Part::ToolCall(call)));
        return Ok(());
    }
    if let Some(fr) = wp.function_response {
        let result = tool_result(fr, (i, j), calls);
        entries.push((Role::Tool, Part::ToolResult(result)));
        return Ok(());
    }

    let has_data = wp.text.is_some()
        || wp.inline_data.is_some()
        || wp.file_data.is_some()
        || wp.executable_code.is_some()
        || wp.code_execution_result.is_some()
        || !wp.extra.is_empty();
    if wp.is_thought() || !has_data {
        let text = wp.text.unwrap_or_default();
        let r = match sig {
            ClientSig::Reasoning(r) => r,
            ClientSig::Raw(s) => {
                Reasoning { text, opaque: Some(Opaque::new(Protocol::Gemini, s)), ..Default::default() }
            }
            ClientSig::None => Reasoning { text, ..Default::default() },
            ClientSig::Call(_) | ClientSig::Misplaced => {
                losses.push(misplaced(&sig_field));
                Reasoning { text, ..Default::default() }
            }
        };
        if !r.text.is_empty() || r.opaque.is_some() || r.redacted || !r.summary.is_empty() {
            entries.push((role, Part::Reasoning(r)));
        }
        return Ok(());
    }

    match sig {
        ClientSig::None => {}
        ClientSig::Reasoning(r) => push_restored_reasoning(r, role, entries),
        ClientSig::Raw(s) => entries.push((
            role,
            Part::Reasoning(Reasoning { opaque: Some(Opaque::new(Protocol::Gemini, s)), ..Default::default() }),
        )),
        ClientSig::Call(_) | ClientSig::Misplaced => losses.push(misplaced(&sig_field)),
    }
    if let Some(text) = wp.text {
        if !text.is_empty() {
            entries.push((role, Part::text(text)));
        }
    } else if let Some(b) = &wp.inline_data {
        entries.push((role, inline_to_part(b)));
    } else if let Some(fd) = &wp.file_data {
        entries.push((role, file_data_to_part(fd)));
    } else {
        let mut raw = wp;
        raw.thought_signature = None;
        if let Ok(value) = serde_json::to_value(raw) {
            entries.push((role, Part::Unknown { origin: Protocol::Gemini, value }));
        }
    }
    Ok(())
}

fn misplaced(field: &str) -> Loss {
    Loss::new(field, "crossbar state of another kind cannot stand on this part; ignored")
}

/// A reasoning part restored from a sealed token, replacing the unsigned copy of the same
/// thought text that a client may have kept just before it (the Python SDK keeps thoughts).
fn push_restored_reasoning(r: Reasoning, role: Role, entries: &mut Vec<(Role, Part)>) {
    let mut start = entries.len();
    while let Some((er, Part::Reasoning(p))) = start.checked_sub(1).and_then(|k| entries.get(k)) {
        if *er != role || p.opaque.is_some() || p.redacted {
            break;
        }
        start -= 1;
    }
    if start < entries.len() {
        let text: String = entries[start..]
            .iter()
            .filter_map(|(_, p)| match p {
                Part::Reasoning(p) => Some(p.text.as_str()),
                _ => None,
            })
            .collect();
        if text == r.text {
            entries.truncate(start);
        }
    }
    entries.push((role, Part::Reasoning(r)));
}

fn tool_result(fr: FunctionResponse, (i, j): (usize, usize), calls: &mut [PendingCall]) -> ToolResult {
    let call_id = match fr.id.filter(|s| !s.is_empty()) {
        Some(id) => {
            if let Some(c) = calls.iter_mut().find(|c| c.id == id) {
                c.answered = true;
            }
            id
        }
        None => match calls.iter_mut().find(|c| !c.answered && c.name == fr.name) {
            Some(c) => {
                c.answered = true;
                c.id.clone()
            }
            None => format!("call_{i}_{j}"),
        },
    };
    let (mut content, is_error) = result_content(fr.response.as_ref());
    for p in &fr.parts {
        if let Some(b) = &p.inline_data {
            content.push(inline_to_part(b));
        } else if let Some(fd) = &p.file_data {
            content.push(file_data_to_part(fd));
        }
    }
    ToolResult {
        call_id,
        name: Some(fr.name).filter(|n| !n.is_empty()),
        content,
        is_error,
        kind: ToolCallKind::Function,
    }
}

/// `response.output` / `response.content` when a string; `{error}` alone marks a failure;
/// anything else is the JSON text of `response`.
fn result_content(response: Option<&Value>) -> (Vec<Part>, bool) {
    let text = |s: &str| vec![Part::text(s)];
    match response {
        None => (Vec::new(), false),
        Some(Value::Object(m)) => {
            if let Some(Value::String(s)) = m.get("output") {
                return (text(s), false);
            }
            if let Some(Value::String(s)) = m.get("content") {
                return (text(s), false);
            }
            match m.get("error") {
                Some(Value::String(s)) if !m.contains_key("output") => (text(s), true),
                Some(e) if !e.is_null() && !m.contains_key("output") => (text(&e.to_string()), true),
                _ => (text(&Value::Object(m.clone()).to_string()), false),
            }
        }
        Some(Value::String(s)) => (text(s), false),
        Some(other) => (text(&other.to_string()), false),
    }
}
