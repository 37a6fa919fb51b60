//! Canonical stream events → the Anthropic client stream (Claude Code, the `anthropic` SDKs).
//!
//! This encoder owns the client grammar (clients.md §1 and §3):
//! - every frame has an `event:` line equal to `data.type` (clients drop frames without one);
//! - `message_start` comes first (on `Start`, or before the first other event when `Start` is
//!   missing), then one `ping`; its usage holds what is known then (often nothing: OpenAI and
//!   Gemini report usage at the end), and `message_delta` carries the totals, which the SDK
//!   uses to overwrite the `message_start` values;
//! - blocks get indices 0..n-1 in order; each is `content_block_start`, deltas,
//!   `content_block_stop`; a thinking block gets exactly one `signature_delta` right before its
//!   stop (Anthropic's own signature, or a sealed envelope of the foreign reasoning state);
//!   a redacted thinking block is written whole at its stop, once its data is known;
//! - `message_delta` always carries `usage.output_tokens`, then `message_stop`;
//! - an `Error` becomes `event: error` and nothing follows it;
//! - the terminal events are written exactly once, also from `finish()` on a cut stream.

use super::convert::{stop_reason_out, uncached_input};
use super::encode::{client_tool_id, message_id, reasoning_block, signature};
use super::wire::*;
use crate::canonical::{Cx, FinishReason, Opaque, PartKind, Reasoning, StreamEvent, ToolCallKind, Usage};
use crate::sse::write_json_event;
use bytes::BytesMut;

/// The encoder state lives behind one box so the dispatch enum stays small.
#[derive(Debug)]
pub struct StreamEncoder(Box<Encoder>);

impl StreamEncoder {
    pub fn new(cx: &Cx) -> StreamEncoder {
        StreamEncoder(Box::new(Encoder::new(cx)))
    }

    pub fn push(&mut self, ev: &StreamEvent, out: &mut BytesMut) {
        self.0.push(ev, out)
    }

    /// Whatever the grammar still owes: the open block's stop, `message_delta`, `message_stop`.
    pub fn finish(&mut self, out: &mut BytesMut) {
        self.0.finish(out)
    }
}

#[derive(Debug)]
struct Encoder {
    cx: Cx,
    model: String,
    state: State,
    open: Option<Block>,
    next_index: usize,
    usage: Usage,
    finish: Option<FinishReason>,
    had_tool_calls: bool,
    /// A text block was written (see `trailing_signature`).
    had_text: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing written yet.
    Fresh,
    /// `message_start` written.
    Started,
    /// `message_stop` or `error` written: nothing more.
    Done,
}

#[derive(Debug)]
struct Block {
    /// The canonical part index this block carries.
    part: usize,
    /// The client block index.
    index: usize,
    kind: BlockKind,
}

#[derive(Debug)]
enum BlockKind {
    Text,
    /// Thinking text so far and the part's latest opaque state (for the signature). Its
    /// `content_block_start` waits for the first delta (`started`): see `close`.
    Thinking {
        text: String,
        opaque: Option<Opaque>,
        started: bool,
    },
    /// Not written until its data is known (at the part's stop).
    Redacted {
        opaque: Option<Opaque>,
    },
    /// `custom`: the raw input is streamed inside `{"input": "…"}`.
    Tool {
        custom: bool,
    },
}

impl Encoder {
    fn new(cx: &Cx) -> Encoder {
        Encoder {
            cx: cx.clone(),
            model: String::new(),
            state: State::Fresh,
            open: None,
            next_index: 0,
            usage: Usage::default(),
            finish: None,
            had_tool_calls: false,
            had_text: false,
        }
    }

