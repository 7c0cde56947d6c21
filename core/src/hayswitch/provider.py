"""The provider protocol: the one class a backend plugin subclasses.

A provider author implements a few *hooks* (``_embed``, ``_generate``, ``_stream`` and optionally
their async twins); the public methods (``embed_documents``, ``embed_text``, ``generate``,
``stream`` and the ``a*`` twins) add what every provider needs in exactly one place: input
validation, capability checks, batching at the declared maximum, response checks (vector count,
dimension, finite values) and the retry policy.

This module does not import Haystack; components in ``haystack_integrations`` adapt it.
"""

from __future__ import annotations

import asyncio
import math
import threading
import types
import typing
from abc import ABC
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from hayswitch import tooling
from hayswitch.errors import (
    InvalidInputError,
    InvalidInputTypeError,
    ResponseError,
    UnsupportedOperation,
    format_validation_error,
)
from hayswitch.retry import RetryPolicy
from hayswitch.secrets import Secret
from hayswitch.types import (
    Capabilities,
    EmbeddingResult,
    FinishReason,
    GenerationChunk,
    GenerationOptions,
    GenerationResult,
    Message,
    TextEmbedding,
    Usage,
)

__all__ = ["InputType", "MessagesInput", "Provider", "ProviderSettings", "format_validation_error"]

InputType = Literal["document", "query"]
MessagesInput = str | Message | Mapping[str, Any] | Sequence[Message | Mapping[str, Any]]


