"""hayswitch-local: the embedded, offline default provider of hayswitch.

::

    import hayswitch

    provider = hayswitch.get_provider()          # "local" when nothing is configured
    provider.embed_text("How do I add a provider?").vector  # 384 floats
    provider.generate("Say hello.").text
"""

from __future__ import annotations

from hayswitch_local.models import (
    DEFAULT_CHAT_MODEL,
    DEFAULT_EMBEDDING_DIMENSION,
    DEFAULT_EMBEDDING_MODEL,
    clear_model_cache,
    resolve_chat_model,
    resolve_embedding_model,
)
from hayswitch_local.provider import HEAVY_MODULES, LocalGenerationOptions, LocalProvider, LocalSettings

__all__ = [
    "DEFAULT_CHAT_MODEL",
    "DEFAULT_EMBEDDING_DIMENSION",
    "DEFAULT_EMBEDDING_MODEL",
    "HEAVY_MODULES",
    "LocalGenerationOptions",
    "LocalProvider",
    "LocalSettings",
    "clear_model_cache",
    "resolve_chat_model",
    "resolve_embedding_model",
]
