//! The stream IR: what every upstream stream decodes into and every client stream encodes from.
//!
//! Grammar (stream_in decoders must produce it, stream_out encoders may rely on it):
//!
//! ```text
//! Start  ( PartStart (TextDelta|ReasoningDelta|ToolArgsDelta|Opaque)* PartStop | Usage )*
//!        Finish? Usage? ( Error )? End
//! ```
//! - `index` is the part's position in the response output, 0, 1, 2, … in order.
//! - Parts are sequential: a decoder closes the open part (`PartStop`) before it starts the next,
//!   buffering interleaved upstream deltas if it must. Encoders may assume one open part.
//! - `Usage` may come early (Anthropic `message_start`) and again later; later values
//!   `Usage::merge` over earlier ones.
//! - `Error` is terminal: nothing but `End` follows it. Encoders turn it into the client
//!   protocol's own error event (`response.failed`, Anthropic `error`, a Chat error chunk).
//! - `End` comes exactly once, last. A decoder's `finish()` emits it if the upstream never said
//!   it was done (then preceded by an `Error` of kind `UpstreamInvalid`: the stream was cut).

use super::error::ErrorInfo;
use super::opaque::Opaque;
use super::request::ToolCallKind;
use super::response::FinishReason;
use super::usage::Usage;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    Start {
        id: String,
        model: String,
    },
    PartStart {
        index: usize,
        kind: PartKind,
    },
    TextDelta {
        index: usize,
        text: String,
    },
    /// Reasoning / thinking text (or Responses summary text).
    ReasoningDelta {
        index: usize,
        text: String,
    },
    /// A fragment of the tool call's arguments (raw JSON text; raw input for custom tools).
    ToolArgsDelta {
        index: usize,
        delta: String,
    },
    /// Provider state for the part at `index` (Anthropic `signature_delta`, Gemini
    /// `thoughtSignature`, Responses `encrypted_content`). Replaces any earlier one.
    Opaque {
        index: usize,
        opaque: Opaque,
    },
    PartStop {
        index: usize,
    },
    Usage(Usage),
    Finish(FinishReason),
    Error(ErrorInfo),
    End,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "part", rename_all = "snake_case")]
pub enum PartKind {
    Text,
    Reasoning {
        #[serde(default)]
        redacted: bool,
    },
    ToolCall {
        id: String,
        /// Flat name (see `ToolIndex`).
        name: String,
        #[serde(default)]
        kind: ToolCallKind,
        /// The call's provider state when it is known at the start (Gemini sends calls whole,
        /// `thoughtSignature` included). Client encoders that carry call state in the call id
        /// (see `opaque`) need it here, before they write the id; an `Opaque` event for a call
        /// comes too late for them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        opaque: Option<Opaque>,
    },
}