class ProviderSettings(BaseModel):
    """Base class of every provider's settings model.

    Subclasses declare fields with types, defaults and constraints; unknown fields are refused.
    Secret fields use :data:`hayswitch.secrets.SecretField` and serialise as env-var references.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bools_as_numbers_no_infinities(cls, value: Any, info: ValidationInfo) -> Any:
        """Refuse what pydantic's lax mode would quietly convert: ``true`` as the number 1 (an
        environment variable ``HAYSWITCH_X__DIMENSION=true`` is a mistake, not a dimension), and
        infinite or NaN numbers (``timeout=Infinity`` would wait forever; NaN passes no bound
        check in a meaningful way)."""
        field = cls.model_fields.get(info.field_name or "")
        if field is None:
            return value
        kinds = _scalar_types(field.annotation)
        if isinstance(value, bool):
            if kinds and bool not in kinds and kinds & {int, float}:
                raise ValueError(
                    f"expected a number, got the boolean {str(value).lower()} (write the number itself, e.g. 1)"
                )
            return value
        if float in kinds:
            number: float | None = None
            if isinstance(value, float):
                number = value
            elif isinstance(value, str) and value.strip().lower().lstrip("+-") in _NON_FINITE_WORDS:
                number = float("nan")
            if number is not None and not math.isfinite(number):
                raise ValueError(f"must be a finite number, got {value!r} (Infinity and NaN are not accepted)")
        return value

    def to_public_dict(self) -> dict[str, Any]:
        """JSON-ready settings with secrets as env-var references only (safe to write to disk).

        :raises ConfigurationError: if a secret is a literal token (it cannot be serialised); the
            message names the field.
        """
        from hayswitch.errors import ConfigurationError

        for field_name in type(self).model_fields:
            if _holds_token_secret(getattr(self, field_name)):
                raise ConfigurationError(
                    f"Setting {field_name!r} holds a token secret, which cannot be serialised (it would write "
                    f"the credential to disk). Use 'env:VARIABLE_NAME' or Secret.from_env_var(...) instead."
                )
        return self.model_dump(mode="json")

    def __repr_args__(self) -> Any:
        # pydantic's repr would call Secret.__repr__, which already hides tokens; keep it explicit.
        for key, value in super().__repr_args__():
            yield key, ("***" if isinstance(value, Secret) and value.is_token else value)


_NON_FINITE_WORDS = {"inf", "infinity", "nan"}


def _scalar_types(annotation: Any) -> set[Any]:
    """The plain types an annotation admits at its top level (``int | None`` -> {int, NoneType};
    ``Annotated[float, ...]`` -> {float}); empty for anything else (containers, models, Any)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _scalar_types(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        out: set[Any] = set()
        for arg in typing.get_args(annotation):
            out |= _scalar_types(arg)
        return out
    if origin is typing.Literal:
        return {type(a) for a in typing.get_args(annotation)}
    if annotation in (bool, int, float, str, type(None)):
        return {annotation}
    return set()


def _holds_token_secret(value: Any) -> bool:
    if isinstance(value, Secret):
        return value.is_token
    if isinstance(value, BaseModel):
        return any(_holds_token_secret(getattr(value, f)) for f in type(value).model_fields)
    if isinstance(value, Mapping):
        return any(_holds_token_secret(v) for v in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_token_secret(v) for v in value)
    return False


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class Provider(ABC):
    """Base class of a hayswitch provider (a model backend).

    Class attributes a subclass sets:

    :cvar name: the registry key (``get_provider(name)``), lowercase, e.g. ``"gradient"``.
    :cvar settings_model: the pydantic settings model (subclass of :class:`ProviderSettings`).
    :cvar options_model: generation options model (subclass of :class:`GenerationOptions`).
    :cvar capabilities: a :class:`Capabilities` declaration.
    :cvar embedding_model_setting: name of the setting holding the embedding model id (the
        components' ``model=`` option writes it), or None.
    :cvar generation_model_setting: likewise for the generation model.
    :cvar vector_settings: settings that change the vectors (part of the embedding cache key,
        besides the model id).
    :cvar scrub_headers: request/response header names that carry secrets (cassettes scrub them).
    :cvar scrub_query_params: query-string parameters that carry secrets.
    :cvar heavy_modules: top-level modules this provider imports lazily (SDKs, ML frameworks);
        the contract kit checks that listing providers does not import them.
    :cvar repeated_tool_calls: the default of the ``repeated_tool_calls`` generation option:
        ``"answer"`` (a reply repeating a tool call whose result is already in the conversation is
        replaced by an answer generated from the results, see
        :func:`hayswitch.tooling.answer_repeated`) or ``"allow"`` (passed on; the base default).

    Hooks a subclass overrides (only those it supports):

    * :meth:`setup` -- resolve secrets and create clients (called once, from ``__init__``).
    * :meth:`_embed` -- embed one batch (at most :attr:`max_batch_size` texts) in one request.
    * :meth:`_generate`, :meth:`_stream` -- generation.
    * :meth:`_aembed`, :meth:`_agenerate`, :meth:`_astream` -- native async (defaults run the
      sync hook in a worker thread).
    * :meth:`_choose` -- a reply constrained to one of a few strings (choice guidance), used to
      pick the tool of an emulated call.
    * :meth:`close` -- release clients and pools.
    """

    name: ClassVar[str]
    settings_model: ClassVar[type[ProviderSettings]] = ProviderSettings
    options_model: ClassVar[type[GenerationOptions]] = GenerationOptions
    capabilities: ClassVar[Capabilities] = Capabilities()
    embedding_model_setting: ClassVar[str | None] = None
    generation_model_setting: ClassVar[str | None] = None
    vector_settings: ClassVar[tuple[str, ...]] = ()
    scrub_headers: ClassVar[tuple[str, ...]] = ("authorization",)
    scrub_query_params: ClassVar[tuple[str, ...]] = ()
    heavy_modules: ClassVar[tuple[str, ...]] = ()
    repeated_tool_calls: ClassVar[Literal["answer", "allow"]] = "allow"

    def __init__(
        self,
        settings: ProviderSettings | Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = self.validate_settings(settings)
        # A RetryPolicy, a mapping of its fields, or None (the default policy); SettingsError otherwise.
        self.retry_policy = RetryPolicy.coerce(retry) or RetryPolicy()
        self._closed = False
        self._close_lock = threading.Lock()
        self.setup()

    # ------------------------------------------------------------------ settings
    @classmethod
    def validate_settings(cls, settings: ProviderSettings | Mapping[str, Any] | None) -> ProviderSettings:
        """Validate raw settings against :attr:`settings_model`.

        :raises SettingsError: naming each invalid field.
        """
        from hayswitch.errors import SettingsError

        if isinstance(settings, cls.settings_model):
            return settings
        if isinstance(settings, ProviderSettings):
            # Field values as they are (no serialisation: token secrets stay usable).
            settings = {key: getattr(settings, key) for key in type(settings).model_fields}
        if settings is not None and not isinstance(settings, Mapping):
            raise SettingsError(
                f"Settings for provider {cls.name!r} must be a mapping or a {cls.settings_model.__name__}, "
                f"got {type(settings).__name__}."
            )
        try:
            return cls.settings_model.model_validate(dict(settings or {}))
        except ValidationError as exc:
            problems = format_validation_error(exc)
        # Raised outside the except block: the ValidationError (whose errors keep every input
        # value, a refused plain-string key included) must not survive as __context__.
        raise SettingsError(f"Invalid settings for provider {cls.name!r}.", problems)

    @classmethod
    def validate_options(cls, options: GenerationOptions | Mapping[str, Any] | None) -> GenerationOptions:
        """Validate generation options against :attr:`options_model` (before any request).

        :raises InvalidInputError: naming each invalid or unknown option.
        """
        if isinstance(options, cls.options_model):
            tooling.check_options(options, cls.capabilities, cls.name)
            return options
        if isinstance(options, GenerationOptions):
            options = options.model_dump(exclude_none=True)
        if options is not None and not isinstance(options, Mapping):
            raise InvalidInputError(f"Generation options must be a mapping, got {type(options).__name__}.")
        try:
            validated = cls.options_model.model_validate(dict(options or {}))
        except ValidationError as exc:
            allowed = ", ".join(sorted(cls.options_model.model_fields))
            problems = "; ".join(format_validation_error(exc))
            raise InvalidInputError(
                f"Invalid generation options for provider {cls.name!r}: {problems}. Allowed options: {allowed}."
            ) from None
        # Tools and response_format: valid schemas, unique names, a known tool_choice, and a
        # provider that can honour them (before any request).
        tooling.check_options(validated, cls.capabilities, cls.name)
        return validated

    @classmethod
    def contract_settings(cls, live: bool = False) -> Mapping[str, Any]:
        """How ``hayswitch check NAME`` runs the contract kit on this provider (override it).

        Return class attributes of :class:`hayswitch.testing.ProviderContractTests` (``settings``,
        ``env``, ``cassette_dir``, ``generation_options``, ...) plus optionally ``test_class_name``
        (the test class name the cassettes were recorded under). ``live=True`` asks for settings
        that send real requests (no cassettes). The default, no attributes, suits providers that
        make no HTTP requests. See :mod:`hayswitch.cli.check`.
        """
        return {}

    # ------------------------------------------------------------------ identity
    @property
    def embedding_model_id(self) -> str:
        """The id of the embedding model in use (provenance, cache keys)."""
        if self.embedding_model_setting:
            return str(getattr(self.settings, self.embedding_model_setting))
        return self.name

    @property
    def generation_model_id(self) -> str:
        """The id of the generation model in use."""
        if self.generation_model_setting:
            return str(getattr(self.settings, self.generation_model_setting))
        return self.name

    @property
    def embedding_dimension(self) -> int | None:
        """The vector size, when known before the first request."""
        return self.capabilities.embedding_dimension

    @property
    def long_text_behaviour(self) -> Literal["truncate", "error"]:
        """What happens to an embedding input longer than the model's window: ``capabilities.long_text``
        unless the backend decides (e.g. an HTTP provider whose servers differ) and the provider
        overrides this from its settings."""
        return self.capabilities.long_text

    # ------------------------------------------------------------------ batching
    @property
    def max_batch_size(self) -> int:
        """Most texts this instance sends in one embedding request: its hard limit.

        Defaults to ``capabilities.max_batch_size``; a provider whose settings lower the limit (a
        server with a small batch limit) overrides this property. It is the one owner of the
        batch limit: :meth:`embed_documents` splits at it, the components cap their ``batch_size``
        at it, and :meth:`_embed` receives at most this many texts and must send them in exactly
        one request (so requests sent = batches reported in the components' ``meta``).
        """
        return int(self.capabilities.max_batch_size)

    @property
    def default_batch_size(self) -> int:
        """Texts per request this instance serves best: what the components and ``hayswitch index``
        use when the user sets no ``batch_size`` (at most :attr:`max_batch_size`). Defaults to the
        limit itself (fewest requests); override it where measurement says otherwise."""
        return self.max_batch_size

    @property
    def default_concurrency(self) -> int:
        """Embedding requests in flight this instance serves best: what the components use when the
        user sets no ``max_concurrency``. Defaults to ``capabilities.max_concurrency``."""
        return int(self.capabilities.max_concurrency)

    def embedding_space(self) -> dict[str, Any]:
        """What identifies the vector space: provider, model and dimension (for provenance)."""
        return {"provider": self.name, "model": self.embedding_model_id, "dimension": self.embedding_dimension}

    def vector_settings_fingerprint(self) -> dict[str, Any]:
        """The settings that change vectors, as JSON-ready values (embedding cache key)."""
        dumped = self.settings.model_dump(mode="json", include=set(self.vector_settings))
        return {k: dumped[k] for k in sorted(dumped)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, settings={self.settings!r})"

    # ------------------------------------------------------------------ hooks
    def setup(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Resolve secrets and create clients. Called once from ``__init__``. Keep it free of
        network calls and heavy imports where possible (load models lazily)."""

    def _embed(self, texts: list[str], *, input_type: InputType) -> EmbeddingResult:
        """Embed one batch of non-empty texts (``len(texts) <= self.max_batch_size``) in exactly one request."""
        raise UnsupportedOperation(self.name, "embeddings")

    async def _aembed(self, texts: list[str], *, input_type: InputType) -> EmbeddingResult:
        return await asyncio.to_thread(self._embed, texts, input_type=input_type)

    def _generate(self, messages: list[Message], options: GenerationOptions) -> GenerationResult:
        raise UnsupportedOperation(self.name, "generate")

    async def _agenerate(self, messages: list[Message], options: GenerationOptions) -> GenerationResult:
        return await asyncio.to_thread(self._generate, messages, options)

    def _choose(self, messages: list[Message], options: GenerationOptions, choices: list[str]) -> str | None:
        """Optional hook: a reply constrained to exactly one of ``choices`` (a backend's choice
        guidance), or None when the backend cannot constrain this choice (the default). The
        emulation layer uses it to pick the tool of an emulated call before its arguments (see
        :func:`hayswitch.tooling.emulate_generation`)."""
        return None

    def _stream(self, messages: list[Message], options: GenerationOptions) -> Iterator[GenerationChunk]:
        raise UnsupportedOperation(self.name, "streaming")

    async def _astream(self, messages: list[Message], options: GenerationOptions) -> AsyncIterator[GenerationChunk]:
        iterator = iter(self._stream(messages, options))
        done = object()
        while True:
            chunk = await asyncio.to_thread(next, iterator, done)
            if chunk is done:
                return
            yield chunk  # type: ignore[misc]

    def close(self) -> None:
        """Release clients. Idempotent; subclasses call ``super().close()``."""
        with self._close_lock:
            self._closed = True

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Provider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ checks
    def _require(self, capability: str, operation: str) -> None:
        if not getattr(self.capabilities, capability):
            raise UnsupportedOperation(self.name, operation)

    def _check_texts(self, texts: Sequence[str], what: str = "texts") -> list[str]:
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise InvalidInputTypeError(
                f"embed_documents() takes a list of strings, got {type(texts).__name__}. "
                "Use embed_text() for a single string."
            )
        out = list(texts)
        for i, text in enumerate(out):
            if not isinstance(text, str):
                raise InvalidInputTypeError(f"{what}[{i}] is a {type(text).__name__}, not a string.")
            if not text.strip():
                raise InvalidInputError(
                    f"{what}[{i}] is empty or whitespace. Empty text has no meaningful embedding; "
                    "drop it before embedding (the document embedder skips such documents)."
                )
        return out

    def _check_vectors(self, result: EmbeddingResult, expected: int) -> EmbeddingResult:
        if len(result.vectors) != expected:
            raise ResponseError(
                f"Expected {expected} vectors, the backend returned {len(result.vectors)}.", provider=self.name
            )
        dims = {len(v) for v in result.vectors}
        if len(dims) > 1:
            raise ResponseError(f"The backend returned vectors of mixed dimensions {sorted(dims)}.", provider=self.name)
        declared = self.embedding_dimension
        if declared is not None and dims and dims != {declared}:
            raise ResponseError(
                f"Expected {declared}-dimensional vectors, the backend returned {dims.pop()}.", provider=self.name
            )
        for vector in result.vectors:
            # sum() is a C-speed screen (NaN and infinities propagate); only a non-finite sum,
            # which finite values can also give by overflowing, needs the element-wise check.
            if not math.isfinite(sum(vector)) and not all(math.isfinite(x) for x in vector):
                raise ResponseError("The backend returned a vector with NaN or infinite values.", provider=self.name)
        return result

    def _checked_embed(self, batch: list[str], input_type: InputType) -> EmbeddingResult:
        return self._check_vectors(self._embed(batch, input_type=input_type), len(batch))

    async def _achecked_embed(self, batch: list[str], input_type: InputType) -> EmbeddingResult:
        return self._check_vectors(await self._aembed(batch, input_type=input_type), len(batch))

    @staticmethod
    def _merge(parts: list[EmbeddingResult], model: str) -> EmbeddingResult:
        usage: Usage | None = None
        vectors: list[list[float]] = []
        for part in parts:
            vectors.extend(part.vectors)
            if part.usage is not None:
                usage = part.usage if usage is None else usage + part.usage
        return EmbeddingResult(vectors=vectors, model=parts[0].model if parts else model, usage=usage)

    def to_messages(self, messages: MessagesInput) -> list[Message]:
        """Normalise the accepted message inputs into a non-empty list of :class:`Message`."""
        if isinstance(messages, str):
            if not messages.strip():
                raise InvalidInputError("The prompt is empty.")
            return [Message.user(messages)]
        if isinstance(messages, Message | Mapping):
            messages = [messages]
        if not isinstance(messages, Sequence) or not messages:
            raise InvalidInputError("generate() needs a prompt string or a non-empty list of messages.")
        out: list[Message] = []
        for i, m in enumerate(messages):
            if isinstance(m, Message):
                out.append(m)
            elif isinstance(m, Mapping):
                try:
                    out.append(Message.model_validate(dict(m)))
                except ValidationError as exc:
                    raise InvalidInputError(f"messages[{i}]: {'; '.join(format_validation_error(exc))}") from None
            else:
                raise InvalidInputError(
                    f"messages[{i}] is a {type(m).__name__}; expected hayswitch.Message or a role/content dict."
                )
        if not any(m.content.strip() or m.tool_calls for m in out):
            raise InvalidInputError("All messages are empty.")
        return out

    # ------------------------------------------------------------------ public: embeddings
    def embed_documents(self, texts: Sequence[str]) -> EmbeddingResult:
        """Embed texts as documents; vectors come back in input order.

        Texts are sent in batches of at most :attr:`max_batch_size`, one request each; each batch is retried
        under the retry policy and checked (count, dimension, finite values).

        :raises InvalidInputError: for non-string or empty texts.
        :raises UnsupportedOperation: if the provider has no embeddings.
        :raises ProviderError: if the backend fails beyond the retry budget.
        """
        self._require("embeddings", "embed_documents")
        items = self._check_texts(texts)
        if not items:
            return EmbeddingResult(vectors=[], model=self.embedding_model_id)
        size = self.max_batch_size
        parts = [
            self.retry_policy.call(lambda b=batch: self._checked_embed(b, "document"))  # type: ignore[misc]
            for batch in _chunks(items, size)
        ]
        return self._merge(parts, self.embedding_model_id)

    async def aembed_documents(self, texts: Sequence[str]) -> EmbeddingResult:
        """Async twin of :meth:`embed_documents`."""
        self._require("embeddings", "aembed_documents")
        items = self._check_texts(texts)
        if not items:
            return EmbeddingResult(vectors=[], model=self.embedding_model_id)
        parts = []
        for batch in _chunks(items, self.max_batch_size):
            parts.append(await self.retry_policy.acall(lambda b=batch: self._achecked_embed(b, "document")))  # type: ignore[misc]
        return self._merge(parts, self.embedding_model_id)

    def embed_text(self, text: str) -> TextEmbedding:
        """Embed one text as a query (providers may add an instruction prefix for queries)."""
        self._require("embeddings", "embed_text")
        if not isinstance(text, str):
            raise InvalidInputTypeError(
                f"embed_text() takes a string, got {type(text).__name__}. Use embed_documents() for a list."
            )
        (item,) = self._check_texts([text], what="text")
        result = self.retry_policy.call(lambda: self._checked_embed([item], "query"))
        return TextEmbedding(vector=result.vectors[0], model=result.model, usage=result.usage, meta=result.meta)

    async def aembed_text(self, text: str) -> TextEmbedding:
        """Async twin of :meth:`embed_text`."""
        self._require("embeddings", "aembed_text")
        if not isinstance(text, str):
            raise InvalidInputTypeError(
                f"embed_text() takes a string, got {type(text).__name__}. Use embed_documents() for a list."
            )
        (item,) = self._check_texts([text], what="text")
        result = await self.retry_policy.acall(lambda: self._achecked_embed([item], "query"))
        return TextEmbedding(vector=result.vectors[0], model=result.model, usage=result.usage, meta=result.meta)

    # ------------------------------------------------------------------ public: generation
    def generate(
        self, messages: MessagesInput, options: GenerationOptions | Mapping[str, Any] | None = None
    ) -> GenerationResult:
        """Generate a reply to ``messages`` (a prompt string or a list of messages).

        :raises InvalidInputError: for empty prompts or invalid options (before any request).
        """
        self._require("generation", "generate")
        msgs, opts = self._generation_request(messages, options)
        if tooling.needs_emulation(msgs, _view(opts), self.capabilities):
            return tooling.emulate_generation(self, msgs, opts)
        if _view(opts).response_format is not None:
            result = tooling.structured_generation(self, msgs, opts)
        else:
            result = self.retry_policy.call(
                lambda: tooling.check_result(self._generate(msgs, opts), _view(opts), self.name)
            )
        return tooling.answer_repeated(self, msgs, _view(opts), result)

    async def agenerate(
        self, messages: MessagesInput, options: GenerationOptions | Mapping[str, Any] | None = None
    ) -> GenerationResult:
        """Async twin of :meth:`generate`."""
        self._require("generation", "agenerate")
        msgs, opts = self._generation_request(messages, options)
        if tooling.needs_emulation(msgs, _view(opts), self.capabilities):
            return await tooling.aemulate_generation(self, msgs, opts)
        if _view(opts).response_format is not None:
            result = await tooling.astructured_generation(self, msgs, opts)
        else:

            async def checked() -> GenerationResult:
                return tooling.check_result(await self._agenerate(msgs, opts), _view(opts), self.name)

            result = await self.retry_policy.acall(checked)
        return await tooling.aanswer_repeated(self, msgs, _view(opts), result)

    def stream(
        self, messages: MessagesInput, options: GenerationOptions | Mapping[str, Any] | None = None
    ) -> Iterator[GenerationChunk]:
        """Stream a reply chunk by chunk; the last chunk carries the finish reason.

        Failures before the first chunk are retried under the retry policy; once text has been
        yielded, an error is raised to the caller (replaying would duplicate text).

        Tool calls arrive as :class:`~hayswitch.types.ToolCallDelta`s in ``chunk.tool_calls``; they
        (and, with ``response_format``, the whole text) are checked when the stream ends, and a
        :class:`ResponseError` is raised then if they are invalid. Emulated tools or structured
        output are generated whole, then delivered as chunks.
        """
        self._require("generation", "stream")
        self._require("streaming", "stream")
        msgs, opts = self._generation_request(messages, options)
        if tooling.needs_emulation(msgs, _view(opts), self.capabilities):
            return iter(tooling.result_as_chunks(tooling.emulate_generation(self, msgs, opts)))

        def open_stream() -> tuple[Iterator[GenerationChunk], GenerationChunk | None]:
            iterator = iter(self._stream(msgs, opts))
            return iterator, next(iterator, None)

        iterator, first = self.retry_policy.call(open_stream)
        if first is None:
            return iter(())
        return self._chain(first, iterator, opts)

    def _generation_request(
        self, messages: MessagesInput, options: GenerationOptions | Mapping[str, Any] | None
    ) -> tuple[list[Message], GenerationOptions]:
        msgs = self.to_messages(messages)
        opts = self.validate_options(options)
        tooling.check_messages(msgs, self.capabilities, self.name)
        return msgs, opts

    def _chain(
        self, first: GenerationChunk, rest: Iterator[GenerationChunk], options: GenerationOptions
    ) -> Iterator[GenerationChunk]:
        check = _StreamCheck(_view(options), self.name)
        check.feed(first)
        yield first
        for chunk in rest:
            check.feed(chunk)
            yield chunk
        check.done()

    async def astream(
        self, messages: MessagesInput, options: GenerationOptions | Mapping[str, Any] | None = None
    ) -> AsyncIterator[GenerationChunk]:
        """Async twin of :meth:`stream`."""
        self._require("generation", "astream")
        self._require("streaming", "astream")
        msgs, opts = self._generation_request(messages, options)
        if tooling.needs_emulation(msgs, _view(opts), self.capabilities):
            for whole in tooling.result_as_chunks(await tooling.aemulate_generation(self, msgs, opts)):
                yield whole
            return

        async def open_stream() -> tuple[AsyncIterator[GenerationChunk], GenerationChunk | None]:
            iterator = aiter(self._astream(msgs, opts))
            try:
                return iterator, await anext(iterator)
            except StopAsyncIteration:
                return iterator, None

        iterator, first = await self.retry_policy.acall(open_stream)
        if first is None:
            return
        check = _StreamCheck(_view(opts), self.name)
        check.feed(first)
        yield first
        async for chunk in iterator:
            check.feed(chunk)
            yield chunk
        check.done()


_PLAIN = GenerationOptions()


def _view(options: Any) -> GenerationOptions:
    """The options as the tool checks see them (a subclass overriding ``validate_options`` may
    hand its hooks something else; that carries no tools)."""
    return options if isinstance(options, GenerationOptions) else _PLAIN


class _StreamCheck:
    """Collects a stream's text and tool-call deltas and applies the response checks at its end."""

    def __init__(self, options: GenerationOptions, provider: str) -> None:
        self.options = options
        self.provider = provider
        self.text: list[str] = []
        self.calls = tooling.ToolCallAssembler(provider)
        self.finish: FinishReason | None = None
        self.active = bool(options.tools or options.response_format)

    def feed(self, chunk: GenerationChunk) -> None:
        if chunk.finish_reason:
            self.finish = chunk.finish_reason
        if not self.active:
            if chunk.tool_calls:
                raise ResponseError(
                    "The backend streamed a tool call although no tool was offered.", provider=self.provider
                )
            return
        self.text.append(chunk.text)
        self.calls.feed(chunk.tool_calls)

    def done(self) -> None:
        if not self.active:
            return
        result = GenerationResult(
            text="".join(self.text),
            finish_reason=self.finish or "unknown",
            model="",
            tool_calls=self.calls.calls(),
        )
        tooling.check_result(result, self.options, self.provider)
