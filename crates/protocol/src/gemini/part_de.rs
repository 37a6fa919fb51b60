//! `WirePart` deserialization without `#[serde(flatten)]` buffering: one pass over the keys,
//! known fields (camelCase or snake_case) into their slots, everything else into `extra`.

use super::wire::WirePart;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use std::fmt;

impl<'de> Deserialize<'de> for WirePart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PartVisitor)
    }
}

struct PartVisitor;

/// Fill `slot` from the map's next value; a field given twice (under either spelling) is an error.
fn fill<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    seen: &mut bool,
    name: &'static str,
) -> Result<(), A::Error> {
    if *seen {
        return Err(de::Error::duplicate_field(name));
    }
    *seen = true;
    *slot = map.next_value()?;
    Ok(())
}

impl<'de> Visitor<'de> for PartVisitor {
    type Value = WirePart;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct WirePart")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WirePart, A::Error> {
        let mut p = WirePart::default();
        let mut seen = [false; 9];
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "text" => fill(&mut map, &mut p.text, &mut seen[0], "text")?,
                "thought" => fill(&mut map, &mut p.thought, &mut seen[1], "thought")?,
                "inlineData" | "inline_data" => fill(&mut map, &mut p.inline_data, &mut seen[2], "inlineData")?,
                "fileData" | "file_data" => fill(&mut map, &mut p.file_data, &mut seen[3], "fileData")?,
                "functionCall" | "function_call" => fill(&mut map, &mut p.function_call, &mut seen[4], "functionCall")?,
                "functionResponse" | "function_response" => {
                    fill(&mut map, &mut p.function_response, &mut seen[5], "functionResponse")?
                }
                "executableCode" | "executable_code" => {
                    fill(&mut map, &mut p.executable_code, &mut seen[6], "executableCode")?
                }
                "codeExecutionResult" | "code_execution_result" => {
                    fill(&mut map, &mut p.code_execution_result, &mut seen[7], "codeExecutionResult")?
                }
                "thoughtSignature" | "thought_signature" => {
                    fill(&mut map, &mut p.thought_signature, &mut seen[8], "thoughtSignature")?
                }
                other => {
                    let value: Value = map.next_value()?;
                    p.extra.insert(other.to_string(), value);
                }
            }
        }
        Ok(p)
    }
}
