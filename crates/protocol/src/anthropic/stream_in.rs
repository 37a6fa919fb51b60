//! Upstream Anthropic SSE → canonical stream events.
//!
//! Anthropic's grammar is already close to the canonical one: `message_start` → Start + Usage,
//! `content_block_*` → parts, `message_delta` → Finish + Usage, `message_stop` → End. This
//! decoder renumbers parts itself (blocks it cannot carry, such as server tool results, are
//! skipped), dispatches on `data.type` (the `event:` line is only a fallback), and keeps the raw
//! usage counts so that a partial `message_delta.usage` still yields correct canonical totals.

use super::convert::{error_kind_in, finish_in};
use super::wire::{InStreamEvent, InUsage};
use crate::canonical::{Cx, ErrorInfo, ErrorKind, Opaque, PartKind, Protocol, StreamEvent, ToolCallKind, Usage};
use crate::sse::SseEvent;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Default)]
pub struct StreamDecoder {
    started: bool,
    /// `End` was emitted; everything after is ignored.
    done: bool,
    /// A `stop_reason` arrived: the reply is complete even if `message_stop` never does.
    finished: bool,
    open: Option<OpenPart>,
    next_index: usize,
    usage: RawUsage,
}

#[derive(Debug)]
struct OpenPart {
    /// The block index upstream uses.
    upstream: u64,
    /// Our part index.
    index: usize,
    /// `tool_use.input` given whole in `content_block_start` (sent if no deltas follow).
    pending_input: Option<String>,
}

/// The latest Anthropic-spelled counts; canonical input is recomputed from all three.
#[derive(Debug, Default)]
struct RawUsage {
    input: Option<u64>,
    output: Option<u64>,
    cache_read: Option<u64>,
    cache_write: Option<u64>,
    cache_write_1h: Option<u64>,
}

impl RawUsage {
    fn update(&mut self, u: &InUsage) -> Usage {
        for (slot, v) in [
            (&mut self.input, u.input_tokens),
            (&mut self.output, u.output_tokens),
            (&mut self.cache_read, u.cache_read_input_tokens),
            (&mut self.cache_write, u.cache_write()),
            (&mut self.cache_write_1h, u.cache_write_1h()),
        ] {
            if v.is_some() {
                *slot = v;
            }
        }
        Usage {
            input: self
                .input
                .map(|i| i.saturating_add(self.cache_read.unwrap_or(0)).saturating_add(self.cache_write.unwrap_or(0))),
            output: self.output,
            cache_read: self.cache_read,
            cache_write: self.cache_write,
            cache_write_1h: self.cache_write_1h,
            reasoning: None,
        }
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

impl StreamDecoder {
    pub fn new(_cx: &Cx) -> StreamDecoder {
        StreamDecoder::default()
    }

    pub fn push(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        let data = ev.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return;
        }
        let mut value: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(e) => return self.fail(out, format!("malformed event data: {e}")),
        };
        if let (Value::Object(map), Some(name)) = (&mut value, ev.event.as_deref()) {
            map.entry("type").or_insert_with(|| Value::String(name.to_string()));
        }
        let event = match InStreamEvent::deserialize(&value) {
            Ok(e) => e,
            Err(e) => return self.fail(out, format!("malformed `{}` event: {e}", ev.event.as_deref().unwrap_or("?"))),
        };
        match event {
            InStreamEvent::MessageStart { message } => {
                if !self.started {
                    self.started = true;
                    out.push(StreamEvent::Start { id: message.id, model: message.model });
                }
                if let Some(u) = &message.usage {
                    // `output_tokens` here is a placeholder (1); the count comes in message_delta.
                    let u = InUsage { output_tokens: None, ..u.clone() };
                    out.push(StreamEvent::Usage(self.usage.update(&u)));
                }
            }
            // Blocks after the stop reason cannot be part of this reply (the grammar ends parts
            // at Finish): ignored.
            InStreamEvent::ContentBlockStart { .. } | InStreamEvent::ContentBlockDelta { .. } if self.finished => {}
            InStreamEvent::ContentBlockStart { index, content_block } => {
                self.ensure_started(out);
                self.close(out);
                self.start_block(index, &content_block, out);
            }
            InStreamEvent::ContentBlockDelta { index, delta } => {
                self.ensure_started(out);
                self.delta(index, &delta, out);
            }
            InStreamEvent::ContentBlockStop { index } => {
                if self.open.as_ref().is_some_and(|o| o.upstream == index) {
                    self.close(out);
                }
            }
            InStreamEvent::MessageDelta { delta, usage } => {
                self.ensure_started(out);
                self.close(out);
                if let (Some(reason), false) = (delta.stop_reason.as_deref(), self.finished) {
                    self.finished = true;
                    out.push(StreamEvent::Finish(finish_in(reason, delta.stop_sequence)));
                }
                if let Some(u) = &usage {
                    out.push(StreamEvent::Usage(self.usage.update(u)));
                }
            }
            InStreamEvent::MessageStop => {
                self.ensure_started(out);
                self.close(out);
                self.done = true;
                out.push(StreamEvent::End);
            }
            InStreamEvent::Error { error } => {
                let message = error.message.unwrap_or_else(|| "upstream stream error".into());
                let kind = error_kind_in(error.kind.as_deref(), &message, 500);
                let info = ErrorInfo { kind, message, param: None, code: error.kind, status: kind.default_status() };
                self.error(out, info);
            }
            InStreamEvent::Ping | InStreamEvent::Unknown => {}
        }
    }

