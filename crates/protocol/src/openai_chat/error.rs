//! openai_chat error bodies.

use crate::canonical::{ErrorInfo, ErrorKind};

pub fn encode_error(err: &ErrorInfo) -> Vec<u8> {
    serde_json::json!({"error": {"message": err.message}}).to_string().into_bytes()
}

pub fn decode_error(status: u16, body: &[u8]) -> ErrorInfo {
    let mut e = ErrorInfo::new(ErrorKind::from_status(status), String::from_utf8_lossy(body));
    e.status = status;
    e
}
