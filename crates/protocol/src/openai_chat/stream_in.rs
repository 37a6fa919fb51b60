//! Upstream Chat Completions SSE → canonical stream events.
//!
//! Chat chunks have no block structure, so this decoder synthesizes it: a part opens when the
//! kind of delta changes (reasoning → text → tool call …) and closes when the next one starts.
//!
//! Tool calls are keyed by their wire `index`. A call opens as soon as it has a name and
//! nothing else is open; its arguments then stream as `ToolArgsDelta`s. When a new index
//! appears while a call is open, the open call is closed if its arguments are already complete
//! JSON (the normal, sequential case); otherwise the upstream is interleaving calls and the new
//! ones are buffered, then replayed in order once the open call completes or the choice ends.
//! A repeated index with a different `id` (servers that send every call as index 0) is a new
//! call. Deltas for a call that was already closed are dropped (canonical parts cannot reopen).
//!
//! Ending: `finish_reason` closes everything and emits `Finish`; usage is collected and emitted
//! once before `End`; `[DONE]` ends the stream. A stream that stops after a `finish_reason`
//! without `[DONE]` ends normally at `finish()`; one that stops earlier ends with an
//! `UpstreamInvalid` error. A chunk with a top-level `error` (or an `event: error`) becomes an
//! `Error`; malformed JSON becomes an `UpstreamInvalid` error. Both are terminal.

use super::error::error_from_value;
use super::wire::{finish_from_wire, InCompletion, InFunction, InToolCall};
use crate::canonical::{Cx, ErrorInfo, ErrorKind, PartKind, StreamEvent, ToolCallKind, Usage};
use crate::sse::SseEvent;
use serde_json::Value;

