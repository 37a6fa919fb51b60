//! Chat Completions wire → canonical: a client's request, and an upstream's non-streamed reply.
//!
//! The request is parsed field by field from a JSON object so every error names the field
//! (`messages[3].tool_calls[0]`, `response_format`). Fields that cannot be carried and must
//! not be dropped (`n > 1`, `logprobs`, audio, `prediction`) are `Unsupported`; harmless
//! drops become `Loss`es; unknown top-level fields are dropped with a `Loss` too.

use super::decode_messages::{tool_call_from_wire, MessageDecoder};
use super::wire::{finish_from_wire, InCompletion, InDelta, InFunctionDef, InResponseFormat, InTool};
use crate::canonical::{
    Cx, Effort, Loss, OutputFormat, Part, ProtocolError, Reasoning, ReasoningConfig, Request, Response, ToolCall,
    ToolCallKind, ToolChoice, ToolDef, ToolKind,
};
use crate::raw_json::{self, Fields};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

pub fn decode_request(body: &[u8], _cx: &Cx) -> Result<Request, ProtocolError> {
    let mut map: Fields = match serde_json::from_slice(body) {
        Ok(map) => map,
        Err(e) => return Err(body_error(body, e)),
    };
    let mut req = Request::default();
    reject_unsupported(&mut map)?;
    req.model = take::<String>(&mut map, "model")?
        .ok_or_else(|| ProtocolError::invalid_param("model", "`model` is required"))?;

    let messages = take::<Vec<&RawValue>>(&mut map, "messages")?
        .ok_or_else(|| ProtocolError::invalid_param("messages", "`messages` is required"))?;
    MessageDecoder::default().run(messages, &mut req)?;

    decode_tools(&mut map, &mut req)?;
    decode_sampling(&mut map, &mut req)?;
    decode_output_and_reasoning(&mut map, &mut req)?;
    req.stream = take::<bool>(&mut map, "stream")?.unwrap_or(false);
    // `include_usage` is read by the application into `Cx`; only its type is checked here.
    take::<Map<String, Value>>(&mut map, "stream_options")?;
    decode_metadata(&mut map, &mut req)?;

    for (key, value) in map {
        if raw_json::is_null(value) {
            continue;
        }
        let reason = match key.as_str() {
            "logit_bias" => "token biasing cannot be translated",
            "service_tier" => "service tiers are chosen by the gateway's routing",
            "web_search_options" => "built-in web search is not available through the gateway",
            _ => "not supported by crossbar's translation",
        };
        req.losses.push(Loss::new(key, reason));
    }
    Ok(req)
}

/// Why the body is not a JSON object of fields.
fn body_error(body: &[u8], e: serde_json::Error) -> ProtocolError {
    match serde_json::from_slice::<Value>(body) {
        Ok(_) => ProtocolError::invalid("request body must be a JSON object"),
        Err(_) => ProtocolError::invalid(format!("request body is not valid JSON: {e}")),
    }
}

/// The field as `T`, `None` when absent or null; a type error names the field.
fn take<'a, T: Deserialize<'a>>(map: &mut Fields<'a>, key: &str) -> Result<Option<T>, ProtocolError> {
    match map.remove(key) {
        None => Ok(None),
        Some(raw) if raw_json::is_null(raw) => Ok(None),
        Some(raw) => from_raw(raw, key).map(Some),
    }
}

/// `raw` as `T`; the error names `path` (and, like `from_value`, carries no byte position).
pub(super) fn from_raw<'a, T: Deserialize<'a>>(raw: &'a RawValue, path: &str) -> Result<T, ProtocolError> {
    raw_json::parse(raw).map_err(|e| ProtocolError::invalid_param(path, format!("invalid `{path}`: {e}")))
}

pub(super) fn from_value<T: DeserializeOwned>(v: Value, path: &str) -> Result<T, ProtocolError> {
    serde_json::from_value(v).map_err(|e| ProtocolError::invalid_param(path, format!("invalid `{path}`: {e}")))
}

fn reject_unsupported(map: &mut Fields) -> Result<(), ProtocolError> {
    if take::<u64>(map, "n")?.unwrap_or(1) > 1 {
        return Err(ProtocolError::unsupported("n", "only one choice per request can be generated"));
    }
    if take::<bool>(map, "logprobs")?.unwrap_or(false) {
        return Err(ProtocolError::unsupported("logprobs", "token log probabilities are not available"));
    }
    if take::<u64>(map, "top_logprobs")?.unwrap_or(0) > 0 {
        return Err(ProtocolError::unsupported("top_logprobs", "token log probabilities are not available"));
    }
    if take::<Value>(map, "audio")?.is_some() {
        return Err(ProtocolError::unsupported("audio", "audio output is not available"));
    }
    if take::<Vec<String>>(map, "modalities")?.is_some_and(|m| m.iter().any(|x| x == "audio")) {
        return Err(ProtocolError::unsupported("modalities", "audio output is not available"));
    }
    if take::<Value>(map, "prediction")?.is_some() {
        return Err(ProtocolError::unsupported("prediction", "predicted outputs are not available"));
    }
    Ok(())
}