    /// End of the upstream body. A stream that stopped after its `stop_reason` is complete;
    /// one that stopped earlier was cut.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        if self.finished {
            self.close(out);
            self.done = true;
            out.push(StreamEvent::End);
        } else {
            self.fail(out, "upstream stream ended before message_stop".into());
        }
    }

    fn ensure_started(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start { id: String::new(), model: String::new() });
        }
    }

    fn open(&mut self, upstream: u64, kind: PartKind, out: &mut Vec<StreamEvent>) -> usize {
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some(OpenPart { upstream, index, pending_input: None });
        out.push(StreamEvent::PartStart { index, kind });
        index
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(open) = self.open.take() {
            if let Some(input) = open.pending_input {
                out.push(StreamEvent::ToolArgsDelta { index: open.index, delta: input });
            }
            out.push(StreamEvent::PartStop { index: open.index });
        }
    }

    fn start_block(&mut self, upstream: u64, block: &Value, out: &mut Vec<StreamEvent>) {
        match str_field(block, "type").unwrap_or_default() {
            "text" => {
                let index = self.open(upstream, PartKind::Text, out);
                if let Some(text) = str_field(block, "text").filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::TextDelta { index, text: text.to_string() });
                }
            }
            "thinking" => {
                let index = self.open(upstream, PartKind::Reasoning { redacted: false }, out);
                if let Some(text) = str_field(block, "thinking").filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::ReasoningDelta { index, text: text.to_string() });
                }
                if let Some(sig) = str_field(block, "signature").filter(|s| !s.is_empty()) {
                    out.push(StreamEvent::Opaque { index, opaque: Opaque::new(Protocol::Anthropic, sig) });
                }
            }
            "redacted_thinking" => {
                let index = self.open(upstream, PartKind::Reasoning { redacted: true }, out);
                let data = str_field(block, "data").unwrap_or_default();
                out.push(StreamEvent::Opaque { index, opaque: Opaque::new(Protocol::Anthropic, data) });
            }
            "tool_use" => {
                let kind = PartKind::ToolCall {
                    id: str_field(block, "id").unwrap_or_default().to_string(),
                    name: str_field(block, "name").unwrap_or_default().to_string(),
                    kind: ToolCallKind::Function,
                    opaque: None,
                };
                self.open(upstream, kind, out);
                let input = block.get("input").filter(|v| v.as_object().is_some_and(|m| !m.is_empty()));
                if let (Some(open), Some(input)) = (self.open.as_mut(), input) {
                    open.pending_input = Some(input.to_string());
                }
            }
            // server_tool_use, web_search_tool_result, …: the stream model has no part for them.
            _ => {}
        }
    }

    fn delta(&mut self, upstream: u64, delta: &Value, out: &mut Vec<StreamEvent>) {
        let kind = str_field(delta, "type").unwrap_or_default();
        let current = self.open.as_ref().filter(|o| o.upstream == upstream).map(|o| o.index);
        let index = match (current, kind) {
            (Some(i), _) => i,
            // A delta without its `content_block_start`: open the part it implies.
            (None, "text_delta") => {
                self.close(out);
                self.open(upstream, PartKind::Text, out)
            }
            (None, "thinking_delta") => {
                self.close(out);
                self.open(upstream, PartKind::Reasoning { redacted: false }, out)
            }
            (None, _) => return,
        };
        match kind {
            "text_delta" => {
                if let Some(text) = str_field(delta, "text").filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::TextDelta { index, text: text.to_string() });
                }
            }
            "thinking_delta" => {
                if let Some(text) = str_field(delta, "thinking").filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::ReasoningDelta { index, text: text.to_string() });
                }
            }
            "signature_delta" => {
                if let Some(sig) = str_field(delta, "signature").filter(|s| !s.is_empty()) {
                    out.push(StreamEvent::Opaque { index, opaque: Opaque::new(Protocol::Anthropic, sig) });
                }
            }
            "input_json_delta" => {
                if let Some(json) = str_field(delta, "partial_json").filter(|j| !j.is_empty()) {
                    if let Some(open) = self.open.as_mut() {
                        open.pending_input = None;
                    }
                    out.push(StreamEvent::ToolArgsDelta { index, delta: json.to_string() });
                }
            }
            // citations_delta and future kinds
            _ => {}
        }
    }

    fn fail(&mut self, out: &mut Vec<StreamEvent>, message: String) {
        self.error(out, ErrorInfo::new(ErrorKind::UpstreamInvalid, message));
    }

    /// `Error` is terminal: close the open part (the grammar has no half parts), then `End`.
    fn error(&mut self, out: &mut Vec<StreamEvent>, info: ErrorInfo) {
        self.ensure_started(out);
        self.close(out);
        self.done = true;
        out.push(StreamEvent::Error(info));
        out.push(StreamEvent::End);
    }
}
