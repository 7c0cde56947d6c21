"""Fallback chains: when a provider has failed for good, try the next one.

A :class:`FallbackChain` wraps an ordered list of providers and offers the same public methods
as a :class:`~hayswitch.Provider` (``generate``, ``stream``, ``embed_documents``, ``embed_text``
and the ``a*`` twins), so a component can use a chain wherever it uses a provider.

**When the next member is tried.** Each member runs under its own retry policy first; the chain
moves on only when that member has *given up*:

* on a :class:`~hayswitch.errors.ProviderError` that the retry policy exhausted (rate limits,
  timeouts, connection errors, 5xx, malformed responses), and
* on a :class:`~hayswitch.errors.ProviderError` the policy never retries because it is specific
  to that backend: authentication, permission, model/resource not found, and an operation the
  backend rejected as unsupported at request time.

**When it is not** (the error is raised at once, because every backend would fail the same way
or because the caller must act):

* :class:`~hayswitch.errors.InvalidInputError` and :class:`~hayswitch.errors.ConfigurationError`
  (raised before any request; fix the call or the configuration),
* :class:`~hayswitch.errors.InvalidRequestError` (the backend rejected this request as
  malformed) and :class:`~hayswitch.errors.ContentFilteredError` (a moderation decision is not
  routed around),
* anything that is not a hayswitch error (a bug).

When every member fails, :class:`FallbackExhaustedError` is raised, listing each member's error
(the last one is its ``__cause__``). Every result carries what happened in its meta::

    result.meta["fallback"] == {
        "used": "dev",                 # the member's label (profile or provider name)
        "provider": "local",           # the provider that answered
        "position": 1,
        "skipped": [{"provider": "gradient", "error": "RateLimitError", "message": "..."}],
    }

**Embeddings** may only fall back across providers that produce the *same embedding space*:
the same model id and the same, known dimension (and, for members of the same provider class,
the same vector settings). Anything else is refused with a
:class:`~hayswitch.errors.ConfigurationError` when the chain is built, because mixing vectors of
two spaces in one index silently ruins retrieval.

Building chains from configuration (profiles in ``hayswitch.toml`` have a ``fallbacks`` list)::

    [profiles.prod]
    provider = "gradient"
    fallbacks = ["dev", "openai"]      # profile names or provider names

    chain = build_fallback_chain(profile="prod")          # gradient, then dev's provider, then openai
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hayswitch.errors import (
    ConfigurationError,
    ContentFilteredError,
    InvalidRequestError,
    ProviderError,
)
from hayswitch.provider import MessagesInput, Provider, ProviderSettings
from hayswitch.retry import RetryPolicy
from hayswitch.routing import ChainPlan, FallbackSpec, ProviderPlan, Purpose, plan_chain, plan_fallbacks
from hayswitch.types import (
    Capabilities,
    EmbeddingResult,
    GenerationChunk,
    GenerationOptions,
    GenerationResult,
    TextEmbedding,
)

__all__ = [
    "NO_FALLBACK_ERRORS",
    "FallbackChain",
    "FallbackExhaustedError",
    "FallbackSpec",
    "Purpose",
    "build_fallback_chain",
    "chain_from_plan",
    "create_chain",
    "check_embedding_spaces",
    "resolve_fallback_specs",
    "triggers_fallback",
]

T = TypeVar("T")
"""A fallback entry: a profile or provider name, or ``{"provider": name, "settings": {...}}`` /
``{"profile": name, "settings": {...}}``."""

NO_FALLBACK_ERRORS: tuple[type[ProviderError], ...] = (InvalidRequestError, ContentFilteredError)
"""Provider errors that are raised at once instead of trying the next member."""


def triggers_fallback(exc: BaseException) -> bool:
    """Whether the chain tries its next member after ``exc`` (see the module docs)."""
    return isinstance(exc, ProviderError) and not isinstance(exc, NO_FALLBACK_ERRORS)


class FallbackExhaustedError(ProviderError):
    """Every member of a fallback chain failed.

    :ivar errors: ``(member name, error)`` for each member, in chain order.
    """

    def __init__(self, errors: Sequence[tuple[str, ProviderError]], operation: str) -> None:
        self.errors = list(errors)
        last = self.errors[-1][1] if self.errors else None
        detail = "; ".join(f"{name}: {type(err).__name__}: {err}" for name, err in self.errors)
        super().__init__(
            f"Every provider of the fallback chain failed to {operation} ({detail}). Check the backends' "
            "status and credentials, or add another fallback.",
            status_code=getattr(last, "status_code", None),
            retryable=False,
        )


@dataclass(frozen=True)
class _Member:
    name: str
    provider: Provider


def _describe(exc: ProviderError) -> dict[str, Any]:
    return {"error": type(exc).__name__, "message": str(exc), "status_code": exc.status_code}


class FallbackChain:
    """An ordered chain of providers used as one (see the module docs).

    :param providers: the members, first is primary; each a :class:`~hayswitch.Provider` or a
        ``(label, provider)`` pair (the label shows in meta; default: the provider's name).
    :param purpose: ``"generation"`` or ``"embeddings"`` (embeddings require one embedding space).
    :raises ConfigurationError: if the chain is empty, a member lacks the capability, or (for
        embeddings) the members do not share one embedding space.
    """

    def __init__(
        self,
        providers: Sequence[Provider | tuple[str, Provider]],
        *,
        purpose: Purpose = "generation",
    ) -> None:
        members: list[_Member] = []
        for item in providers:
            if isinstance(item, tuple):
                label, provider = item
            else:
                label, provider = item.name, item
            if not isinstance(provider, Provider):
                raise ConfigurationError(f"Fallback chain members must be providers, got {type(provider).__name__}.")
            members.append(_Member(str(label), provider))
        if not members:
            raise ConfigurationError("A fallback chain needs at least one provider.")
        if purpose not in ("generation", "embeddings"):
            raise ConfigurationError(f"Fallback purpose must be 'generation' or 'embeddings', not {purpose!r}.")
        capability = "generation" if purpose == "generation" else "embeddings"
        for m in members:
            if not getattr(m.provider.capabilities, capability):
                raise ConfigurationError(
                    f"Fallback member {m.name!r} (provider {m.provider.name!r}) does not support {capability}; "
                    f"remove it from the {purpose} fallbacks."
                )
        if purpose == "embeddings":
            check_embedding_spaces([(m.name, m.provider) for m in members])
        self._members = members
        self.purpose: Purpose = purpose

    # ------------------------------------------------------------------ provider-like surface
    @property
    def members(self) -> list[tuple[str, Provider]]:
        """``(label, provider)`` in chain order."""
        return [(m.name, m.provider) for m in self._members]

    @property
    def primary(self) -> Provider:
        return self._members[0].provider

    @property
    def name(self) -> str:
        """The primary's name (the chain stands for it in cache keys and provenance)."""
        return self.primary.name

    @property
    def settings(self) -> ProviderSettings:
        return self.primary.settings

    @property
    def capabilities(self) -> Capabilities:
        """The primary's capabilities; ``streaming`` only if every member streams."""
        caps = self.primary.capabilities
        streaming = all(m.provider.capabilities.streaming for m in self._members)
        return caps if caps.streaming == streaming else caps.model_copy(update={"streaming": streaming})

    @property
    def max_batch_size(self) -> int:
        """The smallest member's batch limit, so one batch is one request on whichever member serves it."""
        return min(m.provider.max_batch_size for m in self._members)

    @property
    def default_batch_size(self) -> int:
        """The primary's preferred batch size, within every member's limit."""
        return min(self.primary.default_batch_size, self.max_batch_size)

    @property
    def default_concurrency(self) -> int:
        """The primary's preferred concurrency (fallbacks serve only the batches it gave up on)."""
        return self.primary.default_concurrency

    @property
    def retry_policy(self) -> RetryPolicy:
        return self.primary.retry_policy

    @property
    def embedding_model_id(self) -> str:
        return self.primary.embedding_model_id

    @property
    def generation_model_id(self) -> str:
        return self.primary.generation_model_id

    @property
    def embedding_dimension(self) -> int | None:
        return self.primary.embedding_dimension

    def embedding_space(self) -> dict[str, Any]:
        return self.primary.embedding_space()

    def vector_settings_fingerprint(self) -> dict[str, Any]:
        return self.primary.vector_settings_fingerprint()

    def validate_options(self, options: GenerationOptions | Mapping[str, Any] | None) -> GenerationOptions:
        """Validate options for every member (so a fallback never fails on options the primary
        accepted); returns the primary's validated options."""
        validated = [m.provider.validate_options(_as_mapping(options)) for m in self._members]
        return validated[0]

    def __repr__(self) -> str:
        names = " -> ".join(m.name for m in self._members)
        return f"FallbackChain({names}, purpose={self.purpose!r})"

    def close(self) -> None:
        """Close every member (idempotent)."""
        for m in self._members:
            m.provider.close()

    async def aclose(self) -> None:
        for m in self._members:
            await m.provider.aclose()

    def __enter__(self) -> FallbackChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the loop
    def _meta(self, position: int, skipped: list[dict[str, Any]]) -> dict[str, Any]:
        member = self._members[position]
        return {"used": member.name, "provider": member.provider.name, "position": position, "skipped": skipped}

    def _run(self, operation: str, call: Callable[[Provider], T]) -> tuple[T, dict[str, Any]]:
        skipped: list[dict[str, Any]] = []
        errors: list[tuple[str, ProviderError]] = []
        for position, m in enumerate(self._members):
            try:
                return call(m.provider), self._meta(position, skipped)
            except ProviderError as exc:
                if not triggers_fallback(exc):
                    raise
                errors.append((m.name, exc))
                skipped.append({"provider": m.name, **_describe(exc)})
        raise FallbackExhaustedError(errors, operation) from errors[-1][1]

    async def _arun(self, operation: str, call: Callable[[Provider], Awaitable[T]]) -> tuple[T, dict[str, Any]]:
        skipped: list[dict[str, Any]] = []
        errors: list[tuple[str, ProviderError]] = []
        for position, m in enumerate(self._members):
            try:
                return await call(m.provider), self._meta(position, skipped)
            except ProviderError as exc:
                if not triggers_fallback(exc):
                    raise
                errors.append((m.name, exc))
                skipped.append({"provider": m.name, **_describe(exc)})
        raise FallbackExhaustedError(errors, operation) from errors[-1][1]

    # ------------------------------------------------------------------ generation
    def generate(
        self, messages: MessagesInput, options: GenerationOptions | Mapping[str, Any] | None = None
    ) -> GenerationResult:
        """Generate with the first member that succeeds; ``meta["fallback"]`` says which."""
        self.validate_options(options)
        opts = _as_mapping(options)
        result, meta = self._run("generate", lambda p: p.generate(messages, opts))
        result.meta["fallback"] = meta
        return result

    async def agenerate(
        self, messages: MessagesInput, options: GenerationOptions | Mapping[str, Any] | None = None
    ) -> GenerationResult:
        """Async twin of :meth:`generate`."""
        self.validate_options(options)
        opts = _as_mapping(options)
        result, meta = await self._arun("generate", lambda p: p.agenerate(messages, opts))
        result.meta["fallback"] = meta
        return result

    def stream(
        self, messages: MessagesInput, options: GenerationOptions | Mapping[str, Any] | None = None
    ) -> Iterator[GenerationChunk]:
        """Stream from the first member whose stream opens (falls back only before the first
        chunk: once text has been yielded, switching backends would duplicate or garble it).
        The first chunk's meta carries ``"fallback"``."""
        self.validate_options(options)
        opts = _as_mapping(options)

        def open_stream(p: Provider) -> tuple[GenerationChunk | None, Iterator[GenerationChunk]]:
            iterator = iter(p.stream(messages, opts))
            return next(iterator, None), iterator

        (first, rest), meta = self._run("stream", open_stream)
        return _chain_first(first, rest, meta)

    async def astream(
        self, messages: MessagesInput, options: GenerationOptions | Mapping[str, Any] | None = None
    ) -> AsyncIterator[GenerationChunk]:
        """Async twin of :meth:`stream`."""
        self.validate_options(options)
        opts = _as_mapping(options)

        async def open_stream(p: Provider) -> tuple[GenerationChunk | None, AsyncIterator[GenerationChunk]]:
            iterator = aiter(p.astream(messages, opts))
            try:
                return await anext(iterator), iterator
            except StopAsyncIteration:
                return None, iterator

        (first, rest), meta = await self._arun("stream", open_stream)
        if first is None:
            return
        first.meta["fallback"] = meta
        yield first
        async for chunk in rest:
            yield chunk

    # ------------------------------------------------------------------ embeddings
    def embed_documents(self, texts: Sequence[str]) -> EmbeddingResult:
        """Embed with the first member that succeeds (all members share one embedding space)."""
        items = list(texts)
        result, meta = self._run("embed documents", lambda p: p.embed_documents(items))
        result.meta["fallback"] = meta
        return result

    async def aembed_documents(self, texts: Sequence[str]) -> EmbeddingResult:
        items = list(texts)
        result, meta = await self._arun("embed documents", lambda p: p.aembed_documents(items))
        result.meta["fallback"] = meta
        return result

    def embed_text(self, text: str) -> TextEmbedding:
        result, meta = self._run("embed text", lambda p: p.embed_text(text))
        result.meta["fallback"] = meta
        return result

    async def aembed_text(self, text: str) -> TextEmbedding:
        result, meta = await self._arun("embed text", lambda p: p.aembed_text(text))
        result.meta["fallback"] = meta
        return result


def _chain_first(
    first: GenerationChunk | None, rest: Iterator[GenerationChunk], meta: dict[str, Any]
) -> Iterator[GenerationChunk]:
    if first is None:
        return
    first.meta["fallback"] = meta
    yield first
    yield from rest


def _as_mapping(options: GenerationOptions | Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    # Each member validates against its own options model, so pass plain values along.
    if isinstance(options, GenerationOptions):
        return options.model_dump(exclude_none=True)
    return options


# --------------------------------------------------------------------------- embedding spaces


def check_embedding_spaces(members: Sequence[tuple[str, Provider]]) -> None:
    """Refuse an embedding fallback across different embedding spaces.

    Members must report the same model id and the same known dimension; members of the same
    provider class must also have the same vector settings.

    :raises ConfigurationError: naming the member that differs and how.
    """
    if len(members) < 2:
        return
    first_name, first = members[0]
    space = first.embedding_space()
    for name, provider in members:
        other = provider.embedding_space()
        for key in ("model", "dimension"):
            if other.get(key) is None:
                raise ConfigurationError(
                    f"Cannot verify the embedding space of fallback member {name!r} (provider {provider.name!r}): its "
                    f"{'model id' if key == 'model' else 'embedding dimension'} is not known before the first "
                    "request. Set it explicitly in the provider's settings (e.g. 'dimensions'), or drop the "
                    "embedding fallback."
                )
        if (other["model"], other["dimension"]) != (space["model"], space["dimension"]):
            raise ConfigurationError(
                f"Embedding fallback refused: {name!r} produces {other['model']!r} vectors of dimension "
                f"{other['dimension']}, but {first_name!r} produces {space['model']!r} vectors of dimension "
                f"{space['dimension']}. Vectors from different embedding spaces cannot share an index; "
                "embedding fallbacks must use the same model id and dimension."
            )
        if type(provider) is type(first) and (
            provider.vector_settings_fingerprint() != first.vector_settings_fingerprint()
        ):
            raise ConfigurationError(
                f"Embedding fallback refused: {name!r} and {first_name!r} use the same model but different "
                f"vector settings ({provider.vector_settings_fingerprint()} vs "
                f"{first.vector_settings_fingerprint()}), which change the vectors."
            )


# --------------------------------------------------------------------------- configuration


def resolve_fallback_specs(
    specs: Sequence[FallbackSpec],
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> list[tuple[str, type[Provider], ProviderSettings]]:
    """Resolve fallback entries to ``(label, provider class, validated settings)`` without
    creating providers (no secret is resolved).

    A string is a profile of ``hayswitch.toml`` if one has that name, otherwise a provider name. A
    provider name takes its ``[providers.<name>]`` settings, the environment and the entry's
    ``settings``, but not the settings of the active profile (that is the failing member's).
    A mapping is ``{"provider": name, "settings": {...}}`` or ``{"profile": name, "settings":
    {...}}`` (settings override the profile's). See :func:`hayswitch.routing.plan_fallbacks`.

    :raises ConfigurationError: for malformed entries, unknown profiles or providers (listing
        what exists), or invalid settings.
    """
    return [(p.label, p.cls, p.settings) for p in plan_fallbacks(specs, environ=environ, cwd=cwd)]


def build_fallback_chain(
    provider: str | Provider | None = None,
    *,
    profile: str | None = None,
    settings: Mapping[str, Any] | None = None,
    fallbacks: Sequence[FallbackSpec] | None = None,
    purpose: Purpose = "generation",
    retry: RetryPolicy | Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> FallbackChain:
    """Create the primary provider and its fallbacks (this is where secrets are resolved).

    :param provider: the primary: a provider name, an existing provider, or None (configured).
    :param profile: the primary's profile; its ``fallbacks`` apply when ``fallbacks`` is None.
    :param settings: explicit settings of the primary.
    :param fallbacks: fallback entries (see :func:`resolve_fallback_specs`); None uses the
        active profile's list.
    :param purpose: ``"generation"`` or ``"embeddings"``.
    :param retry: the retry policy of every member created here.
    :raises ConfigurationError: for unknown names, invalid settings, duplicate members, missing
        capabilities, or (embeddings) members of different embedding spaces.
    """
    policy = RetryPolicy.coerce(retry)
    if isinstance(provider, Provider):
        members = plan_fallbacks(list(fallbacks or []), environ=environ, cwd=cwd)
        seen = {provider.name}
        for member in members:
            if member.label in seen:
                raise ConfigurationError(f"Fallback {member.label!r} appears twice in the chain (or is the primary).")
            seen.add(member.label)
        primary_plan = ProviderPlan(
            label=provider.name, cls=type(provider), settings=provider.settings, resolved=_no_resolution(provider)
        )
        return create_chain(
            ChainPlan(primary=primary_plan, fallbacks=members, purpose=purpose), policy, primary=provider
        )
    chain_plan = plan_chain(
        provider,
        profile=profile,
        settings=settings,
        fallbacks=fallbacks,
        purpose=purpose,
        profile_fallbacks=True,
        environ=environ,
        cwd=cwd,
    )
    return create_chain(chain_plan, policy)


def chain_from_plan(
    plan: ChainPlan,
    primary: Provider,
    retry: RetryPolicy | Mapping[str, Any] | None = None,
    *,
    label: str | None = None,
) -> Provider | FallbackChain:
    """``primary`` alone when ``plan`` has no fallbacks, else a :class:`FallbackChain` headed by it
    with freshly created fallback members (closed again if building the chain fails).

    :param label: the primary's label in the chain (default: its plan's label).
    """
    if not plan.fallbacks:
        return primary
    created: list[Provider] = []
    try:
        members: list[Provider | tuple[str, Provider]] = [(label or plan.primary.label, primary)]
        for member_plan in plan.fallbacks:
            member = member_plan.create(retry)
            created.append(member)
            members.append((member_plan.label, member))
        return FallbackChain(members, purpose=plan.purpose)
    except BaseException:
        for member in created:
            member.close()
        raise


def create_chain(
    plan: ChainPlan, retry: RetryPolicy | Mapping[str, Any] | None = None, *, primary: Provider | None = None
) -> FallbackChain:
    """Create every member of ``plan`` (or use ``primary``) and return the chain, even with no
    fallbacks; providers created here are closed again if building the chain fails."""
    head = primary if primary is not None else plan.primary.create(retry)
    try:
        chain = chain_from_plan(plan, head, retry)
        return chain if isinstance(chain, FallbackChain) else FallbackChain([head], purpose=plan.purpose)
    except BaseException:
        if primary is None:
            head.close()
        raise


def _no_resolution(provider: Provider) -> Any:
    from hayswitch.config import ResolvedConfig

    return ResolvedConfig(provider=provider.name, provider_source="an existing provider instance")
