"""The provider contract: one pytest test per protocol rule, shared by every provider.

See :mod:`hayswitch.testing` for how a provider's test module uses :class:`ProviderContractTests`.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import subprocess
import sys
import typing
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import pytest
from pydantic import BaseModel

from hayswitch.api import get_provider, get_provider_class, list_providers
from hayswitch.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ResponseError,
    ServerError,
    UnsupportedOperation,
)
from hayswitch.finetune import FineTuning
from hayswitch.provider import Provider, ProviderSettings
from hayswitch.retry import NO_RETRY, RetryPolicy
from hayswitch.secrets import MissingSecretError, Secret
from hayswitch.types import FinishReason, GenerationChunk, GenerationResult

if TYPE_CHECKING:
    from vcr.cassette import Cassette

    from hayswitch.testing.faults import FaultServer

__all__ = [
    "DEFAULT_HEAVY_MODULES",
    "ProviderContractTests",
    "RequestLog",
    "cassette_dir_for",
    "check_descriptions",
    "contract_test_class",
]

T = TypeVar("T")

DEFAULT_HEAVY_MODULES: tuple[str, ...] = (
    "torch",
    "tensorflow",
    "jax",
    "transformers",
    "sentence_transformers",
    "llama_cpp",
    "gradientai",
    "openai",
    "onnxruntime",
)
"""Modules no provider may import while providers are merely listed."""

_FINISH_REASONS = set(typing.get_args(FinishReason))
_SECRET_NAME = re.compile(
    r"(^|_)(api_?key|access_?key|access_token|token|secret|secret_key|password|passwd|credentials?)($|_)"
)
_HOOKS = ("_embed", "_aembed", "_generate", "_agenerate", "_stream", "_astream")

# Set by the pytest plugin once it has checked a test's cassettes (see pytest_plugin.py).
CASSETTES_KEY = pytest.StashKey[list[Any]]()
CHECKED_KEY = pytest.StashKey[bool]()


class RequestLog:
    """Records every call of a provider's request hooks (``_embed``, ``_generate``, ...).

    Every request a provider sends goes through one of these hooks, so a log with no calls
    proves that no request was made.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    @classmethod
    def install(cls, provider: Provider) -> RequestLog:
        """Wrap ``provider``'s hooks (instance attributes shadow the class methods)."""
        log = cls()
        for hook in _HOOKS:
            original = getattr(provider, hook)
            setattr(provider, hook, log._wrap(hook, original))
        provider._hayswitch_request_log = log  # type: ignore[attr-defined]
        return log

    def _wrap(self, hook: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            first = args[0] if args else None
            self.calls.append((hook, len(first) if isinstance(first, list) else 0))
            return original(*args, **kwargs)

        wrapper.__name__ = hook
        return wrapper

    @property
    def total(self) -> int:
        return len(self.calls)

    def batch_sizes(self) -> list[int]:
        """Sizes of the synchronous embedding batches, in call order."""
        return [size for hook, size in self.calls if hook == "_embed"]

    def clear(self) -> None:
        self.calls.clear()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _collect(iterator: AsyncIterator[GenerationChunk]) -> list[GenerationChunk]:
    return [chunk async for chunk in iterator]


def _norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def _cosine(a: list[float], b: list[float]) -> float:
    na, nb = _norm(a), _norm(b)
    if na == 0 or nb == 0:
        return 0.0
    return sum(x * y for x, y in zip(a, b, strict=True)) / (na * nb)


def _annotation_has_secret(annotation: Any) -> bool:
    if annotation is Secret:
        return True
    return any(_annotation_has_secret(arg) for arg in typing.get_args(annotation))


def _secret_fields(model: type[ProviderSettings]) -> list[str]:
    return [name for name, info in model.model_fields.items() if _annotation_has_secret(info.annotation)]


def _secrets_in(value: Any) -> list[Secret]:
    if isinstance(value, Secret):
        return [value]
    if isinstance(value, BaseModel):
        return [s for f in type(value).model_fields for s in _secrets_in(getattr(value, f))]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _secrets_in(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _secrets_in(v)]
    return []


class ProviderContractTests:
    """Base class of a provider's contract tests. Subclass it in a ``Test*`` class.

    Configure it with class attributes (only ``provider_name`` is required):

    :cvar provider_name: the registry name of the provider under test.
    :cvar settings: settings passed to ``hayswitch.get_provider(provider_name, **settings)``.
    :cvar env: environment variables set for every test (e.g. a dummy token for replays).
    :cvar cassette_dir: directory of the cassettes (one per test, ``<Class>.<test>.hayswitch.yaml``);
        None for providers that make no HTTP requests.
    :cvar retry: the retry policy of the provider under test (no retries by default, so a
        replayed failure is not retried into a missing interaction).
    :cvar generation_options: options used by the generation checks (keep replies short).
    :cvar invalid_options: option sets that must be refused before any request.
    :cvar long_text_words: length of the "very long text" check, in words.
    :cvar non_secret_settings: setting names that look like secrets but are not.
    :cvar heavy_modules: modules that listing providers must not import, besides the kit's
        defaults and the provider class's own ``heavy_modules``.
    :cvar fault_url_setting: the setting holding the server address (e.g. ``"base_url"``): the
        error-mapping checks point it at a fault-injecting server (:class:`~hayswitch.testing.
        faults.FaultServer`) answering 401/403/404/429/5xx/malformed bodies; None skips them.
    :cvar fault_url_suffix: appended to the fault server's address (e.g. ``"/v1"``).

    Rather than setting these by hand, declare them once in the plugin (a
    :class:`hayswitch.ContractDeclaration`) and build the class with
    :func:`hayswitch.testing.contract_test_class`: ``hayswitch check`` reads the same declaration.

    Override :meth:`make_provider` to build the provider differently.
    """

    provider_name: ClassVar[str]
    settings: ClassVar[Mapping[str, Any]] = {}
    env: ClassVar[Mapping[str, str]] = {}
    cassette_dir: ClassVar[str | os.PathLike[str] | None] = None
    retry: ClassVar[RetryPolicy] = NO_RETRY
    prompt: ClassVar[str] = "Say hello in one short sentence."
    generation_options: ClassVar[Mapping[str, Any]] = {"max_tokens": 16, "temperature": 0.0}
    invalid_options: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"no_such_option": 1},
        {"max_tokens": 0},
        {"temperature": -1.0},
        {"top_p": 2.0},
    )
    sample_texts: ClassVar[tuple[str, ...]] = (
        "The cat sat on the mat.",
        "Quantum computers use qubits.",
        "Paris is the capital of France.",
        "Bananas are rich in potassium.",
        "The stock market fell sharply today.",
    )
    unicode_texts: ClassVar[tuple[str, ...]] = (
        "Grüße aus Köln, ça va? Øresund.",
        "東京は日本の首都です。",
        "مرحبا بالعالم",
        "Emoji 🚀🔥 and maths ∑∫√.",
        "Combining e\u0301 and zero\u200bwidth.",
    )
    long_text_words: ClassVar[int] = 12_000
    non_secret_settings: ClassVar[tuple[str, ...]] = ()
    heavy_modules: ClassVar[tuple[str, ...]] = ()
    fault_url_setting: ClassVar[str | None] = None
    fault_url_suffix: ClassVar[str] = ""
    tool: ClassVar[Mapping[str, Any]] = {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name."}},
            "required": ["city"],
        },
    }
    tool_prompt: ClassVar[str] = "What is the weather in Paris? Use the get_weather tool."
    tool_result: ClassVar[str] = "Sunny, 24 degrees Celsius."
    tool_options: ClassVar[Mapping[str, Any]] = {"max_tokens": 64, "temperature": 0.0}
    structured_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
    }
    structured_prompt: ClassVar[str] = "Name the capital of France and its country as JSON."
    model_follows_instructions: ClassVar[bool] = True
    """False for a test backend whose replies ignore the prompt (e.g. an emulator with canned
    answers): the tool round trips and structured output of ``"emulated"`` providers then cannot be
    checked against it and are skipped with that reason (native ones are still checked)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        marks = [pytest.mark.contract]
        if cls.cassette_dir is not None:
            marks.append(pytest.mark.cassette)
        existing = list(cls.__dict__.get("pytestmark", []))
        cls.pytestmark = existing + marks  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ hooks for authors
    def make_provider(self) -> Provider:
        """Create the provider under test (override for custom construction)."""
        return get_provider(self.provider_name, retry=self.retry, **dict(self.settings))

    def provider_class(self) -> type[Provider]:
        return get_provider_class(self.provider_name)

    # ------------------------------------------------------------------ fixtures
    @pytest.fixture
    def contract_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Set :attr:`env` (dummy credentials) while replaying; recording (``HAYSWITCH_RECORD``)
        keeps the real environment, so the real credentials are sent and then scrubbed."""
        from hayswitch.testing.cassettes import record_mode

        if self.cassette_dir is not None and record_mode() != "none":
            return
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)

    @pytest.fixture
    def contract_cassette(self, request: pytest.FixtureRequest, contract_env: None) -> Iterator[Cassette | None]:
        """The test's cassette (replayed; recorded with ``HAYSWITCH_RECORD=1``), or None."""
        if self.cassette_dir is None:
            yield None
            return
        from hayswitch.testing.cassettes import assert_all_played, record_mode, use_cassette

        name = f"{type(self).__name__}.{request.node.name}"
        node = request.node
        with use_cassette(self.provider_class(), self.cassette_dir, name, check_all_played=False) as cassette:
            node.stash.setdefault(CASSETTES_KEY, []).append(cassette)
            yield cassette
        # The pytest plugin checks after the test body (a proper failure); without the plugin,
        # check here so a stale cassette still fails the run.
        if not node.stash.get(CHECKED_KEY, False) and record_mode() == "none":
            assert_all_played(cassette)

    @pytest.fixture
    def contract_provider(self, contract_env: None, contract_cassette: Cassette | None) -> Iterator[Provider]:
        """A fresh provider per test, with a :class:`RequestLog` on its hooks."""
        provider = self.make_provider()
        if not isinstance(provider, Provider):
            pytest.fail(f"make_provider() returned {type(provider).__name__}, not a hayswitch.Provider.")
        if provider.name != self.provider_name:
            pytest.fail(f"make_provider() returned provider {provider.name!r}, expected {self.provider_name!r}.")
        RequestLog.install(provider)
        try:
            yield provider
        finally:
            provider.close()

    @pytest.fixture
    def contract_requests(self, contract_provider: Provider) -> RequestLog:
        log = contract_provider._hayswitch_request_log  # type: ignore[attr-defined]
        assert isinstance(log, RequestLog)
        return log

    # ------------------------------------------------------------------ helpers
    def _caps(self, provider: Provider) -> Any:
        return type(provider).capabilities

    def _require(self, provider: Provider, capability: str) -> None:
        if not getattr(self._caps(provider), capability):
            pytest.skip(f"not applicable: provider {provider.name!r} declares no {capability} capability")

    def _assert_no_request(self, log: RequestLog, cassette: Cassette | None) -> None:
        assert log.total == 0, f"a request was made before the error was raised: {log.calls}"
        if cassette is not None:
            assert cassette.play_count == 0, "an interaction was replayed, so a request was sent"
            assert not cassette.dirty, "an interaction was recorded, so a request was sent"

    def _assert_vector(self, provider: Provider, vector: Any, what: str) -> None:
        assert isinstance(vector, list), f"{what} is a {type(vector).__name__}, not a list"
        assert vector, f"{what} is empty"
        assert all(isinstance(x, float) for x in vector), f"{what} holds non-float values"
        assert all(math.isfinite(x) for x in vector), f"{what} holds NaN or infinite values"

    def _assert_same_vectors(self, provider: Provider, a: list[list[float]], b: list[list[float]], what: str) -> None:
        assert len(a) == len(b), f"{what}: {len(a)} vectors vs {len(b)}"
        deterministic = self._caps(provider).deterministic
        for i, (va, vb) in enumerate(zip(a, b, strict=True)):
            assert len(va) == len(vb), f"{what}: vector {i} has dimension {len(va)} vs {len(vb)}"
            if deterministic:
                assert all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6) for x, y in zip(va, vb, strict=True)), (
                    f"{what}: vector {i} differs although the provider declares deterministic=True"
                )
            else:
                assert _cosine(va, vb) > 0.99, f"{what}: vector {i} differs (cosine {_cosine(va, vb):.4f})"

    def _texts(self, n: int, tag: str) -> list[str]:
        return [f"Contract text {tag} number {i}: a short sentence about topic {i % 7}." for i in range(n)]

    def _assert_generation(self, result: Any) -> GenerationResult:
        assert isinstance(result, GenerationResult), f"generate() returned {type(result).__name__}"
        assert isinstance(result.text, str), "the generated text is not a string"
        assert result.text.strip(), "the generated text is empty"
        assert result.finish_reason in _FINISH_REASONS, f"unknown finish reason {result.finish_reason!r}"
        assert isinstance(result.model, str), "the model id is not a string"
        assert result.model, "the model id is empty"
        if result.usage is not None:
            for field in ("prompt_tokens", "completion_tokens", "total_tokens"):
                value = getattr(result.usage, field)
                assert value is None or value >= 0, f"usage.{field} is negative"
        return result

    def _assert_stream(self, chunks: list[Any]) -> str:
        assert chunks, "the stream yielded no chunk"
        assert all(isinstance(c, GenerationChunk) for c in chunks), "the stream yielded non-GenerationChunk items"
        assert chunks[-1].finish_reason in _FINISH_REASONS, "the last chunk carries no finish reason"
        early = [i for i, c in enumerate(chunks[:-1]) if c.finish_reason is not None]
        assert not early, f"chunks {early} carry a finish reason before the end of the stream"
        text = "".join(c.text for c in chunks)
        assert text.strip(), "the streamed text is empty"
        return text

    # ================================================================== discovery
    def test_discovered_by_name_through_registry(self) -> None:
        """The provider is found by name through an installed 'hayswitch' entry point."""
        cls = get_provider_class(self.provider_name)
        assert issubclass(cls, Provider)
        assert cls.name == self.provider_name
        rows = {row.name: row for row in list_providers()}
        assert self.provider_name in rows, f"list_providers() does not list {self.provider_name!r}"
        row = rows[self.provider_name]
        assert row.error is None, f"the provider is listed with an error: {row.error}"
        assert row.distribution, (
            f"{self.provider_name!r} was not discovered from an installed distribution; register it through "
            "a 'hayswitch' entry point in pyproject.toml and reinstall the package"
        )
        assert row.version, "the listing shows no distribution version"
        assert row.capabilities == cls.capabilities

    def test_listing_does_not_import_heavy_modules(self) -> None:
        """Listing providers imports no heavy SDK (torch, llama_cpp, openai, ...)."""
        cls = get_provider_class(self.provider_name)
        heavy = tuple(dict.fromkeys((*DEFAULT_HEAVY_MODULES, *cls.heavy_modules, *self.heavy_modules)))
        row = next(r for r in list_providers() if r.name == self.provider_name)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HAYSWITCH_")}
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        if row.distribution:
            env["HAYSWITCH_PLUGINS"] = row.plugin
            load = "rows = [r.to_dict() for r in hayswitch.list_providers()]"
        else:
            load = f"importlib.import_module({cls.__module__!r}); rows = []"
        code = (
            "import importlib, json, sys\nimport hayswitch\n"
            f"{load}\n"
            "print(json.dumps({'modules': sorted(sys.modules), 'rows': rows}))\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert proc.returncode == 0, f"listing providers failed in a fresh interpreter:\n{proc.stderr[-2000:]}"
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        imported = [m for m in report["modules"] if any(m == h or m.startswith(h + ".") for h in heavy)]
        assert not imported, (
            f"listing providers imported heavy modules {sorted({m.split('.')[0] for m in imported})}; import them "
            "inside the provider's methods (or setup()), not at module level of the plugin"
        )
        if row.distribution:
            names = {r["name"]: r for r in report["rows"]}
            assert self.provider_name in names, "the provider is not listed in a fresh interpreter"
            assert names[self.provider_name]["error"] is None, names[self.provider_name]["error"]

    # ================================================================== settings and secrets
    def test_settings_serialise_without_secrets(self, contract_provider: Provider) -> None:
        """Settings serialise to JSON with secrets as env-var references only."""
        settings = contract_provider.settings
        public = settings.to_public_dict()
        text = json.dumps(public)  # must be JSON-ready
        assert type(settings).model_validate(public) == settings, "to_public_dict() does not round-trip"
        for name in _secret_fields(type(settings)):
            value = getattr(settings, name)
            if not isinstance(value, Secret):
                continue  # None, or a container whose nested secrets are checked below
            assert public[name] == {"type": "env_var", "env_vars": list(value.env_vars), "strict": value._strict}, (
                f"secret setting {name!r} does not serialise as an env-var reference: {public[name]!r}"
            )
        views = [text, repr(settings), str(settings), repr(contract_provider), str(contract_provider)]
        for secret in _secrets_in(settings):
            try:
                resolved = secret.resolve_value()
            except MissingSecretError:
                continue
            if resolved:
                for view in views:
                    assert resolved not in view, "a resolved secret value appears in serialised settings or a repr"

    def test_secret_like_settings_are_secret_fields(self) -> None:
        """Settings named like credentials are declared as Secret fields."""
        model = get_provider_class(self.provider_name).settings_model
        secret_fields = set(_secret_fields(model))
        suspicious = [
            name
            for name in model.model_fields
            if _SECRET_NAME.search(name) and name not in secret_fields and name not in self.non_secret_settings
        ]
        assert not suspicious, (
            f"settings {suspicious} look like credentials but are not declared as hayswitch Secret fields "
            "(declare them as SecretField / Secret | None, or list them in non_secret_settings)"
        )

    def test_token_secrets_refuse_serialisation(self, contract_provider: Provider) -> None:
        """A literal token secret refuses to be serialised and never shows in a repr."""
        settings = contract_provider.settings
        fields = _secret_fields(type(settings))
        if not fields:
            pytest.skip("not applicable: the settings model declares no secret field")
        token = "hs-contract-token-0123456789"
        for name in fields:
            with_token = settings.model_copy(update={name: Secret.from_token(token)})
            with pytest.raises(ConfigurationError) as excinfo:
                with_token.to_public_dict()
            assert token not in str(excinfo.value)
            assert token not in repr(with_token)
            assert token not in str(with_token)

    def test_secrets_resolved_at_creation(self, contract_provider: Provider, monkeypatch: pytest.MonkeyPatch) -> None:
        """Secrets are read when the provider is created, not when settings are parsed."""
        settings = contract_provider.settings
        strict = [s for s in _secrets_in(settings) if not s.is_token and s._strict]
        if not strict:
            pytest.skip("not applicable: the configured settings hold no required env-var secret")
        public = settings.to_public_dict()
        for secret in strict:
            for var in secret.env_vars:
                monkeypatch.delenv(var, raising=False)
        # Parsing settings never reads the secret ...
        reparsed = type(settings).model_validate(public)
        # ... creating the provider does, and says which variable to set.
        with pytest.raises(MissingSecretError) as excinfo:
            type(contract_provider)(reparsed, retry=self.retry)
        assert any(var in str(excinfo.value) for s in strict for var in s.env_vars)

    # ================================================================== capabilities
    def test_capabilities_match_implemented_hooks(self, contract_provider: Provider) -> None:
        """Declared capabilities match the hooks the class implements."""
        cls = type(contract_provider)
        caps = cls.capabilities
        if caps.embeddings:
            assert cls._embed is not Provider._embed, "declares embeddings but does not implement _embed()"
        if caps.generation:
            assert cls._generate is not Provider._generate, "declares generation but does not implement _generate()"
        if caps.streaming:
            assert caps.generation, "declares streaming without generation"
            assert cls._stream is not Provider._stream, "declares streaming but does not implement _stream()"
        assert caps.fine_tuning == isinstance(contract_provider, FineTuning), (
            "capabilities.fine_tuning must be true exactly when the provider implements hayswitch.FineTuning"
        )
        if caps.embedding_dimension is not None:
            assert contract_provider.embedding_dimension == caps.embedding_dimension

    def test_unsupported_operations_raise_unsupported_operation(
        self, contract_provider: Provider, contract_requests: RequestLog, contract_cassette: Cassette | None
    ) -> None:
        """Operations the provider lacks raise UnsupportedOperation."""
        caps = self._caps(contract_provider)
        p = contract_provider
        calls: list[tuple[str, Callable[[], Any]]] = []
        if not caps.embeddings:
            calls += [
                ("embed_documents", lambda: p.embed_documents(["hello"])),
                ("embed_text", lambda: p.embed_text("hello")),
                ("aembed_documents", lambda: _run(p.aembed_documents(["hello"]))),
                ("aembed_text", lambda: _run(p.aembed_text("hello"))),
            ]
        if not caps.generation:
            calls += [
                ("generate", lambda: p.generate("hello")),
                ("agenerate", lambda: _run(p.agenerate("hello"))),
            ]
        if not caps.streaming:
            calls += [
                ("stream", lambda: list(p.stream("hello"))),
                ("astream", lambda: _run(_collect(p.astream("hello")))),
            ]
        if not calls:
            pytest.skip("not applicable: the provider declares embeddings, generation and streaming")
        for operation, call in calls:
            with pytest.raises(UnsupportedOperation) as excinfo:
                call()
            assert excinfo.value.provider == p.name
            assert p.name in str(excinfo.value), f"the {operation} error does not name the provider"
        self._assert_no_request(contract_requests, contract_cassette)

    # ================================================================== embeddings
    def test_embed_documents_cardinality_and_order(self, contract_provider: Provider) -> None:
        """One vector per text, in input order."""
        self._require(contract_provider, "embeddings")
        texts = list(self.sample_texts)
        forward = contract_provider.embed_documents(texts)
        assert len(forward.vectors) == len(texts), f"{len(texts)} texts gave {len(forward.vectors)} vectors"
        assert isinstance(forward.model, str), "the result's model id is not a string"
        assert forward.model, "the result names no model"
        for i, vector in enumerate(forward.vectors):
            self._assert_vector(contract_provider, vector, f"vector {i}")
        assert len({tuple(v) for v in forward.vectors}) == len(texts), "different texts gave identical vectors"
        backward = contract_provider.embed_documents(texts[::-1])
        self._assert_same_vectors(contract_provider, forward.vectors, backward.vectors[::-1], "reversed input")
        single = contract_provider.embed_documents([texts[-1]])
        self._assert_same_vectors(contract_provider, [forward.vectors[-1]], single.vectors, "last text alone")

    def test_embedding_dimension_consistent_and_declared(self, contract_provider: Provider) -> None:
        """Every vector has the same, declared dimension."""
        self._require(contract_provider, "embeddings")
        result = contract_provider.embed_documents(list(self.sample_texts[:3]))
        dims = {len(v) for v in result.vectors}
        assert len(dims) == 1, f"vectors of mixed dimensions {sorted(dims)}"
        (dim,) = dims
        assert result.dimension == dim
        query = contract_provider.embed_text(self.sample_texts[0])
        self._assert_vector(contract_provider, query.vector, "query vector")
        assert query.dimension == dim, f"query vector has dimension {query.dimension}, documents {dim}"
        declared = contract_provider.embedding_dimension
        if declared is not None:
            assert dim == declared, f"vectors have dimension {dim}, the provider declares {declared}"
        caps_dim = self._caps(contract_provider).embedding_dimension
        if caps_dim is not None:
            assert dim == caps_dim, f"vectors have dimension {dim}, capabilities declare {caps_dim}"

    def test_embeddings_normalised_when_declared(self, contract_provider: Provider) -> None:
        """Vectors are unit length when normalized_embeddings=True."""
        self._require(contract_provider, "embeddings")
        if not self._caps(contract_provider).normalized_embeddings:
            pytest.skip("not applicable: the provider does not declare normalized_embeddings")
        result = contract_provider.embed_documents(list(self.sample_texts[:3]))
        query = contract_provider.embed_text(self.sample_texts[3])
        for i, vector in enumerate([*result.vectors, query.vector]):
            assert math.isclose(_norm(vector), 1.0, abs_tol=1e-3), f"vector {i} has norm {_norm(vector):.5f}, not 1"

    def test_embed_empty_list_makes_no_request(
        self, contract_provider: Provider, contract_requests: RequestLog, contract_cassette: Cassette | None
    ) -> None:
        """Embedding an empty list returns no vectors and sends nothing."""
        self._require(contract_provider, "embeddings")
        result = contract_provider.embed_documents([])
        assert result.vectors == []
        assert isinstance(result.model, str)
        assert result.model, "the empty result names no model"
        result = _run(contract_provider.aembed_documents([]))
        assert result.vectors == []
        self._assert_no_request(contract_requests, contract_cassette)

    def test_embed_empty_string_raises_invalid_input(
        self, contract_provider: Provider, contract_requests: RequestLog, contract_cassette: Cassette | None
    ) -> None:
        """An empty string raises InvalidInputError before any request."""
        self._require(contract_provider, "embeddings")
        for bad in ("", "   ", "\n\t"):
            with pytest.raises(InvalidInputError):
                contract_provider.embed_documents(["fine", bad])
            with pytest.raises(InvalidInputError):
                contract_provider.embed_text(bad)
            with pytest.raises(InvalidInputError):
                _run(contract_provider.aembed_text(bad))
        self._assert_no_request(contract_requests, contract_cassette)

    def test_embed_wrong_input_types_raise_invalid_input(
        self, contract_provider: Provider, contract_requests: RequestLog, contract_cassette: Cassette | None
    ) -> None:
        """Wrong input types raise InvalidInputError before any request."""
        self._require(contract_provider, "embeddings")
        bad_calls: list[Callable[[], Any]] = [
            lambda: contract_provider.embed_documents("a single string"),
            lambda: contract_provider.embed_documents(["ok", 42]),  # type: ignore[list-item]
            lambda: contract_provider.embed_documents(None),  # type: ignore[arg-type]
            lambda: contract_provider.embed_text(["a", "list"]),  # type: ignore[arg-type]
        ]
        for call in bad_calls:
            with pytest.raises(InvalidInputError):
                call()
        self._assert_no_request(contract_requests, contract_cassette)

    def test_embed_unicode_text(self, contract_provider: Provider) -> None:
        """Non-ASCII text embeds."""
        self._require(contract_provider, "embeddings")
        texts = list(self.unicode_texts)
        result = contract_provider.embed_documents(texts)
        assert len(result.vectors) == len(texts)
        for i, vector in enumerate(result.vectors):
            self._assert_vector(contract_provider, vector, f"vector of {texts[i]!r}")
        assert len({len(v) for v in result.vectors}) == 1
        query = contract_provider.embed_text(texts[1])
        assert query.dimension == len(result.vectors[0])

    def test_embed_very_long_text(self, contract_provider: Provider) -> None:
        """Very long text is truncated or refused with a clear error, as declared by ``long_text_behaviour``."""
        self._require(contract_provider, "embeddings")
        vocabulary = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa")
        text = " ".join(vocabulary[i % len(vocabulary)] + str(i % 97) for i in range(self.long_text_words))
        if contract_provider.long_text_behaviour == "truncate":
            result = contract_provider.embed_documents([text])
            assert len(result.vectors) == 1
            self._assert_vector(contract_provider, result.vectors[0], "long-text vector")
        else:
            with pytest.raises(InvalidInputError) as excinfo:
                contract_provider.embed_documents([text])
            assert str(excinfo.value), "the long-text error has no message"

    def _check_batches(self, provider: Provider, log: RequestLog, n: int, tag: str) -> None:
        size = provider.max_batch_size  # the instance's limit (settings may lower the class's)
        texts = self._texts(n, tag)
        result = provider.embed_documents(texts)
        assert len(result.vectors) == n, f"{n} texts gave {len(result.vectors)} vectors"
        expected = [min(size, n - start) for start in range(0, n, size)]
        assert log.batch_sizes() == expected, (
            f"with max_batch_size={size}, {n} texts were sent in batches {log.batch_sizes()}, expected {expected}"
        )
        assert len({len(v) for v in result.vectors}) == 1

    def test_embed_batch_at_max_size(self, contract_provider: Provider, contract_requests: RequestLog) -> None:
        """A batch of exactly max_batch_size texts is one request."""
        self._require(contract_provider, "embeddings")
        size = contract_provider.max_batch_size
        self._check_batches(contract_provider, contract_requests, size, "at")

    def test_embed_batch_one_above_max_size(self, contract_provider: Provider, contract_requests: RequestLog) -> None:
        """Max_batch_size + 1 texts are split into requests within the limit."""
        self._require(contract_provider, "embeddings")
        size = contract_provider.max_batch_size
        self._check_batches(contract_provider, contract_requests, size + 1, "above")

    def test_embed_batch_one_below_max_size(self, contract_provider: Provider, contract_requests: RequestLog) -> None:
        """Max_batch_size - 1 texts are one request."""
        self._require(contract_provider, "embeddings")
        size = contract_provider.max_batch_size
        if size < 2:
            pytest.skip("not applicable: max_batch_size is 1, so one below is an empty batch")
        self._check_batches(contract_provider, contract_requests, size - 1, "below")

    # ================================================================== generation
    def test_generate_returns_text_and_finish_reason(self, contract_provider: Provider) -> None:
        """``generate()`` returns non-empty text, a finish reason and a model id."""
        self._require(contract_provider, "generation")
        self._assert_generation(contract_provider.generate(self.prompt, dict(self.generation_options)))

    def test_generate_accepts_message_list(self, contract_provider: Provider) -> None:
        """``generate()`` accepts a list of role/content messages."""
        self._require(contract_provider, "generation")
        messages = [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": self.prompt},
        ]
        self._assert_generation(contract_provider.generate(messages, dict(self.generation_options)))

    def test_invalid_options_fail_before_any_request(
        self, contract_provider: Provider, contract_requests: RequestLog, contract_cassette: Cassette | None
    ) -> None:
        """Invalid generation options raise InvalidInputError before any request."""
        self._require(contract_provider, "generation")
        for options in self.invalid_options:
            with pytest.raises(InvalidInputError) as excinfo:
                contract_provider.generate(self.prompt, dict(options))
            assert any(key in str(excinfo.value) for key in options), f"the error for {options} names no option"
            with pytest.raises(InvalidInputError):
                _run(contract_provider.agenerate(self.prompt, dict(options)))
            if self._caps(contract_provider).streaming:
                with pytest.raises(InvalidInputError):
                    list(contract_provider.stream(self.prompt, dict(options)))
        with pytest.raises(InvalidInputError):
            contract_provider.generate(self.prompt, "max_tokens=3")  # type: ignore[arg-type]
        self._assert_no_request(contract_requests, contract_cassette)

    def test_empty_prompt_fails_before_any_request(
        self, contract_provider: Provider, contract_requests: RequestLog, contract_cassette: Cassette | None
    ) -> None:
        """An empty prompt raises InvalidInputError before any request."""
        self._require(contract_provider, "generation")
        bad_prompts: list[Any] = [
            "",
            "   ",
            [],
            [{"role": "user", "content": ""}],
            [{"role": "wizard", "content": "x"}],
        ]
        for bad in bad_prompts:
            with pytest.raises(InvalidInputError):
                contract_provider.generate(bad)
        self._assert_no_request(contract_requests, contract_cassette)

    def test_stream_yields_chunks_with_final_finish_reason(self, contract_provider: Provider) -> None:
        """``stream()`` yields chunks; only the last carries a finish reason."""
        self._require(contract_provider, "streaming")
        chunks = list(contract_provider.stream(self.prompt, dict(self.generation_options)))
        self._assert_stream(chunks)

    def test_stream_concatenation_equals_generate(self, contract_provider: Provider) -> None:
        """The streamed text equals generate()'s text (deterministic settings)."""
        self._require(contract_provider, "streaming")
        if not self._caps(contract_provider).deterministic:
            pytest.skip("not applicable: the provider does not declare deterministic output")
        result = self._assert_generation(contract_provider.generate(self.prompt, dict(self.generation_options)))
        text = self._assert_stream(list(contract_provider.stream(self.prompt, dict(self.generation_options))))
        assert text == result.text, f"streamed text {text!r} differs from generated text {result.text!r}"

    # ================================================================== tools and structured output
    def _tool_options(self, **extra: Any) -> dict[str, Any]:
        return {**self.tool_options, "tools": [dict(self.tool)], **extra}

    def _require_instructions(self, provider: Provider, capability: str) -> None:
        self._require(provider, capability)
        if getattr(self._caps(provider), capability) == "emulated" and not self.model_follows_instructions:
            pytest.skip(
                f"not applicable: {capability} are emulated through prompts and the test backend's replies "
                "ignore prompts (model_follows_instructions=False)"
            )

    def test_tool_capabilities_are_declared(self, contract_provider: Provider, contract_requests: RequestLog) -> None:
        """``tools`` / ``structured_output`` are declared native, emulated or None, and refused when None."""
        caps = self._caps(contract_provider)
        for name in ("tools", "structured_output"):
            assert getattr(caps, name) in ("native", "emulated", None), (
                f"capabilities.{name} is not native/emulated/None"
            )
        if (caps.tools or caps.structured_output) and not caps.generation:
            pytest.fail("tools or structured_output are declared without generation")
        if caps.generation and caps.tools is None:
            with pytest.raises(UnsupportedOperation):
                contract_provider.generate(self.tool_prompt, self._tool_options())
        if caps.generation and caps.structured_output is None:
            with pytest.raises(UnsupportedOperation):
                contract_provider.generate(self.structured_prompt, {"response_format": dict(self.structured_schema)})
        assert contract_requests.total == 0, "an undeclared capability sent a request instead of refusing"

    def test_invalid_tool_requests_fail_before_any_request(
        self, contract_provider: Provider, contract_requests: RequestLog, contract_cassette: Cassette | None
    ) -> None:
        """Invalid tool schemas, duplicate names, an unknown tool_choice, a stray tool result: refused before
        any request."""
        self._require(contract_provider, "tools")
        tool = dict(self.tool)
        bad_options: list[dict[str, Any]] = [
            {"tools": [tool, tool]},
            {"tools": [{**tool, "parameters": {"type": "object", "properties": {"x": {"type": "no-such-type"}}}}]},
            {"tools": [tool], "tool_choice": {"name": "no_such_tool"}},
            {"tool_choice": "required"},
        ]
        for options in bad_options:
            with pytest.raises(InvalidInputError):
                contract_provider.generate(self.tool_prompt, options)
            with pytest.raises(InvalidInputError):
                _run(contract_provider.agenerate(self.tool_prompt, options))
        stray = [
            {"role": "user", "content": self.tool_prompt},
            {"role": "tool", "content": self.tool_result, "tool_call_id": "call_never_made"},
        ]
        with pytest.raises(InvalidInputError):
            contract_provider.generate(stray, self._tool_options())
        self._assert_no_request(contract_requests, contract_cassette)

    def test_tool_call_round_trip(self, contract_provider: Provider) -> None:
        """A required tool call is well-formed and schema-valid; its result leads to a text answer."""
        self._require(contract_provider, "generation")
        self._require_instructions(contract_provider, "tools")
        name = str(self.tool["name"])
        first = contract_provider.generate(self.tool_prompt, self._tool_options(tool_choice={"name": name}))
        assert len(first.tool_calls) >= 1, "tool_choice named a tool, but the reply has no tool call"
        call = first.tool_calls[0]
        assert call.name == name, f"the reply called {call.name!r}, not the required {name!r}"
        assert call.id, "the tool call has no id"
        from hayswitch.tooling import schema_errors

        assert not schema_errors(call.arguments, dict(self.tool["parameters"])), "the arguments break the tool schema"
        history: list[dict[str, Any]] = [
            {"role": "user", "content": self.tool_prompt},
            {"role": "assistant", "content": first.text, "tool_calls": [c.model_dump() for c in first.tool_calls]},
            *({"role": "tool", "content": self.tool_result, "tool_call_id": c.id} for c in first.tool_calls),
        ]
        final = contract_provider.generate(history, self._tool_options(tool_choice="none"))
        assert final.tool_calls == [], "tool_choice 'none' still produced a tool call"
        self._assert_generation(final)

    def test_stream_tool_call(self, contract_provider: Provider) -> None:
        """A streamed tool call arrives as deltas that assemble into a call of the required tool."""
        self._require(contract_provider, "streaming")
        self._require_instructions(contract_provider, "tools")
        from hayswitch.tooling import ToolCallAssembler

        name = str(self.tool["name"])
        chunks = list(contract_provider.stream(self.tool_prompt, self._tool_options(tool_choice={"name": name})))
        assert chunks, "the stream yielded no chunk"
        assert chunks[-1].finish_reason in _FINISH_REASONS, "the last chunk carries no finish reason"
        assembler = ToolCallAssembler(contract_provider.name)
        for chunk in chunks:
            assembler.feed(chunk.tool_calls)
        calls = assembler.calls()
        assert calls, "the streamed reply has no tool-call deltas"
        assert calls[0].name == name, f"the streamed call is of {calls[0].name!r}, not the required {name!r}"
        assert calls[0].id, "the streamed tool call has no id"

    def test_structured_output_is_schema_valid(self, contract_provider: Provider) -> None:
        """With ``response_format``, the reply is JSON valid against the schema."""
        self._require(contract_provider, "generation")
        self._require_instructions(contract_provider, "structured_output")
        from hayswitch.tooling import schema_errors

        options = {**self.tool_options, "response_format": dict(self.structured_schema)}
        result = contract_provider.generate(self.structured_prompt, options)
        try:
            value = json.loads(result.text)
        except ValueError:
            pytest.fail(f"the reply is not JSON: {result.text[:200]!r}")
        problems = schema_errors(value, dict(self.structured_schema))
        assert not problems, f"the reply breaks the schema: {problems}"

    # ================================================================== async twins
    def test_async_embed_documents_matches_sync(self, contract_provider: Provider) -> None:
        """``aembed_documents()`` gives the same vectors as embed_documents()."""
        self._require(contract_provider, "embeddings")
        texts = list(self.sample_texts[:3])
        sync = contract_provider.embed_documents(texts)
        asynchronous = _run(contract_provider.aembed_documents(texts))
        self._assert_same_vectors(contract_provider, sync.vectors, asynchronous.vectors, "aembed_documents")
        assert asynchronous.model == sync.model

    def test_async_embed_text_matches_sync(self, contract_provider: Provider) -> None:
        """``aembed_text()`` gives the same vector as embed_text()."""
        self._require(contract_provider, "embeddings")
        sync = contract_provider.embed_text(self.sample_texts[2])
        asynchronous = _run(contract_provider.aembed_text(self.sample_texts[2]))
        self._assert_same_vectors(contract_provider, [sync.vector], [asynchronous.vector], "aembed_text")

    def test_async_generate_matches_sync(self, contract_provider: Provider) -> None:
        """``agenerate()`` gives the same reply as generate()."""
        self._require(contract_provider, "generation")
        sync = self._assert_generation(contract_provider.generate(self.prompt, dict(self.generation_options)))
        asynchronous = self._assert_generation(
            _run(contract_provider.agenerate(self.prompt, dict(self.generation_options)))
        )
        if self._caps(contract_provider).deterministic:
            assert asynchronous.text == sync.text
            assert asynchronous.finish_reason == sync.finish_reason

    def test_async_stream_matches_sync(self, contract_provider: Provider) -> None:
        """``astream()`` gives the same chunks as stream()."""
        self._require(contract_provider, "streaming")
        sync = self._assert_stream(list(contract_provider.stream(self.prompt, dict(self.generation_options))))
        chunks = _run(_collect(contract_provider.astream(self.prompt, dict(self.generation_options))))
        asynchronous = self._assert_stream(chunks)
        if self._caps(contract_provider).deterministic:
            assert asynchronous == sync

    # ================================================================== error mapping (fault server)
    @pytest.fixture
    def fault_provider(self, contract_env: None) -> Iterator[tuple[FaultServer, Provider]]:
        """A provider pointed at a :class:`FaultServer` (no cassette, no retries)."""
        if not self.fault_url_setting:
            pytest.skip("not applicable: no fault_url_setting declared (the setting holding the server address)")
        from hayswitch.testing.faults import FaultServer

        with FaultServer() as server:
            settings = {**dict(self.settings), self.fault_url_setting: server.url + self.fault_url_suffix}
            provider = get_provider(self.provider_name, retry=NO_RETRY, **settings)
            try:
                yield server, provider
            finally:
                provider.close()

    def _fault_call(self, provider: Provider) -> Callable[[], Any]:
        caps = self._caps(provider)
        if caps.embeddings:
            return lambda: provider.embed_text("hello")
        if caps.generation:
            return lambda: provider.generate(self.prompt, dict(self.generation_options))
        pytest.skip("not applicable: the provider declares neither embeddings nor generation")

    @pytest.mark.parametrize(
        ("status", "expected"),
        [(401, AuthenticationError), (403, PermissionDeniedError), (404, NotFoundError), (500, ServerError)],
    )
    def test_http_errors_map_to_typed_errors(
        self, fault_provider: tuple[FaultServer, Provider], status: int, expected: type[ProviderError]
    ) -> None:
        """HTTP 401/403/404/5xx answers raise the matching typed hayswitch error, one request each."""
        server, provider = fault_provider
        server.fault(status)
        with pytest.raises(expected) as excinfo:
            self._fault_call(provider)()
        assert excinfo.value.status_code == status, f"the error does not carry HTTP {status}"
        assert server.requests == 1, f"{server.requests} requests for one call without retries"

    def test_rate_limit_carries_retry_after(self, fault_provider: tuple[FaultServer, Provider]) -> None:
        """HTTP 429 raises a retryable RateLimitError carrying the server's Retry-After."""
        server, provider = fault_provider
        server.fault(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "7"})
        with pytest.raises(RateLimitError) as excinfo:
            self._fault_call(provider)()
        assert excinfo.value.retryable, "a rate limit must be retryable"
        assert excinfo.value.retry_after == 7.0, f"retry_after is {excinfo.value.retry_after!r}, the server said 7"

    def test_malformed_body_is_a_response_error(self, fault_provider: tuple[FaultServer, Provider]) -> None:
        """A 200 answer that is not what the API promises raises a ResponseError."""
        server, provider = fault_provider
        server.fault(200, "this is not JSON {")
        with pytest.raises(ResponseError):
            self._fault_call(provider)()

    def test_credentials_never_appear_in_errors(self, fault_provider: tuple[FaultServer, Provider]) -> None:
        """A server that echoes the credential in its error never gets it into the error or its chain."""
        server, provider = fault_provider
        server.fault(401, {"error": {"message": "invalid credential {key} (sent as: {auth})"}})
        with pytest.raises(ProviderError) as excinfo:
            self._fault_call(provider)()
        values = []
        for secret in _secrets_in(provider.settings):
            try:
                value = secret.resolve_value()
            except MissingSecretError:
                continue
            if value and len(value) >= 4:
                values.append(value)
        if not values:
            pytest.skip("not applicable: the configured settings hold no credential")
        chain: BaseException | None = excinfo.value
        while chain is not None:
            for view in (str(chain), repr(chain)):
                leaked = [v for v in values if v in view]
                assert not leaked, (
                    f"a credential appears in {type(chain).__name__} (the error or its chain): {view[:200]}"
                )
            chain = chain.__cause__ or chain.__context__

    # ================================================================== lifecycle
    def test_close_is_idempotent(self, contract_provider: Provider) -> None:
        """``close()`` can be called twice."""
        contract_provider.close()
        contract_provider.close()
        _run(contract_provider.aclose())


