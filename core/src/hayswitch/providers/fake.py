"""The ``fake`` provider: deterministic, offline, instant. Ships with core.

* Embeddings are hash-seeded feature-hashing vectors: every word and its character trigrams are
  hashed (BLAKE2b) into signed buckets, then L2-normalised. The same text always gives the same
  vector, in every process, and texts sharing words are closer than unrelated ones, so retrieval
  over fake vectors behaves plausibly in tests.
* Generation echoes the last user message (``"Echo: ..."``), cut at ``max_tokens`` words or at a
  stop sequence, with word-count usage; streaming yields one word per chunk.
* Tools and structured output (declared ``"native"``): with tools offered, the fake calls the
  tool whose name and description share most words with the last user message (or the one
  ``tool_choice`` names), with arguments built from the tool's schema (numbers from the message
  in order, strings from its last word); once tool results follow the last user message it
  answers with them (``"Echo: ... | weather: sunny"``). ``response_format`` gives a JSON instance
  of the schema. ``script`` replaces this with fixed turns: turn *i* of a conversation (``i`` =
  assistant messages already in it) is ``script[i]``, a text or a list of tool calls, so agent
  tests are exact and offline.
* Faults can be injected for tests: ``fail_first`` (the first N requests fail), ``fail_on`` (any
  request whose text contains one of these substrings fails) with the error kind ``fail_with``,
  plus fixed ``latency`` per request. With ``timeout`` set, a request whose latency exceeds it
  fails with :class:`~hayswitch.errors.ProviderTimeoutError` after ``timeout`` seconds, like a
  real client; ``fail_with="wrong_count"`` returns one vector too few (caught by the base class).

Registered through the ``hayswitch`` entry point ``fake = "hayswitch.providers.fake"``, exactly
like a third-party plugin.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

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
    FinishReason,
    GenerationChunk,
    GenerationOptions,
    GenerationResult,
    Message,
    NamedToolChoice,
    ToolCall,
    ToolCallDelta,
    ToolDefinition,
    Usage,
)

__all__ = ["FakeProvider", "FakeSettings", "FakeToolCall", "FakeTurn", "fake_embedding", "schema_instance"]

FailKind = Literal[
    "rate_limit", "server", "timeout", "connection", "auth", "invalid", "not_found", "response", "wrong_count"
]
_WORD = re.compile(r"\w+", re.UNICODE)


class FakeToolCall(BaseModel):
    """A scripted tool call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class FakeTurn(BaseModel):
    """One scripted assistant turn: text, tool calls, or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = ""
    tool_calls: list[FakeToolCall] = Field(default_factory=list)


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
    script: list[FakeTurn] = Field(
        default_factory=list,
        description="Scripted turns: turn i of a conversation (i = assistant messages in it) replies script[i].",
    )


@functools.lru_cache(maxsize=1 << 16)
def _word_terms(word: str, dimension: int, model: str) -> tuple[tuple[int, float], ...]:
    """The (slot, signed weight) terms one word adds to a vector: the word itself and its
    character trigrams, each hashed to a slot. Cached: text repeats its words, and hashing them is
    what made embedding large corpora with ``fake`` slow."""
    terms = []
    for feature, weight in [(word, 1.0)] + [(word[i : i + 3], 0.35) for i in range(max(0, len(word) - 2))]:
        value = int.from_bytes(hashlib.blake2b(f"{model}\x00{feature}".encode(), digest_size=8).digest(), "little")
        terms.append((value % dimension, weight if (value >> 63) & 1 else -weight))
    return tuple(terms)


def fake_embedding(text: str, dimension: int, model: str = "fake-embed") -> list[float]:
    """The fake provider's vector for ``text`` (pure function, stable across processes)."""
    vec = [0.0] * dimension
    for word in _WORD.findall(text.lower()):
        for slot, weight in _word_terms(word, dimension, model):
            vec[slot] += weight
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


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def schema_instance(schema: dict[str, Any], words: list[str], numbers: list[float]) -> Any:
    """A deterministic JSON instance of ``schema``: strings from ``words`` (the last one), numbers
    from ``numbers`` in order (then bounds), the first enum value or ``anyOf`` branch, every
    declared property. Handles local ``$ref``s (``#/$defs/...``), as pydantic schemas use them."""
    root = schema
    pending = list(numbers)

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        seen = 0
        while "$ref" in node and seen < 32:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                return {}
            target: Any = root
            for part in ref[2:].split("/"):
                target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            seen += 1
        return node

    def number(node: dict[str, Any], integer: bool) -> float | int:
        low = node.get("minimum", node.get("exclusiveMinimum"))
        high = node.get("maximum", node.get("exclusiveMaximum"))
        value = pending.pop(0) if pending else (low if low is not None else 1)
        if low is not None and value < low:
            value = low
        if high is not None and value > high:
            value = high
        if "exclusiveMinimum" in node and value <= node["exclusiveMinimum"]:
            value = node["exclusiveMinimum"] + 1
        if "exclusiveMaximum" in node and value >= node["exclusiveMaximum"]:
            value = node["exclusiveMaximum"] - 1
        if integer:
            value = int(value)
        step = node.get("multipleOf")
        if step:
            value = type(value)(math.ceil(value / step) * step)
        return value

    def build(node: Any, depth: int) -> Any:
        if not isinstance(node, dict) or depth > 16:
            return None
        node = resolve(node)
        if "const" in node:
            return node["const"]
        if node.get("enum"):
            return node["enum"][0]
        for key in ("anyOf", "oneOf"):
            branches = [b for b in node.get(key, []) if isinstance(b, dict)]
            if branches:
                usable = [b for b in branches if resolve(b).get("type") != "null"] or branches
                return build({**{k: v for k, v in node.items() if k != key}, **usable[0]}, depth + 1)
        if node.get("allOf"):
            merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
            for part in node["allOf"]:
                merged.update(resolve(part) if isinstance(part, dict) else {})
            return build(merged, depth + 1)
        kind = node.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in node else ("array" if "items" in node else "string")
        if kind == "object":
            props = node.get("properties", {})
            return {name: build(sub, depth + 1) for name, sub in props.items()}
        if kind == "array":
            count = max(1, int(node.get("minItems", 1)))
            if "maxItems" in node:
                count = min(count, int(node["maxItems"]))
            return [build(node.get("items", {}), depth + 1) for _ in range(count)]
        if kind == "string":
            fmt = node.get("format")
            formats = {
                "date": "2024-01-01",
                "date-time": "2024-01-01T00:00:00Z",
                "email": "fake@example.com",
                "uri": "https://example.com/",
                "uuid": "00000000-0000-4000-8000-000000000000",
            }
            text = formats.get(fmt) if isinstance(fmt, str) else None
            if text is None:
                text = words[-1] if words else "fake"
            low, high = int(node.get("minLength", 0)), node.get("maxLength")
            if len(text) < low:
                text = text + "x" * (low - len(text))
            if high is not None:
                text = text[: int(high)]
            return text
        if kind == "integer":
            return number(node, integer=True)
        if kind == "number":
            return float(number(node, integer=False))
        if kind == "boolean":
            return True
        return None

    return build(schema, 0)


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
        tools="native",
        structured_output="native",
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
    def _reply(
        self, messages: list[Message], options: GenerationOptions
    ) -> tuple[list[str], FinishReason, Usage, list[ToolCall]]:
        if self._request([m.content for m in messages]):
            raise self._fault(self.settings.fail_with)
        text, calls = self._turn(messages, options)
        finish: FinishReason = "tool_calls" if calls else "stop"
        for stop in options.stop or []:
            if stop and stop in text and options.response_format is None:
                text = text[: text.index(stop)]
        words = text.split()
        limit = options.max_tokens or self.settings.max_tokens
        if options.response_format is None and len(words) > limit:
            words, finish = words[:limit], "length"
        if options.response_format is not None:
            words = [text] if text else []  # JSON is kept whole (never cut mid-value)
        prompt_tokens = sum(len(m.content.split()) for m in messages)
        usage = Usage(
            prompt_tokens=prompt_tokens, completion_tokens=len(words), total_tokens=prompt_tokens + len(words)
        )
        return words, finish, usage, calls

    def _turn(self, messages: list[Message], options: GenerationOptions) -> tuple[str, list[ToolCall]]:
        """The reply text and tool calls: scripted, or derived from the conversation."""
        turn = sum(1 for m in messages if m.role == "assistant")
        if turn < len(self.settings.script):
            scripted = self.settings.script[turn]
            calls = [
                ToolCall(id=f"call_{turn}_{i}", name=c.name, arguments=dict(c.arguments))
                for i, c in enumerate(scripted.tool_calls)
            ]
            return scripted.text, calls
        last_user_at = max((i for i, m in enumerate(messages) if m.role == "user"), default=len(messages) - 1)
        last_user = messages[last_user_at].content
        results = [m for m in messages[last_user_at + 1 :] if m.role == "tool"]
        words = [w for w in _WORD.findall(last_user) if not w.isdigit()]
        numbers = [float(n) if "." in n else int(n) for n in _NUMBER.findall(last_user)]
        tools = list(options.tools or [])
        choice = options.tool_choice
        forced = choice == "required" or isinstance(choice, NamedToolChoice)
        if tools and choice != "none" and (forced or not results):
            tool = self._pick_tool(tools, last_user, choice)
            arguments = schema_instance(tool.parameters, words, numbers)
            return "", [ToolCall(id=f"call_{turn}_0", name=tool.name, arguments=arguments)]
        if options.response_format is not None:
            instance = schema_instance(options.response_format.json_schema, words, numbers)
            return json.dumps(instance, ensure_ascii=False), []
        text = "Echo: " + " ".join(last_user.split())
        if results:
            names = {c.id: c.name for m in messages for c in m.tool_calls}
            used = "; ".join(
                f"{names.get(r.tool_call_id or '', 'tool')}: {' '.join(r.content.split())}" for r in results
            )
            text += " | " + used
        return text, []

    @staticmethod
    def _pick_tool(tools: list[ToolDefinition], prompt: str, choice: Any) -> ToolDefinition:
        if isinstance(choice, NamedToolChoice):
            return next(t for t in tools if t.name == choice.name)
        asked = {w.lower() for w in _WORD.findall(prompt)}

        def overlap(tool: ToolDefinition) -> int:
            described = {w.lower() for w in _WORD.findall(tool.name.replace("_", " ") + " " + tool.description)}
            return len(asked & described)

        return max(tools, key=overlap)  # the first of the best (max keeps the first maximum)

    def _generate(self, messages: list[Message], options: GenerationOptions) -> GenerationResult:
        words, finish, usage, calls = self._reply(messages, options)
        return GenerationResult(
            text=" ".join(words),
            finish_reason=finish,
            model=self.settings.chat_model,
            usage=usage,
            tool_calls=calls,
        )

    def _stream(self, messages: list[Message], options: GenerationOptions) -> Iterator[GenerationChunk]:
        words, finish, usage, calls = self._reply(messages, options)
        model = self.settings.chat_model
        pieces: list[GenerationChunk] = [
            GenerationChunk(text=word if i == 0 else " " + word, index=i, model=model) for i, word in enumerate(words)
        ]
        for position, call in enumerate(calls):
            # Like OpenAI: the first delta names the call, the arguments follow in fragments.
            arguments = json.dumps(call.arguments)
            middle = len(arguments) // 2
            deltas = [
                ToolCallDelta(index=position, id=call.id, name=call.name, arguments=""),
                ToolCallDelta(index=position, arguments=arguments[:middle]),
                ToolCallDelta(index=position, arguments=arguments[middle:]),
            ]
            pieces += [
                GenerationChunk(text="", index=len(pieces) + j, model=model, tool_calls=[d])
                for j, d in enumerate(deltas)
            ]
        if not pieces:
            pieces.append(GenerationChunk(text="", index=0, model=model))
        pieces[-1] = pieces[-1].model_copy(update={"finish_reason": finish, "usage": usage})
        yield from pieces


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register the ``fake`` provider (the ``hayswitch`` entry point ``fake`` names this module)."""
    register(FakeProvider)
