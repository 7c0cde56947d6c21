"""Embed Ray Data datasets with any hayswitch provider.

:class:`HayswitchEmbedder` is a callable class for ``Dataset.map_batches``: Ray creates one
instance per actor, so each actor builds its provider (and opens the embedding cache) once, from
the same configuration resolution as everywhere else in hayswitch (arguments > environment >
``hayswitch.toml`` profiles > the ``local`` default)::

    import ray
    from hayswitch.ray import HayswitchEmbedder

    ds = ray.data.read_parquet("s3://bucket/passages/")  # columns "id" and "text"
    embedded = ds.map_batches(
        HayswitchEmbedder,
        fn_constructor_kwargs={"provider": "gradient", "cache": "/mnt/shared/cache.sqlite"},
        concurrency=4,  # actors, each holding one provider
        batch_size=256,  # records per call
    )

:func:`embed_dataset` does the same with bounded actor restarts and task retries (an actor that
dies is replaced and its batch runs again on another actor).

**Per batch**, the embedder keeps every input column and the row order, and adds:

* ``embedding`` (``embedding_column``): the vector (a list of floats, exactly as the provider
  returned it; an Arrow ``list<double>`` column in Ray), or None for a failed or skipped record;
* ``embedding_status``: ``"ok"``, ``"failed"`` (the provider gave up after its retries, or
  rejected the input) or ``"skipped"`` (no text: None, empty or whitespace, never sent);
* ``embedding_error``: ``"ErrorType: message"`` for a failed record, else None (the same text as
  ``meta["embedding_error"]`` of ``ProviderDocumentEmbedder``'s ``failed_documents``);
* with ``provenance=True`` (default), ``embedding_provider``, ``embedding_model`` and
  ``embedding_dimension``, the meta keys ``ProviderDocumentEmbedder`` adds to embedded documents
  (None where there is no vector).

A failed provider request fails only the records it carried; the rest of the batch, and the job,
go on, so one bad record or one exhausted rate-limit budget does not throw away the whole run.
Filter ``embedding_status == "failed"`` to report or re-run them. Configuration errors (unknown
provider, invalid settings, a missing secret, an unusable cache) are not per-record failures:
they fail the actor at start-up, or the task.

This module is part of the protocol layer: it imports neither Haystack nor Ray at import time
(Ray only in :func:`embed_dataset` and :func:`require_ray`). Install Ray with the extra:
``pip install "hayswitch[ray]"``.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from hayswitch.api import resolve_provider
from hayswitch.cache import CacheNamespace, EmbeddingCache, embed_with_cache, resolve_cache
from hayswitch.errors import (
    ConfigurationError,
    InvalidInputError,
    ProviderError,
    ResponseError,
    SettingsError,
    UnsupportedOperation,
)
from hayswitch.provider import Provider
from hayswitch.retry import RetryPolicy, track_retries
from hayswitch.types import EmbeddingResult

if TYPE_CHECKING:
    from ray.data import Dataset

    from hayswitch.fallback import FallbackChain, FallbackSpec

__all__ = [
    "DEFAULT_RAY_REMOTE_ARGS",
    "RAY_INSTALL_HINT",
    "STATUS_FAILED",
    "STATUS_OK",
    "STATUS_SKIPPED",
    "HayswitchEmbedder",
    "embed_dataset",
    "require_ray",
    "start_ray",
]

logger = logging.getLogger("hayswitch.ray")

RAY_INSTALL_HINT = 'Ray Data is not installed. Install the extra: pip install "hayswitch[ray]"'
STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_SKIPPED = "skipped"
STATUS_COLUMN = "embedding_status"
ERROR_COLUMN = "embedding_error"
PROVENANCE_COLUMNS = ("embedding_provider", "embedding_model", "embedding_dimension")

DEFAULT_RAY_REMOTE_ARGS: dict[str, Any] = {"max_restarts": 3, "max_task_retries": 3}
"""Actor fault tolerance used by :func:`embed_dataset`: an actor that dies (killed, out of memory,
node lost) is restarted up to 3 times and the batch it was running is retried up to 3 times.
Ray Data's own default is unbounded, which turns a batch that crashes its actor every time into
an endless loop."""

# Errors that fail the records of one provider request; configuration errors always propagate.
_REQUEST_ERRORS = (ProviderError, InvalidInputError)


def require_ray() -> ModuleType:
    """Import Ray Data, or explain how to install it.

    :returns: the ``ray`` module (with ``ray.data`` imported).
    :raises ConfigurationError: if Ray Data is not installed.
    """
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ConfigurationError(f"{RAY_INSTALL_HINT} ({exc}).") from None
    return ray


def start_ray(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    env_vars: Mapping[str, str] | None = None,
) -> ModuleType:
    """Connect to a Ray cluster, or start a local one on this machine.

    Without ``address``, a local cluster is started with ``num_cpus`` CPUs (None: all of them), no
    dashboard and no usage statistics (``RAY_USAGE_STATS_ENABLED=0`` unless set). With an address
    (``auto``, ``ray://head:10001``, ``head:6379``), the existing cluster is used. If Ray is already
    initialised in this process, it is used as it is.

    :param env_vars: environment variables for the workers (Ray's ``runtime_env``); never put
        secrets here, set them in the workers' environment (e.g. a Kubernetes secret).
    :returns: the ``ray`` module; call ``ray.shutdown()`` when done.
    :raises ConfigurationError: if Ray Data is not installed.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = require_ray()
    if ray.is_initialized():
        return ray
    runtime_env = {"env_vars": dict(env_vars)} if env_vars else None
    options: dict[str, Any] = {"runtime_env": runtime_env, "logging_level": logging.WARNING, "log_to_driver": False}
    if address:
        ray.init(address=address, **options)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, **options)
    for name in ("ray", "ray.data"):  # Ray Data logs every execution plan at INFO
        logging.getLogger(name).setLevel(logging.WARNING)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # hayswitch shows its own progress
    context.print_on_execution_start = False
    return ray


def _column(batch: Mapping[str, Any], name: str) -> list[Any]:
    values = batch[name]
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _object_array(values: Sequence[Any]) -> np.ndarray:
    """A 1-d object array (``np.array`` would turn equal-length vectors into a 2-d array)."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


class HayswitchEmbedder:
    """Embeds batches of records with a hayswitch provider; the callable class for Ray Data's
    ``map_batches`` (one instance, hence one provider, per actor). Also usable without Ray on a
    dict of columns or a pandas DataFrame.

    Usage example:

    ```python
    from hayswitch.ray import HayswitchEmbedder

    embedder = HayswitchEmbedder(provider="fake")
    out = embedder({"id": ["a", "b"], "text": ["I love pizza!", "   "]})
    print(out["embedding_status"].tolist())  # ['ok', 'skipped']
    ```
    """

    def __init__(
        self,
        *,
        provider: str | None = None,
        profile: str | None = None,
        settings: Mapping[str, Any] | None = None,
        model: str | None = None,
        retry: Mapping[str, Any] | RetryPolicy | None = None,
        text_column: str = "text",
        id_column: str | None = "id",
        embedding_column: str = "embedding",
        meta_fields_to_embed: Sequence[str] | None = None,
        embedding_separator: str = "\n",
        prefix: str = "",
        suffix: str = "",
        request_batch_size: int | None = None,
        max_concurrency: int = 1,
        provenance: bool = True,
        cache: bool | str | None = None,
        fallbacks: Sequence[FallbackSpec] | None = None,
    ) -> None:
        """Create the provider (secrets are resolved here, once per actor) and open the cache.

        :param provider: registry name, or None for whichever provider is configured (environment
            of the worker, ``hayswitch.toml`` in its working directory, or the default).
        :param profile: a profile of ``hayswitch.toml``.
        :param settings: provider settings (override the environment and the config file).
        :param model: the embedding model id (written into the provider's embedding-model setting).
        :param retry: the retry policy of each provider request (fields of :class:`hayswitch.RetryPolicy`).
        :param text_column: the column holding the text to embed.
        :param id_column: the column holding record ids (kept as they are and named in failure
            logs); None when the records have no ids.
        :param embedding_column: the column the vectors are written to.
        :param meta_fields_to_embed: columns whose values are embedded along with the text (as
            ``ProviderDocumentEmbedder``'s option: values, then the text, joined by
            ``embedding_separator``).
        :param embedding_separator: separator between those values and the text.
        :param prefix: text prepended to every text sent (e.g. a document instruction).
        :param suffix: text appended to every text sent.
        :param request_batch_size: texts per provider request; None (default) or a larger value
            uses the provider's declared ``capabilities.max_batch_size``. A failed request fails
            only its own records.
        :param max_concurrency: provider requests in flight at once within one actor (threads);
            the job has up to ``actors x max_concurrency`` requests in flight.
        :param provenance: add the ``embedding_provider``/``embedding_model``/``embedding_dimension`` columns.
        :param cache: the persistent embedding cache (:mod:`hayswitch.cache`): None/False (off),
            True (``.hayswitch/cache.sqlite`` in the worker's working directory) or a SQLite path.
            Every actor can share one file on one machine (SQLite WAL); across machines give each
            node a local path or leave it off.
        :param fallbacks: providers to embed a request with once this one has given up on it, in
            the same embedding space (see :mod:`hayswitch.fallback`).
        :raises ProviderNotFoundError: the provider is unknown, or none is configured and the
            default is not installed.
        :raises SettingsError: invalid settings.
        :raises MissingSecretError: a required secret is not set on this worker.
        :raises UnsupportedOperation: the provider has no embeddings.
        :raises InvalidInputError: for an invalid option value.
        """
        owner = type(self).__name__
        for name, value in (("text_column", text_column), ("embedding_column", embedding_column)):
            if not isinstance(value, str) or not value:
                raise InvalidInputError(f"{owner}: {name} must be a non-empty column name, got {value!r}.")
        if id_column is not None and (not isinstance(id_column, str) or not id_column):
            raise InvalidInputError(f"{owner}: id_column must be a column name or None, got {id_column!r}.")
        if request_batch_size is not None and (
            isinstance(request_batch_size, bool) or not isinstance(request_batch_size, int) or request_batch_size < 1
        ):
            raise InvalidInputError(
                f"{owner}: request_batch_size must be a positive integer or None, got {request_batch_size!r}."
            )
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise InvalidInputError(f"{owner}: max_concurrency must be a positive integer, got {max_concurrency!r}.")
        if meta_fields_to_embed is not None and (
            isinstance(meta_fields_to_embed, str) or not all(isinstance(f, str) for f in meta_fields_to_embed)
        ):
            raise InvalidInputError(f"{owner}: meta_fields_to_embed must be a list of column names.")
        for name, value in (("embedding_separator", embedding_separator), ("prefix", prefix), ("suffix", suffix)):
            if not isinstance(value, str):
                raise InvalidInputError(f"{owner}: {name} must be a string.")
        self.text_column = text_column
        self.id_column = id_column
        self.embedding_column = embedding_column
        self.meta_fields_to_embed = list(meta_fields_to_embed or [])
        self.embedding_separator = embedding_separator
        self.prefix = prefix
        self.suffix = suffix
        self.max_concurrency = max_concurrency
        self.provenance = bool(provenance)
        self._primary = self._create_provider(provider, profile, settings, model, retry)
        self._provider: Provider | FallbackChain = self._primary
        self._cache: EmbeddingCache | None = None
        try:
            if fallbacks:
                self._provider = self._create_chain(self._primary, fallbacks, retry)
            self._cache = resolve_cache(cache)
        except BaseException:
            self.close()
            raise
        declared = self._provider.capabilities.max_batch_size
        self.request_batch_size = min(request_batch_size or declared, declared)
        self._namespace = CacheNamespace.for_provider(self._provider, "document") if self._cache else None
        self._pool: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ provider
    @staticmethod
    def _create_provider(
        provider: str | None,
        profile: str | None,
        settings: Mapping[str, Any] | None,
        model: str | None,
        retry: Mapping[str, Any] | RetryPolicy | None,
    ) -> Provider:
        merged = dict(settings or {})
        cls, validated, _ = resolve_provider(provider, profile=profile, settings=merged)
        if model is not None:
            key = cls.embedding_model_setting
            if key is None:
                raise SettingsError(f"Provider {cls.name!r} has no configurable embedding model; remove model=.")
            if key in merged and merged[key] != model:
                raise SettingsError(
                    f"model={model!r} conflicts with settings[{key!r}]={merged[key]!r}; set the model in one place."
                )
            merged[key] = model
            cls, validated, _ = resolve_provider(provider, profile=profile, settings=merged)
        if not cls.capabilities.embeddings:
            raise UnsupportedOperation(
                cls.name, "embeddings", hint="HayswitchEmbedder needs a provider with embeddings."
            )
        return cls(validated, retry=RetryPolicy.coerce(retry))

    @staticmethod
    def _create_chain(
        primary: Provider, specs: Sequence[FallbackSpec], retry: Mapping[str, Any] | RetryPolicy | None
    ) -> FallbackChain:
        from hayswitch.fallback import FallbackChain, resolve_fallback_specs

        members: list[Provider | tuple[str, Provider]] = [primary]
        try:
            for label, cls, validated in resolve_fallback_specs(list(specs)):
                members.append((label, cls(validated, retry=RetryPolicy.coerce(retry))))
            return FallbackChain(members, purpose="embeddings")
        except BaseException:
            for member in members[1:]:
                assert isinstance(member, tuple)
                member[1].close()
            raise

    @property
    def provider(self) -> Provider | FallbackChain:
        """The provider (or fallback chain) this embedder calls."""
        return self._provider

    def close(self) -> None:
        """Release the provider(s), the cache and the request threads (idempotent)."""
        pool, self._pool = getattr(self, "_pool", None), None
        if pool is not None:
            pool.shutdown(wait=True)
        cache, self._cache = getattr(self, "_cache", None), None
        if cache is not None:
            cache.close()
        provider = getattr(self, "_provider", None)
        if provider is not None:
            provider.close()
        primary = getattr(self, "_primary", None)
        if primary is not None and primary is not provider:
            primary.close()

    def __enter__(self) -> HayswitchEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ embedding
    def _compose(self, text: str, row: int, columns: Mapping[str, list[Any]]) -> str:
        values = [str(columns[f][row]) for f in self.meta_fields_to_embed if columns[f][row] is not None]
        return self.prefix + self.embedding_separator.join([*values, text]) + self.suffix

    def _embed_request(self, texts: list[str]) -> EmbeddingResult:
        with track_retries():
            if self._cache is None or self._namespace is None:
                return self._provider.embed_documents(texts)
            return embed_with_cache(self._cache, self._namespace, texts, self._provider.embed_documents)

    def _outcome(self, texts: list[str]) -> EmbeddingResult | BaseException:
        try:
            result = self._embed_request(texts)
        except _REQUEST_ERRORS as exc:
            return exc
        if len(result.vectors) != len(texts):
            return ResponseError(f"Expected {len(texts)} vectors for the request, got {len(result.vectors)}.")
        return result

    def _run_requests(self, requests: list[list[str]]) -> list[EmbeddingResult | BaseException]:
        if self.max_concurrency == 1 or len(requests) < 2:
            return [self._outcome(texts) for texts in requests]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="hayswitch-ray")
        return list(self._pool.map(self._outcome, requests))

    def embed_columns(self, columns: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
        """Embed a batch given as columns of equal length (the work behind ``__call__``).

        :returns: the input columns (as lists) plus the output columns described in the module
            docstring, rows in input order.
        :raises InvalidInputError: a required column is missing, columns differ in length, or a
            text is not a string.
        """
        owner = type(self).__name__
        data = {name: _column(columns, name) for name in columns}
        required = [self.text_column, *self.meta_fields_to_embed]
        if self.id_column is not None:
            required.append(self.id_column)
        missing = [c for c in required if c not in data]
        if missing:
            hint = " Pass id_column=None if the records have no ids." if self.id_column in missing else ""
            raise InvalidInputError(
                f"{owner}: the batch has no column(s) {', '.join(map(repr, missing))}; "
                f"it has {', '.join(map(repr, data)) or 'none'}.{hint}"
            )
        lengths = {len(v) for v in data.values()}
        if len(lengths) > 1:
            raise InvalidInputError(f"{owner}: the batch's columns differ in length ({sorted(lengths)}).")
        raw = data[self.text_column]
        count = len(raw)
        texts: dict[int, str] = {}
        for i, value in enumerate(raw):
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            if not isinstance(value, str):
                raise InvalidInputError(
                    f"{owner}: column {self.text_column!r} must hold strings; row {i} holds a {type(value).__name__}."
                )
            if value.strip():
                texts[i] = self._compose(value, i, data)
        order = list(texts)
        size = self.request_batch_size
        groups = [order[start : start + size] for start in range(0, len(order), size)]
        outcomes = self._run_requests([[texts[i] for i in group] for group in groups])

        vectors: list[Any] = [None] * count
        status = [STATUS_SKIPPED] * count
        errors: list[str | None] = [None] * count
        models: list[str | None] = [None] * count
        for group, outcome in zip(groups, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                message = f"{type(outcome).__name__}: {outcome}"
                for i in group:
                    status[i], errors[i] = STATUS_FAILED, message
                continue
            for i, vector in zip(group, outcome.vectors, strict=True):
                # A list of floats, not an ndarray: Ray stores a column of lists (with None for
                # failed/skipped rows) as one Arrow list<double> type in every batch, while
                # ndarrays become a tensor column that cannot be combined with a batch holding None.
                vectors[i] = [float(x) for x in vector]
                status[i], models[i] = STATUS_OK, outcome.model
        failed = [i for i in range(count) if status[i] == STATUS_FAILED]
        if failed:
            ids = [str(data[self.id_column][i]) for i in failed] if self.id_column else [f"row {i}" for i in failed]
            logger.warning(
                "%s: %d record(s) failed after the provider's retries (embedding_status='failed'): %s",
                owner,
                len(failed),
                ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else ""),
            )
        out = dict(data)
        out[self.embedding_column] = vectors
        out[STATUS_COLUMN] = status
        out[ERROR_COLUMN] = errors
        if self.provenance:
            name = self._provider.name
            out["embedding_provider"] = [name if m is not None else None for m in models]
            out["embedding_model"] = models
            out["embedding_dimension"] = [len(v) if v is not None else None for v in vectors]
        return out

    def __call__(self, batch: Any) -> Any:
        """Embed one batch: a dict of columns (numpy arrays or lists, Ray's ``"numpy"`` batch
        format), a pandas DataFrame (returned as a DataFrame) or a pyarrow Table.

        :returns: the batch with the output columns added; a dict of numpy arrays unless the input
            was a DataFrame.
        """
        if hasattr(batch, "to_pydict"):  # pyarrow.Table
            batch = batch.to_pydict()
        if hasattr(batch, "to_dict") and hasattr(batch, "columns"):  # pandas.DataFrame
            columns = {str(c): batch[c].tolist() for c in batch.columns}
            result = self.embed_columns(columns)
            frame = {k: _object_array(v) if k == self.embedding_column else v for k, v in result.items()}
            return type(batch)(frame, index=batch.index)  # a DataFrame again, same index
        if not isinstance(batch, Mapping):
            raise InvalidInputError(
                f"{type(self).__name__}: a batch must be a dict of columns, a pandas DataFrame or a pyarrow Table, "
                f"got {type(batch).__name__}."
            )
        result = self.embed_columns(batch)
        produced = {self.embedding_column, STATUS_COLUMN, ERROR_COLUMN, *PROVENANCE_COLUMNS}
        out: dict[str, np.ndarray] = {}
        for name, values in result.items():
            if name not in produced and isinstance(batch.get(name), np.ndarray):
                out[name] = batch[name]  # input columns go back untouched
            elif name == self.embedding_column or any(v is None for v in values):
                out[name] = _object_array(values)
            else:
                out[name] = np.asarray(values)
        return out


def embed_dataset(
    dataset: Dataset,
    *,
    workers: int = 1,
    batch_size: int = 256,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    ray_remote_args: Mapping[str, Any] | None = None,
    embedder_cls: type[HayswitchEmbedder] | None = None,
    **embedder_options: Any,
) -> Dataset:
    """``dataset.map_batches(HayswitchEmbedder, ...)`` over a pool of ``workers`` actors, with
    bounded actor restarts and task retries (:data:`DEFAULT_RAY_REMOTE_ARGS`).

    :param dataset: a Ray Dataset with a text column (and an id column, unless ``id_column=None``).
    :param workers: actors in the pool; each builds one provider.
    :param batch_size: records per call of an actor (split further into provider requests of at
        most ``request_batch_size``).
    :param num_cpus: CPUs reserved per actor (Ray's default for actors is 1; use a fraction such
        as 0.25 for a remote API, which is I/O-bound).
    :param num_gpus: GPUs per actor (a local model on a GPU node).
    :param ray_remote_args: further actor options; they override the defaults.
    :param embedder_cls: a subclass of :class:`HayswitchEmbedder` to run instead (e.g. one that
        post-processes each batch).
    :param embedder_options: keyword arguments of :class:`HayswitchEmbedder` (``provider``,
        ``settings``, ``cache``, ``text_column``, ...).
    :returns: the lazily embedded dataset.
    :raises ConfigurationError: if Ray Data is not installed.
    """
    ray = require_ray()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidInputError(f"workers must be a positive integer, got {workers!r}.")
    remote_args: dict[str, Any] = {**DEFAULT_RAY_REMOTE_ARGS, **(ray_remote_args or {})}
    extra: dict[str, Any] = {}
    if num_cpus is not None:
        extra["num_cpus"] = num_cpus
    if num_gpus is not None:
        extra["num_gpus"] = num_gpus
    with warnings.catch_warnings():
        # Ray 2.60 deprecates passing actor options such as max_restarts as **ray_remote_args but
        # offers no named parameter for them yet; they are still honoured.
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        return dataset.map_batches(
            embedder_cls or HayswitchEmbedder,
            fn_constructor_kwargs=embedder_options,
            compute=ray.data.ActorPoolStrategy(size=workers),
            batch_size=batch_size,
            batch_format="numpy",
            **extra,
            **remote_args,
        )
