"""The ``fake`` provider: deterministic, offline, instant. Ships with core.

* Embeddings are hash-seeded feature-hashing vectors: every word and its character trigrams are
  hashed (BLAKE2b) into signed buckets, then L2-normalised. The same text always gives the same
  vector, in every process, and texts sharing words are closer than unrelated ones, so retrieval
  over fake vectors behaves plausibly in tests.
* Generation echoes the last user message (``"Echo: ..."``), cut at ``max_tokens`` words or at a
  stop sequence, with word-count usage; streaming yields one word per chunk.
* Faults can be injected for tests: ``fail_first`` (the first N requests fail), ``fail_on`` (any
  request whose text contains one of these substrings fails) with the error kind ``fail_with``,
  plus fixed ``latency`` per request. With ``timeout`` set, a request whose latency exceeds it
  fails with :class:`~hayswitch.errors.ProviderTimeoutError` after ``timeout`` seconds, like a
  real client; ``fail_with="wrong_count"`` returns one vector too few (caught by the base class).

Registered through the ``hayswitch`` entry point ``fake = "hayswitch.providers.fake"``, exactly
like a third-party plugin.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import ClassVar, Literal

from pydantic import Field

from hayswitch.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ResponseError,
    ServerError,
)
from hayswitch.hookspecs import hookimpl
from hayswitch.provider import InputType, Provider, ProviderSettings
from hayswitch.secrets import Secret
from hayswitch.types import (
    Capabilities,
    EmbeddingResult,
    GenerationChunk,
    GenerationOptions,
    GenerationResult,
    Message,
    Usage,
)

__all__ = ["FakeProvider", "FakeSettings", "fake_embedding"]

FailKind = Literal[
    "rate_limit", "server", "timeout", "connection", "auth", "invalid", "not_found", "response", "wrong_count"
]
_WORD = re.compile(r"\w+", re.UNICODE)


class FakeSettings(ProviderSettings):
    """Settings of the ``fake`` provider."""

    dimension: int = Field(default=64, gt=0, le=8192, description="Embedding dimension.")
    embedding_model: str = Field(default="fake-embed", min_length=1)
    chat_model: str = Field(default="fake-chat", min_length=1)
    max_tokens: int = Field(default=64, gt=0, description="Default maximum reply length, in words.")
    api_key: Secret | None = Field(default=None, description="Optional; resolved (and required) at creation if set.")
    latency: float = Field(default=0.0, ge=0, le=60, description="Seconds of delay per request.")
    timeout: float | None = Field(default=None, gt=0, description="Per-request timeout in seconds (None: no limit).")
    fail_first: int = Field(default=0, ge=0, description="The first N requests fail with `fail_with`.")
    fail_on: list[str] = Field(default_factory=list, description="Requests containing any of these substrings fail.")
    fail_with: FailKind = "server"
    retry_after: float | None = Field(default=None, ge=0, description="Retry-After carried by injected 429s.")
    max_batch_size: int | None = Field(
        default=None, gt=0, le=64, description="Most texts per request (default 64); lower it to act as a small server."
    )


def fake_embedding(text: str, dimension: int, model: str = "fake-embed") -> list[float]:
    """The fake provider's vector for ``text`` (pure function, stable across processes)."""
    vec = [0.0] * dimension
    for word in _WORD.findall(text.lower()):
        features = [(word, 1.0)] + [(word[i : i + 3], 0.35) for i in range(max(0, len(word) - 2))]
        for feature, weight in features:
            digest = hashlib.blake2b(f"{model}\x00{feature}".encode(), digest_size=8).digest()
            value = int.from_bytes(digest, "little")
            vec[value % dimension] += weight if (value >> 63) & 1 else -weight
    if not any(vec):
        seed = hashlib.blake2b(f"{model}\x01{text}".encode(), digest_size=64).digest()
        stream = b""
        counter = 0
        while len(stream) < dimension:
            stream += hashlib.blake2b(seed + counter.to_bytes(4, "little"), digest_size=64).digest()
            counter += 1
        vec = [(b - 127.5) / 127.5 for b in stream[:dimension]]
    norm = math.sqrt(sum(x * x for x in vec))
    return [x / norm for x in vec]


