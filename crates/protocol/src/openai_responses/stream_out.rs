//! Canonical stream events → the OpenAI Responses stream a client reads.
//!
//! This encoder owns the grammar the `openai` SDK's `responses.stream()` helper and Codex check:
//!
//! ```text
//! response.created (status in_progress, output [])  response.in_progress
//! per output item i (output_index i, ids stable from .added to the final response):
//!   output_item.added
//!     message:   content_part.added  output_text.delta*  output_text.done  content_part.done
//!     function:  function_call_arguments.delta*  function_call_arguments.done
//!     custom:    custom_tool_call_input.delta*  custom_tool_call_input.done
//!     reasoning: [reasoning_summary_part.added  reasoning_summary_text.delta*
//!                 reasoning_summary_text.done  reasoning_summary_part.done]
//!   output_item.done (the complete item; reasoning gets its encrypted_content here)
//! response.completed | response.incomplete | response.failed   (exactly once)
//! ```
//!
//! Every event has `type` and a gap-free `sequence_number` from 0 and is written with an
//! `event:` line. The terminal event repeats the response id and carries the full `output`
//! (a copy of each finished item is kept) and complete usage. Missing part starts are
//! synthesised; a tool-call delta without its `PartStart` is dropped (there is no name to
//! announce). `Error` ends the stream with `response.failed` (an unfinished item is not
//! reported as done); `finish()` without `End` does the same for a cut stream.
//!
//! Custom tools: a native custom call (`ToolCallKind::Custom`) streams its raw input; a custom
//! tool that went upstream as a function (`{"input": "..."}` arguments) is buffered and its
//! unwrapped input is sent at `PartStop`.

use super::common::{item_id, response_id, usage_to_wire};
use super::encode::{call_out, client_call, message_item, reasoning_out, terminal_status, to_raw};
use super::error::stream_error_code;
use super::wire::{OutItem, OutputText, ResponseError, ResponseObject, SummaryText};
use crate::canonical::tools::unwrap_custom_input;
use crate::canonical::{
    Cx, ErrorInfo, FinishReason, Opaque, PartKind, Reasoning, StreamEvent, ToolCall, ToolCallKind, Usage,
};
use crate::sse::write_json_event;
use bytes::BytesMut;
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallMode {
    Function,
    /// Native custom call: the deltas are raw input.
    CustomRaw,
    /// Custom tool carried upstream as a function: deltas are JSON `{"input": …}`, buffered.
    CustomWrapped,
}

#[derive(Debug)]
enum ItemState {
    Text { text: String },
    Reasoning { text: String, summary_open: bool, opaque: Option<Opaque>, redacted: bool },
    Call { call: ToolCall, mode: CallMode },
}

#[derive(Debug)]
struct OpenItem {
    /// Canonical part index.
    index: usize,
    output_index: usize,
    item_id: String,
    state: ItemState,
}

/// Boxed so the dispatch enum stays small.
#[derive(Debug)]
pub struct StreamEncoder(Box<State>);

#[derive(Debug)]
struct State {
    cx: Cx,
    id: String,
    model: String,
    seq: u64,
    started: bool,
    done: bool,
    output: Vec<Box<RawValue>>,
    open: Option<OpenItem>,
    usage: Usage,
    finish: Option<FinishReason>,
}

/// `{type, sequence_number, ...body}`
#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    sequence_number: u64,
    #[serde(flatten)]
    body: T,
}

#[derive(Serialize)]
struct Delta<'a> {
    item_id: &'a str,
    output_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary_index: Option<usize>,
    delta: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<[(); 0]>,
}

#[derive(Serialize)]
struct ItemEvent<'a> {
    output_index: usize,
    item: &'a OutItem,
}

#[derive(Serialize)]
struct ResponseEvent<'a> {
    response: ResponseObject<'a>,
}