def cassette_dir_for(test_file: str | os.PathLike[str], provider: str) -> Path:
    """``<repo>/cassettes/<provider>`` for a test file under ``<repo>/tests/...`` (helper)."""
    path = Path(test_file).resolve()
    for parent in path.parents:
        if (parent / "cassettes").is_dir() and (parent / "tests").is_dir():
            return parent / "cassettes" / provider
    raise ConfigurationError(f"No 'cassettes' directory next to a 'tests' directory above {path}.")


def contract_test_class(
    provider: str,
    *,
    live: bool = False,
    cassette_dir: str | os.PathLike[str] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> type[ProviderContractTests]:
    """A :class:`ProviderContractTests` subclass configured from the provider's declaration.

    The declaration is the :class:`hayswitch.ContractDeclaration` its plugin registers through the
    ``register_contracts`` hook (or, for older providers, ``Provider.contract_settings()``). A
    provider's test module needs one line, and ``hayswitch check`` builds the very same class::

        from hayswitch.testing import contract_test_class

        TestAcmeContract = contract_test_class("acme")

    :param live: real requests with the declared ``live_settings``, no cassettes.
    :param cassette_dir: replay from this directory instead of the declared one.
    :param settings: provider settings overriding the declared ones.
    :raises ProviderNotFoundError: if the provider is not installed.
    :raises ConfigurationError: for an unusable declaration, or when replaying without cassettes.
    """
    from hayswitch.api import declared_contract
    from hayswitch.contracts import legacy_contract
    from hayswitch.testing.cassettes import record_mode

    declaration = declared_contract(provider)
    if declaration is None:
        declaration = legacy_contract(get_provider_class(provider), live=live)
    attributes = declaration.kit_attributes(live=live)
    if settings:
        attributes["settings"] = {**dict(attributes.get("settings") or {}), **dict(settings)}
    if not live and cassette_dir is not None:
        attributes["cassette_dir"] = Path(cassette_dir)
    directory = attributes.get("cassette_dir")
    if directory is not None:
        directory = Path(directory)
        if record_mode() != "none":
            directory.mkdir(parents=True, exist_ok=True)
        elif not directory.is_dir():
            raise ConfigurationError(
                f"The cassette directory {directory} of provider {provider!r} does not exist. Record the cassettes "
                "first (HAYSWITCH_RECORD=1 pytest <the provider's contract test module>, with the real credentials "
                "in the environment), pass --cassette-dir, or run 'hayswitch check --live' against the real service."
            )
        attributes["cassette_dir"] = directory
    attributes["provider_name"] = provider
    attributes["__module__"] = __name__
    attributes["__qualname__"] = declaration.class_name
    cls = type(declaration.class_name, (ProviderContractTests,), attributes)
    return typing.cast("type[ProviderContractTests]", cls)


def check_descriptions() -> dict[str, str]:
    """What each check of the kit verifies (``check`` = test name without ``test_``), from the first
    line of each test's docstring -- the single source ``hayswitch check`` shows."""
    out: dict[str, str] = {}
    for attr in dir(ProviderContractTests):
        if not attr.startswith("test_"):
            continue
        doc = (getattr(ProviderContractTests, attr).__doc__ or "").strip()
        out[attr.removeprefix("test_")] = " ".join(doc.split("\n\n", 1)[0].split()).rstrip(".")
    return out
