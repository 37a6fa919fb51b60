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

/// A token count as providers send it: a non-negative integer, or a float (some
/// OpenAI-compatible servers), anything else (null, negative, a string) read as absent. A
/// visitor, not a detour through `serde_json::Value`: usage is read on every relayed answer.
pub fn lenient_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Count;
    impl<'de> serde::de::Visitor<'de> for Count {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a token count")
        }
        fn visit_u64<E>(self, v: u64) -> Result<Option<u64>, E> {
            Ok(Some(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Option<u64>, E> {
            Ok(u64::try_from(v).ok())
        }
        fn visit_f64<E>(self, v: f64) -> Result<Option<u64>, E> {
            Ok((v.is_finite() && v >= 0.0).then_some(v as u64))
        }
        fn visit_unit<E>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<u64>, D::Error> {
            d.deserialize_any(Count)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_str<E>(self, _: &str) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Option<u64>, A::Error> {
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Option<u64>, A::Error> {
            while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    d.deserialize_option(Count)
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

    #[test]
    fn token_counts_are_read_leniently() {
        #[derive(serde::Deserialize)]
        struct U {
            #[serde(default, deserialize_with = "super::lenient_u64")]
            n: Option<u64>,
        }
        let n = |json: &str| serde_json::from_str::<U>(json).map(|u| u.n).ok();
        assert_eq!(n(r#"{"n":3}"#), Some(Some(3)));
        assert_eq!(n(r#"{"n":3.7}"#), Some(Some(3)));
        assert_eq!(n(r#"{"n":-1}"#), Some(None));
        assert_eq!(n(r#"{"n":-0.5}"#), Some(None));
        assert_eq!(n(r#"{"n":"3"}"#), Some(None));
        assert_eq!(n(r#"{"n":null}"#), Some(None));
        assert_eq!(n(r#"{"n":{"a":[1,{"b":2}]},"m":1}"#), Some(None));
        assert_eq!(n(r#"{"n":[1,2]}"#), Some(None));
        assert_eq!(n(r#"{}"#), Some(None));
    }
}
