//! A whole response from a stream: folds `StreamEvent`s into a `Response`, for an upstream that
//! only streams (the Codex backend) answering a client that did not ask for a stream.
//! Relies on the event grammar (`event.rs`): parts by index, deltas after their `PartStart`,
//! `Usage` merged, `Error` terminal.
//! Must never: invent content; a stream cut before its end or ended by an error is an `Err`.

use super::error::ErrorInfo;
use super::event::{PartKind, StreamEvent};
use super::request::{Part, Reasoning, ToolCall};
use super::response::Response;
use super::ErrorKind;

#[derive(Debug, Default)]
pub struct Collector {
    resp: Response,
    /// The output index of each part in `resp.parts`, in order.
    indices: Vec<usize>,
    error: Option<ErrorInfo>,
    ended: bool,
}

impl Collector {
    pub fn push(&mut self, ev: StreamEvent) {
        match ev {
            StreamEvent::Start { id, model } => {
                self.resp.id = id;
                self.resp.model = model;
            }
            StreamEvent::PartStart { index, kind } => {
                let part = match kind {
                    PartKind::Text => Part::text(""),
                    PartKind::Reasoning { redacted } => Part::Reasoning(Reasoning { redacted, ..Reasoning::default() }),
                    PartKind::ToolCall { id, name, kind, opaque } => {
                        Part::ToolCall(ToolCall { id, name, arguments: String::new(), kind, opaque })
                    }
                };
                self.resp.parts.push(part);
                self.indices.push(index);
            }
            StreamEvent::TextDelta { index, text }
            | StreamEvent::ReasoningDelta { index, text }
            | StreamEvent::ToolArgsDelta { index, delta: text } => match self.part(index) {
                Some(Part::Text { text: t, .. }) => t.push_str(&text),
                Some(Part::Reasoning(r)) => r.text.push_str(&text),
                Some(Part::ToolCall(c)) => c.arguments.push_str(&text),
                _ => {}
            },
            StreamEvent::Opaque { index, opaque } => match self.part(index) {
                Some(Part::Reasoning(r)) => r.opaque = Some(opaque),
                Some(Part::ToolCall(c)) => c.opaque = Some(opaque),
                _ => {}
            },
            StreamEvent::PartStop { .. } => {}
            StreamEvent::Usage(u) => self.resp.usage.merge(&u),
            StreamEvent::Finish(f) => self.resp.finish = Some(f),
            StreamEvent::Error(e) => self.error = Some(e),
            StreamEvent::End => self.ended = true,
        }
    }

    fn part(&mut self, index: usize) -> Option<&mut Part> {
        let at = self.indices.iter().rposition(|i| *i == index)?;
        self.resp.parts.get_mut(at)
    }

    /// The response, or the error the stream ended with (a cut stream is one too).
    pub fn finish(self) -> Result<Response, ErrorInfo> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if !self.ended {
            return Err(ErrorInfo::new(
                ErrorKind::UpstreamInvalid,
                "the upstream stream ended before the response was complete",
            ));
        }
        Ok(self.resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{FinishReason, Opaque, Origin, ToolCallKind, Usage};

    #[test]
    fn parts_deltas_usage_and_finish_make_the_response() {
        let mut c = Collector::default();
        let usage = |i, o| Usage { input: Some(i), output: Some(o), ..Usage::default() };
        for ev in [
            StreamEvent::Start { id: "r1".into(), model: "m".into() },
            StreamEvent::Usage(usage(10, 0)),
            StreamEvent::PartStart { index: 0, kind: PartKind::Reasoning { redacted: false } },
            StreamEvent::ReasoningDelta { index: 0, text: "think".into() },
            StreamEvent::Opaque { index: 0, opaque: Opaque::new(Origin::OpenaiResponses, "enc") },
            StreamEvent::PartStop { index: 0 },
            StreamEvent::PartStart { index: 1, kind: PartKind::Text },
            StreamEvent::TextDelta { index: 1, text: "hel".into() },
            StreamEvent::TextDelta { index: 1, text: "lo".into() },
            StreamEvent::PartStop { index: 1 },
            StreamEvent::PartStart {
                index: 2,
                kind: PartKind::ToolCall {
                    id: "c1".into(),
                    name: "f".into(),
                    kind: ToolCallKind::Function,
                    opaque: None,
                },
            },
            StreamEvent::ToolArgsDelta { index: 2, delta: "{\"a\":".into() },
            StreamEvent::ToolArgsDelta { index: 2, delta: "1}".into() },
            StreamEvent::PartStop { index: 2 },
            StreamEvent::Finish(FinishReason::ToolCalls),
            StreamEvent::Usage(usage(10, 7)),
            StreamEvent::End,
        ] {
            c.push(ev);
        }
        let r = c.finish().expect("complete");
        assert_eq!((r.id.as_str(), r.model.as_str()), ("r1", "m"));
        assert_eq!(r.finish, Some(FinishReason::ToolCalls));
        assert_eq!((r.usage.input, r.usage.output), (Some(10), Some(7)));
        let Part::Reasoning(think) = &r.parts[0] else { panic!("{:?}", r.parts) };
        assert_eq!((think.text.as_str(), think.opaque.as_ref().map(|o| o.payload.as_str())), ("think", Some("enc")));
        assert_eq!(r.parts[1], Part::text("hello"));
        let Part::ToolCall(call) = &r.parts[2] else { panic!("{:?}", r.parts) };
        assert_eq!((call.id.as_str(), call.name.as_str(), call.arguments.as_str()), ("c1", "f", "{\"a\":1}"));
    }

    #[test]
    fn an_error_or_a_cut_stream_is_an_error() {
        let mut c = Collector::default();
        c.push(StreamEvent::PartStart { index: 0, kind: PartKind::Text });
        c.push(StreamEvent::TextDelta { index: 0, text: "partial".into() });
        assert_eq!(c.finish().expect_err("cut").kind, ErrorKind::UpstreamInvalid);
        let mut c = Collector::default();
        c.push(StreamEvent::Error(ErrorInfo::new(ErrorKind::RateLimited, "slow down")));
        c.push(StreamEvent::End);
        assert_eq!(c.finish().expect_err("error").kind, ErrorKind::RateLimited);
    }
}
