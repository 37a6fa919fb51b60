//! What a translation could not carry. Harmless drops are collected here and reported to the
//! client in the `x-crossbar-dropped` response header; fatal ones are `ProtocolError::Unsupported`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loss {
    /// The client-visible field name, e.g. `logprobs`, `tools[2].cache_control`.
    pub field: String,
    pub reason: String,
}

impl Loss {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Loss {
        Loss { field: field.into(), reason: reason.into() }
    }
}
