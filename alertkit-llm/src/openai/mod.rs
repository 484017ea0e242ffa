//! The OpenAI-compatible LLM classifier (work in progress).
