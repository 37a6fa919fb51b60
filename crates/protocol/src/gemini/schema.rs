//! JSON Schema ⇄ Gemini `Schema` (the OpenAPI 3.0 subset `parameters` and `responseSchema` take).
//!
//! Gemini rejects unknown keywords ("Unknown name ... Cannot find field"), `properties` on
//! non-objects, arrays without `items`, and schemas without a `type`. `to_gemini` therefore
//! rebuilds each node from a whitelist:
//!
//! | JSON Schema                          | Gemini Schema                                              |
//! |--------------------------------------|------------------------------------------------------------|
//! | `type: "string"`                     | `type: "STRING"` (upper case)                              |
//! | `type: [X, "null"]`                  | `type: X, nullable: true`                                  |
//! | `type: [X, Y]`                       | `anyOf: [{type: X}, {type: Y}]`                            |
//! | `anyOf` / `oneOf` with a null branch | `nullable: true`; a single remaining branch is inlined     |
//! | `allOf`                              | merged (properties and required united)                    |
//! | `$ref` to `#/$defs/..`, `#/definitions/..` | inlined, at most `MAX_REF_DEPTH` deep, never recursive |
//! | `const: v`                           | `enum: ["v"]`                                              |
//! | `enum` on a non-string type          | dropped, values listed in `description`                    |
//! | `format`                             | kept only where Gemini honours it (`enum`, `date-time`, `float`, `double`, `int32`, `int64`) |
//! | no `type`                            | inferred: `properties` → OBJECT, `items` → ARRAY, `enum` → STRING, else STRING |
//! | `items: [..]` / `prefixItems`        | the first item schema                                      |
//! | ARRAY without `items`                | `items: {type: STRING}`                                    |
//! | `$schema`, `$id`, `$comment`, `additionalProperties`, `patternProperties`, `examples`, `exclusiveMinimum`, … | dropped |
//!
//! Kept as is: `title`, `description`, `default`, `example`, `pattern`, `minimum`, `maximum`,
//! `minLength`, `maxLength`, `minItems`, `maxItems`, `minProperties`, `maxProperties`, and
//! `required` (filtered to declared properties).
//!
//! `from_openapi` goes the other way for client requests that use `parameters` /
//! `responseSchema`: lower-case types, `nullable` → a `"null"` type, Gemini-only keys dropped.

use serde_json::{Map, Value};

/// How many `$ref`s may be followed inside one another before a placeholder is used.
const MAX_REF_DEPTH: usize = 8;
/// Deepest nesting we rebuild (deeper nodes become a plain `{type: STRING}`).
const MAX_DEPTH: usize = 48;
/// Total nodes one conversion may produce (guards against `$ref` fan-out blowing up).
const MAX_NODES: usize = 20_000;

/// A client's JSON Schema → Gemini `Schema` for `FunctionDeclaration.parameters`: the root is
/// always an OBJECT (Gemini requires it).
pub fn parameters_to_gemini(schema: &Value) -> Value {
    let mut out = to_gemini(schema);
    if let Value::Object(map) = &mut out {
        let is_object = map.get("type").and_then(Value::as_str) == Some("OBJECT");
        if !is_object {
            map.clear();
            map.insert("type".into(), Value::String("OBJECT".into()));
        }
        if !map.contains_key("properties") {
            map.insert("properties".into(), Value::Object(Map::new()));
        }
    }
    out
}

/// A JSON Schema → Gemini `Schema` (any root type; used for `responseSchema`).
pub fn to_gemini(schema: &Value) -> Value {
    let mut cx = Cleaner { root: schema, refs: Vec::new(), nodes: 0 };
    Value::Object(cx.clean(schema, 0))
}

struct Cleaner<'a> {
    root: &'a Value,
    /// `$ref`s being expanded (to refuse recursion).
    refs: Vec<String>,
    nodes: usize,
}

fn type_placeholder(t: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("type".into(), Value::String(t.into()));
    m
}

