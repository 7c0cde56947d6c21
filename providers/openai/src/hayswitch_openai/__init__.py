"""hayswitch provider for OpenAI and OpenAI-compatible servers (vLLM, SGLang, TGI, llama.cpp
server, Ollama, LM Studio). Importing this package does not import the ``openai`` SDK."""

from __future__ import annotations

from hayswitch_openai.provider import (
    JsonSchemaFormat,
    OpenAIGenerationOptions,
    OpenAIProvider,
    OpenAISettings,
)

__all__ = ["JsonSchemaFormat", "OpenAIGenerationOptions", "OpenAIProvider", "OpenAISettings"]
