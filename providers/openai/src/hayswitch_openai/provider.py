"""The ``openai`` provider: OpenAI and every OpenAI-compatible server, on the official SDK.

One provider covers OpenAI itself and the serving engines that speak its HTTP API (vLLM, SGLang,
TGI, llama.cpp server, Ollama, LM Studio, Ray Serve deployments): set ``base_url`` and the model
names, and the same Haystack pipeline runs against a distributed serving engine.

* Embeddings (``POST /embeddings``), one request per batch of at most ``batch_size`` inputs, ordered by the
  returned ``index`` (never by arrival order), with the dimension learned from the first response
  unless ``dimensions`` fixes it.
* Chat completions with usage and finish reason; true SSE streaming (the last chunk carries the
  finish reason and, where the server supports ``stream_options.include_usage``, the usage).
* Native async through ``AsyncOpenAI`` (no worker threads).
* The SDK's own retries are off (``max_retries=0``): retries happen once, in hayswitch's
  :class:`~hayswitch.RetryPolicy`. SDK errors are translated by
  :func:`hayswitch_openai.errors.translate_error`.

The ``openai`` SDK is imported in :meth:`OpenAIProvider.setup`, never at module level.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar
from urllib.parse import urlparse

from pydantic import Field, field_validator

from hayswitch.errors import (
    ConfigurationError,
    ContentFilteredError,
    InvalidInputError,
    NotFoundError,
    ProviderError,
    ResponseError,
    with_sanitised_cause,
)
from hayswitch.http import normalise_finish_reason
from hayswitch.provider import InputType, Provider, ProviderSettings
from hayswitch.retry import RetryPolicy
from hayswitch.secrets import MissingSecretError, Secret, SecretField
from hayswitch.tooling import grammar_schema, new_call_id, parse_arguments
from hayswitch.types import (
    Capabilities,
    EmbeddingResult,
    FinishReason,
    GenerationChunk,
    GenerationOptions,
    GenerationResult,
    Message,
    NamedToolChoice,
    ResponseFormat,
    ToolCall,
    ToolCallDelta,
    ToolDefinition,
    Usage,
)
from hayswitch_openai.errors import redact, translate_error, transport_errors

if TYPE_CHECKING:
    import openai

__all__ = [
    "DEFAULT_CHAT_MODEL",
    "DEFAULT_EMBEDDING_MODEL",
    "JsonSchemaFormat",
    "MAX_BATCH_SIZE",
    "NO_KEY_PLACEHOLDER",
    "OpenAIGenerationOptions",
    "OpenAIProvider",
    "OpenAISettings",
]

T = TypeVar("T")

MAX_BATCH_SIZE = 64
"""Most inputs per embedding request (class-level; the ``batch_size`` setting lowers it per instance,
see :attr:`OpenAIProvider.max_batch_size`).

