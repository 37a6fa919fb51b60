//! Upstream gemini SSE → canonical stream events.
//!
//! Every `data:` is a whole `GenerateContentResponse` chunk. The decoder synthesises the part
//! structure Gemini lacks:
//! - text parts (`thought: true` → reasoning, else text); consecutive chunks of one kind extend
//!   the open part;
//! - a `functionCall` is always whole: `PartStart` (its signature in the kind's `opaque`), one
//!   `ToolArgsDelta`, `PartStop`;
//! - `thoughtSignature` on a thought part → `Opaque` on that reasoning part; on a text part
//!   (often an otherwise empty one at the end) → `Opaque` on the open unsigned reasoning part,
//!   else a reasoning part holding only the signature, after the chunk's text (so a signed last
//!   chunk does not split the answer; see `convert` docs);
//! - `usageMetadata` is cumulative: the latest wins, emitted once at the end;
//! - `finishReason` (or `promptFeedback.blockReason`) is remembered; Gemini has no terminal
//!   event, so `Finish`, `Usage` and `End` come at `finish()`, and a stream that ended without a
//!   finish reason ends in `Error(UpstreamInvalid)`;
//! - a chunk with a top-level `error` → `Error` (classified like an HTTP error body) and `End`.

use super::convert::{args_from_wire, finish_from_wire, usage_from_wire};
use super::decode::upstream_signature;
use super::error::classify;
use super::wire::{FunctionCall, GenerateContentResponse, WirePart};
use crate::canonical::tools::unwrap_custom_input;
use crate::canonical::{Cx, ErrorInfo, ErrorKind, FinishReason, Opaque, PartKind, StreamEvent, ToolCallKind, Usage};
use crate::sse::SseEvent;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(usize),
    /// A reasoning part, and whether it already got its signature (a signed thought run is
    /// closed: the next thought text starts a new part).
    Reasoning(usize, bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing emitted yet (`Start` comes with the first chunk).
    Idle,
    Streaming,
    Done,
}

/// Boxed so `dispatch::StreamDecoder` stays small whatever the protocols' state sizes.
#[derive(Debug)]
pub struct StreamDecoder(Box<Decoder>);

impl StreamDecoder {
    pub fn new(cx: &Cx) -> StreamDecoder {
        StreamDecoder(Box::new(Decoder::new(cx)))
    }
    pub fn push(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) {
        self.0.push(ev, out)
    }
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        self.0.finish(out)
    }
}

#[derive(Debug)]
struct Decoder {
    cx: Cx,
    state: State,
    open: Option<Open>,
    next_index: usize,
    calls: usize,
    saw_call: bool,
    finish_reason: Option<FinishReason>,
    usage: Option<Usage>,
}

impl Decoder {
    fn new(cx: &Cx) -> Decoder {
        Decoder {
            cx: cx.clone(),
            state: State::Idle,
            open: None,
            next_index: 0,
            calls: 0,
            saw_call: false,
            finish_reason: None,
            usage: None,
        }
    }