impl StreamEncoder {
    pub fn new(cx: &Cx) -> StreamEncoder {
        StreamEncoder(Box::new(State {
            cx: cx.clone(),
            id: response_id(&cx.id),
            model: String::new(),
            seq: 0,
            started: false,
            done: false,
            output: Vec::new(),
            open: None,
            usage: Usage::default(),
            finish: None,
        }))
    }

    pub fn push(&mut self, ev: &StreamEvent, out: &mut BytesMut) {
        self.0.push(ev, out)
    }

    /// End of the canonical stream: a stream that never reached `End` was cut.
    pub fn finish(&mut self, out: &mut BytesMut) {
        self.0.finish(out)
    }
}

impl State {
    fn push(&mut self, ev: &StreamEvent, out: &mut BytesMut) {
        if self.done {
            return;
        }
        match ev {
            StreamEvent::Start { model, .. } => {
                if !self.started {
                    self.model = model.clone();
                }
                self.ensure_started(out);
            }
            StreamEvent::PartStart { index, kind } => {
                self.ensure_started(out);
                self.close(out);
                self.open_part(*index, kind, out);
            }
            StreamEvent::TextDelta { index, text } => {
                if !matches!(&self.open, Some(o) if o.index == *index && matches!(o.state, ItemState::Text { .. })) {
                    self.ensure_started(out);
                    self.close(out);
                    self.open_part(*index, &PartKind::Text, out);
                }
                self.text_delta(text, out);
            }
            StreamEvent::ReasoningDelta { index, text } => {
                if !matches!(&self.open, Some(o) if o.index == *index && matches!(o.state, ItemState::Reasoning { .. }))
                {
                    self.ensure_started(out);
                    self.close(out);
                    self.open_part(*index, &PartKind::Reasoning { redacted: false }, out);
                }
                self.reasoning_delta(text, out);
            }
            StreamEvent::ToolArgsDelta { index, delta } => {
                if matches!(&self.open, Some(o) if o.index == *index && matches!(o.state, ItemState::Call { .. })) {
                    self.args_delta(delta, out);
                }
            }
            StreamEvent::Opaque { index, opaque } => {
                if let Some(open) = self.open.as_mut().filter(|o| o.index == *index) {
                    match &mut open.state {
                        ItemState::Reasoning { opaque: slot, .. } => *slot = Some(opaque.clone()),
                        // A call's state comes with its start (sealed into `call_id` there).
                        ItemState::Call { .. } => {}
                        ItemState::Text { .. } => {}
                    }
                }
            }
            StreamEvent::PartStop { index } => {
                if self.open.as_ref().is_some_and(|o| o.index == *index) {
                    self.close(out);
                }
            }
            StreamEvent::Usage(u) => self.usage.merge(u),
            StreamEvent::Finish(f) => self.finish = Some(f.clone()),
            StreamEvent::Error(e) => self.fail(e, out),
            StreamEvent::End => {
                self.ensure_started(out);
                self.close(out);
                self.complete(out);
            }
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        if !self.done {
            let mut e = ErrorInfo::new(
                crate::canonical::ErrorKind::UpstreamInvalid,
                "the upstream stream ended before the response was complete",
            );
            e.code = Some("server_error".into());
            self.fail(&e, out);
        }
    }

    // --- framing ---

    fn emit<T: Serialize>(&mut self, out: &mut BytesMut, kind: &str, body: T) {
        let env = Envelope { kind, sequence_number: self.seq, body };
        // Serializing plain strings and numbers cannot fail; on error the event is skipped.
        if write_json_event(out, kind, &env) {
            self.seq += 1;
        }
    }

    fn response_event(&mut self, out: &mut BytesMut, kind: &str, status: &'static str, error: Option<ResponseError>) {
        let mut obj = ResponseObject::new(&self.id, self.cx.created, &self.model, &self.output);
        obj.status = status;
        obj.error = error;
        if status != "in_progress" {
            obj.usage = Some(usage_to_wire(&self.usage));
        }
        if status == "incomplete" {
            obj.incomplete_details = terminal_status(self.finish.as_ref()).1;
        }
        if write_json_event(
            out,
            kind,
            &Envelope { kind, sequence_number: self.seq, body: ResponseEvent { response: obj } },
        ) {
            self.seq += 1;
        }
    }

    fn ensure_started(&mut self, out: &mut BytesMut) {
        if !self.started {
            self.started = true;
            self.response_event(out, "response.created", "in_progress", None);
            self.response_event(out, "response.in_progress", "in_progress", None);
        }
    }

    fn complete(&mut self, out: &mut BytesMut) {
        let (status, _) = terminal_status(self.finish.as_ref());
        let kind = if status == "incomplete" { "response.incomplete" } else { "response.completed" };
        self.response_event(out, kind, status, None);
        self.done = true;
    }

    fn fail(&mut self, e: &ErrorInfo, out: &mut BytesMut) {
        self.ensure_started(out);
        let error = ResponseError { code: stream_error_code(e).to_string(), message: e.message.clone() };
        // An unfinished item is dropped, not reported as done (its content is partial).
        self.open = None;
        self.response_event(out, "response.failed", "failed", Some(error));
        self.done = true;
    }

    // --- items ---

    fn open_part(&mut self, index: usize, kind: &PartKind, out: &mut BytesMut) {
        let output_index = self.output.len();
        let cx = &self.cx;
        let (item, state) = match kind {
            PartKind::Text => {
                (message_item(cx, output_index, String::new(), "in_progress"), ItemState::Text { text: String::new() })
            }
            PartKind::Reasoning { redacted } => (
                OutItem::Reasoning {
                    id: item_id("rs", &cx.id, output_index),
                    summary: Vec::new(),
                    content: None,
                    encrypted_content: None,
                },
                ItemState::Reasoning { text: String::new(), summary_open: false, opaque: None, redacted: *redacted },
            ),
            PartKind::ToolCall { id, name, kind, opaque } => {
                let mode = match kind {
                    ToolCallKind::Custom => CallMode::CustomRaw,
                    ToolCallKind::Function if cx.tools.is_custom(name) => CallMode::CustomWrapped,
                    ToolCallKind::Function => CallMode::Function,
                };
                let call = ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                    kind: *kind,
                    opaque: opaque.clone(),
                };
                // The client id is fixed here: `added` and `done` must name the same call.
                let call = client_call(cx, output_index, &call);
                (call_out(cx, output_index, &call, "", "in_progress"), ItemState::Call { call, mode })
            }
        };
        let item_id = out_item_id(&item);
        self.emit(out, "response.output_item.added", ItemEvent { output_index, item: &item });
        if matches!(state, ItemState::Text { .. }) {
            self.emit(
                out,
                "response.content_part.added",
                json!({"item_id": item_id, "output_index": output_index, "content_index": 0, "part": OutputText::new("")}),
            );
        }
        self.open = Some(OpenItem { index, output_index, item_id, state });
    }

