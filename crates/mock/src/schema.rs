//! Minimal instances of JSON schemas (tool arguments, structured output). Accepts JSON Schema
//! and Gemini's OpenAPI-style schemas (`"type": "STRING"`).

use serde_json::{json, Map, Value};

/// A schema's type, lowercased (Gemini writes `STRING`); the first non-null one of a list.
pub fn schema_type(schema: &Value) -> Option<String> {
    match &schema["type"] {
        Value::String(t) => Some(t.to_ascii_lowercase()),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null").map(str::to_ascii_lowercase),
        _ => None,
    }
}

/// A minimal value valid for `schema` (required properties only; all of them when the schema
/// lists none as required). `$ref`s to `#/...` are followed; a node budget bounds hostile or
/// cyclic schemas.
pub fn instance(schema: &Value) -> Value {
    let mut budget = 10_000usize;
    build(schema, schema, 0, &mut budget)
}

fn build(schema: &Value, root: &Value, depth: usize, budget: &mut usize) -> Value {
    if depth > 32 || *budget == 0 {
        return Value::Null;
    }
    *budget -= 1;
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(target) = schema["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        let resolved = root.pointer(target).unwrap_or(&Value::Null);
        return build(resolved, root, depth + 1, budget);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = schema[key].as_array().and_then(|a| a.first()) {
            return build(first, root, depth + 1, budget);
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
            let item = build(&schema["items"], root, depth + 1, budget);
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
                obj.insert(name.to_owned(), build(&props[name], root, depth + 1, budget));
            }
            Value::Object(obj)
        }
        _ => json!("mock"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances() {
        let s = json!({"type": "object", "properties": {
            "a": {"type": "string"}, "b": {"type": ["integer", "null"], "minimum": 3},
            "c": {"enum": ["x", "y"]}, "d": {"type": "array", "items": {"type": "boolean"}, "minItems": 2},
            "e": {"$ref": "#/$defs/E"}, "f": {"anyOf": [{"type": "null"}, {"type": "string"}]},
            "g": {"type": "number"}}, "required": ["a", "b", "c", "d", "e", "f"],
            "$defs": {"E": {"type": "OBJECT", "properties": {"z": {"const": 7}}}}});
        let want = json!({"a": "mock", "b": 3, "c": "x", "d": [false, false], "e": {"z": 7}, "f": null});
        assert_eq!(instance(&s), want);
        assert_eq!(instance(&json!({"type": "object"})), json!({}));
    }

    #[test]
    fn hostile_schemas_end() {
        let cyclic = json!({"type": "object", "properties": {"a": {"$ref": "#"}, "b": {"$ref": "#"}},
                            "required": ["a", "b"]});
        assert!(instance(&cyclic).is_object());
        assert_eq!(instance(&json!("not a schema")), json!("mock"));
    }
}
