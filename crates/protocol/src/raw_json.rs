//! Reading client requests without building `serde_json::Value` trees: top-level fields and
//! big arrays are kept as borrowed `&RawValue` slices of the body and parsed, one by one, straight
//! into the wire types that need them.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// A JSON object's fields, each left as raw JSON until it is read (sorted by key, like a
/// `serde_json::Map`).
pub type Fields<'a> = BTreeMap<String, &'a RawValue>;

pub fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
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
    fn null_is_recognised_raw() {
        let fields: Fields = serde_json::from_str(r#"{"a": null, "b": 1}"#).expect("object");
        assert!(fields.get("a").is_some_and(|raw| is_null(raw)));
        assert!(fields.get("b").is_some_and(|raw| !is_null(raw)));
    }
}