    fn push(&mut self, ev: &StreamEvent, out: &mut BytesMut) {
        if self.state == State::Done {
            return;
        }
        match ev {
            StreamEvent::Start { model, .. } => {
                if self.state == State::Fresh {
                    self.model = model.clone();
                    self.ensure_started(out);
                }
            }
            StreamEvent::Usage(u) => self.usage.merge(u),
            StreamEvent::PartStart { index, kind } => {
                self.ensure_started(out);
                self.close(out);
                self.open_block(*index, kind, out);
            }
            StreamEvent::TextDelta { index, text } => {
                self.ensure_started(out);
                if !self.is_open(*index, |k| matches!(k, BlockKind::Text)) {
                    self.close(out);
                    self.open_block(*index, &PartKind::Text, out);
                }
                if let (Some(b), false) = (&self.open, text.is_empty()) {
                    let delta = OutDelta::TextDelta { text: text.clone() };
                    emit(out, &OutStreamEvent::ContentBlockDelta { index: b.index, delta });
                }
            }
            StreamEvent::ReasoningDelta { index, text } => {
                self.ensure_started(out);
                if !self.is_open(*index, |k| matches!(k, BlockKind::Thinking { .. } | BlockKind::Redacted { .. })) {
                    self.close(out);
                    self.open_block(*index, &PartKind::Reasoning { redacted: false }, out);
                }
                if let Some(Block { index, kind: BlockKind::Thinking { text: acc, started, .. }, .. }) =
                    self.open.as_mut()
                {
                    if !text.is_empty() {
                        if !*started {
                            *started = true;
                            let content_block =
                                OutBlock::Thinking { thinking: String::new(), signature: String::new() };
                            emit(out, &OutStreamEvent::ContentBlockStart { index: *index, content_block });
                        }
                        acc.push_str(text);
                        let delta = OutDelta::ThinkingDelta { thinking: text.clone() };
                        emit(out, &OutStreamEvent::ContentBlockDelta { index: *index, delta });
                    }
                }
            }
            StreamEvent::ToolArgsDelta { index, delta } => {
                // Arguments without their call have no block to go to: dropped.
                if let Some(Block { index: i, kind: BlockKind::Tool { custom }, .. }) =
                    self.open.as_ref().filter(|b| b.part == *index)
                {
                    let partial_json = if *custom { json_string_body(delta) } else { delta.clone() };
                    if !partial_json.is_empty() {
                        let d = OutDelta::InputJsonDelta { partial_json };
                        emit(out, &OutStreamEvent::ContentBlockDelta { index: *i, delta: d });
                    }
                }
            }
            StreamEvent::Opaque { index, opaque } => match self.open.as_mut() {
                Some(Block {
                    part,
                    kind: BlockKind::Thinking { opaque: slot, .. } | BlockKind::Redacted { opaque: slot },
                    ..
                }) if *part == *index => {
                    *slot = Some(opaque.clone());
                }
                // A call's state arrives with its start and is sealed into the `tool_use` id
                // (see `client_tool_id`); by now the id is written.
                _ => {}
            },
            StreamEvent::PartStop { index } => {
                if self.open.as_ref().is_some_and(|b| b.part == *index) {
                    self.close(out);
                }
            }
            StreamEvent::Finish(f) => self.finish = Some(f.clone()),
            StreamEvent::Error(e) => {
                let error = OutErrorBody { kind: super::convert::error_type_out(e.kind), message: e.message.clone() };
                emit(out, &OutStreamEvent::Error { error });
                self.state = State::Done;
            }
            StreamEvent::End => self.terminate(out),
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        if self.state != State::Done {
            self.terminate(out);
        }
    }

    fn terminate(&mut self, out: &mut BytesMut) {
        self.ensure_started(out);
        self.close(out);
        let (stop_reason, stop_sequence) = stop_reason_out(self.finish.as_ref(), self.had_tool_calls);
        let u = &self.usage;
        let usage = OutDeltaUsage {
            input_tokens: uncached_input(u),
            cache_creation_input_tokens: u.cache_write,
            cache_read_input_tokens: u.cache_read,
            output_tokens: u.output.unwrap_or(0),
        };
        let delta = OutMessageDeltaBody { stop_reason: Some(stop_reason), stop_sequence };
        emit(out, &OutStreamEvent::MessageDelta { delta, usage });
        emit(out, &OutStreamEvent::MessageStop);
        self.state = State::Done;
    }

    fn ensure_started(&mut self, out: &mut BytesMut) {
        if self.state != State::Fresh {
            return;
        }
        let u = &self.usage;
        let message = OutMessage {
            id: message_id(&self.cx),
            kind: "message",
            role: "assistant",
            model: self.model.clone(),
            content: Vec::new(),
            stop_reason: None,
            stop_sequence: None,
            usage: OutUsage {
                input_tokens: uncached_input(u).unwrap_or(0),
                output_tokens: 0,
                cache_creation_input_tokens: u.cache_write.unwrap_or(0),
                cache_read_input_tokens: u.cache_read.unwrap_or(0),
            },
        };
        emit(out, &OutStreamEvent::MessageStart { message });
        emit(out, &OutStreamEvent::Ping);
        self.state = State::Started;
    }

    fn is_open(&self, part: usize, kind: impl Fn(&BlockKind) -> bool) -> bool {
        self.open.as_ref().is_some_and(|b| b.part == part && kind(&b.kind))
    }

    fn open_block(&mut self, part: usize, kind: &PartKind, out: &mut BytesMut) {
        let index = self.next_index;
        self.next_index += 1;
        let (kind, block) = match kind {
            PartKind::Text => {
                self.had_text = true;
                (BlockKind::Text, Some(OutBlock::Text { text: String::new(), cache_control: None }))
            }
            PartKind::Reasoning { redacted: false } => {
                (BlockKind::Thinking { text: String::new(), opaque: None, started: false }, None)
            }
            PartKind::Reasoning { redacted: true } => (BlockKind::Redacted { opaque: None }, None),
            PartKind::ToolCall { id, name, kind, opaque } => {
                self.had_tool_calls = true;
                let custom = *kind == ToolCallKind::Custom;
                let block = OutBlock::ToolUse {
                    id: client_tool_id(id, opaque.as_ref(), &self.cx, index),
                    name: name.clone(),
                    input: serde_json::Value::Object(Default::default()),
                    cache_control: None,
                };
                (BlockKind::Tool { custom }, Some(block))
            }
        };
        if let Some(content_block) = block {
            emit(out, &OutStreamEvent::ContentBlockStart { index, content_block });
        }
        if let BlockKind::Tool { custom: true } = kind {
            let d = OutDelta::InputJsonDelta { partial_json: "{\"input\":\"".into() };
            emit(out, &OutStreamEvent::ContentBlockDelta { index, delta: d });
        }
        self.open = Some(Block { part, index, kind });
    }

    fn close(&mut self, out: &mut BytesMut) {
        let Some(Block { index, kind, .. }) = self.open.take() else { return };
        match kind {
            BlockKind::Text => {}
            BlockKind::Thinking { text, opaque, started } => {
                if !started {
                    if self.had_text && trailing_signature(&text, opaque.as_ref()) {
                        // Nothing was written for it: its block index is free again.
                        self.next_index -= 1;
                        return;
                    }
                    let content_block = OutBlock::Thinking { thinking: String::new(), signature: String::new() };
                    emit(out, &OutStreamEvent::ContentBlockStart { index, content_block });
                }
                let r = Reasoning { text, opaque, ..Reasoning::default() };
                let signature = signature(&self.cx.codec, &r);
                let delta = OutDelta::SignatureDelta { signature };
                emit(out, &OutStreamEvent::ContentBlockDelta { index, delta });
            }
            BlockKind::Redacted { opaque } => {
                let r = Reasoning { opaque, redacted: true, ..Reasoning::default() };
                match reasoning_block(&self.cx.codec, &r) {
                    content_block @ OutBlock::RedactedThinking { .. } => {
                        emit(out, &OutStreamEvent::ContentBlockStart { index, content_block });
                    }
                    // Foreign "redacted" state has no Anthropic data: a signed empty thinking block.
                    _ => {
                        let content_block = OutBlock::Thinking { thinking: String::new(), signature: String::new() };
                        emit(out, &OutStreamEvent::ContentBlockStart { index, content_block });
                        let signature = signature(&self.cx.codec, &r);
                        let delta = OutDelta::SignatureDelta { signature };
                        emit(out, &OutStreamEvent::ContentBlockDelta { index, delta });
                    }
                }
            }
            BlockKind::Tool { custom } => {
                if custom {
                    let d = OutDelta::InputJsonDelta { partial_json: "\"}".into() };
                    emit(out, &OutStreamEvent::ContentBlockDelta { index, delta: d });
                }
            }
        }
        emit(out, &OutStreamEvent::ContentBlockStop { index });
    }
}

/// A Gemini signature on the answer's text (reasoning with no text of its own, after a text
/// block): an Anthropic reply has no slot for it after the answer (a thinking block there hides
/// the answer from Claude Code, which shows the last block), and Gemini does not require it
/// back, so it is left out.
pub(super) fn trailing_signature(text: &str, opaque: Option<&Opaque>) -> bool {
    text.is_empty() && opaque.is_some_and(|o| o.origin == crate::canonical::Protocol::Gemini)
}

/// A raw string as it appears inside a JSON string literal (escaped, without the quotes).
fn json_string_body(raw: &str) -> String {
    let quoted = serde_json::Value::String(raw.to_string()).to_string();
    quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default().to_string()
}

fn emit(out: &mut BytesMut, ev: &OutStreamEvent) {
    write_json_event(out, ev.name(), ev);
}
