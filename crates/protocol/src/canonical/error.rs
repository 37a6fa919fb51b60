//! Errors as the protocols see them.
//!
//! `ProtocolError` is what adapter functions return. `ErrorInfo` is a protocol-neutral error
//! that each protocol's `error.rs` can encode into its own body shape (and decode from an
//! upstream's error body), so an Anthropic upstream's `overloaded_error` reaches a Chat client
//! as an OpenAI-shaped 529/503 with the same meaning.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtocolError {
    /// The client's payload is not valid for its protocol (→ 400).
    #[error("{message}")]
    InvalidRequest { message: String, param: Option<String> },
    /// A field the upstream protocol cannot carry and that must not be dropped (→ 400).
    #[error("`{field}` is not supported when translating to this provider: {reason}")]
    Unsupported { field: String, reason: String },
    /// The upstream's payload is not what its protocol promises (→ 502).
    #[error("upstream sent an invalid response: {message}")]
    InvalidResponse { message: String },
}

impl ProtocolError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ProtocolError::InvalidRequest { message: message.into(), param: None }
    }
    pub fn invalid_param(param: impl Into<String>, message: impl Into<String>) -> Self {
        ProtocolError::InvalidRequest { message: message.into(), param: Some(param.into()) }
    }
    pub fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ProtocolError::Unsupported { field: field.into(), reason: reason.into() }
    }
    pub fn bad_upstream(message: impl Into<String>) -> Self {
        ProtocolError::InvalidResponse { message: message.into() }
    }

    /// The protocol-neutral form, for encoding in the client's error shape.
    pub fn to_info(&self) -> ErrorInfo {
        match self {
            ProtocolError::InvalidRequest { message, param } => ErrorInfo {
                kind: ErrorKind::InvalidRequest,
                message: message.clone(),
                param: param.clone(),
                code: None,
                status: 400,
            },
            ProtocolError::Unsupported { field, .. } => ErrorInfo {
                kind: ErrorKind::InvalidRequest,
                message: self.to_string(),
                param: Some(field.clone()),
                code: Some("unsupported_parameter".into()),
                status: 400,
            },
            ProtocolError::InvalidResponse { .. } => ErrorInfo {
                kind: ErrorKind::UpstreamInvalid,
                message: self.to_string(),
                param: None,
                code: None,
                status: 502,
            },
        }
    }
}

/// The meaning of an error, independent of any protocol's spelling of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    PermissionDenied,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    /// Budget, credit or upstream quota exhausted.
    QuotaExceeded,
    ContextLengthExceeded,
    Overloaded,
    /// The upstream did not answer in time (504).
    Timeout,
    /// The whole non-streamed request took longer than the gateway allows (408; the client
    /// should stream instead).
    RequestTimeout,
    /// Upstream unreachable.
    UpstreamUnavailable,
    /// Upstream answered with something that does not parse.
    UpstreamInvalid,
    Internal,
}

impl ErrorKind {
    /// The HTTP status crossbar uses when it produces this error itself.
    /// (Upstream errors keep the upstream's status.)
    pub fn default_status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::QuotaExceeded => 402,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::RateLimited => 429,
            ErrorKind::ContextLengthExceeded => 400,
            ErrorKind::Overloaded => 503,
            ErrorKind::Timeout => 504,
            ErrorKind::RequestTimeout => 408,
            ErrorKind::UpstreamUnavailable => 502,
            ErrorKind::UpstreamInvalid => 502,
            ErrorKind::Internal => 500,
        }
    }

    /// Low-cardinality name for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Authentication => "authentication",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::NotFound => "not_found",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::QuotaExceeded => "quota_exceeded",
            ErrorKind::ContextLengthExceeded => "context_length_exceeded",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Timeout => "timeout",
            ErrorKind::RequestTimeout => "request_timeout",
            ErrorKind::UpstreamUnavailable => "upstream_unavailable",
            ErrorKind::UpstreamInvalid => "upstream_invalid",
            ErrorKind::Internal => "internal",
        }
    }

    /// Best guess from a bare HTTP status (used when an upstream body says nothing more).
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            400 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            402 => ErrorKind::QuotaExceeded,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            413 => ErrorKind::PayloadTooLarge,
            429 => ErrorKind::RateLimited,
            503 | 529 => ErrorKind::Overloaded,
            502 => ErrorKind::UpstreamUnavailable,
            _ => ErrorKind::Internal,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub kind: ErrorKind,
    pub message: String,
    /// The offending request field, where known (OpenAI `param`).
    pub param: Option<String>,
    /// A machine code where the source had one (`context_length_exceeded`, `rate_limit_exceeded`).
    pub code: Option<String>,
    /// HTTP status to answer with.
    pub status: u16,
}

impl ErrorInfo {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ErrorInfo {
        ErrorInfo { kind, message: message.into(), param: None, code: None, status: kind.default_status() }
    }
}
