//! The non-conversation parts of a client's `GenerateContentRequest`: `tools`, `toolConfig`
//! and `generationConfig` (sampling, structured output, thinking).

use super::request_in::parse;
use super::schema::from_openapi;
use super::wire::{FunctionCallingConfig, FunctionDeclaration, GenerationConfig, ThinkingConfig};
use crate::canonical::{
    Effort, Loss, OutputFormat, ProtocolError, ReasoningConfig, Request, ToolChoice, ToolDef, ToolKind,
};
use serde_json::Value;

pub(super) fn decode_tools(v: &Value, losses: &mut Vec<Loss>) -> Result<Vec<ToolDef>, ProtocolError> {
    let Value::Array(tools) = v else {
        return Err(ProtocolError::invalid_param("tools", "`tools` must be an array of Tool objects"));
    };
    let mut out = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        let Value::Object(t) = tool else {
            return Err(ProtocolError::invalid_param("tools", format!("`tools[{i}]` must be an object")));
        };
        for (key, value) in t {
            if key == "functionDeclarations" || key == "function_declarations" {
                let field = format!("tools[{i}].functionDeclarations");
                let decls: Vec<FunctionDeclaration> = if value.is_null() { Vec::new() } else { parse(value, &field)? };
                for (k, d) in decls.into_iter().enumerate() {
                    out.push(tool_def(d, &format!("{field}[{k}]"), losses)?);
                }
            } else {
                losses.push(Loss::new(
                    format!("tools[{i}].{key}"),
                    "Gemini built-in tool is only available on a Gemini upstream",
                ));
            }
        }
    }
    Ok(out)
}

fn tool_def(d: FunctionDeclaration, field: &str, losses: &mut Vec<Loss>) -> Result<ToolDef, ProtocolError> {
    if d.name.is_empty() {
        return Err(ProtocolError::invalid_param(field, format!("`{field}.name` is required")));
    }
    if d.behavior.is_some() {
        losses.push(Loss::new(format!("{field}.behavior"), "non-blocking function calls are Gemini Live only"));
    }
    let parameters = match (d.parameters_json_schema, d.parameters) {
        (Some(js), _) => js,
        (None, Some(openapi)) => from_openapi(&openapi),
        (None, None) => serde_json::json!({"type": "object", "properties": {}}),
    };
    Ok(ToolDef {
        name: d.name,
        namespace: None,
        description: d.description,
        parameters,
        kind: ToolKind::Function,
        strict: None,
        cache: None,
    })
}

pub(super) fn tool_choice(
    fcc: &FunctionCallingConfig,
    losses: &mut Vec<Loss>,
) -> Result<Option<ToolChoice>, ProtocolError> {
    let allowed = fcc.allowed_function_names.clone().unwrap_or_default();
    let mode = fcc.mode.as_deref().map(str::to_ascii_uppercase);
    let choice = match mode.as_deref() {
        None | Some("MODE_UNSPECIFIED") => None,
        Some("AUTO") | Some("VALIDATED") => Some(ToolChoice::Auto),
        Some("NONE") => Some(ToolChoice::None),
        Some("ANY") => match allowed.as_slice() {
            [one] => return Ok(Some(ToolChoice::Named { name: one.clone() })),
            _ => Some(ToolChoice::Required),
        },
        Some(other) => {
            return Err(ProtocolError::invalid_param(
                "toolConfig.functionCallingConfig.mode",
                format!("unknown function calling mode `{other}`"),
            ))
        }
    };
    if !allowed.is_empty() {
        losses.push(Loss::new(
            "toolConfig.functionCallingConfig.allowedFunctionNames",
            "restricting calls to a subset of the declared functions is not carried",
        ));
    }
    Ok(choice)
}

fn whole(n: &serde_json::Number, field: &str) -> Result<u64, ProtocolError> {
    if let Some(v) = n.as_u64() {
        if v <= u64::from(u32::MAX) {
            return Ok(v);
        }
    }
    let v = n.as_f64().unwrap_or(-1.0);
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64 {
        Ok(v as u64)
    } else {
        Err(ProtocolError::invalid_param(field, format!("`{field}` must be a non-negative integer")))
    }
}

