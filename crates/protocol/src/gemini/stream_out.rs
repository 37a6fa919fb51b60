//! Canonical stream events → the stream a Gemini client reads.
//!
//! Every chunk is a whole `GenerateContentResponse` with `modelVersion` and `responseId`.
//! Framing: SSE `data: {json}` frames when the client asked for `alt=sse` (`cx.sse`), else one
//! JSON array (`[` chunk `,\r\n` chunk … `]`).
//! - Text and reasoning deltas: one chunk per delta (`{text}` / `{text, thought: true}`).
//! - A function call is written whole in one chunk at its `PartStop` (arguments buffered).
//! - A reasoning part's token (Gemini's signature raw, foreign state sealed) goes on the next
//!   non-thought chunk, since Gemini CLI keeps only non-thought parts in its history; when no
//!   such part follows it is written on an empty thought part (see `convert` docs). The
//!   reasoning text is buffered per part for that reason (the envelope needs it).
//! - The last chunk carries `finishReason` and `usageMetadata`; it is written at `End` (usage
//!   may follow `Finish`), or by `finish()` when `End` never came.
//! - `Error` → a chunk `{"error": {code, message, status}}`, then the stream ends.

use super::convert::{finish_to_wire, usage_to_wire};
use super::encode::{call_part, call_token, reasoning_token, Flush, SignaturePlacer};
use super::error::encode_error;
use super::wire::{Candidate, Content, GenerateContentResponse, WirePart};
use crate::canonical::{Cx, ErrorInfo, FinishReason, Opaque, PartKind, Reasoning, StreamEvent, ToolCall, Usage};
use crate::sse::{write_data, write_json, write_json_data};
use bytes::BytesMut;

#[derive(Debug)]
enum Current {
    Text(usize),
    Reasoning(usize, Reasoning),
    Call(usize, ToolCall),
}

impl Current {
    fn index(&self) -> usize {
        match self {
            Current::Text(i) | Current::Reasoning(i, _) | Current::Call(i, _) => *i,
        }
    }
}

/// Boxed so `dispatch::StreamEncoder` stays small whatever the protocols' state sizes.
#[derive(Debug)]
pub struct StreamEncoder(Box<Encoder>);

impl StreamEncoder {
    pub fn new(cx: &Cx) -> StreamEncoder {
        StreamEncoder(Box::new(Encoder::new(cx)))
    }
    pub fn push(&mut self, ev: &StreamEvent, out: &mut BytesMut) {
        self.0.push(ev, out)
    }
    /// Emit whatever is still owed: the final chunk (once), and the array's closing bracket.
    pub fn finish(&mut self, out: &mut BytesMut) {
        self.0.finish(out)
    }
}

#[derive(Debug)]
struct Encoder {
    cx: Cx,
    id: String,
    model: String,
    current: Option<Current>,
    placer: SignaturePlacer,
    finish: Option<FinishReason>,
    usage: Usage,
    chunks: usize,
    done: bool,
}

impl Encoder {
    fn new(cx: &Cx) -> Encoder {
        Encoder {
            cx: cx.clone(),
            id: cx.id.clone(),
            model: String::new(),
            current: None,
            placer: SignaturePlacer::default(),
            finish: None,
            usage: Usage::default(),
            chunks: 0,
            done: false,
        }
    }

