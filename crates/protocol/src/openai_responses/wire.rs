//! Wire types of the openai_responses protocol.
