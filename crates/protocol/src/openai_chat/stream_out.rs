//! Canonical stream events → the SSE a Chat Completions client reads.
//!
//! Grammar written (what the official `openai` SDK and its `.stream()` helper accept):
//! a role chunk `delta {role: assistant, content: ""}` first; `delta.content` /
//! `delta.reasoning_content` chunks; per tool call one header chunk
//! `tool_calls[{index, id, type: function, function {name, arguments: ""}}]` then argument
//! chunks `tool_calls[{index, function {arguments}}]` (`index` on every entry, counted per tool
//! call, id and name only once because the SDK concatenates strings); one chunk with an empty
//! delta and `finish_reason`; a `choices: []` chunk with `usage` when the client asked for it;
//! then `data: [DONE]`. Every chunk carries `id`, `object`, `created`, `model`.
//!
//! Custom (freeform) calls are buffered per call and sent as one
//! `{type: custom, custom {name, input}}` entry when the part stops, because an upstream that
//! lacks custom tools streams them wrapped as `{"input": "..."}`.
//!
//! Terminal handling: `Error` becomes a `{"error": {...}}` data chunk then `[DONE]`; `End` or
//! `finish()` emit whatever is still owed (finish chunk, usage chunk, `[DONE]`) exactly once.

use super::encode::{custom_input, is_custom_for_client};
use super::wire::{
    finish_to_wire, OutChunk, OutChunkChoice, OutCustomDelta, OutDelta, OutFunctionDelta, OutToolCallDelta, OutUsage,
};
use crate::canonical::{Cx, ErrorInfo, FinishReason, PartKind, StreamEvent, ToolCallKind, ToolIndex, Usage};
use crate::canonical::{Opaque, OpaqueCodec, Protocol, Reasoning};
use crate::sse::{write_data, write_json_data};
use bytes::BytesMut;
use std::sync::Arc;

/// Boxed so the `dispatch::StreamEncoder` enum stays small.
#[derive(Debug)]
pub struct StreamEncoder(Box<Encoder>);

impl StreamEncoder {
    pub fn new(cx: &Cx) -> StreamEncoder {
        StreamEncoder(Box::new(Encoder::new(cx)))
    }

    pub fn push(&mut self, ev: &StreamEvent, out: &mut BytesMut) {
        self.0.push(ev, out)
    }

    /// Emit whatever the grammar still owes, once.
    pub fn finish(&mut self, out: &mut BytesMut) {
        self.0.terminate(out);
    }
}

#[derive(Debug)]
struct Encoder {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    tools: Arc<ToolIndex>,
    state: State,
    usage: Usage,
    /// Tool calls announced so far (the next call's `index`).
    tool_calls: usize,
    /// The tool call part being streamed, if any.
    call: Option<OpenCall>,
    /// The part the last reasoning text came from.
    reasoning_part: Option<usize>,
    /// Reasoning since the last call, for the next call's sealed id (see `encode::client_call_id`).
    reasoning: Vec<(usize, Reasoning)>,
    codec: Arc<OpaqueCodec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing written yet.
    New,
    /// Role chunk written; content may follow.
    Streaming,
    /// Finish chunk written; only usage and `[DONE]` remain.
    Finished,
    /// `[DONE]` written; everything else is ignored.
    Done,
}

#[derive(Debug)]
struct OpenCall {
    part: usize,
    index: usize,
    /// `Some` for custom calls, whose input is buffered until the part stops.
    custom: Option<CustomCall>,
}

#[derive(Debug)]
struct CustomCall {
    id: String,
    name: String,
    kind: ToolCallKind,
    arguments: String,
}

impl Encoder {
    fn new(cx: &Cx) -> Encoder {
        Encoder {
            id: format!("chatcmpl-{}", cx.id),
            created: cx.created,
            model: String::new(),
            include_usage: cx.include_usage,
            tools: cx.tools.clone(),
            state: State::New,
            usage: Usage::default(),
            tool_calls: 0,
            call: None,
            reasoning_part: None,
            reasoning: Vec::new(),
            codec: cx.codec.clone(),
        }
    }

    fn push(&mut self, ev: &StreamEvent, out: &mut BytesMut) {
        if self.state == State::Done {
            return;
        }
        match ev {
            StreamEvent::Start { model, .. } => {
                if self.state == State::New {
                    self.model.clone_from(model);
                }
                self.ensure_started(out);
            }
            StreamEvent::PartStart { index, kind } => {
                if self.state == State::Finished {
                    return;
                }
                self.ensure_started(out);
                match kind {
                    PartKind::ToolCall { id, name, kind, opaque } => {
                        let id = self.call_id(id, opaque.as_ref());
                        self.start_call(*index, &id, name, *kind, out);
                    }
                    PartKind::Reasoning { redacted } => {
                        self.reasoning.push((*index, Reasoning { redacted: *redacted, ..Reasoning::default() }))
                    }
                    PartKind::Text => {}
                }
            }
            StreamEvent::TextDelta { text, .. } => {
                if !text.is_empty() && self.ready(out) {
                    self.write_delta(OutDelta { content: Some(text), ..Default::default() }, out);
                }
            }
            StreamEvent::ReasoningDelta { index, text } => {
                if let Some(r) = self.reasoning_mut(*index) {
                    r.text.push_str(text);
                }
                if !text.is_empty() && self.ready(out) {
                    // Separate reasoning parts as the non-streamed response does.
                    let text = match self.reasoning_part.replace(*index) {
                        Some(prev) if prev != *index => format!("\n\n{text}"),
                        _ => text.clone(),
                    };
                    self.write_delta(OutDelta { reasoning_content: Some(&text), ..Default::default() }, out);
                }
            }
            StreamEvent::ToolArgsDelta { index, delta } => self.call_args(*index, delta, out),
            StreamEvent::PartStop { index } => {
                if self.call.as_ref().is_some_and(|c| c.part == *index) {
                    self.close_call(out);
                }
            }
            StreamEvent::Opaque { index, opaque } => {
                if let Some((_, r)) = self.reasoning.last_mut().filter(|(i, _)| i == index) {
                    r.opaque = Some(opaque.clone());
                }
            }
            StreamEvent::Usage(u) => self.usage.merge(u),
            StreamEvent::Finish(reason) => self.write_finish(Some(reason), out),
            StreamEvent::Error(e) => self.write_error(e, out),
            StreamEvent::End => self.terminate(out),
        }
    }

