//! Upstream gemini SSE → canonical stream events.

use crate::canonical::{Cx, StreamEvent};
use crate::sse::SseEvent;

#[derive(Debug)]
pub struct StreamDecoder {}

impl StreamDecoder {
    pub fn new(_cx: &Cx) -> StreamDecoder {
        StreamDecoder {}
    }
    pub fn push(&mut self, _ev: &SseEvent, _out: &mut Vec<StreamEvent>) {}
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        out.push(StreamEvent::End);
    }
}
