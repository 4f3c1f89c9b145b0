"""The OpenAI-compatible API: chat completions and model ids over the tutor service."""