    fn ready(&mut self, out: &mut BytesMut) -> bool {
        self.ensure_started(out);
        self.state == State::Streaming
    }

    fn ensure_started(&mut self, out: &mut BytesMut) {
        if self.state == State::New {
            self.state = State::Streaming;
            self.write_delta(OutDelta { role: Some("assistant"), content: Some(""), ..Default::default() }, out);
        }
    }

    /// The reasoning part at canonical `index` (started when its first delta comes unannounced).
    fn reasoning_mut(&mut self, index: usize) -> Option<&mut Reasoning> {
        if self.reasoning.last().is_none_or(|(i, _)| *i != index) {
            self.reasoning.push((index, Reasoning::default()));
        }
        self.reasoning.last_mut().map(|(_, r)| r)
    }

    /// The client id of a starting call: signed reasoning since the last call is folded in.
    fn call_id(&mut self, id: &str, opaque: Option<&Opaque>) -> String {
        let signed = std::mem::take(&mut self.reasoning).into_iter().map(|(_, r)| r).filter(|r| r.opaque.is_some());
        self.codec.client_call_id(Protocol::OpenaiChat, id, opaque, signed.collect())
    }

    fn start_call(&mut self, part: usize, id: &str, name: &str, kind: ToolCallKind, out: &mut BytesMut) {
        if self.call.is_some() {
            self.close_call(out);
        }
        let index = self.tool_calls;
        self.tool_calls += 1;
        let custom = if is_custom_for_client(kind, name, &self.tools) {
            Some(CustomCall { id: id.to_string(), name: name.to_string(), kind, arguments: String::new() })
        } else {
            let header = OutToolCallDelta {
                index,
                id: Some(id),
                kind: Some("function"),
                function: Some(OutFunctionDelta { name: Some(name), arguments: "" }),
                custom: None,
            };
            self.write_delta(OutDelta { tool_calls: vec![header], ..Default::default() }, out);
            None
        };
        self.call = Some(OpenCall { part, index, custom });
    }

    fn call_args(&mut self, part: usize, delta: &str, out: &mut BytesMut) {
        let Some(call) = self.call.as_mut().filter(|c| c.part == part) else {
            return;
        };
        if let Some(custom) = call.custom.as_mut() {
            custom.arguments.push_str(delta);
            return;
        }
        if delta.is_empty() {
            return;
        }
        let entry = OutToolCallDelta {
            index: call.index,
            id: None,
            kind: None,
            function: Some(OutFunctionDelta { name: None, arguments: delta }),
            custom: None,
        };
        self.write_delta(OutDelta { tool_calls: vec![entry], ..Default::default() }, out);
    }

    fn close_call(&mut self, out: &mut BytesMut) {
        let Some(call) = self.call.take() else { return };
        let Some(custom) = call.custom else { return };
        let input = custom_input(custom.kind, &custom.arguments);
        let entry = OutToolCallDelta {
            index: call.index,
            id: Some(&custom.id),
            kind: Some("custom"),
            function: None,
            custom: Some(OutCustomDelta { name: Some(&custom.name), input: &input }),
        };
        self.write_delta(OutDelta { tool_calls: vec![entry], ..Default::default() }, out);
    }

    fn write_finish(&mut self, reason: Option<&FinishReason>, out: &mut BytesMut) {
        if self.state == State::Finished {
            return;
        }
        self.ensure_started(out);
        self.close_call(out);
        let finish = finish_to_wire(reason, self.tool_calls > 0);
        self.write_chunk(
            vec![OutChunkChoice { index: 0, delta: OutDelta::default(), logprobs: None, finish_reason: Some(finish) }],
            None,
            out,
        );
        self.state = State::Finished;
    }

    fn write_error(&mut self, e: &ErrorInfo, out: &mut BytesMut) {
        let body = super::error::encode_error(e);
        write_data(out, &String::from_utf8_lossy(&body));
        write_data(out, "[DONE]");
        self.state = State::Done;
    }

    fn terminate(&mut self, out: &mut BytesMut) {
        if self.state == State::Done {
            return;
        }
        self.write_finish(None, out);
        if self.include_usage {
            let usage = OutUsage::from_canonical(&self.usage);
            self.write_chunk(Vec::new(), Some(usage), out);
        }
        write_data(out, "[DONE]");
        self.state = State::Done;
    }

    fn write_delta(&self, delta: OutDelta<'_>, out: &mut BytesMut) {
        self.write_chunk(vec![OutChunkChoice { index: 0, delta, logprobs: None, finish_reason: None }], None, out);
    }

    fn write_chunk(&self, choices: Vec<OutChunkChoice<'_>>, usage: Option<OutUsage>, out: &mut BytesMut) {
        let chunk = OutChunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage,
        };
        write_json_data(out, &chunk);
    }
}
