//! Wire types of the gemini protocol.