fn decode_tools(map: &mut Fields, req: &mut Request) -> Result<(), ProtocolError> {
    for (i, raw) in take::<Vec<&RawValue>>(map, "tools")?.unwrap_or_default().into_iter().enumerate() {
        let path = format!("tools[{i}]");
        let t: InTool = from_raw(raw, &path)?;
        let kind = t.kind.clone().unwrap_or_else(|| "function".into());
        match (kind.as_str(), t.function, t.custom) {
            ("function", Some(f), _) => req.tools.push(function_def(f)),
            ("custom", _, Some(c)) => req.tools.push(ToolDef {
                name: c.name,
                namespace: None,
                description: c.description,
                parameters: Value::Object(Map::new()),
                kind: ToolKind::Custom { format: c.format },
                strict: None,
                cache: None,
            }),
            ("function" | "custom", _, _) => {
                return Err(ProtocolError::invalid_param(
                    format!("{path}.{kind}"),
                    format!("`{path}.{kind}` is required"),
                ))
            }
            (other, _, _) => {
                return Err(ProtocolError::unsupported(format!("{path}.type"), format!("tool type `{other}`")))
            }
        }
    }
    for (i, raw) in take::<Vec<Value>>(map, "functions")?.unwrap_or_default().into_iter().enumerate() {
        let f: InFunctionDef = from_value(raw, &format!("functions[{i}]"))?;
        req.tools.push(function_def(f));
    }

    let choice = match take::<Value>(map, "tool_choice")? {
        Some(v) => Some(tool_choice(v, "tool_choice", &mut req.losses)?),
        None => match take::<Value>(map, "function_call")? {
            Some(v) => Some(tool_choice(v, "function_call", &mut req.losses)?),
            None => None,
        },
    };
    map.remove("function_call");
    req.tool_choice = choice;
    req.parallel_tool_calls = take::<bool>(map, "parallel_tool_calls")?;
    Ok(())
}

fn function_def(f: InFunctionDef) -> ToolDef {
    let parameters = match f.parameters {
        Some(p @ Value::Object(_)) => p,
        _ => serde_json::json!({"type": "object", "properties": {}}),
    };
    ToolDef {
        name: f.name,
        namespace: None,
        description: f.description,
        parameters,
        kind: ToolKind::Function,
        strict: f.strict,
        cache: None,
    }
}

fn tool_choice(v: Value, path: &str, losses: &mut Vec<Loss>) -> Result<ToolChoice, ProtocolError> {
    let bad = |what: &str| ProtocolError::invalid_param(path, format!("invalid `{path}`: {what}"));
    match &v {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" | "any" => Ok(ToolChoice::Required),
            other => Err(bad(&format!("unknown value `{other}`"))),
        },
        Value::Object(o) => {
            let kind = o.get("type").and_then(Value::as_str).unwrap_or("function");
            let name_in = |key: &str| o.get(key).and_then(|f| f.get("name")).and_then(Value::as_str);
            match kind {
                "function" | "custom" => name_in(kind)
                    .or_else(|| o.get("name").and_then(Value::as_str))
                    .map(|n| ToolChoice::Named { name: n.to_string() })
                    .ok_or_else(|| bad("a tool name is required")),
                "allowed_tools" => {
                    losses.push(Loss::new(
                        format!("{path}.allowed_tools"),
                        "restricting the callable tools is not carried",
                    ));
                    let mode = o.get("allowed_tools").and_then(|a| a.get("mode")).and_then(Value::as_str);
                    Ok(if mode == Some("required") { ToolChoice::Required } else { ToolChoice::Auto })
                }
                other => Err(bad(&format!("unknown type `{other}`"))),
            }
        }
        _ => Err(bad("expected a string or an object")),
    }
}

fn decode_sampling(map: &mut Fields, req: &mut Request) -> Result<(), ProtocolError> {
    let s = &mut req.sampling;
    let completion = take::<u64>(map, "max_completion_tokens")?;
    let legacy = take::<u64>(map, "max_tokens")?;
    s.max_tokens = completion.or(legacy).map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    s.temperature = take(map, "temperature")?;
    s.top_p = take(map, "top_p")?;
    s.top_k = take::<u64>(map, "top_k")?.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    s.stop = match take::<Value>(map, "stop")? {
        None => Vec::new(),
        Some(Value::String(one)) => vec![one],
        Some(many) => from_value(many, "stop")?,
    };
    s.seed = take(map, "seed")?;
    s.presence_penalty = take(map, "presence_penalty")?;
    s.frequency_penalty = take(map, "frequency_penalty")?;
    Ok(())
}

