//! Upstream OpenAI Responses SSE → canonical stream events.
//!
//! | upstream event | canonical |
//! |---|---|
//! | `response.created` | `Start { id, model }` |
//! | `output_item.added` (message, function_call, custom_tool_call, reasoning) | `PartStart` |
//! | `output_text.delta`, `refusal.delta` | `TextDelta` |
//! | `function_call_arguments.delta`, `custom_tool_call_input.delta` | `ToolArgsDelta` |
//! | `reasoning_summary_text.delta`, `reasoning_text.delta` | `ReasoningDelta` (summary parts joined by a blank line) |
//! | `output_item.done` | content not streamed as deltas, reasoning `encrypted_content` → `Opaque`, then `PartStop` |
//! | `response.completed` | `Usage`, `Finish` (`ToolCalls` when a call was made, else `Stop`), `End` |
//! | `response.incomplete` | `Usage`, `Finish(Length / ContentFilter / Other)`, `End` |
//! | `response.failed`, `error` | `Usage` (if any), `Error`, `End` |
//!
//! Other item types (hosted tool calls, `compaction`) have no canonical stream form and are
//! skipped. The event type is read from the JSON (`event:` lines are optional).

use super::common::{flat_name, pack_reasoning_state, usage_from_wire};
use super::decode::incomplete_reason;
use super::error::info_from_body;
use super::wire::{code_string, ErrorBody, ResponseHead, StreamEventIn, StreamItemIn, TextPiece};
use crate::canonical::{Cx, ErrorInfo, ErrorKind, FinishReason, Opaque, PartKind, Protocol, StreamEvent, ToolCallKind};
use crate::sse::SseEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenKind {
    Text,
    Reasoning,
    Tool,
}

#[derive(Debug)]
struct Open {
    /// Canonical part index.
    index: usize,
    /// The upstream's `output_index` of the item.
    output_index: Option<u64>,
    kind: OpenKind,
    /// Bytes of content streamed so far (to know whether `.done` must supply it).
    streamed: usize,
    /// Highest reasoning summary part seen (a new one gets a separator).
    summary_index: u64,
}

#[derive(Debug)]
pub struct StreamDecoder {
    started: bool,
    ended: bool,
    next_index: usize,
    open: Option<Open>,
    called: bool,
}

impl StreamDecoder {
    pub fn new(_cx: &Cx) -> StreamDecoder {
        StreamDecoder { started: false, ended: false, next_index: 0, open: None, called: false }
    }