64 keeps each request well under every server's limits (OpenAI accepts 2048 inputs; vLLM, TGI and
llama.cpp batch server-side) while large corpora are sent as many requests that the components
run concurrently."""
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
DEFAULT_CHAT_MODEL = "gpt-4o-mini"
NO_KEY_PLACEHOLDER = "not-needed"
"""Sent as the API key when none is configured (the SDK requires a value; local servers ignore it)."""
_OPENAI_HOST = "api.openai.com"


def _finish(raw: str | None) -> FinishReason:
    return normalise_finish_reason(raw)


# --------------------------------------------------------------------------- settings and options


_CREDENTIAL_WORDS = ("key", "token", "secret", "auth", "password", "passwd", "cookie", "credential", "signature")


def _is_credential_header(name: str) -> bool:
    """Whether a header name says that its value is a credential (``api-key``, ``Authorization``,
    ``X-Gateway-Token``, ``Ocp-Apim-Subscription-Key``, ``Cookie``, ...)."""
    lowered = name.lower()
    return any(word in lowered for word in _CREDENTIAL_WORDS)


class OpenAISettings(ProviderSettings):
    """Settings of the ``openai`` provider.

    Every field can come from ``hayswitch.toml``, from ``HAYSWITCH_OPENAI__<FIELD>`` environment
    variables, or from arguments (see :mod:`hayswitch.config`).
    """

    base_url: str | None = Field(
        default=None,
        description=(
            "Server address including the API prefix, e.g. http://127.0.0.1:8000/v1. None: the SDK default "
            "(OPENAI_BASE_URL, else https://api.openai.com/v1)."
        ),
    )
    api_key: SecretField | None = Field(
        default=Secret.from_env_var("OPENAI_API_KEY", strict=False),
        description=(
            "API key (a secret reference, e.g. 'env:OPENAI_API_KEY'). Optional for servers that need none; "
            "a placeholder is sent then."
        ),
    )
    organization: str | None = Field(default=None, description="OpenAI organization id (header OpenAI-Organization).")
    project: str | None = Field(default=None, description="OpenAI project id (header OpenAI-Project).")
    embedding_model: str = Field(default=DEFAULT_EMBEDDING_MODEL, min_length=1)
    chat_model: str = Field(default=DEFAULT_CHAT_MODEL, min_length=1)
    dimensions: int | None = Field(
        default=None,
        gt=0,
        le=16384,
        description="Requested embedding size (sent as 'dimensions'; only for models that support it).",
    )
    timeout: float = Field(default=60.0, gt=0, le=3600, description="Seconds per HTTP request.")
    extra_headers: dict[str, SecretField | str] = Field(
        default_factory=dict,
        description=(
            "Headers sent with every request (gateway routing, tenant ids, Azure-style 'api-key'). A value may be a "
            "secret reference ('env:NAME', Secret.from_env_var/from_token), resolved when the provider is created "
            "and serialised as the reference; a header whose name says it carries a credential (key, token, "
            "secret, auth, password, cookie, ...) must be one."
        ),
    )
    batch_size: int = Field(
        default=MAX_BATCH_SIZE,
        ge=1,
        le=MAX_BATCH_SIZE,
        description="Most inputs per embedding request (lower it for servers with small batch limits).",
    )
    query_prefix: str = Field(default="", description="Prepended to query texts (e.g. 'query: ' for E5 models).")
    document_prefix: str = Field(default="", description="Prepended to document texts (e.g. 'passage: ').")
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        default="max_tokens",
        description="Request field that carries max_tokens (OpenAI reasoning models need 'max_completion_tokens').",
    )
    stream_usage: bool = Field(
        default=True,
        description="Ask for token usage at the end of streams (stream_options.include_usage), where supported.",
    )
    check_models: bool = Field(
        default=False,
        description=(
            "Before the first request, check GET /models lists the configured model and fail with NotFoundError "
            "otherwise (for servers that silently fall back to a default model, such as llama.cpp server)."
        ),
    )
    long_text: Literal["error", "truncate"] = Field(
        default="error",
        description=(
            "What the server does with an embedding input longer than the model's window: 'error' (OpenAI, vLLM, "
            "SGLang and TGI refuse it with HTTP 400, raised as ContextLengthError) or 'truncate' (llama.cpp server "
            "cuts it silently)."
        ),
    )
    content_filter: Literal["meta", "raise"] = Field(
        default="meta",
        description="On finish_reason 'content_filter': report it in meta ('meta') or raise ContentFilteredError.",
    )
    response_format_style: Literal["json_schema", "json_object_schema"] = Field(
        default="json_schema",
        description=(
            "How a JSON-schema response_format is sent: 'json_schema' (OpenAI's {'type': 'json_schema', "
            "'json_schema': {...}}, also vLLM, SGLang, LM Studio) or 'json_object_schema' ({'type': 'json_object', "
            "'schema': {...}}, which llama-cpp-python's server and Anyscale enforce with a grammar)."
        ),
    )
    grammar_schema: bool = Field(
        default=False,
        description=(
            "The server turns JSON schemas into a decoding grammar (llama.cpp's server): send it the response_format "
            "and tool schemas rewritten so generation is bounded by construction -- bounded integer ranges as enums, "
            "free strings as a pattern without control characters and at most grammar_max_length long, arrays at "
            "most grammar_max_items long (where the schema sets no bound). Replies are validated against the "
            "original schemas. Off by default: OpenAI's own structured outputs refuse some of these keywords."
        ),
    )
    grammar_max_length: int | None = Field(
        default=160, gt=0, description="With grammar_schema: the maxLength of strings whose schema sets none."
    )
    grammar_max_items: int | None = Field(
        default=8, gt=0, description="With grammar_schema: the maxItems of arrays whose schema sets none."
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:8000/v1")
        if parsed.username or parsed.password:
            raise ValueError("must not contain credentials; use the 'api_key' setting")
        return value.rstrip("/")

    @field_validator("extra_headers", mode="before")
    @classmethod
    def _check_headers(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value  # pydantic reports the type
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key or any(c in key for c in " :\r\n"):
                raise ValueError(f"invalid header name {key!r}")
            if isinstance(item, str) and not item.startswith("env:"):
                if _is_credential_header(key):
                    # The value is not echoed: it is a credential.
                    raise ValueError(
                        f"header {key!r} carries a credential, so its value cannot be a plain string (it would be "
                        "written to pipeline YAML and config dumps). Use 'env:VARIABLE_NAME', or "
                        "Secret.from_token(...) in Python code."
                    )
                if any(c in item for c in "\r\n"):
                    raise ValueError(f"the value of header {key!r} contains a line break")
                out[key] = item
            else:
                try:
                    out[key] = Secret.coerce(item)
                except ConfigurationError as exc:
                    raise ValueError(f"header {key!r}: {exc}") from None
        return out

    def __repr_args__(self) -> Any:
        # Header values are shown as '***' (a routing header may still be sensitive); names stay.
        for key, value in super().__repr_args__():
            if key == "extra_headers" and isinstance(value, Mapping):
                yield key, dict.fromkeys(value, "***")
            else:
                yield key, value


JsonSchemaFormat = ResponseFormat
"""Structured-output ``response_format`` (kept under its former name): hayswitch's
:class:`~hayswitch.types.ResponseFormat`, which accepts OpenAI's ``{"type": "json_schema",
"json_schema": {...}}`` form."""


class OpenAIGenerationOptions(GenerationOptions):
    """Generation options of the ``openai`` provider, validated before any request.

    Adds ``presence_penalty`` and ``frequency_penalty`` to the common options (which include
    ``tools``, ``tool_choice`` and ``response_format``: ``"text"``, ``"json_object"``, OpenAI's
    JSON-schema form or a bare schema, sent natively).
    """

    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)

    @field_validator("stop")
    @classmethod
    def _stop_non_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not s for s in value):
            raise ValueError("stop sequences must be non-empty strings")
        return value

    def response_format_param(self) -> dict[str, Any] | None:
        """The ``response_format`` request field, or None (plain text)."""
        return self.response_format.to_openai() if self.response_format is not None else None


def _message_param(message: Message) -> dict[str, Any]:
    """One message in the Chat Completions shape (assistant tool calls, tool results)."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    param: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        # "" rather than null: llama.cpp's server refuses null and chat templates read the content.
        param["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments, ensure_ascii=False)},
            }
            for call in message.tool_calls
        ]
    return param


