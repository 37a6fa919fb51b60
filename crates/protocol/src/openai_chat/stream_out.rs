//! Canonical stream events → openai_chat client stream.

use crate::canonical::{Cx, StreamEvent};
use bytes::BytesMut;

#[derive(Debug)]
pub struct StreamEncoder {}

impl StreamEncoder {
    pub fn new(_cx: &Cx) -> StreamEncoder {
        StreamEncoder {}
    }
    pub fn push(&mut self, _ev: &StreamEvent, _out: &mut BytesMut) {}
    pub fn finish(&mut self, _out: &mut BytesMut) {}
}
