"""ProviderDocumentEmbedder: embed Documents with whichever provider is configured.

Policies (identical in ``run`` and ``run_async``):

* **Batching**: ``batch_size`` is the real number of texts per provider request, capped at the
  provider instance's batch limit (:attr:`hayswitch.Provider.max_batch_size`); each batch is exactly
  one request (plus retries). Up to ``max_concurrency`` batches are in flight at once (threads in
  ``run``, asyncio tasks in ``run_async``), never more; the output order always equals the input order.
  Left unset, both come from the provider (:attr:`~hayswitch.Provider.default_batch_size`,
  :attr:`~hayswitch.Provider.default_concurrency`: what it serves best). ``meta`` reports the values
  used and the requests actually sent.
* **Empty documents** (``content`` is None, empty or whitespace): not sent to the provider; returned in
  ``documents`` at their position without a (new) embedding, with a logged warning, and listed in
  ``meta["skipped_ids"]``.
* **Failures**: a batch that still fails after the provider's retry policy fails all of its documents.
  With ``raise_on_failure=True`` (default) the component raises :class:`hayswitch.EmbeddingFailedError`
  naming the failed document ids (batches not started yet are cancelled). With ``False`` the failed
  documents come out in ``failed_documents`` carrying the error in ``meta["embedding_error"]``; they are
  never returned with a silent ``None`` embedding and never lost.
* **Provenance**: embedded documents get ``embedding_provider``, ``embedding_model`` and
  ``embedding_dimension`` in their meta (``provenance=False`` switches it off).
* Inputs are never mutated: every output document is a new ``Document`` (``dataclasses.replace``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import logging
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from haystack import Document, component, default_from_dict, default_to_dict
from tqdm import tqdm

from haystack_integrations.common.hayswitch._base import Capability, ModelSetting, ProviderComponentBase
from haystack_integrations.common.hayswitch._generation import usage_dict
from haystack_integrations.common.hayswitch._resilience import CacheOption, FallbackOption, fallback_totals
from hayswitch import (
    EmbeddingFailedError,
    EmbeddingResult,
    InvalidInputError,
    Provider,
    ProviderError,
    ResponseError,
    RetryPolicy,
    Usage,
)
from hayswitch.cache import CacheNamespace, aembed_with_cache, embed_with_cache
from hayswitch.errors import InvalidInputTypeError
from hayswitch.retry import RetryStats, track_retries

__all__ = ["ProviderDocumentEmbedder"]

logger = logging.getLogger("haystack_integrations.hayswitch")

# Errors that fail the documents of one batch. Configuration errors (unsupported operation, missing
# secret) are not per-document failures and always propagate.
_BATCH_ERRORS = (ProviderError, InvalidInputError)


@dataclass
class _Plan:
    """What one run will do: which documents are embedded, in which batches."""

    documents: list[Document]
    texts: dict[int, str]
    skipped: list[int]
    batches: list[list[int]]
    batch_size: int
    concurrency: int
    sent: RetryStats = field(default_factory=RetryStats)
    cached: dict[int, list[float]] = field(default_factory=dict)
    results: dict[int, EmbeddingResult] = field(default_factory=dict)
    errors: dict[int, BaseException] = field(default_factory=dict)

    def batch_texts(self, batch: int) -> list[str]:
        return [self.texts[i] for i in self.batches[batch]]


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many vector lists and Documents: none of
    them form cycles, but each collection would walk every list already built (millions of
    floats), which costs a quarter of a cached re-index. Collection resumes afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _with_embedding(doc: Document, embedding: list[float], meta: dict[str, Any]) -> Document:
    """``dataclasses.replace(doc, embedding=embedding, meta=meta)``, without re-running field
    assignment hooks for every field: Haystack's mutation-warning wrapper makes ``replace`` cost
    more than reading the vector from the cache. The result has exactly the fields ``replace``
    would give (``doc`` was validated when it was created); subclasses take the regular route."""
    if type(doc) is not Document or not hasattr(doc, "__dict__"):
        return replace(doc, embedding=embedding, meta=meta)
    new = object.__new__(Document)
    fields = new.__dict__
    fields.update(doc.__dict__)
    fields["embedding"] = embedding
    fields["meta"] = meta
    return new


@component
class ProviderDocumentEmbedder(CacheOption, FallbackOption, ProviderComponentBase):
    """Embeds Documents with a hayswitch provider, in concurrent batches, keeping input order.

    Usage example:

    ```python
    from haystack import Document
    from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder

    embedder = ProviderDocumentEmbedder(provider="fake", progress_bar=False)
    result = embedder.run([Document(content="I love pizza!")])
    doc = result["documents"][0]
    print(len(doc.embedding), doc.meta["embedding_provider"])
    ```
    """

    _model_setting: ClassVar[ModelSetting] = "embedding_model_setting"
    _capability: ClassVar[Capability] = "embeddings"

    def __init__(
        self,
        *,
        provider: str | None = None,
        settings: Mapping[str, Any] | None = None,
        profile: str | None = None,
        model: str | None = None,
        retry: Mapping[str, Any] | RetryPolicy | None = None,
        batch_size: int | None = None,
        max_concurrency: int | None = None,
        progress_bar: bool = True,
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
        prefix: str = "",
        suffix: str = "",
        raise_on_failure: bool = True,
        provenance: bool = True,
        cache: bool | str | None = None,
        fallbacks: list[str | dict[str, Any]] | None = None,
    ) -> None:
        """Create the embedder. No secret is resolved and no request is sent here.

        :param provider: registry name of the provider, or None for whichever provider is configured
            (resolved at warm-up from the environment, ``hayswitch.toml`` or the default).
        :param settings: provider settings (validated against the provider's settings model). Secrets
            may be a Haystack ``Secret``, a ``hayswitch.Secret`` or ``"env:NAME"``; they are serialised
            only as environment-variable references.
        :param profile: a profile of ``hayswitch.toml`` to take the provider and settings from.
        :param model: the embedding model id; written into the provider's embedding-model setting.
        :param retry: retry policy for failed requests (fields of :class:`hayswitch.RetryPolicy`).
        :param batch_size: texts per provider request, capped at the provider's batch limit; None
            (default) uses the provider's preferred batch size (``provider.default_batch_size``).
        :param max_concurrency: requests in flight at once; None (default) uses the provider's
            preferred concurrency (``provider.default_concurrency``).
        :param progress_bar: show a tqdm progress bar over documents.
        :param meta_fields_to_embed: meta fields whose values are embedded along with the content.
        :param embedding_separator: separator between meta values and the content.
        :param prefix: text prepended to every text sent (e.g. a document instruction).
        :param suffix: text appended to every text sent.
        :param raise_on_failure: raise :class:`hayswitch.EmbeddingFailedError` when a batch fails (True),
            or return the failed documents in ``failed_documents`` (False).
        :param provenance: add ``embedding_provider``, ``embedding_model`` and ``embedding_dimension``
            to the meta of embedded documents.
        :param cache: persistent embedding cache (:mod:`hayswitch.cache`): None/False (off), True
            (``.hayswitch/cache.sqlite`` under the working directory) or a SQLite file path. Texts already
            embedded with the same provider, model, vector settings, prefix/suffix and text are served
            from it without a provider call; hits and misses are reported in ``meta["cache"]``.
        :param fallbacks: providers to embed a batch with once this one has given up on it: names or
            ``{"provider"|"profile": name, "settings": {...}}``. They must produce the same embedding
            space (same model id and dimension), which ``warm_up()`` checks (see
            :mod:`hayswitch.fallback`). None or ``[]``: no fallback (a profile's ``fallbacks`` are for
            generation and do not apply to embedders).
        :raises ProviderNotFoundError: if ``provider`` is given and not installed.
        :raises SettingsError: if ``provider`` is given and the settings are invalid.
        :raises InvalidInputError: for an invalid option value.
        """
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
        ):
            raise InvalidInputError(
                "ProviderDocumentEmbedder: batch_size must be a positive integer or None (the provider's default), "
                f"got {batch_size!r}."
            )
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1
        ):
            raise InvalidInputError(
                "ProviderDocumentEmbedder: max_concurrency must be a positive integer or None (the provider's "
                f"default), got {max_concurrency!r}."
            )
        if meta_fields_to_embed is not None and (
            isinstance(meta_fields_to_embed, str) or not all(isinstance(f, str) for f in meta_fields_to_embed)
        ):
            raise InvalidInputError("ProviderDocumentEmbedder: meta_fields_to_embed must be a list of field names.")
        for name, value in (("embedding_separator", embedding_separator), ("prefix", prefix), ("suffix", suffix)):
            if not isinstance(value, str):
                raise InvalidInputError(f"ProviderDocumentEmbedder: {name} must be a string.")
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.progress_bar = bool(progress_bar)
        self.meta_fields_to_embed = list(meta_fields_to_embed or [])
        self.embedding_separator = embedding_separator
        self.prefix = prefix
        self.suffix = suffix
        self.raise_on_failure = bool(raise_on_failure)
        self.provenance = bool(provenance)
        self._init_cache(cache)
        self._init_fallbacks(fallbacks)
        self._init_provider_options(provider=provider, settings=settings, profile=profile, model=model, retry=retry)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Serialise the component (provider by name, secrets as env-var references).

        :returns: the serialised component.
        :raises ConfigurationError: if a setting holds a literal token secret.
        """
        return default_to_dict(
            self,
            **self._provider_init_parameters(),
            batch_size=self.batch_size,
            max_concurrency=self.max_concurrency,
            progress_bar=self.progress_bar,
            meta_fields_to_embed=self.meta_fields_to_embed,
            embedding_separator=self.embedding_separator,
            prefix=self.prefix,
            suffix=self.suffix,
            raise_on_failure=self.raise_on_failure,
            provenance=self.provenance,
            cache=self.cache,
            fallbacks=self.fallbacks,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProviderDocumentEmbedder:
        """Deserialise the component.

        :param data: the dict from :meth:`to_dict`.
        :returns: the component.
        """
        return default_from_dict(cls, data)

    # ------------------------------------------------------------------ the seam for a cache
    def _embed_texts(self, provider: Provider, texts: list[str]) -> EmbeddingResult:
        """Embed one batch of non-empty texts, vectors in input order.

        The only place where ``run`` calls the provider: an embedding cache wraps this method (and
        :meth:`_aembed_texts`), mapping a batch of texts to vectors. ``provider.embed_documents``
        validates the inputs and checks the vector count, dimension and values.
        """
        cache = self._embedding_cache()
        with track_retries() as retries:
            if cache is None:
                result = provider.embed_documents(texts)
            else:
                namespace = CacheNamespace.for_provider(provider, "document")
                # The run already looked every text up in bulk (_prefetch): these are misses.
                result = embed_with_cache(cache, namespace, texts, provider.embed_documents, lookup=False)
        result.meta["retries"] = retries.retries
        return result

    async def _aembed_texts(self, provider: Provider, texts: list[str]) -> EmbeddingResult:
        """Async twin of :meth:`_embed_texts` (the only place where ``run_async`` calls the provider)."""
        cache = self._embedding_cache()
        with track_retries() as retries:
            if cache is None:
                result = await provider.aembed_documents(texts)
            else:
                namespace = CacheNamespace.for_provider(provider, "document")
                result = await aembed_with_cache(cache, namespace, texts, provider.aembed_documents, lookup=False)
        result.meta["retries"] = retries.retries
        return result

    # ------------------------------------------------------------------ planning
    def _compose(self, doc: Document) -> str:
        values = [
            str(doc.meta[key]) for key in self.meta_fields_to_embed if key in doc.meta and doc.meta[key] is not None
        ]
        return self.prefix + self.embedding_separator.join([*values, doc.content or ""]) + self.suffix

    def _plan(self, documents: Any, provider: Provider) -> _Plan:
        if isinstance(documents, str | bytes) or not isinstance(documents, Sequence):
            hint = " Use ProviderTextEmbedder to embed a string." if isinstance(documents, str) else ""
            raise InvalidInputTypeError(
                f"ProviderDocumentEmbedder.run() takes a list of Documents, got {type(documents).__name__}.{hint}"
            )
        docs = list(documents)
        for i, doc in enumerate(docs):
            if not isinstance(doc, Document):
                raise InvalidInputTypeError(
                    f"ProviderDocumentEmbedder: documents[{i}] is a {type(doc).__name__}, not a haystack Document. "
                    "Wrap texts as Document(content=...), or use ProviderTextEmbedder for a single string."
                )
        texts: dict[int, str] = {}
        skipped: list[int] = []
        for i, doc in enumerate(docs):
            if doc.content is None or not doc.content.strip():
                skipped.append(i)
            else:
                texts[i] = self._compose(doc)
        if skipped:
            ids = [docs[i].id for i in skipped]
            logger.warning(
                "ProviderDocumentEmbedder: %d document(s) have no content and were not embedded "
                "(returned without an embedding; listed in meta['skipped_ids']): %s",
                len(skipped),
                ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else ""),
            )
        limit = provider.max_batch_size
        size = min(self.batch_size or provider.default_batch_size, limit)
        if self.batch_size is not None and size < self.batch_size:
            logger.debug("batch_size %d capped at %s's batch limit of %d", self.batch_size, provider.name, limit)
        order = list(texts)
        batches = [order[start : start + size] for start in range(0, len(order), size)]
        concurrency = self.max_concurrency or provider.default_concurrency
        return _Plan(
            documents=docs,
            texts=texts,
            skipped=skipped,
            batches=batches,
            batch_size=size,
            concurrency=max(1, min(concurrency, len(batches) or 1)),
        )

    def _prefetch(self, plan: _Plan, provider: Provider) -> None:
        """With a cache: look every text up in one bulk read, keep the hits, and re-plan the batches
        over the misses only (so a fully cached corpus sends no request and starts no worker)."""
        cache = self._embedding_cache()
        if cache is None or not plan.texts:
            return
        order = list(plan.texts)
        matrix, rows = cache.lookup(CacheNamespace.for_provider(provider, "document"), [plan.texts[i] for i in order])
        with _gc_paused():
            vectors: list[list[float]] = matrix.tolist() if len(matrix) else []
        used: set[int] = set()
        missing: list[int] = []
        for i, row in zip(order, rows, strict=True):
            if row is None:
                missing.append(i)
            else:
                plan.cached[i] = vectors[row] if row not in used else list(vectors[row])
                used.add(row)
        size = plan.batch_size
        plan.batches = [missing[start : start + size] for start in range(0, len(missing), size)]
        plan.concurrency = max(1, min(plan.concurrency, len(plan.batches) or 1))

    def _record(self, plan: _Plan, batch: int, outcome: EmbeddingResult | BaseException) -> None:
        if isinstance(outcome, EmbeddingResult) and len(outcome.vectors) != len(plan.batches[batch]):
            outcome = ResponseError(
                f"Expected {len(plan.batches[batch])} vectors for the batch, got {len(outcome.vectors)}."
            )
        if isinstance(outcome, EmbeddingResult):
            plan.results[batch] = outcome
        else:
            plan.errors[batch] = outcome

    def _raise_failures(self, plan: _Plan, provider: Provider, cancelled: int) -> None:
        failed = sorted(i for b in plan.errors for i in plan.batches[b])
        first = plan.errors[min(plan.errors)]
        note = f" {cancelled} batch(es) not started were cancelled." if cancelled else ""
        raise EmbeddingFailedError(
            f"{len(failed)} document(s) could not be embedded by provider {provider.name!r}: "
            f"{type(first).__name__}: {first}.{note} Pass raise_on_failure=False to get the failed documents in "
            "the 'failed_documents' output instead.",
            failed_ids=[plan.documents[i].id for i in failed],
            provider=provider.name,
            status_code=getattr(first, "status_code", None),
        ) from first

    # ------------------------------------------------------------------ output
    def _assemble(self, plan: _Plan, provider: Provider) -> dict[str, Any]:
        vectors: dict[int, list[float]] = dict(plan.cached)
        cached_model = provider.embedding_model_id
        models: dict[int, str] = dict.fromkeys(plan.cached, cached_model)
        usage: Usage | None = None
        for batch, result in plan.results.items():
            for i, vector in zip(plan.batches[batch], result.vectors, strict=True):
                vectors[i] = vector
                models[i] = result.model
            if result.usage is not None:
                usage = result.usage if usage is None else usage + result.usage
        errors = {i: plan.errors[b] for b in plan.errors for i in plan.batches[b]}
        with _gc_paused():
            documents, failed, dimension = self._build_documents(plan, provider, vectors, models, errors)
        model = next(iter(plan.results.values())).model if plan.results else cached_model
        meta: dict[str, Any] = {
            "provider": provider.name,
            "model": model,
            "dimension": dimension or provider.embedding_dimension,
            "usage": usage_dict(usage),
            "batch_size": plan.batch_size,
            "batches": len(plan.batches),
            "max_concurrency": plan.concurrency,
            "requests": plan.sent.attempts,
            "counts": {
                "documents": len(plan.documents),
                "embedded": len(vectors),
                "skipped": len(plan.skipped),
                "failed": len(errors),
            },
            "skipped_ids": [plan.documents[i].id for i in plan.skipped],
            "failed_ids": [plan.documents[i].id for i in sorted(errors)],
            "retries": sum(int(r.meta.get("retries", 0)) for r in plan.results.values()),
        }
        if self.cache:
            totals = self._cache_totals([r.meta for r in plan.results.values()])
            meta["cache"] = {"hits": totals["hits"] + len(plan.cached), "misses": totals["misses"]}
        if any("fallback" in r.meta for r in plan.results.values()):
            meta["fallback"] = fallback_totals([r.meta for r in plan.results.values()])
        if failed:
            logger.warning(
                "ProviderDocumentEmbedder: %d document(s) failed and are in the 'failed_documents' output.", len(failed)
            )
        return {"documents": documents, "failed_documents": failed, "meta": meta}

    def _build_documents(
        self,
        plan: _Plan,
        provider: Provider,
        vectors: dict[int, list[float]],
        models: dict[int, str],
        errors: dict[int, BaseException],
    ) -> tuple[list[Document], list[Document], int | None]:
        documents: list[Document] = []
        failed: list[Document] = []
        dimension: int | None = None
        for i, doc in enumerate(plan.documents):
            if i in vectors:
                vector = vectors[i]
                dimension = dimension or len(vector)
                doc_meta = dict(doc.meta)
                if self.provenance:
                    doc_meta.update(
                        embedding_provider=provider.name, embedding_model=models[i], embedding_dimension=len(vector)
                    )
                documents.append(_with_embedding(doc, vector, doc_meta))
            elif i in errors:
                exc = errors[i]
                failed.append(replace(doc, meta={**doc.meta, "embedding_error": f"{type(exc).__name__}: {exc}"}))
            else:  # skipped: no content
                documents.append(replace(doc, meta=dict(doc.meta)))
        return documents, failed, dimension

    def _bar(self, plan: _Plan) -> tqdm:
        bar = tqdm(total=len(plan.documents), disable=not self.progress_bar, desc="Embedding documents", unit="doc")
        bar.update(len(plan.skipped) + len(plan.cached))
        return bar

    # ------------------------------------------------------------------ run
    @component.output_types(documents=list[Document], failed_documents=list[Document], meta=dict[str, Any])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        """Embed a list of Documents.

        :param documents: the documents to embed (not modified).
        :returns: a dict with
            - ``documents``: new Documents in input order, embedded (plus documents without content,
              returned without an embedding), minus failed ones;
            - ``failed_documents``: documents whose batch failed (only with ``raise_on_failure=False``),
              each with ``meta["embedding_error"]``;
            - ``meta``: ``provider``, ``model``, ``dimension``, ``usage``, ``batch_size`` (texts per
              request used), ``batches``, ``max_concurrency`` (requests in flight at most, as used),
              ``requests`` (embedding requests actually sent, retries and fallbacks included; fewer
              than ``batches`` when the cache served whole batches), ``counts``, ``skipped_ids``,
              ``failed_ids``, ``retries`` (retried requests of the successful batches) and, with a
              cache, ``cache`` (``hits``, ``misses``).
        :raises InvalidInputError: if ``documents`` is not a list of Documents.
        :raises EmbeddingFailedError: if a batch fails and ``raise_on_failure`` is True.
        """
        provider = self._with_fallbacks(self._ready_provider())
        plan = self._plan(documents, provider)
        self._prefetch(plan, provider)
        cancelled = 0
        with self._bar(plan) as bar, track_retries(plan.sent):
            if plan.concurrency == 1:
                for batch in range(len(plan.batches)):
                    try:
                        outcome: EmbeddingResult | BaseException = self._embed_texts(provider, plan.batch_texts(batch))
                    except _BATCH_ERRORS as exc:
                        outcome = exc
                    self._record(plan, batch, outcome)
                    bar.update(len(plan.batches[batch]))
                    if plan.errors and self.raise_on_failure:
                        cancelled = len(plan.batches) - batch - 1
                        break
            else:
                cancelled = self._run_threads(plan, provider, bar)
        if plan.errors and self.raise_on_failure:
            self._raise_failures(plan, provider, cancelled)
        return self._assemble(plan, provider)

    def _run_threads(self, plan: _Plan, provider: Provider, bar: tqdm) -> int:
        cancelled = 0
        pool = ThreadPoolExecutor(max_workers=plan.concurrency, thread_name_prefix="hayswitch-embed")
        try:
            # Each batch runs in a copy of this context, so the run's request counter sees it.
            futures: dict[Future[EmbeddingResult], int] = {
                pool.submit(contextvars.copy_context().run, self._embed_texts, provider, plan.batch_texts(b)): b
                for b in range(len(plan.batches))
            }
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    batch = futures[future]
                    exc = future.exception()
                    if exc is not None and not isinstance(exc, _BATCH_ERRORS):
                        raise exc
                    self._record(plan, batch, exc if exc is not None else future.result())
                    bar.update(len(plan.batches[batch]))
                if plan.errors and self.raise_on_failure and pending:
                    cancelled = sum(1 for f in pending if f.cancel())
                    pending = {f for f in pending if not f.cancelled()}
        except BaseException:
            # Ctrl-C (KeyboardInterrupt lands in this thread) or an error that ends the run: queued
            # batches are cancelled and not waited for; at most the batches already in flight (one
            # per worker) complete in the background, their results discarded.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return cancelled

    @component.output_types(documents=list[Document], failed_documents=list[Document], meta=dict[str, Any])
    async def run_async(self, documents: list[Document]) -> dict[str, Any]:
        """Async twin of :meth:`run`: batches run as asyncio tasks bounded by ``max_concurrency``.

        :param documents: the documents to embed (not modified).
        :returns: the same outputs as :meth:`run`.
        :raises InvalidInputError: if ``documents`` is not a list of Documents.
        :raises EmbeddingFailedError: if a batch fails and ``raise_on_failure`` is True.
        """
        provider = self._with_fallbacks(self._ready_provider())
        plan = self._plan(documents, provider)
        await asyncio.to_thread(self._prefetch, plan, provider)
        semaphore = asyncio.Semaphore(plan.concurrency)
        started: set[int] = set()

        async def one(batch: int) -> tuple[int, EmbeddingResult | BaseException]:
            async with semaphore:
                started.add(batch)
                try:
                    return batch, await self._aembed_texts(provider, plan.batch_texts(batch))
                except _BATCH_ERRORS as exc:
                    return batch, exc

        cancelled = 0
        with self._bar(plan) as bar, track_retries(plan.sent):
            tasks = [asyncio.create_task(one(b)) for b in range(len(plan.batches))]
            try:
                for next_done in asyncio.as_completed(tasks):
                    batch, outcome = await next_done
                    self._record(plan, batch, outcome)
                    bar.update(len(plan.batches[batch]))
                    if plan.errors and self.raise_on_failure:
                        break
            finally:
                unfinished = [t for t in tasks if not t.done()]
                for task in unfinished:
                    task.cancel()
                if unfinished:
                    await asyncio.gather(*unfinished, return_exceptions=True)
                    cancelled = len(plan.batches) - len(started)
        if plan.errors and self.raise_on_failure:
            self._raise_failures(plan, provider, cancelled)
        return self._assemble(plan, provider)
