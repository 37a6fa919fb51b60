//! canonical → openai_chat wire.

use crate::canonical::{Cx, ProtocolError, Request, Response};
use crate::EncodedRequest;

pub fn encode_request(_req: &Request, _cx: &Cx) -> Result<EncodedRequest, ProtocolError> {
    Err(ProtocolError::unsupported("openai_chat", "adapter under construction"))
}

pub fn encode_response(_resp: &Response, _cx: &Cx) -> Result<Vec<u8>, ProtocolError> {
    Err(ProtocolError::unsupported("openai_chat", "adapter under construction"))
}
