//! Small conversions shared by the Gemini decoders and encoders: usage, finish reasons,
//! function-call arguments, media parts, and where `thoughtSignature`s go.
//!
//! ## Thought signatures
//! Gemini puts `thoughtSignature` on a part: on the first `functionCall` of a step, on the last
//! text part of a plain answer, sometimes on an (empty) thought part.
//! - Upstream → canonical: a signature on a `functionCall` becomes that `ToolCall`'s `opaque`;
//!   on a thought part, that reasoning's `opaque`; on any other part, it attaches to an
//!   immediately preceding unsigned reasoning part, else it becomes a reasoning part holding
//!   only the `opaque`, placed after the part when the part is text (Gemini 3 signs the last
//!   text part of an answer: the answer stays whole for the client, and the upstream encoder
//!   puts a trailing lone signature back on that text), before it otherwise.
//! - Canonical → client: Gemini CLI drops `thought` parts from its history (it keeps only the
//!   non-thought parts it received), so a signature on a thought part would never come back.
//!   The reasoning token is therefore written on the **next non-thought part** (text or
//!   `functionCall`, as Gemini itself does); only when there is none (or that call has state of
//!   its own) does it go on a thought part. Reasoning without provider state (unsigned thought
//!   text) gets no token: there is nothing to replay.

use super::wire::{Blob, FileData, UsageMetadata, WirePart};
use crate::canonical::{FinishReason, MediaSource, Part, Usage};
use serde_json::Value;

/// Google's documented placeholder for function calls that have no real signature (histories
/// written by other models). Gemini 3 requires a signature on the first call of each step.
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

pub fn usage_from_wire(u: &UsageMetadata) -> Usage {
    let output = match (u.candidates_token_count, u.thoughts_token_count) {
        (None, None) => match (u.total_token_count, u.prompt_token_count) {
            (Some(total), Some(prompt)) => {
                Some(total.saturating_sub(prompt).saturating_sub(u.tool_use_prompt_token_count.unwrap_or(0)))
            }
            _ => None,
        },
        (c, t) => Some(c.unwrap_or(0).saturating_add(t.unwrap_or(0))),
    };
    Usage {
        input: u.prompt_token_count,
        output,
        cache_read: u.cached_content_token_count,
        cache_write: None,
        cache_write_1h: None,
        reasoning: u.thoughts_token_count,
    }
}

/// `None` when nothing was reported (the field is then left out).
pub fn usage_to_wire(u: &Usage) -> Option<UsageMetadata> {
    if u.is_empty() {
        return None;
    }
    let candidates = u.output.map(|o| o.saturating_sub(u.reasoning.unwrap_or(0)));
    Some(UsageMetadata {
        prompt_token_count: Some(u.input.unwrap_or(0)),
        candidates_token_count: Some(candidates.unwrap_or(0)),
        total_token_count: Some(u.total()),
        thoughts_token_count: u.reasoning,
        cached_content_token_count: u.cache_read,
        tool_use_prompt_token_count: None,
    })
}

