//! crossbar-mock: a fake provider speaking OpenAI Chat, OpenAI Responses, Anthropic Messages
//! and Gemini, streaming and not.