class FakeProvider(Provider):
    """Deterministic offline provider for tests, demos and CI."""

    name: ClassVar[str] = "fake"
    settings_model: ClassVar[type[ProviderSettings]] = FakeSettings
    options_model: ClassVar[type[GenerationOptions]] = GenerationOptions
    capabilities: ClassVar[Capabilities] = Capabilities(
        embeddings=True,
        generation=True,
        streaming=True,
        max_batch_size=64,
        normalized_embeddings=True,
        long_text="truncate",
        max_concurrency=4,
        deterministic=True,
    )
    embedding_model_setting: ClassVar[str | None] = "embedding_model"
    generation_model_setting: ClassVar[str | None] = "chat_model"
    vector_settings: ClassVar[tuple[str, ...]] = ("dimension",)
    scrub_headers: ClassVar[tuple[str, ...]] = ("authorization", "x-api-key")

    settings: FakeSettings

    def setup(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        """Requests made so far (embedding batches plus generations)."""
        self.embedded_texts = 0
        if self.settings.api_key is not None:
            self._api_key = self.settings.api_key.resolve_value()

    @property
    def embedding_dimension(self) -> int:
        return self.settings.dimension

    @property
    def max_batch_size(self) -> int:
        """The ``max_batch_size`` setting, else the class's limit (64)."""
        return self.settings.max_batch_size or self.capabilities.max_batch_size

    # ------------------------------------------------------------------ fault injection
    def _request(self, texts: list[str]) -> bool:
        """Count the request, apply latency/timeout, and say whether a fault is injected."""
        with self._lock:
            self.requests += 1
            number = self.requests
        s = self.settings
        if s.timeout is not None and s.latency > s.timeout:
            time.sleep(s.timeout)
            raise ProviderTimeoutError(
                f"The request took longer than the {s.timeout:g}s timeout. Raise the 'timeout' setting.",
                provider=self.name,
            )
        if s.latency:
            time.sleep(s.latency)
        return number <= s.fail_first or any(marker in t for marker in s.fail_on for t in texts)

    def _fault(self, kind: FailKind) -> ProviderError:
        msg = "Injected failure."
        errors: dict[str, ProviderError] = {
            "rate_limit": RateLimitError(
                msg, retry_after=self.settings.retry_after, provider=self.name, status_code=429
            ),
            "server": ServerError(msg, provider=self.name, status_code=503),
            "timeout": ProviderTimeoutError(msg, provider=self.name),
            "connection": ProviderConnectionError(msg, provider=self.name),
            "auth": AuthenticationError(msg + " Check the api_key setting.", provider=self.name, status_code=401),
            "invalid": InvalidRequestError(msg, provider=self.name, status_code=400),
            "not_found": NotFoundError(msg, provider=self.name, status_code=404),
            "response": ResponseError(msg + " Malformed response.", provider=self.name),
            "wrong_count": ResponseError(msg + " Wrong number of results.", provider=self.name),
        }
        return errors[kind]

    # ------------------------------------------------------------------ embeddings
    def _embed(self, texts: list[str], *, input_type: InputType) -> EmbeddingResult:
        if len(texts) > self.max_batch_size:  # what a server does with an over-size request
            raise InvalidRequestError(
                f"{len(texts)} inputs in one request; this server accepts at most {self.max_batch_size}.",
                provider=self.name,
                status_code=400,
            )
        faulty = self._request(texts)
        if faulty and self.settings.fail_with != "wrong_count":
            raise self._fault(self.settings.fail_with)
        with self._lock:
            self.embedded_texts += len(texts)
        s = self.settings
        vectors = [fake_embedding(t, s.dimension, s.embedding_model) for t in texts]
        if faulty:  # fail_with="wrong_count": a response with one vector missing
            vectors = vectors[:-1]
        tokens = sum(len(_WORD.findall(t)) for t in texts)
        return EmbeddingResult(
            vectors=vectors, model=s.embedding_model, usage=Usage(prompt_tokens=tokens, total_tokens=tokens)
        )

    # ------------------------------------------------------------------ generation
    def _reply(self, messages: list[Message], options: GenerationOptions) -> tuple[list[str], str, Usage]:
        if self._request([m.content for m in messages]):
            raise self._fault(self.settings.fail_with)
        last_user = next((m.content for m in reversed(messages) if m.role == "user"), messages[-1].content)
        text = "Echo: " + " ".join(last_user.split())
        finish = "stop"
        for stop in options.stop or []:
            if stop and stop in text:
                text = text[: text.index(stop)]
        words = text.split()
        limit = options.max_tokens or self.settings.max_tokens
        if len(words) > limit:
            words, finish = words[:limit], "length"
        prompt_tokens = sum(len(m.content.split()) for m in messages)
        usage = Usage(
            prompt_tokens=prompt_tokens, completion_tokens=len(words), total_tokens=prompt_tokens + len(words)
        )
        return words, finish, usage

    def _generate(self, messages: list[Message], options: GenerationOptions) -> GenerationResult:
        words, finish, usage = self._reply(messages, options)
        return GenerationResult(
            text=" ".join(words),
            finish_reason=finish,
            model=self.settings.chat_model,
            usage=usage,
        )

    def _stream(self, messages: list[Message], options: GenerationOptions) -> Iterator[GenerationChunk]:
        words, finish, usage = self._reply(messages, options)
        model = self.settings.chat_model
        for i, word in enumerate(words):
            last = i == len(words) - 1
            yield GenerationChunk(
                text=word if i == 0 else " " + word,
                index=i,
                model=model,
                finish_reason=finish if last else None,
                usage=usage if last else None,
            )
        if not words:
            yield GenerationChunk(text="", index=0, model=model, finish_reason=finish, usage=usage)


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register the ``fake`` provider (the ``hayswitch`` entry point ``fake`` names this module)."""
    register(FakeProvider)
