//! Tool names across protocols.
//!
//! Codex declares `namespace` tools and `custom` (freeform) tools that most providers lack.
//! Upstream encoders send a namespaced tool under its *flat name* `namespace__name`, and a
//! custom tool as a function taking one string argument `input`. Client-side encoders look
//! the flat name up here to give the call back to the client in the form it declared.

use super::request::{ToolDef, ToolKind};
use std::collections::HashMap;

/// Separator between a namespace and a tool name in a flat name.
pub const NAMESPACE_SEPARATOR: &str = "__";

impl ToolDef {
    /// The name a provider without namespaces sees.
    pub fn flat_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}{NAMESPACE_SEPARATOR}{}", self.name),
            None => self.name.clone(),
        }
    }

    pub fn is_custom(&self) -> bool {
        matches!(self.kind, ToolKind::Custom { .. })
    }
}

/// The client's declared tools, by flat name.
#[derive(Debug, Clone, Default)]
pub struct ToolIndex {
    by_flat_name: HashMap<String, ToolDef>,
}

impl ToolIndex {
    pub fn new(tools: &[ToolDef]) -> ToolIndex {
        ToolIndex { by_flat_name: tools.iter().map(|t| (t.flat_name(), t.clone())).collect() }
    }

    pub fn get(&self, flat_name: &str) -> Option<&ToolDef> {
        self.by_flat_name.get(flat_name)
    }

    /// Whether the client declared `flat_name` as a custom (freeform) tool.
    pub fn is_custom(&self, flat_name: &str) -> bool {
        self.get(flat_name).is_some_and(ToolDef::is_custom)
    }

    /// `(namespace, name)` to show the client for a flat name.
    pub fn split<'a>(&'a self, flat_name: &'a str) -> (Option<&'a str>, &'a str) {
        match self.get(flat_name) {
            Some(def) => (def.namespace.as_deref(), def.name.as_str()),
            None => (None, flat_name),
        }
    }
}

/// The JSON arguments a custom tool's input travels in when the upstream only has functions.
pub fn wrap_custom_input(input: &str) -> String {
    serde_json::json!({ "input": input }).to_string()
}

/// The raw input back out of `{"input": "..."}`; the arguments themselves if they are not that shape.
pub fn unwrap_custom_input(arguments: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(serde_json::Value::Object(map)) => match map.get("input") {
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => arguments.to_string(),
        },
        _ => arguments.to_string(),
    }
}

/// The function schema a custom tool is declared with upstream.
pub fn custom_tool_parameters() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": { "input": { "type": "string", "description": "The raw input for this tool, exactly as its format requires." } },
        "required": ["input"],
        "additionalProperties": false
    })
}
