//! Wire types of the openai_chat protocol.
