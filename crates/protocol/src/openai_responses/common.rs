//! Small conversions shared by the decoders and encoders of this protocol.

use super::wire::{InputDetailsOut, OutputDetailsOut, UsageIn, UsageOut};
use crate::canonical::tools::NAMESPACE_SEPARATOR;
use crate::canonical::{MediaSource, Usage};

// === usage ===

pub fn usage_from_wire(u: &UsageIn) -> Usage {
    Usage {
        input: u.input_tokens,
        output: u.output_tokens,
        cache_read: u.input_tokens_details.and_then(|d| d.cached_tokens),
        cache_write: u.input_tokens_details.and_then(|d| d.cache_write_tokens),
        cache_write_1h: None,
        reasoning: u.output_tokens_details.and_then(|d| d.reasoning_tokens),
    }
}

/// Complete usage for clients: Codex rejects a `response.completed` whose details lack
/// `cached_tokens` / `reasoning_tokens`, so unknown counts are written as zero.
pub fn usage_to_wire(u: &Usage) -> UsageOut {
    let input = u.input.unwrap_or(0);
    let output = u.output.unwrap_or(0);
    UsageOut {
        input_tokens: input,
        input_tokens_details: InputDetailsOut {
            cached_tokens: u.cache_read.unwrap_or(0),
            cache_write_tokens: u.cache_write,
        },
        output_tokens: output,
        output_tokens_details: OutputDetailsOut { reasoning_tokens: u.reasoning.unwrap_or(0) },
        total_tokens: input.saturating_add(output),
    }
}

// === reasoning state ===
//
// OpenAI wants a replayed reasoning item with its original `id` next to `encrypted_content`
// (stateless `store: false` replay; Codex does the same). The canonical `Opaque` has one string,
// so the payload of an `Opaque` whose origin is this protocol is `oair1.<id>.<encrypted_content>`
// when the item had an id, and the bare `encrypted_content` otherwise. Only this protocol reads
// it; clients see it as their `encrypted_content` and hand it back unchanged.

const STATE_PREFIX: &str = "oair1.";

pub fn pack_reasoning_state(id: Option<&str>, encrypted: &str) -> String {
    match id {
        Some(id) if !id.is_empty() && !id.contains('.') && !encrypted.starts_with(STATE_PREFIX) => {
            format!("{STATE_PREFIX}{id}.{encrypted}")
        }
        _ => encrypted.to_string(),
    }
}

/// `(item id, encrypted_content)` from a payload written by `pack_reasoning_state`.
pub fn unpack_reasoning_state(payload: &str) -> (Option<&str>, &str) {
    if let Some(rest) = payload.strip_prefix(STATE_PREFIX) {
        if let Some((id, enc)) = rest.split_once('.') {
            return (Some(id), enc);
        }
    }
    (None, payload)
}

// === names ===

/// The canonical flat name of a (possibly namespaced) tool or call.
pub fn flat_name(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}{NAMESPACE_SEPARATOR}{name}"),
        _ => name.to_string(),
    }
}

/// Output item ids, stable for one exchange: `msg_<cx.id>_<output_index>`.
pub fn item_id(prefix: &str, cx_id: &str, output_index: usize) -> String {
    format!("{prefix}_{cx_id}_{output_index}")
}

pub fn response_id(cx_id: &str) -> String {
    format!("resp_{cx_id}")
}

// === media ===

/// `data:<media type>;base64,<data>` → Base64; anything else is a URL.
pub fn media_from_url(url: &str) -> MediaSource {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((meta, data)) = rest.split_once(',') {
            if let Some(media_type) = meta.strip_suffix(";base64") {
                return MediaSource::Base64 { media_type: media_type.to_string(), data: data.to_string() };
            }
        }
    }
    MediaSource::Url { url: url.to_string() }
}

pub fn data_url(media_type: &str, data: &str) -> String {
    format!("data:{media_type};base64,{data}")
}

/// A media type for a bare base64 file from its name (`file_data` without a `data:` prefix).
pub fn guess_media_type(filename: Option<&str>) -> &'static str {
    let ext = filename.and_then(|f| f.rsplit_once('.')).map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" | "md" => "text/plain",
        "json" => "application/json",
        "csv" => "text/csv",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_state_round_trips() {
        let p = pack_reasoning_state(Some("rs_1"), "gAAAA_x=");
        assert_eq!(p, "oair1.rs_1.gAAAA_x=");
        assert_eq!(unpack_reasoning_state(&p), (Some("rs_1"), "gAAAA_x="));
        assert_eq!(unpack_reasoning_state("gAAAA"), (None, "gAAAA"));
        assert_eq!(pack_reasoning_state(None, "e"), "e");
        // Never double-wrapped.
        assert_eq!(pack_reasoning_state(Some("rs_2"), &p), p);
    }

    #[test]
    fn flat_names_agree_with_the_canonical_model() {
        let def = crate::canonical::ToolDef {
            name: "spawn".into(),
            namespace: Some("multi_agent".into()),
            description: None,
            parameters: serde_json::json!({}),
            kind: crate::canonical::ToolKind::Function,
            strict: None,
            cache: None,
        };
        assert_eq!(flat_name(Some("multi_agent"), "spawn"), def.flat_name());
        assert_eq!(flat_name(None, "spawn"), "spawn");
    }

    #[test]
    fn data_urls() {
        assert_eq!(
            media_from_url("data:image/png;base64,AAA"),
            MediaSource::Base64 { media_type: "image/png".into(), data: "AAA".into() }
        );
        assert_eq!(media_from_url("data:text/plain,hi"), MediaSource::Url { url: "data:text/plain,hi".into() });
        assert_eq!(media_from_url("https://x/y.png"), MediaSource::Url { url: "https://x/y.png".into() });
        assert_eq!(guess_media_type(Some("a.PDF")), "application/pdf");
        assert_eq!(guess_media_type(None), "application/octet-stream");
    }
}