#[derive(Debug, Default)]
pub struct StreamDecoder {
    started: bool,
    /// `finish_reason` seen: no more parts, only usage and the end.
    finished: bool,
    /// `End` emitted.
    done: bool,
    usage: Option<Usage>,
    next_part: usize,
    open: Open,
    calls: Vec<Call>,
    /// Wire `index` → position in `calls` (the latest call with that index).
    by_index: Vec<(u64, usize)>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Open {
    #[default]
    None,
    Text(usize),
    Reasoning(usize),
    Call {
        part: usize,
        call: usize,
    },
}

#[derive(Debug)]
struct Call {
    id: String,
    name: String,
    kind: ToolCallKind,
    /// All arguments seen (streamed ones too, to tell when they form complete JSON).
    args: String,
    state: CallState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    Pending,
    Live,
    Closed,
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
        if data.is_empty() {
            return;
        }
        if data == "[DONE]" {
            self.end(out);
            return;
        }
        if ev.event.as_deref() == Some("error") {
            let info = match serde_json::from_str::<Value>(data) {
                Ok(v) => error_from_value(&v, None),
                Err(_) => ErrorInfo::new(ErrorKind::Internal, data),
            };
            self.fail(info, out);
            return;
        }
        let chunk: InCompletion = match serde_json::from_str(data) {
            Ok(c) => c,
            Err(e) => {
                let info = ErrorInfo::new(ErrorKind::UpstreamInvalid, format!("malformed chat completion chunk: {e}"));
                self.fail(info, out);
                return;
            }
        };
        self.chunk(chunk, out);
    }

    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        if self.finished {
            self.end(out);
        } else {
            let info =
                ErrorInfo::new(ErrorKind::UpstreamInvalid, "upstream stream ended before a finish_reason or [DONE]");
            self.fail(info, out);
        }
    }

    fn chunk(&mut self, chunk: InCompletion, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: chunk.id.clone().unwrap_or_default(),
                model: chunk.model.clone().unwrap_or_default(),
            });
        }
        if let Some(err) = chunk.error {
            let info = error_from_value(&serde_json::json!({ "error": err }), None);
            self.fail(info, out);
            return;
        }
        if let Some(u) = chunk.usage {
            self.usage.get_or_insert_with(Usage::default).merge(&u.to_canonical());
        }
        // Only the first choice is relayed (crossbar never asks for n > 1).
        for choice in chunk.choices.unwrap_or_default() {
            if choice.index.unwrap_or(0) != 0 || self.finished {
                continue;
            }
            if let Some(d) = choice.delta.or(choice.message) {
                let reasoning = d.reasoning_content.filter(|s| !s.is_empty()).or(d.reasoning.filter(|s| !s.is_empty()));
                if let Some(text) = reasoning {
                    self.reasoning(text, out);
                }
                for text in [d.content, d.refusal].into_iter().flatten().filter(|s| !s.is_empty()) {
                    self.text(text, out);
                }
                for tc in d.tool_calls.unwrap_or_default() {
                    self.tool_call(tc, out);
                }
                if let Some(f) = d.function_call {
                    self.tool_call(legacy_call(f), out);
                }
            }
            match choice.finish_reason.as_deref() {
                None | Some("") => {}
                Some("error") => {
                    let info = ErrorInfo::new(ErrorKind::Internal, "upstream finished the choice with an error");
                    self.fail(info, out);
                    return;
                }
                Some(reason) => {
                    self.close_open(true, out);
                    out.push(StreamEvent::Finish(finish_from_wire(reason)));
                    self.finished = true;
                }
            }
        }
    }

    fn text(&mut self, text: String, out: &mut Vec<StreamEvent>) {
        let index = match self.open {
            Open::Text(i) => i,
            _ => {
                self.close_open(true, out);
                let i = self.open_part(PartKind::Text, out);
                self.open = Open::Text(i);
                i
            }
        };
        out.push(StreamEvent::TextDelta { index, text });
    }

    fn reasoning(&mut self, text: String, out: &mut Vec<StreamEvent>) {
        let index = match self.open {
            Open::Reasoning(i) => i,
            _ => {
                self.close_open(true, out);
                let i = self.open_part(PartKind::Reasoning { redacted: false }, out);
                self.open = Open::Reasoning(i);
                i
            }
        };
        out.push(StreamEvent::ReasoningDelta { index, text });
    }

    fn open_part(&mut self, kind: PartKind, out: &mut Vec<StreamEvent>) -> usize {
        let index = self.next_part;
        self.next_part += 1;
        out.push(StreamEvent::PartStart { index, kind });
        index
    }

    fn tool_call(&mut self, tc: InToolCall, out: &mut Vec<StreamEvent>) {
        let id = tc.id.filter(|s| !s.is_empty());
        let pos = self.call_position(tc.index, id.as_deref());
        let is_custom = tc.kind.as_deref() == Some("custom") || tc.custom.is_some();
        let (name, fragment) = match (tc.function, tc.custom) {
            (Some(f), _) => (f.name, f.arguments),
            (None, Some(c)) => (c.name, c.input),
            (None, None) => (None, None),
        };
        let Some(call) = self.calls.get_mut(pos) else {
            return;
        };
        if call.id.is_empty() {
            if let Some(id) = id {
                call.id = id;
            }
        }
        if call.name.is_empty() {
            if let Some(name) = name {
                call.name = name;
            }
        }
        if is_custom {
            call.kind = ToolCallKind::Custom;
        }
        let fragment = fragment.unwrap_or_default();
        match call.state {
            CallState::Closed => {}
            CallState::Live => {
                call.args.push_str(&fragment);
                if let (false, Open::Call { part, .. }) = (fragment.is_empty(), self.open) {
                    out.push(StreamEvent::ToolArgsDelta { index: part, delta: fragment });
                }
            }
            CallState::Pending => {
                call.args.push_str(&fragment);
                self.advance(out);
            }
        }
    }

    /// The call a delta belongs to, creating it when the index (or id) is new.
    fn call_position(&mut self, index: Option<u64>, id: Option<&str>) -> usize {
        let known = match index {
            Some(k) => self.by_index.iter().rev().find(|(key, _)| *key == k).map(|(_, p)| *p),
            None => self.calls.len().checked_sub(1),
        };
        if let Some(p) = known {
            let same = match (id, self.calls.get(p)) {
                (Some(new), Some(call)) => call.id.is_empty() || call.id == new,
                _ => true,
            };
            if same {
                return p;
            }
        }
        let p = self.calls.len();
        self.calls.push(Call {
            id: String::new(),
            name: String::new(),
            kind: ToolCallKind::Function,
            args: String::new(),
            state: CallState::Pending,
        });
        if let Some(k) = index {
            self.by_index.push((k, p));
        }
        p
    }

    /// Open pending calls in order while nothing blocks them.
    fn advance(&mut self, out: &mut Vec<StreamEvent>) {
        loop {
            let Some(next) = self.calls.iter().position(|c| c.state == CallState::Pending) else {
                return;
            };
            if self.calls.get(next).is_some_and(|c| c.name.is_empty()) {
                return;
            }
            match self.open {
                Open::Call { call, .. } => {
                    let complete = self.calls.get(call).is_some_and(Call::complete);
                    if !complete {
                        return; // interleaving: keep buffering
                    }
                    self.close_open(false, out);
                }
                Open::Text(_) | Open::Reasoning(_) => self.close_open(false, out),
                Open::None => self.promote(next, out),
            }
        }
    }

    fn promote(&mut self, pos: usize, out: &mut Vec<StreamEvent>) {
        let part = self.next_part;
        let Some(call) = self.calls.get_mut(pos) else {
            return;
        };
        if call.id.is_empty() {
            call.id = format!("call_{pos}");
        }
        call.state = CallState::Live;
        self.next_part += 1;
        out.push(StreamEvent::PartStart {
            index: part,
            kind: PartKind::ToolCall { id: call.id.clone(), name: call.name.clone(), kind: call.kind, opaque: None },
        });
        if !call.args.is_empty() {
            out.push(StreamEvent::ToolArgsDelta { index: part, delta: call.args.clone() });
        }
        self.open = Open::Call { part, call: pos };
    }

    /// Close the open part; with `flush`, also replay every buffered call as a complete part.
    fn close_open(&mut self, flush: bool, out: &mut Vec<StreamEvent>) {
        match std::mem::take(&mut self.open) {
            Open::None => {}
            Open::Text(i) | Open::Reasoning(i) => out.push(StreamEvent::PartStop { index: i }),
            Open::Call { part, call } => {
                if let Some(c) = self.calls.get_mut(call) {
                    c.state = CallState::Closed;
                }
                out.push(StreamEvent::PartStop { index: part });
            }
        }
        if !flush {
            return;
        }
        while let Some(pos) = self.calls.iter().position(|c| c.state == CallState::Pending) {
            self.promote(pos, out);
            self.close_open(false, out);
        }
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        self.ensure_started(out);
        self.close_open(true, out);
        if let Some(u) = self.usage.take() {
            out.push(StreamEvent::Usage(u));
        }
        out.push(StreamEvent::End);
        self.done = true;
    }

    fn fail(&mut self, info: ErrorInfo, out: &mut Vec<StreamEvent>) {
        self.ensure_started(out);
        self.close_open(false, out);
        if let Some(u) = self.usage.take() {
            out.push(StreamEvent::Usage(u));
        }
        out.push(StreamEvent::Error(info));
        out.push(StreamEvent::End);
        self.done = true;
    }

    fn ensure_started(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start { id: String::new(), model: String::new() });
        }
    }
}

impl Call {
    /// Whether the arguments so far are a whole value (custom input has no end marker).
    fn complete(&self) -> bool {
        self.kind == ToolCallKind::Custom || serde_json::from_str::<serde::de::IgnoredAny>(&self.args).is_ok()
    }
}

/// A legacy streamed `function_call` as tool call 0.
fn legacy_call(f: InFunction) -> InToolCall {
    InToolCall { index: Some(0), id: None, kind: None, function: Some(f), custom: None }
}