/// Gemini `finishReason` → canonical. Gemini says `STOP` after function calls.
pub fn finish_from_wire(reason: &str, saw_tool_call: bool) -> FinishReason {
    match reason {
        "STOP" if saw_tool_call => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

/// Reasons Gemini itself uses, passed through to Gemini clients unchanged.
const GEMINI_REASONS: [&str; 16] = [
    "STOP",
    "MAX_TOKENS",
    "SAFETY",
    "RECITATION",
    "LANGUAGE",
    "OTHER",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "MALFORMED_FUNCTION_CALL",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
    "IMAGE_OTHER",
    "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
];

pub fn finish_to_wire(reason: Option<&FinishReason>) -> String {
    match reason {
        None | Some(FinishReason::Stop | FinishReason::StopSequence(_) | FinishReason::ToolCalls) => "STOP".into(),
        Some(FinishReason::Length) => "MAX_TOKENS".into(),
        Some(FinishReason::ContentFilter) => "SAFETY".into(),
        Some(FinishReason::Other(s)) if GEMINI_REASONS.contains(&s.as_str()) => s.clone(),
        Some(FinishReason::Other(_)) => "OTHER".into(),
    }
}

/// A `functionCall.args` object for canonical arguments text: an object as is, `{}` for
/// nothing, anything else wrapped as `{"input": <raw>}`.
pub fn args_to_wire(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(serde_json::Map::new());
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => serde_json::json!({ "input": arguments }),
    }
}

/// Canonical arguments text for `functionCall.args` (absent → `{}`).
pub fn args_from_wire(args: Option<&Value>) -> String {
    match args {
        None | Some(Value::Null) => "{}".to_string(),
        Some(v) => v.to_string(),
    }
}

/// `inlineData` → an image for `image/*`, else a file.
pub fn inline_to_part(blob: &Blob) -> Part {
    let source = MediaSource::Base64 { media_type: blob.mime_type.clone(), data: blob.data.clone() };
    if blob.mime_type.starts_with("image/") {
        Part::Image { source, detail: None }
    } else {
        Part::File { source, filename: None }
    }
}

/// `fileData` → an image for `image/*`, else a file (by URL).
pub fn file_data_to_part(fd: &FileData) -> Part {
    let source = MediaSource::Url { url: fd.file_uri.clone() };
    if fd.mime_type.as_deref().is_some_and(|m| m.starts_with("image/")) {
        Part::Image { source, detail: None }
    } else {
        Part::File { source, filename: None }
    }
}

/// A canonical media source as a Gemini part. `None` for provider file ids (meaningless here).
pub fn media_to_wire(source: &MediaSource, is_image: bool) -> Option<WirePart> {
    match source {
        MediaSource::Base64 { media_type, data } => Some(WirePart {
            inline_data: Some(Blob { mime_type: media_type.clone(), data: data.clone() }),
            ..Default::default()
        }),
        MediaSource::Url { url } => match parse_data_url(url) {
            Some((mime, data)) => {
                Some(WirePart { inline_data: Some(Blob { mime_type: mime, data }), ..Default::default() })
            }
            None => Some(WirePart {
                file_data: Some(FileData { mime_type: guess_mime(url, is_image), file_uri: url.clone() }),
                ..Default::default()
            }),
        },
        MediaSource::FileId { .. } => None,
    }
}

/// `data:image/png;base64,AAAA` → (`image/png`, `AAAA`).
pub fn parse_data_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    Some((if mime.is_empty() { "application/octet-stream".into() } else { mime.to_string() }, data.to_string()))
}

fn guess_mime(url: &str, is_image: bool) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or(url).to_ascii_lowercase();
    let ext = path.rsplit('.').next().unwrap_or("");
    let mime = match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "mp3" => "audio/mp3",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        _ if is_image => "image/jpeg",
        _ => return None,
    };
    Some(mime.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_follows_the_table_both_ways() {
        let w = UsageMetadata {
            prompt_token_count: Some(100),
            candidates_token_count: Some(20),
            total_token_count: Some(150),
            thoughts_token_count: Some(30),
            cached_content_token_count: Some(40),
            tool_use_prompt_token_count: None,
        };
        let u = usage_from_wire(&w);
        assert_eq!(
            u,
            Usage {
                input: Some(100),
                output: Some(50),
                cache_read: Some(40),
                cache_write: None,
                cache_write_1h: None,
                reasoning: Some(30)
            }
        );
        assert_eq!(usage_to_wire(&u), Some(w));
        assert_eq!(usage_to_wire(&Usage::default()), None);
        // Only totals reported.
        let only_total =
            UsageMetadata { prompt_token_count: Some(10), total_token_count: Some(15), ..Default::default() };
        assert_eq!(usage_from_wire(&only_total).output, Some(5));
    }

    #[test]
    fn finish_reasons_map_and_pass_through() {
        assert_eq!(finish_from_wire("STOP", true), FinishReason::ToolCalls);
        assert_eq!(finish_from_wire("MAX_TOKENS", false), FinishReason::Length);
        assert_eq!(finish_from_wire("RECITATION", false), FinishReason::ContentFilter);
        let odd = finish_from_wire("MALFORMED_FUNCTION_CALL", false);
        assert_eq!(finish_to_wire(Some(&odd)), "MALFORMED_FUNCTION_CALL");
        assert_eq!(finish_to_wire(Some(&FinishReason::Other("pause_turn".into()))), "OTHER");
        assert_eq!(finish_to_wire(Some(&FinishReason::ToolCalls)), "STOP");
    }

    #[test]
    fn args_and_media() {
        assert_eq!(args_to_wire(""), serde_json::json!({}));
        assert_eq!(args_to_wire("[1]"), serde_json::json!({"input": "[1]"}));
        assert_eq!(args_to_wire("{\"a\":1}"), serde_json::json!({"a": 1}));
        assert_eq!(parse_data_url("data:image/png;base64,QUJD"), Some(("image/png".into(), "QUJD".into())));
        assert_eq!(parse_data_url("https://x/y.png"), None);
        let p = media_to_wire(&MediaSource::Url { url: "https://x.test/a.PNG?s=1".into() }, true);
        assert_eq!(p.and_then(|p| p.file_data).and_then(|f| f.mime_type).as_deref(), Some("image/png"));
        assert!(media_to_wire(&MediaSource::FileId { id: "file-1".into() }, false).is_none());
    }
}