    pub fn push(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) {
        if self.ended {
            return;
        }
        let data = ev.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return;
        }
        let e: StreamEventIn = match serde_json::from_str(data) {
            Ok(e) => e,
            Err(err) => {
                let info =
                    ErrorInfo::new(ErrorKind::UpstreamInvalid, format!("upstream sent a malformed event: {err}"));
                return self.fail(info, out);
            }
        };
        let kind = if e.kind.is_empty() { ev.event.clone().unwrap_or_default() } else { e.kind.clone() };
        match kind.as_str() {
            "response.created" | "response.in_progress" | "response.queued" => {
                let head = e.response.unwrap_or_default();
                self.start(head.id, head.model, out);
            }
            "response.output_item.added" => {
                self.start(None, None, out);
                if let Some(item) = &e.item {
                    self.open_item(item, e.output_index, out);
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                self.delta(OpenKind::Text, e.output_index, e.delta.map(|d| d.0), out)
            }
            "response.function_call_arguments.delta" | "response.custom_tool_call_input.delta" => {
                self.delta(OpenKind::Tool, e.output_index, e.delta.map(|d| d.0), out)
            }
            "response.reasoning_summary_part.added" => {
                let idx = e.summary_index.unwrap_or(0);
                if let Some(open) = self.open.as_mut().filter(|o| o.kind == OpenKind::Reasoning) {
                    if idx > open.summary_index && open.streamed > 0 {
                        let index = open.index;
                        open.streamed += 2;
                        out.push(StreamEvent::ReasoningDelta { index, text: "\n\n".into() });
                    }
                    open.summary_index = open.summary_index.max(idx);
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                self.delta(OpenKind::Reasoning, e.output_index, e.delta.map(|d| d.0), out)
            }
            "response.output_item.done" => {
                self.start(None, None, out);
                if let Some(item) = &e.item {
                    self.done_item(item, e.output_index, out);
                }
            }
            "response.completed" => {
                let head = e.response.unwrap_or_default();
                let finish = if self.called { FinishReason::ToolCalls } else { FinishReason::Stop };
                self.terminal(&head, Some(finish), out);
            }
            "response.incomplete" => {
                let head = e.response.unwrap_or_default();
                let reason = head.incomplete_details.as_ref().and_then(|d| d.reason.as_deref());
                let finish = incomplete_reason(reason);
                self.terminal(&head, Some(finish), out);
            }
            "response.failed" => {
                let head = e.response.unwrap_or_default();
                let body = head.error.clone().unwrap_or_else(|| ErrorBody {
                    message: Some("the upstream response failed".into()),
                    ..ErrorBody::default()
                });
                let info = info_from_body(&body, None);
                self.start(head.id.clone(), head.model.clone(), out);
                if let Some(u) = &head.usage {
                    out.push(StreamEvent::Usage(usage_from_wire(u)));
                }
                self.fail(info, out);
            }
            "error" => {
                let body = e.error.clone().unwrap_or(ErrorBody {
                    message: e.message.clone(),
                    kind: None,
                    param: e.param.clone(),
                    code: e.code.clone(),
                });
                let mut info = info_from_body(&body, None);
                if info.message.is_empty() {
                    info.message = code_string(&body.code).unwrap_or_else(|| "upstream stream error".into());
                }
                self.fail(info, out);
            }
            // content_part.*, output_text.done, *.done, annotations, in-progress hosted calls…
            _ => {}
        }
    }

    /// End of the upstream body.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.ended {
            let info = ErrorInfo::new(ErrorKind::UpstreamInvalid, "upstream stream ended before response.completed");
            self.fail(info, out);
        }
    }

    fn start(&mut self, id: Option<String>, model: Option<String>, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start { id: id.unwrap_or_default(), model: model.unwrap_or_default() });
        }
    }

    fn fail(&mut self, info: ErrorInfo, out: &mut Vec<StreamEvent>) {
        self.start(None, None, out);
        out.push(StreamEvent::Error(info));
        out.push(StreamEvent::End);
        self.ended = true;
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(open) = self.open.take() {
            out.push(StreamEvent::PartStop { index: open.index });
        }
    }

    fn begin(&mut self, kind: OpenKind, part: PartKind, output_index: Option<u64>, out: &mut Vec<StreamEvent>) {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        out.push(StreamEvent::PartStart { index, kind: part });
        self.open = Some(Open { index, output_index, kind, streamed: 0, summary_index: 0 });
    }

    /// The part kind for an item, or `None` for item types with no canonical form.
    fn part_kind(&mut self, item: &StreamItemIn) -> Option<(OpenKind, PartKind)> {
        match item.kind.as_str() {
            "message" => Some((OpenKind::Text, PartKind::Text)),
            "reasoning" => Some((OpenKind::Reasoning, PartKind::Reasoning { redacted: false })),
            "function_call" | "custom_tool_call" => {
                self.called = true;
                let kind = if item.kind == "custom_tool_call" { ToolCallKind::Custom } else { ToolCallKind::Function };
                Some((
                    OpenKind::Tool,
                    PartKind::ToolCall {
                        id: item.call_id.clone().or_else(|| item.id.clone()).unwrap_or_default(),
                        name: flat_name(item.namespace.as_deref(), item.name.as_deref().unwrap_or("")),
                        kind,
                        opaque: None,
                    },
                ))
            }
            _ => None,
        }
    }

    fn open_item(&mut self, item: &StreamItemIn, output_index: Option<u64>, out: &mut Vec<StreamEvent>) {
        self.close(out);
        if let Some((kind, part)) = self.part_kind(item) {
            self.begin(kind, part, output_index, out);
        }
    }

    fn delta(&mut self, kind: OpenKind, output_index: Option<u64>, delta: Option<String>, out: &mut Vec<StreamEvent>) {
        let Some(text) = delta.filter(|d| !d.is_empty()) else { return };
        self.start(None, None, out);
        let matches = self.open.as_ref().is_some_and(|o| {
            o.kind == kind && (output_index.is_none() || o.output_index.is_none() || o.output_index == output_index)
        });
        if !matches {
            // A delta for an item we never saw added: open a part for it (tools cannot be
            // opened without a name, so their stray deltas are dropped).
            let part = match kind {
                OpenKind::Text => PartKind::Text,
                OpenKind::Reasoning => PartKind::Reasoning { redacted: false },
                OpenKind::Tool => return,
            };
            self.begin(kind, part, output_index, out);
        }
        let Some(open) = self.open.as_mut() else { return };
        open.streamed += text.len();
        let index = open.index;
        out.push(match kind {
            OpenKind::Text => StreamEvent::TextDelta { index, text },
            OpenKind::Reasoning => StreamEvent::ReasoningDelta { index, text },
            OpenKind::Tool => StreamEvent::ToolArgsDelta { index, delta: text },
        });
    }

    fn done_item(&mut self, item: &StreamItemIn, output_index: Option<u64>, out: &mut Vec<StreamEvent>) {
        let same = self.open.as_ref().is_some_and(|o| o.output_index.is_none() || o.output_index == output_index);
        if !same {
            // Not announced by `output_item.added`: open it now, from the complete item.
            self.close(out);
            let Some((kind, part)) = self.part_kind(item) else { return };
            self.begin(kind, part, output_index, out);
        }
        let Some(open) = self.open.as_ref() else { return };
        let (index, streamed, kind) = (open.index, open.streamed, open.kind);
        if streamed == 0 {
            let full = match kind {
                OpenKind::Text => join(&item.content, ""),
                OpenKind::Reasoning if !item.summary.is_empty() => join(&item.summary, "\n\n"),
                OpenKind::Reasoning => join(&item.content, ""),
                OpenKind::Tool if item.kind == "custom_tool_call" => item.input.clone().unwrap_or_default(),
                OpenKind::Tool => item.arguments.as_ref().map(|a| a.0.clone()).unwrap_or_default(),
            };
            if !full.is_empty() {
                out.push(match kind {
                    OpenKind::Text => StreamEvent::TextDelta { index, text: full },
                    OpenKind::Reasoning => StreamEvent::ReasoningDelta { index, text: full },
                    OpenKind::Tool => StreamEvent::ToolArgsDelta { index, delta: full },
                });
            }
        }
        if kind == OpenKind::Reasoning {
            if let Some(enc) = item.encrypted_content.as_deref().filter(|e| !e.is_empty()) {
                let payload = pack_reasoning_state(item.id.as_deref(), enc);
                out.push(StreamEvent::Opaque { index, opaque: Opaque::new(Protocol::OpenaiResponses, payload) });
            }
        }
        self.close(out);
    }

    fn terminal(&mut self, head: &ResponseHead, finish: Option<FinishReason>, out: &mut Vec<StreamEvent>) {
        self.start(head.id.clone(), head.model.clone(), out);
        self.close(out);
        if let Some(u) = &head.usage {
            out.push(StreamEvent::Usage(usage_from_wire(u)));
        }
        if let Some(f) = finish {
            out.push(StreamEvent::Finish(f));
        }
        out.push(StreamEvent::End);
        self.ended = true;
    }
}

fn join(pieces: &[TextPiece], sep: &str) -> String {
    pieces.iter().map(TextPiece::text).collect::<Vec<_>>().join(sep)
}
