"""Provider-neutral data types of the protocol (no Haystack import here)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "Capabilities",
    "EmbeddingResult",
    "FinishReason",
    "GenerationChunk",
    "GenerationOptions",
    "GenerationResult",
    "Message",
    "Role",
    "TextEmbedding",
    "Usage",
]

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "content_filter", "error", "unknown"]


class Message(BaseModel):
    """One chat message: a role and its text content."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str

    @classmethod
    def system(cls, content: str) -> Message:
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls(role="user", content=content)

    @classmethod
    def assistant(cls, content: str) -> Message:
        return cls(role="assistant", content=content)


class Usage(BaseModel):
    """Token (or input) counts reported by the backend, when it reports them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None

    def __add__(self, other: Usage) -> Usage:
        def add(a: int | None, b: int | None) -> int | None:
            if a is None and b is None:
                return None
            return (a or 0) + (b or 0)

        return Usage(
            prompt_tokens=add(self.prompt_tokens, other.prompt_tokens),
            completion_tokens=add(self.completion_tokens, other.completion_tokens),
            total_tokens=add(self.total_tokens, other.total_tokens),
        )


class EmbeddingResult(BaseModel):
    """Vectors for a list of texts, in input order."""

    model_config = ConfigDict(extra="forbid")

    vectors: list[list[float]]
    model: str
    usage: Usage | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def dimension(self) -> int | None:
        return len(self.vectors[0]) if self.vectors else None


class TextEmbedding(BaseModel):
    """The vector for a single (query) text."""

    model_config = ConfigDict(extra="forbid")

    vector: list[float]
    model: str
    usage: Usage | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def dimension(self) -> int:
        return len(self.vector)


class GenerationResult(BaseModel):
    """The outcome of :meth:`hayswitch.Provider.generate`."""

    model_config = ConfigDict(extra="forbid")

    text: str
    finish_reason: FinishReason
    model: str
    usage: Usage | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class GenerationChunk(BaseModel):
    """One piece of a streamed generation. The last chunk carries ``finish_reason`` (and usage
    when the backend reports it)."""

    model_config = ConfigDict(extra="forbid")

    text: str
    index: int = 0
    finish_reason: FinishReason | None = None
    model: str | None = None
    usage: Usage | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class GenerationOptions(BaseModel):
    """Common generation options. Providers subclass it to add their own (and may restrict these
    with validators). Unknown options are refused (``extra="forbid"``), before any request."""

    model_config = ConfigDict(extra="forbid")

    max_tokens: int | None = Field(default=None, gt=0, description="Maximum number of generated tokens.")
    temperature: float | None = Field(default=None, ge=0, le=2, description="Sampling temperature.")
    top_p: float | None = Field(default=None, gt=0, le=1, description="Nucleus sampling mass.")
    stop: list[str] | None = Field(default=None, description="Stop sequences.")
    seed: int | None = Field(default=None, description="Seed for reproducible sampling, where supported.")

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        return value


class Capabilities(BaseModel):
    """What a provider can do, declared on the class.

    :param embeddings: supports ``embed_documents`` / ``embed_text``.
    :param generation: supports ``generate``.
    :param streaming: supports ``stream`` (true token streaming).
    :param fine_tuning: implements :class:`hayswitch.FineTuning`.
    :param max_batch_size: most inputs accepted in one embedding request.
    :param embedding_dimension: vector size when known up front (None: depends on the model).
    :param normalized_embeddings: vectors are L2-normalised.
    :param long_text: what happens to text longer than the model's window: ``"truncate"``
        (silently, by the backend) or ``"error"`` (an :class:`~hayswitch.errors.InvalidInputError`).
    :param max_concurrency: default number of concurrent embedding requests.
    :param native_async: async twins use a real async client rather than threads.
    :param deterministic: the same input gives the same output (vectors; text at temperature 0).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    embeddings: bool = False
    generation: bool = False
    streaming: bool = False
    fine_tuning: bool = False
    max_batch_size: int = Field(default=32, gt=0)
    embedding_dimension: int | None = Field(default=None, gt=0)
    normalized_embeddings: bool = False
    long_text: Literal["truncate", "error"] = "truncate"
    max_concurrency: int = Field(default=1, gt=0)
    native_async: bool = False
    deterministic: bool = False

    def names(self) -> list[str]:
        """The supported features as short names (for tables)."""
        flags = ["embeddings", "generation", "streaming", "fine_tuning"]
        return [f for f in flags if getattr(self, f)]
