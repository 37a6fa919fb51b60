//! Wire types of the anthropic protocol.