fn decode_output_and_reasoning(map: &mut Fields, req: &mut Request) -> Result<(), ProtocolError> {
    if let Some(f) = take::<InResponseFormat>(map, "response_format")? {
        req.output = Some(match f.kind.as_str() {
            "text" => OutputFormat::Text,
            "json_object" => OutputFormat::JsonObject,
            "json_schema" => {
                let js = f.json_schema.ok_or_else(|| {
                    ProtocolError::invalid_param(
                        "response_format.json_schema",
                        "`response_format.json_schema` is required",
                    )
                })?;
                OutputFormat::JsonSchema {
                    name: js.name.unwrap_or_else(|| "response".into()),
                    schema: js.schema.unwrap_or_else(|| Value::Object(Map::new())),
                    strict: js.strict.unwrap_or(false),
                }
            }
            other => {
                return Err(ProtocolError::invalid_param(
                    "response_format.type",
                    format!("invalid `response_format.type`: unknown value `{other}`"),
                ))
            }
        });
    }
    if let Some(effort) = take::<String>(map, "reasoning_effort")? {
        let e = Effort::parse(&effort).ok_or_else(|| {
            ProtocolError::invalid_param(
                "reasoning_effort",
                format!("invalid `reasoning_effort`: unknown value `{effort}`"),
            )
        })?;
        req.reasoning = Some(ReasoningConfig { effort: Some(e), ..Default::default() });
    }
    // OpenRouter's unified `reasoning` object.
    if let Some(r) = take::<Map<String, Value>>(map, "reasoning")? {
        let cfg = req.reasoning.get_or_insert_with(ReasoningConfig::default);
        if let Some(e) = r.get("effort").and_then(Value::as_str).and_then(Effort::parse) {
            cfg.effort.get_or_insert(e);
        }
        if let Some(b) = r.get("max_tokens").and_then(Value::as_u64) {
            cfg.budget_tokens = Some(u32::try_from(b).unwrap_or(u32::MAX));
        }
        if r.get("enabled").and_then(Value::as_bool) == Some(false) {
            cfg.effort = Some(Effort::None);
        }
        if r.get("exclude").and_then(Value::as_bool) == Some(true) {
            cfg.include_thoughts = Some(false);
        }
    }
    Ok(())
}

fn decode_metadata(map: &mut Fields, req: &mut Request) -> Result<(), ProtocolError> {
    let md = &mut req.metadata;
    let user = take::<String>(map, "user")?;
    let safety = take::<String>(map, "safety_identifier")?;
    if let (Some(u), Some(s)) = (&user, &safety) {
        if u != s {
            req.losses.push(Loss::new("user", "`safety_identifier` is carried instead"));
        }
    }
    md.user = safety.or(user);
    md.prompt_cache_key = take(map, "prompt_cache_key")?;
    md.cache_retention = take(map, "prompt_cache_retention")?;
    md.store = take(map, "store")?;
    md.extra = take::<Map<String, Value>>(map, "metadata")?.map(Value::Object);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Upstream response

pub fn decode_response(body: &[u8], _cx: &Cx) -> Result<Response, ProtocolError> {
    let c: InCompletion = serde_json::from_slice(body)
        .map_err(|e| ProtocolError::bad_upstream(format!("chat completion is not valid JSON: {e}")))?;
    if let Some(err) = &c.error {
        let info = super::error::error_from_value(&serde_json::json!({ "error": err }), None);
        return Err(ProtocolError::bad_upstream(format!("upstream returned an error: {}", info.message)));
    }
    let choices = c.choices.unwrap_or_default();
    let choice = choices
        .into_iter()
        .min_by_key(|ch| ch.index.unwrap_or(0))
        .ok_or_else(|| ProtocolError::bad_upstream("chat completion has no choices"))?;
    let parts = message_parts(choice.message.or(choice.delta).unwrap_or_default())?;
    Ok(Response {
        id: c.id.unwrap_or_default(),
        model: c.model.unwrap_or_default(),
        parts,
        finish: choice.finish_reason.as_deref().map(finish_from_wire),
        usage: c.usage.map(|u| u.to_canonical()).unwrap_or_default(),
    })
}

fn message_parts(m: InDelta) -> Result<Vec<Part>, ProtocolError> {
    let mut parts = Vec::new();
    let reasoning = m.reasoning_content.filter(|s| !s.is_empty()).or(m.reasoning.filter(|s| !s.is_empty()));
    if let Some(text) = reasoning {
        parts.push(Part::Reasoning(Reasoning { text, ..Default::default() }));
    }
    if let Some(text) = m.content.filter(|s| !s.is_empty()) {
        parts.push(Part::text(text));
    }
    if let Some(text) = m.refusal.filter(|s| !s.is_empty()) {
        parts.push(Part::text(text));
    }
    for (j, tc) in m.tool_calls.unwrap_or_default().into_iter().enumerate() {
        let call = tool_call_from_wire(tc, &format!("message.tool_calls[{j}]"), Some(format!("call_{j}")))
            .map_err(|e| ProtocolError::bad_upstream(e.to_string()))?;
        parts.push(Part::ToolCall(call));
    }
    if let Some(f) = m.function_call {
        parts.push(Part::ToolCall(ToolCall {
            id: "call_0".into(),
            name: f.name.unwrap_or_default(),
            arguments: f.arguments.unwrap_or_default(),
            kind: ToolCallKind::Function,
            opaque: None,
        }));
    }
    Ok(parts)
}