impl Cleaner<'_> {
    fn clean(&mut self, node: &Value, depth: usize) -> Map<String, Value> {
        self.nodes += 1;
        if depth > MAX_DEPTH || self.nodes > MAX_NODES {
            return type_placeholder("STRING");
        }
        let Some(obj) = node.as_object() else {
            // `true` / `{}` / garbage: "anything", which Gemini cannot say; a string is the
            // most permissive thing it accepts.
            return type_placeholder("STRING");
        };
        // `$ref`: inline the target, sibling keys override it.
        if let Some(Value::String(r)) = obj.get("$ref") {
            return self.clean_ref(r, obj, depth);
        }
        let merged;
        let obj = match obj.get("allOf") {
            Some(Value::Array(all)) => {
                merged = self.merge_all_of(obj, all);
                &merged
            }
            _ => obj,
        };

        let mut out = Map::new();
        let mut nullable = obj.get("nullable").and_then(Value::as_bool).unwrap_or(false);

        // anyOf / oneOf: null branches become `nullable`; one remaining branch is inlined.
        let union: Vec<&Value> =
            ["anyOf", "oneOf"].iter().filter_map(|k| obj.get(*k).and_then(Value::as_array)).flatten().collect();
        if !union.is_empty() {
            let branches: Vec<&Value> = union.into_iter().filter(|b| !is_null_schema(b)).collect();
            if branches.len() < count_union(obj) {
                nullable = true;
            }
            match branches.as_slice() {
                [] => {}
                [only] => {
                    let mut inner = self.clean(only, depth + 1);
                    copy_doc_keys(obj, &mut inner);
                    if nullable {
                        inner.insert("nullable".into(), Value::Bool(true));
                    }
                    return inner;
                }
                many => {
                    let cleaned: Vec<Value> = many.iter().map(|b| Value::Object(self.clean(b, depth + 1))).collect();
                    out.insert("anyOf".into(), Value::Array(cleaned));
                    copy_doc_keys(obj, &mut out);
                    if nullable {
                        out.insert("nullable".into(), Value::Bool(true));
                    }
                    return out;
                }
            }
        }

        // type
        let mut types: Vec<String> = match obj.get("type") {
            Some(Value::String(t)) => vec![t.to_ascii_uppercase()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).map(str::to_ascii_uppercase).collect(),
            _ => Vec::new(),
        };
        if types.iter().any(|t| t == "NULL") {
            nullable = true;
            types.retain(|t| t != "NULL");
        }
        types.retain(|t| KNOWN_TYPES.contains(&t.as_str()));
        types.dedup();
        if types.len() > 1 {
            let branches: Vec<Value> = types
                .iter()
                .map(|t| {
                    let mut single = obj.clone();
                    single.insert("type".into(), Value::String(t.clone()));
                    single.remove("description");
                    single.remove("title");
                    Value::Object(self.clean(&Value::Object(single), depth + 1))
                })
                .collect();
            out.insert("anyOf".into(), Value::Array(branches));
            copy_doc_keys(obj, &mut out);
            if nullable {
                out.insert("nullable".into(), Value::Bool(true));
            }
            return out;
        }
        let ty = match types.pop() {
            Some(t) => t,
            None if obj.contains_key("properties") => "OBJECT".into(),
            None if obj.contains_key("items") || obj.contains_key("prefixItems") => "ARRAY".into(),
            None => "STRING".into(),
        };
        out.insert("type".into(), Value::String(ty.clone()));
        copy_doc_keys(obj, &mut out);
        if nullable {
            out.insert("nullable".into(), Value::Bool(true));
        }

        // enum / const
        let mut values: Vec<Value> = Vec::new();
        if let Some(c) = obj.get("const") {
            values.push(c.clone());
        } else if let Some(Value::Array(e)) = obj.get("enum") {
            values.extend(e.iter().cloned());
        }
        if values.iter().any(Value::is_null) {
            out.insert("nullable".into(), Value::Bool(true));
            values.retain(|v| !v.is_null());
        }
        if !values.is_empty() {
            if ty == "STRING" {
                let strings: Vec<Value> = values.iter().map(|v| Value::String(scalar_text(v))).collect();
                out.insert("enum".into(), Value::Array(strings));
                out.insert("format".into(), Value::String("enum".into()));
            } else {
                let listed: Vec<String> = values.iter().map(scalar_text).collect();
                let note = format!("Allowed values: {}.", listed.join(", "));
                let desc = match out.get("description").and_then(Value::as_str) {
                    Some(d) if !d.is_empty() => format!("{d} {note}"),
                    _ => note,
                };
                out.insert("description".into(), Value::String(desc));
            }
        }
        if !out.contains_key("format") {
            if let Some(Value::String(f)) = obj.get("format") {
                let ok = match ty.as_str() {
                    "STRING" => f == "date-time" || f == "enum",
                    "NUMBER" => f == "float" || f == "double",
                    "INTEGER" => f == "int32" || f == "int64",
                    _ => false,
                };
                if ok {
                    out.insert("format".into(), Value::String(f.clone()));
                }
            }
        }

        match ty.as_str() {
            "OBJECT" => {
                copy_keys(obj, &mut out, &["minProperties", "maxProperties"]);
                if let Some(Value::Object(props)) = obj.get("properties") {
                    let mut cleaned = Map::new();
                    for (k, v) in props {
                        cleaned.insert(k.clone(), Value::Object(self.clean(v, depth + 1)));
                    }
                    if let Some(Value::Array(req)) = obj.get("required") {
                        let req: Vec<Value> = req
                            .iter()
                            .filter(|r| r.as_str().is_some_and(|r| cleaned.contains_key(r)))
                            .cloned()
                            .collect();
                        if !req.is_empty() {
                            out.insert("required".into(), Value::Array(req));
                        }
                    }
                    if !cleaned.is_empty() {
                        out.insert("properties".into(), Value::Object(cleaned));
                    }
                }
            }
            "ARRAY" => {
                copy_keys(obj, &mut out, &["minItems", "maxItems"]);
                let items = match (obj.get("items"), obj.get("prefixItems")) {
                    (Some(Value::Array(list)), _) | (None, Some(Value::Array(list))) => list.first(),
                    (Some(one), _) => Some(one),
                    _ => None,
                };
                let items = match items {
                    Some(i) => self.clean(i, depth + 1),
                    None => type_placeholder("STRING"),
                };
                out.insert("items".into(), Value::Object(items));
            }
            "STRING" => copy_keys(obj, &mut out, &["minLength", "maxLength", "pattern"]),
            "NUMBER" | "INTEGER" => copy_keys(obj, &mut out, &["minimum", "maximum"]),
            _ => {}
        }
        out
    }

    fn clean_ref(&mut self, r: &str, obj: &Map<String, Value>, depth: usize) -> Map<String, Value> {
        let target = if self.refs.len() >= MAX_REF_DEPTH || self.refs.iter().any(|x| x == r) {
            None
        } else {
            resolve_pointer(self.root, r)
        };
        let Some(target) = target else {
            // Recursive, too deep or dangling: an unconstrained object keeps the call usable.
            let mut out = type_placeholder("OBJECT");
            copy_doc_keys(obj, &mut out);
            return out;
        };
        let mut merged = match target {
            Value::Object(t) => t.clone(),
            _ => Map::new(),
        };
        for (k, v) in obj {
            if k != "$ref" {
                merged.insert(k.clone(), v.clone());
            }
        }
        self.refs.push(r.to_string());
        let out = self.clean(&Value::Object(merged), depth + 1);
        self.refs.pop();
        out
    }

    /// `allOf`: one object with every branch's keys (refs resolved), properties and required united.
    fn merge_all_of(&self, obj: &Map<String, Value>, all: &[Value]) -> Map<String, Value> {
        let mut merged = obj.clone();
        merged.remove("allOf");
        let mut props = match merged.remove("properties") {
            Some(Value::Object(p)) => p,
            _ => Map::new(),
        };
        let mut required: Vec<Value> = match merged.remove("required") {
            Some(Value::Array(r)) => r,
            _ => Vec::new(),
        };
        for branch in all {
            let branch = match branch.get("$ref").and_then(Value::as_str) {
                Some(r) if !self.refs.iter().any(|x| x == r) => resolve_pointer(self.root, r).unwrap_or(branch),
                _ => branch,
            };
            let Some(b) = branch.as_object() else { continue };
            for (k, v) in b {
                match (k.as_str(), v) {
                    ("properties", Value::Object(p)) => {
                        for (pk, pv) in p {
                            props.entry(pk.clone()).or_insert_with(|| pv.clone());
                        }
                    }
                    ("required", Value::Array(r)) => {
                        for name in r {
                            if !required.contains(name) {
                                required.push(name.clone());
                            }
                        }
                    }
                    ("$ref" | "allOf", _) => {}
                    _ => {
                        merged.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
        }
        if !props.is_empty() {
            merged.insert("properties".into(), Value::Object(props));
            merged.entry("type").or_insert_with(|| Value::String("object".into()));
        }
        if !required.is_empty() {
            merged.insert("required".into(), Value::Array(required));
        }
        merged
    }
}

const KNOWN_TYPES: [&str; 6] = ["STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT"];

fn count_union(obj: &Map<String, Value>) -> usize {
    ["anyOf", "oneOf"].iter().filter_map(|k| obj.get(*k).and_then(Value::as_array)).map(Vec::len).sum()
}

fn is_null_schema(v: &Value) -> bool {
    match v.get("type") {
        Some(Value::String(t)) => t.eq_ignore_ascii_case("null"),
        _ => false,
    }
}

fn copy_doc_keys(from: &Map<String, Value>, to: &mut Map<String, Value>) {
    for key in ["title", "description"] {
        if let Some(Value::String(s)) = from.get(key) {
            to.insert(key.into(), Value::String(s.clone()));
        }
    }
    for key in ["default", "example"] {
        if let Some(v) = from.get(key) {
            to.insert(key.into(), v.clone());
        }
    }
}

fn copy_keys(from: &Map<String, Value>, to: &mut Map<String, Value>, keys: &[&str]) {
    for key in keys {
        if let Some(v) = from.get(*key) {
            if v.is_number() || v.is_string() {
                to.insert((*key).into(), v.clone());
            }
        }
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `#/a/b` inside `root` (JSON pointer with `~0`/`~1` escapes). Only local refs.
fn resolve_pointer<'a>(root: &'a Value, r: &str) -> Option<&'a Value> {
    let path = r.strip_prefix('#')?;
    if path.is_empty() {
        return Some(root);
    }
    let mut cur = root;
    for seg in path.strip_prefix('/')?.split('/') {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        cur = match cur {
            Value::Object(m) => m.get(&seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Gemini `Schema` (OpenAPI subset) → JSON Schema: lower-case types, `nullable: true` → a
/// `"null"` member of `type`, Gemini-only keys (`propertyOrdering`, `format: enum`) dropped.
pub fn from_openapi(schema: &Value) -> Value {
    from_openapi_at(schema, 0)
}

fn from_openapi_at(schema: &Value, depth: usize) -> Value {
    let Some(obj) = schema.as_object() else { return schema.clone() };
    if depth > MAX_DEPTH {
        return Value::Object(Map::new());
    }
    let mut out = Map::new();
    let nullable = obj.get("nullable").and_then(Value::as_bool).unwrap_or(false);
    for (k, v) in obj {
        match (k.as_str(), v) {
            ("nullable" | "propertyOrdering" | "property_ordering", _) => {}
            ("format", Value::String(f)) if f == "enum" => {}
            ("type", Value::String(t)) => {
                let t = t.to_ascii_lowercase();
                if t == "type_unspecified" {
                    continue;
                }
                let t = Value::String(t);
                out.insert("type".into(), if nullable { Value::Array(vec![t, "null".into()]) } else { t });
            }
            ("properties", Value::Object(props)) => {
                let props = props.iter().map(|(pk, pv)| (pk.clone(), from_openapi_at(pv, depth + 1))).collect();
                out.insert("properties".into(), Value::Object(props));
            }
            ("items", item) => {
                out.insert("items".into(), from_openapi_at(item, depth + 1));
            }
            ("anyOf" | "any_of", Value::Array(branches)) => {
                let branches = branches.iter().map(|b| from_openapi_at(b, depth + 1)).collect();
                out.insert("anyOf".into(), Value::Array(branches));
            }
            (
                "minItems" | "min_items" | "maxItems" | "max_items" | "minLength" | "min_length" | "maxLength"
                | "max_length" | "minProperties" | "min_properties" | "maxProperties" | "max_properties",
                v,
            ) => {
                // int64 fields arrive as strings in proto JSON ("5").
                let n = match v {
                    Value::String(s) => s.parse::<u64>().map(Value::from).unwrap_or_else(|_| v.clone()),
                    _ => v.clone(),
                };
                out.insert(camel(k), n);
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if nullable && !out.contains_key("type") {
        if let Some(Value::Array(branches)) = out.get_mut("anyOf") {
            branches.push(serde_json::json!({"type": "null"}));
        }
    }
    Value::Object(out)
}

fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn simple_object_gets_upper_case_types_and_loses_unknown_keys() {
        let s = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "command": {"type": "string", "description": "Shell command", "examples": ["ls"]},
                "timeout": {"type": "integer", "exclusiveMinimum": 0, "minimum": 1}
            },
            "required": ["command", "missing"]
        });
        assert_eq!(
            parameters_to_gemini(&s),
            json!({
                "type": "OBJECT",
                "properties": {
                    "command": {"type": "STRING", "description": "Shell command"},
                    "timeout": {"type": "INTEGER", "minimum": 1}
                },
                "required": ["command"]
            })
        );
    }

    #[test]
    fn nullable_type_arrays_and_optional_any_of() {
        let s = json!({"type": "object", "properties": {
            "a": {"type": ["string", "null"]},
            "b": {"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "maybe"},
            "c": {"type": ["string", "number"], "description": "either"},
            "d": {"oneOf": [{"type": "string"}, {"type": "object", "properties": {"x": {"type": "boolean"}}}]}
        }});
        let g = parameters_to_gemini(&s);
        assert_eq!(g["properties"]["a"], json!({"type": "STRING", "nullable": true}));
        assert_eq!(g["properties"]["b"], json!({"type": "INTEGER", "description": "maybe", "nullable": true}));
        assert_eq!(
            g["properties"]["c"],
            json!({"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}], "description": "either"})
        );
        assert_eq!(
            g["properties"]["d"],
            json!({"anyOf": [{"type": "STRING"}, {"type": "OBJECT", "properties": {"x": {"type": "BOOLEAN"}}}]})
        );
    }

    #[test]
    fn refs_are_inlined_and_recursion_is_cut() {
        let s = json!({
            "type": "object",
            "properties": {
                "node": {"$ref": "#/$defs/Node"},
                "color": {"$ref": "#/definitions/Color", "description": "pick one"}
            },
            "$defs": {"Node": {"type": "object", "properties": {
                "value": {"type": "string"},
                "next": {"$ref": "#/$defs/Node"}
            }}},
            "definitions": {"Color": {"enum": ["red", "green"]}}
        });
        let g = parameters_to_gemini(&s);
        assert_eq!(g["properties"]["node"]["properties"]["value"], json!({"type": "STRING"}));
        assert_eq!(g["properties"]["node"]["properties"]["next"], json!({"type": "OBJECT"}));
        assert_eq!(
            g["properties"]["color"],
            json!({"type": "STRING", "description": "pick one", "enum": ["red", "green"], "format": "enum"})
        );
        assert!(g.get("$defs").is_none() && g.get("definitions").is_none());
    }

    #[test]
    fn const_enum_formats_and_arrays() {
        let s = json!({"type": "object", "properties": {
            "kind": {"const": "fixed"},
            "level": {"type": "integer", "enum": [1, 2, 3]},
            "when": {"type": "string", "format": "date-time"},
            "url": {"type": "string", "format": "uri"},
            "tags": {"type": "array"},
            "pair": {"type": "array", "items": [{"type": "number"}, {"type": "string"}]},
            "blob": true,
            "meta": {"type": "object", "additionalProperties": {"type": "string"}},
            "bad": {"type": "string", "properties": {"x": {"type": "string"}}, "required": ["x"]}
        }});
        let g = parameters_to_gemini(&s);
        let p = &g["properties"];
        assert_eq!(p["kind"], json!({"type": "STRING", "enum": ["fixed"], "format": "enum"}));
        assert_eq!(p["level"], json!({"type": "INTEGER", "description": "Allowed values: 1, 2, 3."}));
        assert_eq!(p["when"], json!({"type": "STRING", "format": "date-time"}));
        assert_eq!(p["url"], json!({"type": "STRING"}));
        assert_eq!(p["tags"], json!({"type": "ARRAY", "items": {"type": "STRING"}}));
        assert_eq!(p["pair"], json!({"type": "ARRAY", "items": {"type": "NUMBER"}}));
        assert_eq!(p["blob"], json!({"type": "STRING"}));
        assert_eq!(p["meta"], json!({"type": "OBJECT"}));
        assert_eq!(p["bad"], json!({"type": "STRING"}));
    }

    #[test]
    fn all_of_merges_and_root_is_forced_to_object() {
        let s = json!({"allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}
        ]});
        assert_eq!(
            parameters_to_gemini(&s),
            json!({"type": "OBJECT", "properties": {"a": {"type": "STRING"}, "b": {"type": "BOOLEAN"}}, "required": ["a", "b"]})
        );
        assert_eq!(parameters_to_gemini(&json!({})), json!({"type": "OBJECT", "properties": {}}));
        assert_eq!(parameters_to_gemini(&json!({"type": "string"})), json!({"type": "OBJECT", "properties": {}}));
        assert_eq!(
            to_gemini(&json!({"type": "array", "items": {"type": "string"}})),
            json!({"type": "ARRAY", "items": {"type": "STRING"}})
        );
    }

    #[test]
    fn hostile_schemas_terminate() {
        // Exponential $ref fan-out and deep nesting stay bounded.
        let mut defs = Map::new();
        for i in 0..30 {
            defs.insert(
                format!("D{i}"),
                json!({"type": "object", "properties": {"l": {"$ref": format!("#/$defs/D{}", i + 1)}, "r": {"$ref": format!("#/$defs/D{}", i + 1)}}}),
            );
        }
        let s = json!({"$ref": "#/$defs/D0", "$defs": defs});
        let g = parameters_to_gemini(&s);
        assert_eq!(g["type"], "OBJECT");
        let mut deep = json!({"type": "string"});
        for _ in 0..100 {
            deep = json!({"type": "object", "properties": {"x": deep}});
        }
        let _ = parameters_to_gemini(&deep);
        let _ = to_gemini(&json!({"$ref": "#/nope/~1x/9"}));
        let _ = to_gemini(&json!({"$ref": "#"}));
    }

    #[test]
    fn openapi_schema_to_json_schema() {
        let g = json!({"type": "OBJECT", "propertyOrdering": ["a"], "properties": {
            "a": {"type": "STRING", "nullable": true, "format": "enum", "enum": ["x"]},
            "b": {"type": "ARRAY", "items": {"type": "INTEGER"}, "minItems": "1"}
        }, "required": ["a"]});
        assert_eq!(
            from_openapi(&g),
            json!({"type": "object", "properties": {
                "a": {"type": ["string", "null"], "enum": ["x"]},
                "b": {"type": "array", "items": {"type": "integer"}, "minItems": 1}
            }, "required": ["a"]})
        );
        // Round trip through both directions keeps the meaning.
        assert_eq!(
            parameters_to_gemini(&from_openapi(&g))["properties"]["a"],
            json!({"type": "STRING", "nullable": true, "enum": ["x"], "format": "enum"})
        );
    }
}