    fn push(&mut self, ev: &StreamEvent, out: &mut BytesMut) {
        if self.done {
            return;
        }
        match ev {
            StreamEvent::Start { id, model } => {
                if !id.is_empty() {
                    self.id = id.clone();
                }
                self.model = model.clone();
            }
            StreamEvent::PartStart { index, kind } => {
                self.stop_current(out);
                self.current = Some(match kind {
                    PartKind::Text => Current::Text(*index),
                    PartKind::Reasoning { redacted } => {
                        // A token still waiting from an earlier reasoning part goes out now.
                        let flushed = self.placer.flush();
                        self.write_flush(flushed, out);
                        Current::Reasoning(*index, Reasoning { redacted: *redacted, ..Default::default() })
                    }
                    PartKind::ToolCall { id, name, kind, opaque } => Current::Call(
                        *index,
                        ToolCall {
                            id: id.clone(),
                            name: name.clone(),
                            arguments: String::new(),
                            kind: *kind,
                            opaque: opaque.clone(),
                        },
                    ),
                });
            }
            StreamEvent::TextDelta { text, .. } => {
                if text.is_empty() {
                    return;
                }
                let mut part = WirePart::text(text.clone());
                part.thought_signature = self.placer.take();
                self.write_part(part, out);
            }
            StreamEvent::ReasoningDelta { index, text } => {
                if text.is_empty() {
                    return;
                }
                if let Some(Current::Reasoning(i, r)) = &mut self.current {
                    if i == index {
                        r.text.push_str(text);
                    }
                }
                self.write_part(WirePart::thought(text.clone()), out);
            }
            StreamEvent::ToolArgsDelta { index, delta } => {
                if let Some(Current::Call(i, c)) = &mut self.current {
                    if i == index {
                        c.arguments.push_str(delta);
                    }
                }
            }
            StreamEvent::Opaque { index, opaque } => self.set_opaque(*index, opaque),
            StreamEvent::PartStop { index } => {
                if self.current.as_ref().is_some_and(|c| c.index() == *index) {
                    self.stop_current(out);
                }
            }
            StreamEvent::Usage(u) => self.usage.merge(u),
            StreamEvent::Finish(r) => self.finish = Some(r.clone()),
            StreamEvent::Error(e) => self.fail(e, out),
            StreamEvent::End => self.end(out),
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        if !self.done {
            self.end(out);
        }
    }

    fn set_opaque(&mut self, index: usize, opaque: &Opaque) {
        match &mut self.current {
            Some(Current::Reasoning(i, r)) if *i == index => r.opaque = Some(opaque.clone()),
            Some(Current::Call(i, c)) if *i == index => c.opaque = Some(opaque.clone()),
            _ => {}
        }
    }

    fn stop_current(&mut self, out: &mut BytesMut) {
        match self.current.take() {
            None | Some(Current::Text(_)) => {}
            Some(Current::Reasoning(_, r)) => {
                let token = reasoning_token(&r, &self.cx);
                if token.is_some() {
                    let flushed = self.placer.flush();
                    self.write_flush(flushed, out);
                }
                self.placer.reasoning(token, None);
            }
            Some(Current::Call(_, call)) => {
                let own = call_token(&call, &self.cx);
                if own.is_some() {
                    let flushed = self.placer.flush();
                    self.write_flush(flushed, out);
                }
                let mut part = call_part(&call);
                part.thought_signature = own.or_else(|| self.placer.take());
                self.write_part(part, out);
            }
        }
    }

    /// A reasoning token that found no later part: on an empty thought part of its own.
    fn write_flush(&mut self, flushed: Option<Flush>, out: &mut BytesMut) {
        if let Some((token, _)) = flushed {
            let mut part = WirePart::thought("");
            part.thought_signature = Some(token);
            self.write_part(part, out);
        }
    }

    fn end(&mut self, out: &mut BytesMut) {
        self.stop_current(out);
        let flushed = self.placer.flush();
        self.write_flush(flushed, out);
        let last = GenerateContentResponse {
            candidates: vec![Candidate {
                content: None,
                finish_reason: Some(finish_to_wire(self.finish.as_ref())),
                finish_message: None,
                index: Some(0),
            }],
            prompt_feedback: None,
            usage_metadata: usage_to_wire(&self.usage),
            model_version: self.model_version(),
            response_id: Some(self.id.clone()),
        };
        self.write_value(&last, out);
        self.close(out);
    }

    fn fail(&mut self, e: &ErrorInfo, out: &mut BytesMut) {
        // A half-streamed call is dropped: its arguments may be incomplete.
        self.current = None;
        let body = encode_error(e);
        self.write_json(&String::from_utf8_lossy(&body), out);
        self.close(out);
    }

    fn close(&mut self, out: &mut BytesMut) {
        if !self.cx.sse {
            if self.chunks == 0 {
                out.extend_from_slice(b"[");
            }
            out.extend_from_slice(b"]");
        }
        self.done = true;
    }

    fn model_version(&self) -> Option<String> {
        Some(self.model.clone()).filter(|m| !m.is_empty())
    }

    fn write_part(&mut self, part: WirePart, out: &mut BytesMut) {
        let chunk = GenerateContentResponse {
            candidates: vec![Candidate {
                content: Some(Content { role: Some("model".into()), parts: vec![part] }),
                finish_reason: None,
                finish_message: None,
                index: Some(0),
            }],
            prompt_feedback: None,
            usage_metadata: None,
            model_version: self.model_version(),
            response_id: Some(self.id.clone()),
        };
        self.write_value(&chunk, out);
    }

    /// One chunk serialized in place (an empty chunk if serialization fails).
    fn write_value<T: serde::Serialize>(&mut self, value: &T, out: &mut BytesMut) {
        if self.cx.sse {
            if !write_json_data(out, value) {
                write_data(out, "");
            }
        } else {
            out.extend_from_slice(if self.chunks == 0 { b"[" } else { b",\r\n" });
            write_json(out, value);
        }
        self.chunks += 1;
    }

    fn write_json(&mut self, json: &str, out: &mut BytesMut) {
        if self.cx.sse {
            write_data(out, json);
        } else {
            out.extend_from_slice(if self.chunks == 0 { b"[" } else { b",\r\n" });
            out.extend_from_slice(json.as_bytes());
        }
        self.chunks += 1;
    }
}
