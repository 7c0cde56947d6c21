"""``hayswitch index``: convert and split files into passages with Haystack's components, embed
them, and commit them to the document store (:mod:`hayswitch.cli.store`).

Incremental: every file's content hash is kept in the store, so a re-run embeds only new and
changed files, and drops the passages of files that were deleted, emptied, or are no longer under
the indexed folders.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from hayswitch.cli._common import EXIT_INPUT, check_store_location, fail, friendly_errors

if TYPE_CHECKING:
    from haystack import Document


# Haystack sends usage telemetry when a pipeline runs; these commands run offline unless the user
# opted in explicitly (the Chroma client is created with anonymized_telemetry=False as well).
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

__all__ = ["IndexReport", "index_paths", "register"]


@dataclass
class IndexReport:
    """What one ``hayswitch index`` run did."""

    store: str
    files_seen: int = 0
    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    files_skipped: int = 0
    passages_added: int = 0
    passages_updated: int = 0
    passages_removed: int = 0
    passages_unchanged: int = 0
    passages_total: int = 0
    embedded: int = 0
    cache_hits: int = 0
    embedding: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    ray_start_seconds: float | None = None

    def summary(self) -> str:
        emb = self.embedding or {}
        dim = f", {emb['dimension']}-d" if emb.get("dimension") else ""
        lines = [
            f"Indexed {self.files_seen} file(s) into {self.store} in {self.seconds:.1f}s "
            f"(embeddings: {emb.get('provider', '-')} / {emb.get('model', '-')}{dim})",
            f"  files:    {self.files_new} new, {self.files_changed} changed, {self.files_unchanged} unchanged, "
            f"{self.files_removed} removed, {self.files_skipped} skipped",
            f"  passages: {self.passages_added} added, {self.passages_updated} updated, "
            f"{self.passages_removed} removed, {self.passages_unchanged} unchanged "
            f"({self.passages_total} in the store; {self.embedded} embedded now"
            + (f", {self.cache_hits} of them from the embedding cache)" if self.cache_hits else ")"),
        ]
        return "\n".join(lines)


def _under(key: str, roots: list[Path]) -> bool:
    path = Path(key)
    return any(path == root or root in path.parents for root in roots)


@dataclass
class RunSetup:
    """What both engines (``local`` and ``ray``) prepare before taking the store's lock: the store,
    the report (with :meth:`warn`), the files named and their store keys, the embedding cache."""

    location: Any
    report: IndexReport
    files: list[str]
    keys: list[str]
    cache_path: Path | None
    on_warning: Callable[[str], None] | None = None

    def warn(self, message: str) -> None:
        self.report.warnings.append(message)
        if self.on_warning is not None:
            self.on_warning(message)


def prepare_run(
    paths: list[Path],
    *,
    store_path: Path | str,
    exclude: Sequence[str],
    cache: bool | Path,
    on_warning: Callable[[str], None] | None,
) -> RunSetup:
    """Parse and check the store location, collect the files (warnings reported) and their store
    keys, and choose the embedding cache (see :func:`index_paths` for ``cache``).

    :raises InvalidInputError: nothing to index in a store that does not exist yet.
    """
    from hayswitch.cache import DEFAULT_CACHE_PATH
    from hayswitch.cli.ingest import MIME_TYPES
    from hayswitch.cli.store import StoreLocation, collect_corpus
    from hayswitch.errors import InvalidInputError

    location = StoreLocation.parse(store_path)
    if location.path is not None:
        check_store_location(location.path)  # an unusable index folder is not reported as a cache problem
    run = RunSetup(location, IndexReport(store=location.spec), [], [], None, on_warning)
    run.files, run.keys, warnings = collect_corpus(paths, exclude)
    for message in warnings:
        run.warn(message)
    if not run.files and not location.exists():
        listed = ", ".join(str(p) for p in paths)
        details = "".join(f"\n  - {w}" for w in warnings)
        raise InvalidInputError(
            f"No supported files ({', '.join(MIME_TYPES)}) found in {listed}. Point 'hayswitch index' at "
            f"folders or files containing text.{details}"
        )
    if cache is True:
        run.cache_path = (
            location.path.resolve().parent / "cache.sqlite" if location.path is not None else DEFAULT_CACHE_PATH
        )
    else:
        run.cache_path = Path(cache) if cache else None
    return run


@dataclass
class OpenedStore:
    """The store as :func:`open_store` left it: None when it does not exist yet (it is created at
    the first commit), its recorded space, the manifest without the files removed now, and whether
    anything was committed."""

    store: Any
    space: dict[str, Any] | None
    manifest: dict[str, Any]
    committed: bool = False


def open_store(
    run: RunSetup,
    paths: list[Path],
    *,
    rebuild: bool,
    current: dict[str, Any],
    probe_dimension: Callable[[], int | None] | None = None,
) -> OpenedStore:
    """Under the store's lock: open it, refuse another embedding space or splitter (``current``;
    ``probe_dimension`` asks the provider when the store has a space and ``current`` no
    dimension), repair what an interrupted run left, and remove the passages of files indexed
    before that are gone (deleted, excluded now, or no longer under ``paths``)."""
    from hayswitch.cli.ingest import SPLITTER
    from hayswitch.cli.store import PassageStore, check_embedding_space

    location, report = run.location, run.report
    store: PassageStore | None = None
    if rebuild or location.exists():
        store = PassageStore.open_for_indexing(location, rebuild=rebuild)
    space = store.space() if store is not None else None
    if space and current.get("dimension") is None and probe_dimension is not None:
        # The provider learns its dimension from its first response: ask it now, with one short
        # text, rather than after the first group of the corpus was embedded.
        current["dimension"] = probe_dimension()
    check_embedding_space(space, current, location.spec, splitter=SPLITTER)
    opened = OpenedStore(store, space, store.manifest() if store is not None else {})
    if store is None:
        return opened
    repaired = store.repair()
    if repaired:
        run.warn(f"removed {repaired} passage(s) left by an interrupted earlier run")
    opened.manifest = store.manifest()
    roots = [Path(p).expanduser().resolve() for p in paths]
    found = set(run.keys)
    gone = [
        rec
        for key, rec in opened.manifest.items()
        if key not in found and (rebuild or not Path(key).exists() or _under(key, roots))
    ]
    if gone:
        store.commit([], gone)
        opened.committed = True
        report.files_removed += len(gone)
        report.passages_removed += sum(r.passages for r in gone)
        for rec in gone:
            opened.manifest.pop(rec.key, None)
    return opened


GROUP_PASSAGES = 512
"""Passages embedded and committed together: large enough for few store calls, small enough that a
commit is short (Ctrl-C is held back only while one commits: well under a second, also in a full
shard of the store) and memory stays bounded whatever the size of the corpus."""
GROUP_FILES = 64
"""Files converted by one run of the preprocessing pipeline."""


def index_paths(
    paths: list[Path],
    *,
    store_path: Path | str,
    provider: str | None = None,
    profile: str | None = None,
    batch_size: int | None = None,
    rebuild: bool = False,
    progress: bool = True,
    on_warning: Callable[[str], None] | None = None,
    cache: bool | Path = True,
    exclude: Sequence[str] = (),
    lock_timeout: float = -1,
    engine: str = "local",
    ray_address: str | None = None,
    workers: int = 2,
) -> IndexReport:
    """Index ``paths`` into the store ``store_path`` (a folder, or a Chroma server URL): the work
    behind ``hayswitch index``.

    Files are read, split, embedded and committed in groups (:data:`GROUP_PASSAGES`), so memory
    does not grow with the corpus; each group is committed whole (Ctrl-C waits for the commit), so an
    interrupted run leaves the store as it was plus whole files. One run writes to a store at a
    time: a second one waits for the lock (``lock_timeout`` seconds; negative: as long as it takes).

    :raises InvalidInputError: missing paths, nothing to index, a store that cannot be read (without
        ``rebuild``), a store another run holds longer than ``lock_timeout``.
    :raises EmbeddingMismatchError: the store was built with another embedding provider, model,
        dimension or splitter, and ``rebuild`` is False (checked before anything is embedded).
    :raises HayswitchError: provider configuration or embedding failures.
    :param on_warning: called with each warning (skipped files, waiting for the lock) as soon as it
        is known; the warnings are also collected in the report.
    :param exclude: glob patterns of files or folders to leave out, relative to each folder given
        (``api`` leaves out ``<folder>/api/``); files indexed before and now excluded are removed.
    :param cache: the persistent embedding cache (:mod:`hayswitch.cache`): True (default) for
        ``cache.sqlite`` next to an embedded store's folder (``.hayswitch/cache.sqlite`` for a
        server store), a path, or False for none. Passages embedded before with the same provider,
        model and settings are not sent again, even after ``rebuild``.
    :param engine: ``local`` (this process) or ``ray`` (a Ray Data pipeline, see
        :mod:`hayswitch.cli.index_ray`; ``ray_address`` and ``workers`` apply to it).
    """
    if engine not in ("local", "ray"):
        from hayswitch.errors import InvalidInputError as _InvalidInput

        raise _InvalidInput(f"--engine must be 'local' or 'ray', got {engine!r}.")
    if engine == "ray":
        from hayswitch.cli.index_ray import index_paths_ray

        return index_paths_ray(
            paths,
            store_path=store_path,
            provider=provider,
            profile=profile,
            batch_size=batch_size,
            rebuild=rebuild,
            progress=progress,
            on_warning=on_warning,
            cache=cache,
            exclude=exclude,
            lock_timeout=lock_timeout,
            ray_address=ray_address,
            workers=workers,
        )
    from tqdm import tqdm

    from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder
    from hayswitch.cli.ingest import SPLITTER, build_preprocessing_pipeline, read_file, split_files
    from hayswitch.cli.store import (
        FileRecord,
        FileUpdate,
        PassageStore,
        check_embedding_space,
        display_path,
    )
    from hayswitch.errors import InvalidInputError

    started = time.perf_counter()
    run = prepare_run(paths, store_path=store_path, exclude=exclude, cache=cache, on_warning=on_warning)
    location, report, files, keys, cache_path, warn = (
        run.location,
        run.report,
        run.files,
        run.keys,
        run.cache_path,
        run.warn,
    )
    embedder = ProviderDocumentEmbedder(
        provider=provider,
        profile=profile,
        batch_size=batch_size,
        progress_bar=False,
        meta_fields_to_embed=["heading"],
        cache=str(cache_path) if cache_path else None,
    )
    embedder.warm_up()
    instance = embedder.provider_instance
    if instance is None:  # pragma: no cover - warm_up() either sets it or raises
        raise InvalidInputError("The document embedder has no provider after warm-up.")

    concurrency = getattr(instance.capabilities, "max_concurrency", 1) or 1
    per_request = batch_size or getattr(instance.capabilities, "max_batch_size", None) or 32
    round_size = int(per_request) * max(1, int(concurrency))
    created = location.path is not None and not location.path.exists()
    committed = False
    try:
        with PassageStore.lock(location, timeout=lock_timeout, on_wait=warn):

            def probe() -> int | None:
                result = instance.embed_documents(["dimension check"])
                return result.dimension or (len(result.vectors[0]) if result.vectors else None)

            opened = open_store(
                run, paths, rebuild=rebuild, current=dict(instance.embedding_space()), probe_dimension=probe
            )
            store: PassageStore | None = opened.store
            stored_space, manifest = opened.space, opened.manifest
            committed = committed or opened.committed

            pipeline: Any = None  # (built when the first file must be split: a run with no change needs none)
            space: dict[str, Any] | None = stored_space
            bar = tqdm(total=len(files), unit="file", desc="Indexing", disable=not progress, dynamic_ncols=True)
            pending: list[Any] = []  # ReadFile objects waiting to be split
            ready: list[tuple[Any, list[Document]]] = []  # (file, passages) waiting to be embedded
            ready_passages = 0

            def flush() -> None:
                nonlocal store, space, ready_passages, committed
                if not ready:
                    return
                documents = [doc for _, docs in ready for doc in docs]
                # One round of concurrent requests per embedder call: Ctrl-C then waits at most for
                # the requests already in flight, not for the rest of the group.
                embedded: list[Document] = []
                meta: dict[str, Any] = {}
                for start in range(0, len(documents), round_size):
                    result = embedder.run(documents=documents[start : start + round_size])
                    embedded.extend(result["documents"])
                    meta = result["meta"]
                    report.cache_hits += int(meta.get("cache", {}).get("hits", 0))
                    bar.set_postfix_str(f"{report.embedded + len(embedded):,} passages embedded", refresh=True)
                dimension = meta.get("dimension") or (len(embedded[0].embedding or []) if embedded else None)
                new_space = {"provider": meta.get("provider"), "model": meta.get("model"), "dimension": dimension}
                check_embedding_space(space, new_space, location.spec, splitter=SPLITTER)
                report.embedded += len(embedded)
                by_key: dict[str, list[Document]] = {}
                for doc in embedded:
                    by_key.setdefault(str(doc.meta["file_key"]), []).append(doc)
                updates = []
                for file, passages in ready:
                    docs = sorted(by_key.get(file.key, []), key=lambda d: int(d.meta["passage"]))
                    previous = manifest.get(file.key)
                    record = FileRecord(
                        key=file.key,
                        path=file.path,
                        sha256=file.sha256,
                        passages=len(docs),
                        size=file.size,
                        mtime_ns=file.mtime_ns,
                    )
                    updates.append(FileUpdate(record=record, documents=docs, previous=previous))
                    if previous is None:
                        report.files_new += 1
                        report.passages_added += len(passages)
                    else:
                        report.files_changed += 1
                        report.passages_updated += len(passages)
                        report.passages_removed += max(0, previous.passages - len(passages))
                if store is None:
                    store = PassageStore.open_for_indexing(location)
                if space is None:
                    store.record_space(new_space, SPLITTER)
                    space = {**new_space, "splitter": SPLITTER}
                committed = True  # (set first: Ctrl-C is raised only after the commit is whole)
                store.commit(updates)
                for update in updates:
                    manifest[update.record.key] = update.record
                bar.update(len(ready))
                ready.clear()
                ready_passages = 0

            def split_pending() -> None:
                nonlocal ready_passages, committed, pipeline
                if not pending:
                    return
                if pipeline is None:
                    pipeline = build_preprocessing_pipeline(SPLITTER)
                by_key = split_files(pipeline, pending)
                emptied: list[Any] = []
                for file in pending:
                    passages = by_key.get(file.key) or []
                    if passages:
                        ready.append((file, passages))
                        ready_passages += len(passages)
                        if ready_passages >= GROUP_PASSAGES:
                            flush()
                        continue
                    warn(f"{file.path}: skipped, no text found in it")
                    report.files_skipped += 1
                    previous = manifest.pop(file.key, None)
                    if previous is not None:
                        emptied.append(previous)
                    bar.update(1)
                if emptied and store is not None:
                    store.commit([], emptied)
                    committed = True
                    report.files_removed += len(emptied)
                    report.passages_removed += sum(r.passages for r in emptied)
                pending.clear()

            cwd = Path.cwd().resolve()
            refreshed: list[FileRecord] = []  # unchanged files whose size and time are now recorded
            try:
                for path, key in zip(files, keys, strict=True):
                    previous = manifest.get(key)
                    if previous is not None and previous.size is not None:
                        # Same size and modification time as when it was hashed: not read again.
                        try:
                            unchanged = previous.unchanged_on_disk(os.stat(path))
                        except OSError:
                            unchanged = False
                        if unchanged:
                            report.files_seen += 1
                            report.files_unchanged += 1
                            report.passages_unchanged += previous.passages
                            bar.update(1)
                            continue
                    shown = display_path(Path(key), cwd, resolved=True)
                    read = read_file(Path(path), key=key, shown=shown)
                    if isinstance(read, str):
                        warn(f"{shown}: skipped, it {read}")
                        report.files_skipped += 1
                        bar.update(1)
                        previous = manifest.pop(key, None)
                        if previous is not None and store is not None:
                            store.commit([], [previous])  # an emptied or unreadable file serves no old text
                            committed = True
                            report.files_removed += 1
                            report.passages_removed += previous.passages
                        continue
                    report.files_seen += 1
                    previous = manifest.get(read.key)
                    if previous is not None and previous.sha256 == read.sha256:
                        report.files_unchanged += 1
                        report.passages_unchanged += previous.passages
                        if read.size is not None and (previous.size, previous.mtime_ns) != (read.size, read.mtime_ns):
                            refreshed.append(replace(previous, size=read.size, mtime_ns=read.mtime_ns))
                            if len(refreshed) >= 5000 and store is not None:
                                store.refresh_records(refreshed)
                                refreshed.clear()
                        bar.update(1)
                        continue
                    pending.append(read)
                    if len(pending) >= GROUP_FILES or sum(len(f.data) for f in pending) > 4_000_000:
                        split_pending()
                split_pending()
                flush()
                if refreshed and store is not None:
                    store.refresh_records(refreshed)
            finally:
                bar.close()
            if report.files_seen == 0 and not committed and not rebuild:
                raise InvalidInputError(
                    "None of the given files could be read as text (see the warnings above); nothing to index."
                )
            report.embedding = {k: v for k, v in (space or {}).items() if k != "splitter"} or None
            report.passages_total = store.total() if store is not None else 0
            if store is not None:
                store.finish()
    except BaseException:
        if created and not committed and location.path is not None:
            _remove_created(location.path)
        raise
    finally:
        embedder.close()
    if created and not committed and location.path is not None:
        _remove_created(location.path)
    report.seconds = time.perf_counter() - started
    return report


def _remove_created(path: Path) -> None:
    """Remove a store folder this run created but never wrote to (e.g. nothing was readable)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def register(app: typer.Typer) -> None:
    """Add ``hayswitch index`` to ``app``."""
    from hayswitch.cli.store import DEFAULT_STORE

    @app.command("index")
    def index_command(
        paths: list[Path] = typer.Argument(
            ..., help="Files or folders of .md / .txt / .pdf / .html files (folders recursively)."
        ),
        store: str = typer.Option(
            str(DEFAULT_STORE),
            "--store",
            "-s",
            help="The store: a folder (embedded Chroma, created if missing) or a Chroma server URL (http://host:port).",
        ),
        provider: str | None = typer.Option(None, "--provider", "-p", help="Embedding provider (default: configured)."),
        profile: str | None = typer.Option(None, "--profile", help="A profile of hayswitch.toml."),
        batch_size: int | None = typer.Option(
            None, "--batch-size", min=1, help="Passages per embedding request (default: what the provider serves best)."
        ),
        rebuild: bool = typer.Option(
            False, "--rebuild", help="Start the store afresh (also a damaged or mismatched one) with only these files."
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
        exclude: list[str] = typer.Option(
            [], "--exclude", "-x", help="Glob of files or folders to leave out, relative to each folder (repeatable)."
        ),
        cache: bool = typer.Option(
            True, "--cache/--no-cache", help="Reuse embeddings from cache.sqlite next to the store folder."
        ),
        lock_timeout: float = typer.Option(
            -1,
            "--lock-timeout",
            help="Seconds to wait while another index run writes to the store (-1: as long as it takes; 0: fail now).",
        ),
        engine: str = typer.Option(
            "local", "--engine", help="'local' (this process) or 'ray' (Ray Data; pip install 'hayswitch[ray]')."
        ),
        ray_address: str | None = typer.Option(
            None, "--ray-address", help="With --engine ray: an existing cluster (e.g. auto); default: start one here."
        ),
        workers: int = typer.Option(
            2, "--workers", min=1, help="With --engine ray: embedding actors (one provider each)."
        ),
    ) -> None:
        """Convert and split files into passages, embed them and store them (re-runs embed only changes)."""
        if provider and profile:
            raise fail("pass either --provider or --profile, not both.", EXIT_INPUT)
        if engine not in ("local", "ray"):
            raise fail(f"--engine must be 'local' or 'ray', got {engine!r}.", EXIT_INPUT)
        if engine == "local" and ray_address:
            raise fail("--ray-address needs --engine ray.", EXIT_INPUT)
        with friendly_errors():
            report = index_paths(
                list(paths),
                store_path=store,
                provider=provider,
                profile=profile,
                batch_size=batch_size,
                rebuild=rebuild,
                progress=not quiet,
                cache=cache,
                exclude=exclude,
                lock_timeout=lock_timeout,
                engine=engine,
                ray_address=ray_address,
                workers=workers,
                on_warning=lambda message: typer.secho(f"warning: {message}", fg=typer.colors.YELLOW, err=True),
            )
        typer.echo(report.summary())
