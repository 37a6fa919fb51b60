//! gemini wire → canonical.

use crate::canonical::{Cx, ProtocolError, Request, Response};

pub fn decode_request(_body: &[u8], _cx: &Cx) -> Result<Request, ProtocolError> {
    Err(ProtocolError::unsupported("gemini", "adapter under construction"))
}

pub fn decode_response(_body: &[u8], _cx: &Cx) -> Result<Response, ProtocolError> {
    Err(ProtocolError::bad_upstream("gemini adapter under construction"))
}
