"""Hugging Face checkpoint → GGUF conversion (seedchat.converters)."""
