//! Reading client requests without building `serde_json::Value` trees: top-level fields and
//! big arrays are kept as borrowed `&RawValue` slices of the body and parsed, one by one, straight
//! into the wire types that need them.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// A JSON object's fields, each left as raw JSON until it is read (sorted by key, like a
/// `serde_json::Map`).
pub type Fields<'a> = BTreeMap<String, &'a RawValue>;

pub fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// The field, unless absent or `null`.
pub fn non_null<'a>(fields: &Fields<'a>, key: &str) -> Option<&'a RawValue> {
    fields.get(key).copied().filter(|raw| !is_null(raw))
}

/// `raw` as `T`, the error message without serde_json's ` at line L column C` suffix (the
/// position is inside the field, not the body, and `Value`-based decoding never had one).
pub fn parse<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Result<T, String> {
    serde_json::from_str(raw.get()).map_err(|e| without_position(&e))
}

pub fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) if e.line() > 0 => text[..at].to_string(),
        _ => text,
    }
}

/// For `#[serde(default, deserialize_with = "present")]`: `Some` whenever the key is there,
/// even with a `null` value (plain `Option` would turn `null` into `None`).
pub fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_lose_their_position() {
        let raw: &RawValue = serde_json::from_str("[1,\n 2]").expect("raw");
        let err = parse::<Vec<String>>(raw).expect_err("numbers are not strings");
        assert_eq!(err, "invalid type: integer `1`, expected a string");
    }

    #[test]
    fn null_fields_are_absent() {
        let fields: Fields = serde_json::from_str(r#"{"a": null, "b": 1}"#).expect("object");
        assert!(non_null(&fields, "a").is_none());
        assert_eq!(non_null(&fields, "b").map(RawValue::get), Some("1"));
    }
}