def _tool_param(tool: ToolDefinition) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


# --------------------------------------------------------------------------- provider


class OpenAIProvider(Provider):
    """hayswitch provider for the OpenAI API and OpenAI-compatible servers.

    :param settings: :class:`OpenAISettings` or a mapping of them.
    :param retry: the retry policy (the SDK's own retries are always off).
    :param http_client: an ``httpx`` client for the SDK's sync client (proxies, custom TLS,
        test transports). The same library the SDK uses (``httpx2`` for openai 3.x).
    :param async_http_client: likewise for the async client.
    """

    name: ClassVar[str] = "openai"
    settings_model: ClassVar[type[ProviderSettings]] = OpenAISettings
    options_model: ClassVar[type[GenerationOptions]] = OpenAIGenerationOptions
    capabilities: ClassVar[Capabilities] = Capabilities(
        embeddings=True,
        generation=True,
        streaming=True,
        max_batch_size=MAX_BATCH_SIZE,
        embedding_dimension=None,
        normalized_embeddings=False,
        long_text="error",
        max_concurrency=8,
        native_async=True,
        deterministic=False,
        tools="native",
        structured_output="native",
    )
    embedding_model_setting: ClassVar[str | None] = "embedding_model"
    generation_model_setting: ClassVar[str | None] = "chat_model"
    vector_settings: ClassVar[tuple[str, ...]] = ("dimensions", "query_prefix", "document_prefix")
    repeated_tool_calls: ClassVar[Literal["answer", "allow"]] = "answer"
    settings: OpenAISettings

    def __init__(
        self,
        settings: ProviderSettings | Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
        http_client: Any = None,
        async_http_client: Any = None,
    ) -> None:
        self._http_client = http_client
        self._async_http_client = async_http_client
        super().__init__(settings, retry=retry)

    # ------------------------------------------------------------------ set-up
    def setup(self) -> None:
        """Resolve the API key and create the ``OpenAI`` and ``AsyncOpenAI`` clients (no request).

        :raises MissingSecretError: when talking to api.openai.com without a key.
        """
        import openai

        s = self.settings
        key = s.api_key.resolve_value() if s.api_key is not None else None
        headers: dict[str, str] = {}
        for name, value in s.extra_headers.items():
            resolved = value.resolve_value() if isinstance(value, Secret) else value
            if resolved is not None:
                headers[name] = resolved
        self._secrets: list[str | None] = [key, *headers.values()]
        common: dict[str, Any] = {
            "api_key": key or NO_KEY_PLACEHOLDER,
            "organization": s.organization,
            "project": s.project,
            "timeout": s.timeout,
            "max_retries": 0,
            "default_headers": headers or None,
        }
        if s.base_url is not None:
            common["base_url"] = s.base_url
        self._client: openai.OpenAI = openai.OpenAI(**common, http_client=self._http_client)
        self._aclient: openai.AsyncOpenAI = openai.AsyncOpenAI(**common, http_client=self._async_http_client)
        self._base_url = redact(str(self._client.base_url).rstrip("/"), self._secrets)
        if key is None and urlparse(self._base_url).hostname == _OPENAI_HOST:
            self._client.close()
            raise MissingSecretError(
                "The OpenAI API needs a key: export OPENAI_API_KEY, or set 'api_key' (e.g. 'env:MY_VARIABLE'). "
                "For a local OpenAI-compatible server set 'base_url' instead."
            )
        self._dimension: int | None = s.dimensions
        self._stream_usage = s.stream_usage
        self._served_models: frozenset[str] | None = None
        self._models_lock = threading.Lock()
        self._async_used = False

    @property
    def base_url(self) -> str:
        """The server address in use (after SDK defaults and ``OPENAI_BASE_URL``)."""
        return self._base_url

    @property
    def embedding_dimension(self) -> int | None:
        """``dimensions`` if set, else the size learned from the first embedding response."""
        return self._dimension

    @property
    def long_text_behaviour(self) -> Literal["truncate", "error"]:
        """The ``long_text`` setting: over-long inputs are refused or truncated by the server."""
        return self.settings.long_text

    # ------------------------------------------------------------------ plumbing
    def _translate(self, exc: BaseException, model: str | None, *, streaming: bool = False) -> ProviderError:
        """The hayswitch error for ``exc``, chained to a redacted stand-in (never to ``exc``
        itself, whose text and response body may echo a credential). Raise it outside the
        ``except`` block, so ``exc`` does not survive as ``__context__`` either."""
        error = translate_error(exc, base_url=self._base_url, model=model, secrets=self._secrets, streaming=streaming)
        with_sanitised_cause(error, exc, lambda text: redact(text, self._secrets))
        return error

    def _errors(self) -> tuple[type[BaseException], ...]:
        import openai

        # A malformed JSON body in an HTTP 200 (or in a stream event) escapes the SDK as a raw
        # json.JSONDecodeError; it becomes a retryable ResponseError.
        return (openai.OpenAIError, *transport_errors(), json.JSONDecodeError)

    def _call(self, fn: Callable[[], T], model: str | None) -> T:
        try:
            return fn()
        except self._errors() as exc:
            error = self._translate(exc, model)
        raise error

    async def _acall(self, fn: Callable[[], Awaitable[T]], model: str | None) -> T:
        self._async_used = True
        try:
            return await fn()
        except self._errors() as exc:
            error = self._translate(exc, model)
        raise error

    def _missing_model(self, model: str, served: frozenset[str]) -> NotFoundError:
        setting = "embedding_model" if model == self.settings.embedding_model else "chat_model"
        listed = ", ".join(sorted(served)) or "none"
        return NotFoundError(
            f"The server at {self._base_url} does not serve model {model!r} (it serves: {listed}). "
            f"Set {setting!r} to one of them.",
            provider=self.name,
            status_code=404,
        )

    def _check_model(self, model: str) -> None:
        if not self.settings.check_models:
            return
        with self._models_lock:
            if self._served_models is None:
                page = self._call(lambda: self._client.models.list(), None)
                self._served_models = frozenset(m.id for m in page.data)
            served = self._served_models
        if model not in served:
            raise self._missing_model(model, served)

    async def _acheck_model(self, model: str) -> None:
        if not self.settings.check_models:
            return
        if self._served_models is None:
            page = await self._acall(lambda: self._aclient.models.list(), None)
            self._served_models = frozenset(m.id for m in page.data)
        if model not in self._served_models:
            raise self._missing_model(model, self._served_models)

    # ------------------------------------------------------------------ embeddings
    @property
    def max_batch_size(self) -> int:
        """The ``batch_size`` setting: the one batch limit of this instance (the core splits at it,
        the components cap at it, and each ``_embed`` call is exactly one request)."""
        return min(self.settings.batch_size, MAX_BATCH_SIZE)

    def _embedding_inputs(self, texts: list[str], input_type: InputType) -> list[str]:
        s = self.settings
        if len(texts) > self.max_batch_size:  # the core never does this; a direct caller might
            raise InvalidInputError(
                f"{len(texts)} texts in one embedding request, but this provider's batch limit is "
                f"{self.max_batch_size}; call embed_documents(), which splits at the limit."
            )
        prefix = s.query_prefix if input_type == "query" else s.document_prefix
        return [prefix + t for t in texts] if prefix else list(texts)

    def _embedding_params(self, batch: list[str]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.settings.embedding_model,
            "input": batch,
            "encoding_format": "float",
        }
        if self.settings.dimensions is not None:
            params["dimensions"] = self.settings.dimensions
        return params

    def _parse_embeddings(self, response: Any, expected: int) -> EmbeddingResult:
        data = list(getattr(response, "data", None) or [])
        try:
            ordered = sorted(data, key=lambda d: int(d.index))
        except (TypeError, ValueError, AttributeError):
            raise ResponseError(
                "The server's embedding response has items without a valid 'index'.", provider=self.name
            ) from None
        if [int(d.index) for d in ordered] != list(range(expected)):
            raise ResponseError(
                f"Expected embeddings with indices 0..{expected - 1}, the server returned indices "
                f"{[int(d.index) for d in ordered][:20]}.",
                provider=self.name,
            )
        vectors: list[list[float]] = []
        for item in ordered:
            vector = item.embedding
            if isinstance(vector, str):
                raise ResponseError(
                    "The server returned base64 embeddings although floats were requested.", provider=self.name
                )
            if vector and isinstance(vector[0], list):
                raise ResponseError(
                    "The server returned one vector per token instead of one per input: enable pooling on the "
                    "server (llama.cpp: a pooling type such as mean; see docs/providers/openai.md).",
                    provider=self.name,
                )
            try:
                vectors.append([float(x) for x in vector])
            except (TypeError, ValueError):
                raise ResponseError("The server returned a non-numeric embedding.", provider=self.name) from None
        usage = None
        raw_usage = getattr(response, "usage", None)
        if raw_usage is not None:
            prompt = getattr(raw_usage, "prompt_tokens", None)
            total = getattr(raw_usage, "total_tokens", None)
            usage = Usage(prompt_tokens=prompt, total_tokens=total if total is not None else prompt)
        return EmbeddingResult(
            vectors=vectors, model=getattr(response, "model", None) or self.settings.embedding_model, usage=usage
        )

    def _learn_dimension(self, result: EmbeddingResult) -> EmbeddingResult:
        dims = {len(v) for v in result.vectors}
        if self._dimension is None and len(dims) == 1:
            (dim,) = dims
            if dim > 0:
                self._dimension = dim
        return result

    def _embed(self, texts: list[str], *, input_type: InputType) -> EmbeddingResult:
        model = self.settings.embedding_model
        self._check_model(model)
        params = self._embedding_params(self._embedding_inputs(texts, input_type))
        response = self._call(lambda: self._client.embeddings.create(**params), model)
        return self._learn_dimension(self._parse_embeddings(response, len(texts)))

    async def _aembed(self, texts: list[str], *, input_type: InputType) -> EmbeddingResult:
        model = self.settings.embedding_model
        await self._acheck_model(model)
        params = self._embedding_params(self._embedding_inputs(texts, input_type))
        response = await self._acall(lambda: self._aclient.embeddings.create(**params), model)
        return self._learn_dimension(self._parse_embeddings(response, len(texts)))

    # ------------------------------------------------------------------ generation
    def _grammar_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        bounded: dict[str, Any] = grammar_schema(
            schema, max_length=s.grammar_max_length, max_items=s.grammar_max_items, plain_strings=True
        )
        return bounded

    def _chat_params(self, messages: list[Message], options: GenerationOptions, *, stream: bool) -> dict[str, Any]:
        s = self.settings
        params: dict[str, Any] = {"model": s.chat_model, "messages": [_message_param(m) for m in messages]}
        if options.max_tokens is not None:
            params[s.max_tokens_param] = options.max_tokens
        for field in ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty"):
            value = getattr(options, field, None)
            if value is not None:
                params[field] = value
        if options.stop:
            params["stop"] = list(options.stop)
        if options.response_format is not None:
            fmt = options.response_format
            if s.grammar_schema:
                fmt = fmt.model_copy(update={"schema_": self._grammar_schema(fmt.json_schema)})
            if s.response_format_style == "json_object_schema":
                params["response_format"] = {"type": "json_object", "schema": fmt.json_schema}
            else:
                params["response_format"] = fmt.to_openai()
        if options.tools:
            tools = options.tools
            if s.grammar_schema:
                tools = [t.model_copy(update={"parameters": self._grammar_schema(t.parameters)}) for t in tools]
            params["tools"] = [_tool_param(t) for t in tools]
            choice = options.tool_choice
            # Sent explicitly (also "auto"): some servers (llama.cpp's function-calling formats)
            # ignore the tools unless a choice is given.
            params["tool_choice"] = (
                {"type": "function", "function": {"name": choice.name}}
                if isinstance(choice, NamedToolChoice)
                else (choice or "auto")
            )
        if stream:
            params["stream"] = True
            if self._stream_usage:
                params["stream_options"] = {"include_usage": True}
        return params

    @staticmethod
    def _usage(raw: Any) -> Usage | None:
        if raw is None:
            return None
        return Usage(
            prompt_tokens=getattr(raw, "prompt_tokens", None),
            completion_tokens=getattr(raw, "completion_tokens", None),
            total_tokens=getattr(raw, "total_tokens", None),
        )

    def _content_filtered(self, finish: FinishReason) -> None:
        if finish == "content_filter" and self.settings.content_filter == "raise":
            raise ContentFilteredError(
                "The server's content filter stopped the generation (finish_reason 'content_filter'). "
                "Set content_filter='meta' to receive the partial text instead.",
                provider=self.name,
            )

    def _parse_completion(self, response: Any) -> GenerationResult:
        choices = list(getattr(response, "choices", None) or [])
        if not choices:
            raise ResponseError("The server's chat completion has no choices.", provider=self.name)
        choice = choices[0]
        message = getattr(choice, "message", None)
        text = getattr(message, "content", None) or ""
        raw_finish = getattr(choice, "finish_reason", None)
        finish = _finish(raw_finish)
        self._content_filtered(finish)
        tool_calls = [
            ToolCall(
                id=getattr(call, "id", None) or new_call_id(),
                name=call.function.name,
                arguments=parse_arguments(call.function.arguments, call.function.name, self.name),
            )
            for call in getattr(message, "tool_calls", None) or []
            if getattr(call, "function", None) is not None
        ]
        meta: dict[str, Any] = {"finish_reason_raw": raw_finish}
        for key in ("id", "system_fingerprint"):
            value = getattr(response, key, None)
            if value:
                meta[key] = value
        refusal = getattr(message, "refusal", None)
        if refusal:
            meta["refusal"] = refusal
        if finish == "content_filter":
            meta["content_filtered"] = True
        return GenerationResult(
            text=text,
            finish_reason=finish,
            model=getattr(response, "model", None) or self.settings.chat_model,
            usage=self._usage(getattr(response, "usage", None)),
            meta=meta,
            tool_calls=tool_calls,
        )

    def _generate(self, messages: list[Message], options: GenerationOptions) -> GenerationResult:
        model = self.settings.chat_model
        self._check_model(model)
        params = self._chat_params(messages, options, stream=False)
        response = self._call(lambda: self._client.chat.completions.create(**params), model)
        return self._parse_completion(response)

    async def _agenerate(self, messages: list[Message], options: GenerationOptions) -> GenerationResult:
        model = self.settings.chat_model
        await self._acheck_model(model)
        params = self._chat_params(messages, options, stream=False)
        response = await self._acall(lambda: self._aclient.chat.completions.create(**params), model)
        return self._parse_completion(response)

    # ------------------------------------------------------------------ streaming
    def _is_rejected_option(self, exc: ProviderError) -> bool:
        return exc.status_code in (400, 422) and self._stream_usage

    def _open_stream(self, messages: list[Message], options: GenerationOptions) -> Any:
        model = self.settings.chat_model
        self._check_model(model)
        params = self._chat_params(messages, options, stream=True)
        try:
            return self._call(lambda: self._client.chat.completions.create(**params), model)
        except ProviderError as exc:
            if not self._is_rejected_option(exc):
                raise
            # Perhaps the server refuses stream_options: try once without it. Only if that works
            # is the option dropped for this provider instance (usage then is not reported).
            params.pop("stream_options", None)
            stream = self._call(lambda: self._client.chat.completions.create(**params), model)
            self._stream_usage = False
            return stream

    async def _aopen_stream(self, messages: list[Message], options: GenerationOptions) -> Any:
        model = self.settings.chat_model
        await self._acheck_model(model)
        params = self._chat_params(messages, options, stream=True)
        try:
            return await self._acall(lambda: self._aclient.chat.completions.create(**params), model)
        except ProviderError as exc:
            if not self._is_rejected_option(exc):
                raise
            params.pop("stream_options", None)
            stream = await self._acall(lambda: self._aclient.chat.completions.create(**params), model)
            self._stream_usage = False
            return stream

    class _StreamState:
        """Folds SSE chunks into hayswitch chunks with one chunk of look-ahead, so that the last
        text chunk carries the finish reason and usage (which arrive after the text)."""

        def __init__(self, model: str) -> None:
            self.model = model
            self.pending: GenerationChunk | None = None
            self.index = 0
            self.raw_finish: str | None = None
            self.usage: Usage | None = None

        def feed(self, chunk: Any) -> GenerationChunk | None:
            """Take one SSE chunk; return a chunk ready to be yielded, if any."""
            self.model = getattr(chunk, "model", None) or self.model
            raw_usage = getattr(chunk, "usage", None)
            if raw_usage is not None:
                self.usage = OpenAIProvider._usage(raw_usage)
            ready = None
            for choice in getattr(chunk, "choices", None) or []:
                if getattr(choice, "index", 0) != 0:
                    continue
                delta = getattr(choice, "delta", None)
                text = getattr(delta, "content", None)
                deltas = [
                    ToolCallDelta(
                        index=getattr(call, "index", 0) or 0,
                        id=getattr(call, "id", None),
                        name=getattr(getattr(call, "function", None), "name", None),
                        arguments=getattr(getattr(call, "function", None), "arguments", None),
                    )
                    for call in getattr(delta, "tool_calls", None) or []
                ]
                if text or deltas:
                    ready = self.pending
                    self.pending = GenerationChunk(
                        text=text or "", index=self.index, model=self.model, tool_calls=deltas
                    )
                    self.index += 1
                if getattr(choice, "finish_reason", None):
                    self.raw_finish = choice.finish_reason
            return ready

        def final(self) -> GenerationChunk:
            finish = _finish(self.raw_finish)
            last = self.pending or GenerationChunk(text="", index=self.index, model=self.model)
            last.finish_reason = finish
            last.usage = self.usage
            last.meta = {"finish_reason_raw": self.raw_finish}
            if finish == "content_filter":
                last.meta["content_filtered"] = True
            return last

    def _stream(self, messages: list[Message], options: GenerationOptions) -> Iterator[GenerationChunk]:
        model = self.settings.chat_model
        stream = self._open_stream(messages, options)
        state = self._StreamState(model)
        try:
            iterator = iter(stream)
            while True:
                error: ProviderError | None = None
                try:
                    chunk = next(iterator)
                except StopIteration:
                    break
                except self._errors() as exc:
                    error = self._translate(exc, model, streaming=True)
                if error is not None:
                    raise error
                ready = state.feed(chunk)
                if ready is not None:
                    yield ready
        finally:
            with contextlib.suppress(*self._errors()):
                stream.close()
        final = state.final()
        self._content_filtered(final.finish_reason or "unknown")
        yield final

    async def _astream(self, messages: list[Message], options: GenerationOptions) -> AsyncIterator[GenerationChunk]:
        model = self.settings.chat_model
        stream = await self._aopen_stream(messages, options)
        state = self._StreamState(model)
        try:
            iterator = aiter(stream)
            while True:
                error: ProviderError | None = None
                try:
                    chunk = await anext(iterator)
                except StopAsyncIteration:
                    break
                except self._errors() as exc:
                    error = self._translate(exc, model, streaming=True)
                if error is not None:
                    raise error
                ready = state.feed(chunk)
                if ready is not None:
                    yield ready
        finally:
            with contextlib.suppress(*self._errors()):
                await stream.close()
        final = state.final()
        self._content_filtered(final.finish_reason or "unknown")
        yield final

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close both SDK clients (idempotent). Prefer :meth:`aclose` from async code."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._client.close()
        if self._async_used:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                with contextlib.suppress(RuntimeError, OSError):
                    asyncio.run(self._aclient.close())
            # Inside a running loop the async pool cannot be awaited from sync code; its
            # connections are released when the client is garbage-collected (use aclose()).

    async def aclose(self) -> None:
        """Close both SDK clients from async code (idempotent)."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._client.close()
        await self._aclient.close()