    fn text_delta(&mut self, text: &str, out: &mut BytesMut) {
        let Some(mut open) = self.open.take() else { return };
        if let ItemState::Text { text: buf } = &mut open.state {
            buf.push_str(text);
            let d = Delta {
                item_id: &open.item_id,
                output_index: open.output_index,
                content_index: Some(0),
                summary_index: None,
                delta: text,
                logprobs: Some([]),
            };
            self.emit(out, "response.output_text.delta", d);
        }
        self.open = Some(open);
    }

    fn reasoning_delta(&mut self, text: &str, out: &mut BytesMut) {
        let Some(mut open) = self.open.take() else { return };
        if let ItemState::Reasoning { text: buf, summary_open, .. } = &mut open.state {
            if !*summary_open {
                *summary_open = true;
                self.emit(
                    out,
                    "response.reasoning_summary_part.added",
                    json!({"item_id": open.item_id, "output_index": open.output_index, "summary_index": 0, "part": SummaryText::new("")}),
                );
            }
            buf.push_str(text);
            let d = Delta {
                item_id: &open.item_id,
                output_index: open.output_index,
                content_index: None,
                summary_index: Some(0),
                delta: text,
                logprobs: None,
            };
            self.emit(out, "response.reasoning_summary_text.delta", d);
        }
        self.open = Some(open);
    }

