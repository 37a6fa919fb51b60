//! openai_responses wire → canonical.

use crate::canonical::{Cx, ProtocolError, Request, Response};

pub fn decode_request(_body: &[u8], _cx: &Cx) -> Result<Request, ProtocolError> {
    Err(ProtocolError::unsupported("openai_responses", "adapter under construction"))
}

pub fn decode_response(_body: &[u8], _cx: &Cx) -> Result<Response, ProtocolError> {
    Err(ProtocolError::bad_upstream("openai_responses adapter under construction"))
}