pub(super) fn generation_config(gc: GenerationConfig, req: &mut Request) -> Result<(), ProtocolError> {
    let s = &mut req.sampling;
    s.temperature = gc.temperature;
    s.top_p = gc.top_p;
    if let Some(k) = &gc.top_k {
        s.top_k = Some(whole(k, "generationConfig.topK")? as u32);
    }
    if let Some(m) = &gc.max_output_tokens {
        s.max_tokens = Some(whole(m, "generationConfig.maxOutputTokens")? as u32);
    }
    if let Some(stop) = gc.stop_sequences {
        s.stop = stop.into_vec();
    }
    if let Some(seed) = &gc.seed {
        let seed =
            seed.as_i64().or_else(|| seed.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64));
        match seed {
            Some(v) => s.seed = Some(v),
            None => {
                return Err(ProtocolError::invalid_param(
                    "generationConfig.seed",
                    "`generationConfig.seed` must be an integer",
                ))
            }
        }
    }
    s.presence_penalty = gc.presence_penalty;
    s.frequency_penalty = gc.frequency_penalty;
    if let Some(n) = &gc.candidate_count {
        if whole(n, "generationConfig.candidateCount")? > 1 {
            return Err(ProtocolError::unsupported(
                "generationConfig.candidateCount",
                "only one candidate per request can be produced",
            ));
        }
    }
    if let Some(modalities) = &gc.response_modalities {
        if let Some(m) = modalities.iter().find(|m| !m.eq_ignore_ascii_case("TEXT")) {
            return Err(ProtocolError::unsupported(
                "generationConfig.responseModalities",
                format!("only TEXT output can be produced, not {m}"),
            ));
        }
    }
    let schema = match (gc.response_json_schema, gc.response_schema) {
        (Some(js), _) => Some(js),
        (None, Some(openapi)) => Some(from_openapi(&openapi)),
        (None, None) => None,
    };
    let mime = gc.response_mime_type.as_deref().map(str::to_ascii_lowercase);
    req.output = match (mime.as_deref(), schema) {
        (Some("application/json") | None, Some(schema)) => {
            Some(OutputFormat::JsonSchema { name: "response".into(), schema, strict: false })
        }
        (Some("application/json"), None) => Some(OutputFormat::JsonObject),
        (None | Some("text/plain"), None) => None,
        (Some(other), _) => {
            req.losses.push(Loss::new(
                "generationConfig.responseMimeType",
                format!("`{other}` output is not carried; plain text is produced"),
            ));
            None
        }
    };
    if let Some(tc) = gc.thinking_config {
        req.reasoning = Some(reasoning(&tc)?);
    }
    for (present, field) in [
        (gc.response_logprobs.is_some() || gc.logprobs.is_some(), "generationConfig.responseLogprobs"),
        (gc.speech_config.is_some(), "generationConfig.speechConfig"),
        (gc.media_resolution.is_some(), "generationConfig.mediaResolution"),
    ] {
        if present {
            req.losses.push(Loss::new(field, "not carried to this upstream"));
        }
    }
    Ok(())
}

/// `thinkingBudget` (0 → none, -1 → adaptive, N → budget), `thinkingLevel`, `includeThoughts`.
fn reasoning(tc: &ThinkingConfig) -> Result<ReasoningConfig, ProtocolError> {
    let mut rc = ReasoningConfig { include_thoughts: tc.include_thoughts, ..Default::default() };
    match tc.thinking_budget {
        None => {}
        Some(-1) => rc.adaptive = true,
        Some(0) => rc.effort = Some(Effort::None),
        Some(n) if n > 0 => rc.budget_tokens = Some(u32::try_from(n).unwrap_or(u32::MAX)),
        Some(_) => {
            return Err(ProtocolError::invalid_param(
                "generationConfig.thinkingConfig.thinkingBudget",
                "`thinkingBudget` must be -1, 0 or a positive token count",
            ))
        }
    }
    if let Some(level) = tc.thinking_level.as_deref() {
        if !level.eq_ignore_ascii_case("THINKING_LEVEL_UNSPECIFIED") {
            let effort = Effort::parse(level).ok_or_else(|| {
                ProtocolError::invalid_param(
                    "generationConfig.thinkingConfig.thinkingLevel",
                    format!("unknown thinkingLevel `{level}` (expected MINIMAL, LOW, MEDIUM or HIGH)"),
                )
            })?;
            rc.effort = Some(effort);
        }
    }
    Ok(rc)
}