    fn push(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) {
        if self.state == State::Done {
            return;
        }
        let data = ev.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return;
        }
        // The common chunk (an object that is not an error) is read straight into wire types;
        // anything else goes through `Value` so errors are worded as before.
        if data.starts_with('{') && !data.contains("\"error\"") {
            if let Ok(chunk) = serde_json::from_str::<GenerateContentResponse>(data) {
                return self.typed_chunk(chunk, out);
            }
        }
        let value: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(e) => {
                return self.fail(
                    ErrorInfo::new(ErrorKind::UpstreamInvalid, format!("malformed gemini stream chunk: {e}")),
                    out,
                )
            }
        };
        match value {
            // A JSON-array framed stream handed over whole: each element is one chunk.
            Value::Array(items) => {
                for item in items {
                    self.chunk(item, out);
                }
            }
            other => self.chunk(other, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.state == State::Done {
            return;
        }
        self.start(None, None, out);
        self.close(out);
        match self.finish_reason.take() {
            Some(reason) => {
                out.push(StreamEvent::Finish(reason));
                if let Some(u) = self.usage.take() {
                    out.push(StreamEvent::Usage(u));
                }
            }
            None => {
                if let Some(u) = self.usage.take() {
                    out.push(StreamEvent::Usage(u));
                }
                out.push(StreamEvent::Error(ErrorInfo::new(
                    ErrorKind::UpstreamInvalid,
                    "gemini stream ended without a finishReason",
                )));
            }
        }
        out.push(StreamEvent::End);
        self.state = State::Done;
    }

    fn chunk(&mut self, value: Value, out: &mut Vec<StreamEvent>) {
        if self.state == State::Done {
            return;
        }
        if let Some(err) = value.get("error") {
            let code = err.get("code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok()).unwrap_or(0);
            return self.fail(classify(code, err), out);
        }
        let chunk: GenerateContentResponse = match serde_json::from_value(value) {
            Ok(c) => c,
            Err(e) => {
                let msg = format!("gemini stream chunk has an unexpected shape: {e}");
                return self.fail(ErrorInfo::new(ErrorKind::UpstreamInvalid, msg), out);
            }
        };
        self.typed_chunk(chunk, out)
    }

    fn typed_chunk(&mut self, chunk: GenerateContentResponse, out: &mut Vec<StreamEvent>) {
        if self.state == State::Done {
            return;
        }
        self.start(chunk.response_id.as_deref(), chunk.model_version.as_deref(), out);
        if let Some(u) = &chunk.usage_metadata {
            self.usage = Some(usage_from_wire(u));
        }
        if let Some(c) = chunk.candidates.first() {
            if let Some(content) = &c.content {
                for p in &content.parts {
                    self.part(p, out);
                }
            }
            if let Some(r) = &c.finish_reason {
                self.finish_reason = Some(finish_from_wire(r, self.saw_call));
            }
        }
        if self.finish_reason.is_none() && chunk.prompt_feedback.as_ref().is_some_and(|f| f.block_reason.is_some()) {
            self.finish_reason = Some(FinishReason::ContentFilter);
        }
    }

    fn part(&mut self, p: &WirePart, out: &mut Vec<StreamEvent>) {
        let sig = upstream_signature(p);
        if let Some(fc) = &p.function_call {
            self.call(fc, sig, out);
            return;
        }
        if p.is_thought() {
            let index = match self.open {
                Some(Open::Reasoning(i, false)) => i,
                _ => self.open_part(PartKind::Reasoning { redacted: false }, out),
            };
            if let Some(text) = p.text.as_deref().filter(|t| !t.is_empty()) {
                out.push(StreamEvent::ReasoningDelta { index, text: text.to_string() });
            }
            if let Some(opaque) = sig {
                out.push(StreamEvent::Opaque { index, opaque });
                self.open = Some(Open::Reasoning(index, true));
            }
            return;
        }
        // Media and code parts have no stream representation; only text streams.
        let text = p.text.as_deref().filter(|t| !t.is_empty());
        if let Some(opaque) = sig {
            // Gemini 3 signs the last chunk of an answer: its text stays in the answer's text
            // part, and the signature follows it (unless unsigned reasoning is open to take it).
            let answer = text.is_some() || matches!(self.open, Some(Open::Text(_)));
            if answer && !matches!(self.open, Some(Open::Reasoning(_, false))) {
                if let Some(text) = text {
                    self.text(text, out);
                }
                self.lone_signature(opaque, out);
                return;
            }
            self.lone_signature(opaque, out);
        }
        if let Some(text) = text {
            self.text(text, out);
        }
    }

    fn text(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        let index = match self.open {
            Some(Open::Text(i)) => i,
            _ => self.open_part(PartKind::Text, out),
        };
        out.push(StreamEvent::TextDelta { index, text: text.to_string() });
    }

    fn lone_signature(&mut self, opaque: Opaque, out: &mut Vec<StreamEvent>) {
        if let Some(Open::Reasoning(index, false)) = self.open {
            out.push(StreamEvent::Opaque { index, opaque });
            self.open = Some(Open::Reasoning(index, true));
            return;
        }
        let index = self.open_part(PartKind::Reasoning { redacted: false }, out);
        out.push(StreamEvent::Opaque { index, opaque });
        self.close(out);
    }

    fn call(&mut self, fc: &FunctionCall, sig: Option<Opaque>, out: &mut Vec<StreamEvent>) {
        self.saw_call = true;
        let n = self.calls;
        self.calls += 1;
        let id = match &fc.id {
            Some(id) if !id.is_empty() => id.clone(),
            _ => format!("call_{}_{n}", self.cx.id),
        };
        let custom = self.cx.tools.is_custom(&fc.name);
        let kind = if custom { ToolCallKind::Custom } else { ToolCallKind::Function };
        // The signature travels in the call's start: client encoders that seal it into the
        // call id need it before they write the id.
        let index = self.open_part(PartKind::ToolCall { id, name: fc.name.clone(), kind, opaque: sig }, out);
        let args = args_from_wire(fc.args.as_ref());
        let delta = if custom { unwrap_custom_input(&args) } else { args };
        if !delta.is_empty() {
            out.push(StreamEvent::ToolArgsDelta { index, delta });
        }
        out.push(StreamEvent::PartStop { index });
        self.open = None;
    }

    fn start(&mut self, id: Option<&str>, model: Option<&str>, out: &mut Vec<StreamEvent>) {
        if self.state == State::Idle {
            let id = id.filter(|s| !s.is_empty()).map_or_else(|| self.cx.id.clone(), str::to_string);
            out.push(StreamEvent::Start { id, model: model.unwrap_or_default().to_string() });
            self.state = State::Streaming;
        }
    }

    /// Close the open part and start a new one; returns its index.
    fn open_part(&mut self, kind: PartKind, out: &mut Vec<StreamEvent>) -> usize {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = match kind {
            PartKind::Text => Some(Open::Text(index)),
            PartKind::Reasoning { .. } => Some(Open::Reasoning(index, false)),
            PartKind::ToolCall { .. } => None,
        };
        out.push(StreamEvent::PartStart { index, kind });
        index
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        match self.open.take() {
            Some(Open::Text(index)) | Some(Open::Reasoning(index, _)) => out.push(StreamEvent::PartStop { index }),
            None => {}
        }
    }

    fn fail(&mut self, err: ErrorInfo, out: &mut Vec<StreamEvent>) {
        self.start(None, None, out);
        self.close(out);
        out.push(StreamEvent::Error(err));
        out.push(StreamEvent::End);
        self.state = State::Done;
    }
}