    fn args_delta(&mut self, delta: &str, out: &mut BytesMut) {
        let Some(mut open) = self.open.take() else { return };
        if let ItemState::Call { call, mode } = &mut open.state {
            call.arguments.push_str(delta);
            let kind = match mode {
                CallMode::Function => Some("response.function_call_arguments.delta"),
                CallMode::CustomRaw => Some("response.custom_tool_call_input.delta"),
                CallMode::CustomWrapped => None,
            };
            if let Some(kind) = kind {
                let d = Delta {
                    item_id: &open.item_id,
                    output_index: open.output_index,
                    content_index: None,
                    summary_index: None,
                    delta,
                    logprobs: None,
                };
                self.emit(out, kind, d);
            }
        }
        self.open = Some(open);
    }

    /// Finish the open item: its `.done` events, then `output_item.done` with the whole item.
    fn close(&mut self, out: &mut BytesMut) {
        let Some(open) = self.open.take() else { return };
        let (id, oi) = (open.item_id.as_str(), open.output_index);
        let item = match open.state {
            ItemState::Text { text } => {
                self.emit(
                    out,
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": oi, "content_index": 0, "text": text, "logprobs": []}),
                );
                self.emit(
                    out,
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": oi, "content_index": 0, "part": OutputText::new(text.as_str())}),
                );
                message_item(&self.cx, oi, text, "completed")
            }
            ItemState::Reasoning { text, summary_open, opaque, redacted } => {
                if summary_open {
                    self.emit(
                        out,
                        "response.reasoning_summary_text.done",
                        json!({"item_id": id, "output_index": oi, "summary_index": 0, "text": text}),
                    );
                    self.emit(
                        out,
                        "response.reasoning_summary_part.done",
                        json!({"item_id": id, "output_index": oi, "summary_index": 0, "part": SummaryText::new(text.as_str())}),
                    );
                }
                let r = Reasoning { text, summary: Vec::new(), opaque, redacted };
                reasoning_out(&self.cx, oi, &r)
            }
            ItemState::Call { call, mode } => {
                match mode {
                    CallMode::Function => self.emit(
                        out,
                        "response.function_call_arguments.done",
                        json!({"item_id": id, "output_index": oi, "arguments": call.arguments}),
                    ),
                    CallMode::CustomRaw => self.emit(
                        out,
                        "response.custom_tool_call_input.done",
                        json!({"item_id": id, "output_index": oi, "input": call.arguments}),
                    ),
                    CallMode::CustomWrapped => {
                        let input = unwrap_custom_input(&call.arguments);
                        if !input.is_empty() {
                            self.emit(
                                out,
                                "response.custom_tool_call_input.delta",
                                json!({"item_id": id, "output_index": oi, "delta": input}),
                            );
                        }
                        self.emit(
                            out,
                            "response.custom_tool_call_input.done",
                            json!({"item_id": id, "output_index": oi, "input": input}),
                        );
                    }
                }
                call_out(&self.cx, oi, &call, &call.arguments, "completed")
            }
        };
        self.emit(out, "response.output_item.done", ItemEvent { output_index: oi, item: &item });
        if let Ok(raw) = to_raw(&item) {
            self.output.push(raw);
        }
    }
}

fn out_item_id(item: &OutItem) -> String {
    match item {
        OutItem::Message { id, .. }
        | OutItem::Reasoning { id, .. }
        | OutItem::FunctionCall { id, .. }
        | OutItem::CustomToolCall { id, .. } => id.clone(),
    }
}
