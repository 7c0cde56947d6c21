"""The resilience options of the hayswitch components: the embedding cache (embedders) and
fallback chains (generators).

* ``cache=`` (embedders): None/False (off, the default), True (``.hayswitch/cache.sqlite`` under
  the working directory) or a file path. The cache is opened on first use and closed by
  ``close()``; it serialises as the value given.
* ``fallbacks=`` (generators, and embedders within one embedding space): profile/provider
  names or ``{"provider"|"profile": name, "settings": {...}}`` mappings tried in order after
  the configured provider gives up (see :mod:`hayswitch.fallback`). For generators, None uses
  the active profile's ``fallbacks`` from ``hayswitch.toml`` and ``[]`` switches them off; for
  embedders, None means none. Fallback members are created (and checked) at ``warm_up()``.

Private to the hayswitch Haystack integration; its API may change.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from hayswitch import ConfigurationError, Provider, RetryPolicy
from hayswitch.cache import EmbeddingCache, resolve_cache
from hayswitch.fallback import FallbackChain, FallbackSpec, chain_from_plan
from hayswitch.routing import ChainPlan, plan_chain, plan_fallbacks

__all__ = ["CacheOption", "FallbackOption", "carry_fallback_meta", "fallback_totals"]


class CacheOption:
    """Mixin: the ``cache`` option of the embedders."""

    cache: bool | str | None
    _cache_instance: EmbeddingCache | None

    def _init_cache(self, cache: bool | str | os.PathLike[str] | EmbeddingCache | None) -> None:
        owner = type(self).__name__
        if isinstance(cache, EmbeddingCache):
            stored: bool | str | None = str(cache.path)
            self._cache_instance = cache
        elif cache is None or isinstance(cache, bool):
            stored = cache
            self._cache_instance = None
        elif isinstance(cache, str | os.PathLike) and str(cache).strip():
            stored = str(cache)
            self._cache_instance = None
        else:
            raise ConfigurationError(
                f"{owner}: cache must be None/False (off), True (.hayswitch/cache.sqlite) or a file path, "
                f"got {cache!r}."
            )
        self.cache = stored
        self._cache_lock = threading.Lock()

    def _embedding_cache(self) -> EmbeddingCache | None:
        """The open cache, or None when caching is off (opened on first use)."""
        if not self.cache:
            return None
        if self._cache_instance is None:
            with self._cache_lock:
                if self._cache_instance is None:
                    self._cache_instance = resolve_cache(self.cache)
        return self._cache_instance

    def warm_up(self) -> None:
        """Create the provider and open the cache: an unusable cache (read-only, foreign, corrupt)
        fails here, before any embedding work, not when the first vectors are written."""
        super().warm_up()  # type: ignore[misc]
        self._embedding_cache()

    def _close_cache(self) -> None:
        with self._cache_lock:
            instance, self._cache_instance = self._cache_instance, None
        if instance is not None:
            instance.close()

    def close(self) -> None:
        """Release the provider and close the cache (idempotent; both reopen on next use)."""
        self._close_cache()
        super().close()  # type: ignore[misc]

    async def close_async(self) -> None:
        """Async twin of :meth:`close`."""
        self._close_cache()
        await super().close_async()  # type: ignore[misc]

    @staticmethod
    def _cache_totals(parts: Sequence[Mapping[str, Any]]) -> dict[str, int]:
        hits = sum(int(p.get("cache", {}).get("hits", 0)) for p in parts)
        misses = sum(int(p.get("cache", {}).get("misses", 0)) for p in parts)
        return {"hits": hits, "misses": misses}


class FallbackOption:
    """Mixin: the ``fallbacks`` option (generators; embedders across one embedding space)."""

    _capability: ClassVar[str]
    _model_setting: ClassVar[Any]
    fallbacks: list[str | dict[str, Any]] | None
    _provider_instance: Provider | None
    _plan_cache: ChainPlan | None
    provider: str | None
    profile: str | None
    settings: dict[str, Any]
    model: str | None
    retry: RetryPolicy | None

    if TYPE_CHECKING:  # provided by ProviderComponentBase

        def _component_plan(self) -> ChainPlan: ...

    def _init_fallbacks(self, fallbacks: Sequence[FallbackSpec] | None) -> None:
        owner = type(self).__name__
        if fallbacks is None:
            self.fallbacks = None
        elif isinstance(fallbacks, str | bytes) or not isinstance(fallbacks, Sequence):
            raise ConfigurationError(
                f"{owner}: fallbacks must be a list of profile/provider names or {{'provider': ..., 'settings': ...}} "
                f"mappings, got {type(fallbacks).__name__}."
            )
        else:
            self.fallbacks = [dict(f) if isinstance(f, Mapping) else f for f in fallbacks]
        self._chain: FallbackChain | None = None
        self._chain_for: Provider | None = None  # the primary the chain (or its absence) was built for
        self._chain_lock = threading.Lock()
        self._plan_cache = None
        if self._ready_to_plan():  # otherwise the provider options come next and check then
            self._check_options()

    def _check_options(self) -> type[Provider] | None:
        cls = super()._check_options()  # type: ignore[misc]
        if self.provider is None and self.fallbacks:
            # No plan yet (the provider is resolved at warm-up); still fail early on malformed
            # entries, unknown names and invalid settings (no secret resolved).
            plan_fallbacks(self.fallbacks)
        return cast("type[Provider] | None", cls)

    def _ready_to_plan(self) -> bool:
        return hasattr(self, "fallbacks") and hasattr(self, "retry")

    def _make_plan(self) -> ChainPlan:
        return plan_chain(
            self.provider,
            profile=self.profile,
            settings=self.settings,
            fallbacks=self.fallbacks,  # None: the active profile's (generation only)
            purpose="generation" if self._capability == "generation" else "embeddings",
            model=self.model,
            model_setting=self._model_setting,
            capability=self._capability,
            owner=type(self).__name__,
            unique_labels=False,
        )

    def _with_fallbacks(self, primary: Provider) -> Provider:
        """The provider to call: ``primary`` itself, or a :class:`FallbackChain` headed by it (a
        provider-like object; created on first use, members resolve their secrets then)."""
        if self.fallbacks == []:
            return primary
        if self._chain_for is not primary:
            with self._chain_lock:
                if self._chain_for is not primary:
                    built = chain_from_plan(self._component_plan(), primary, self.retry, label=primary.name)
                    chain = built if isinstance(built, FallbackChain) else None
                    old, self._chain = self._chain, chain
                    self._chain_for = primary
                    if old is not None:
                        _close_fallbacks(old)
        return primary if self._chain is None else cast(Provider, self._chain)

    def _close_chain(self) -> None:
        with self._chain_lock:
            chain, self._chain = self._chain, None
            self._chain_for = None
        if chain is not None:
            _close_fallbacks(chain)

    def warm_up(self) -> None:
        """Create the provider and, if fallbacks are configured, its fallback chain: unknown names,
        missing capabilities and (embedders) different embedding spaces fail here, before any
        request."""
        super().warm_up()  # type: ignore[misc]
        instance = self._provider_instance
        if instance is not None:
            self._with_fallbacks(instance)

    def close(self) -> None:
        """Release the provider and its fallbacks (idempotent; recreated on next use)."""
        self._close_chain()
        super().close()  # type: ignore[misc]

    async def close_async(self) -> None:
        """Async twin of :meth:`close`."""
        self._close_chain()
        await super().close_async()  # type: ignore[misc]


def _close_fallbacks(chain: FallbackChain) -> None:
    # The primary belongs to the component (closed by its own close()); close the others.
    for _, member in chain.members[1:]:
        member.close()


def fallback_totals(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How many batches each chain member embedded (from the batches' ``meta["fallback"]``)."""
    used: dict[str, int] = {}
    skipped: dict[str, int] = {}
    for part in parts:
        record = part.get("fallback")
        if record:
            used[record["used"]] = used.get(record["used"], 0) + 1
            for entry in record.get("skipped", []):
                skipped[entry["provider"]] = skipped.get(entry["provider"], 0) + 1
    return {"batches_by_member": used, "batches_skipped_by_member": skipped}


def carry_fallback_meta(meta: dict[str, Any], source: Mapping[str, Any]) -> None:
    """Copy a fallback chain's record (``source["fallback"]``) into a reply's meta, and name the
    provider that actually answered."""
    record = source.get("fallback")
    if record:
        meta["fallback"] = record
        if record.get("provider"):
            meta["provider"] = record["provider"]
