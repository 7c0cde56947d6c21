"""Fixtures for the Haystack component tests: a second provider to swap to, and helpers.

``alt`` is a small in-process provider (registered per test, since the suite-wide autouse fixture
resets the registry): its vectors and replies differ from ``fake``'s, it cannot stream, and it
declares ``max_batch_size=3`` and ``max_concurrency=2`` so that capping and defaults are visible.
"""

from __future__ import annotations

import math
import threading
from typing import ClassVar

import pytest
from pydantic import Field

import hayswitch
from hayswitch import (
    Capabilities,
    EmbeddingResult,
    GenerationOptions,
    GenerationResult,
    InputType,
    Message,
    Provider,
    ProviderSettings,
    Secret,
    Usage,
)

NO_RETRY = {"max_attempts": 1}


class AltSettings(ProviderSettings):
    dimension: int = Field(default=8, gt=0)
    embedding_model: str = "alt-embed"
    chat_model: str = "alt-chat"
    token: Secret | None = None


class AltOptions(GenerationOptions):
    shout: bool = False


class AltProvider(Provider):
    """Deterministic test provider, different from ``fake`` in every output."""

    name: ClassVar[str] = "alt"
    settings_model: ClassVar[type[ProviderSettings]] = AltSettings
    options_model: ClassVar[type[GenerationOptions]] = AltOptions
    capabilities: ClassVar[Capabilities] = Capabilities(
        embeddings=True, generation=True, streaming=False, max_batch_size=3, max_concurrency=2, deterministic=True
    )
    embedding_model_setting: ClassVar[str | None] = "embedding_model"
    generation_model_setting: ClassVar[str | None] = "chat_model"
    settings: AltSettings

    def setup(self) -> None:
        self.batches: list[list[str]] = []
        self._lock = threading.Lock()
        self.token = self.settings.token.resolve_value() if self.settings.token is not None else None

    @property
    def embedding_dimension(self) -> int:
        return self.settings.dimension

    def _embed(self, texts: list[str], *, input_type: InputType) -> EmbeddingResult:
        with self._lock:
            self.batches.append(list(texts))
        dim = self.settings.dimension
        vectors = []
        for text in texts:
            raw = [float((len(text) * (i + 1)) % 7 + 1) for i in range(dim)]
            norm = math.sqrt(sum(x * x for x in raw))
            vectors.append([x / norm for x in raw])
        return EmbeddingResult(
            vectors=vectors, model=self.settings.embedding_model, usage=Usage(prompt_tokens=len(texts))
        )

    def _generate(self, messages: list[Message], options: GenerationOptions) -> GenerationResult:
        assert isinstance(options, AltOptions)
        text = "ALT " + messages[-1].content
        text = text.upper() if options.shout else text
        return GenerationResult(
            text=text,
            finish_reason="stop",
            model=self.settings.chat_model,
            usage=Usage(prompt_tokens=len(messages), completion_tokens=len(text.split())),
        )


class EmbedOnlyProvider(Provider):
    """A provider without generation (for the capability checks)."""

    name: ClassVar[str] = "embed-only"
    capabilities: ClassVar[Capabilities] = Capabilities(embeddings=True, embedding_dimension=4)

    def _embed(self, texts: list[str], *, input_type: InputType) -> EmbeddingResult:
        return EmbeddingResult(vectors=[[0.5, 0.5, 0.5, 0.5] for _ in texts], model="embed-only")


@pytest.fixture
def alt(_isolated_hayswitch_env: None) -> type[AltProvider]:
    """Register the ``alt`` and ``embed-only`` providers next to the installed ones."""
    registry = hayswitch.get_registry()
    registry.register(AltProvider)
    registry.register(EmbedOnlyProvider)
    return AltProvider
