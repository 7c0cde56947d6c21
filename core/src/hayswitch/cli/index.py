"""``hayswitch index``: split text files into passages, embed them, save an index file.

Incremental: every file's content hash is kept in the index, so a re-run embeds only new and
changed files, and drops the passages of files that were deleted (or are no longer under the
indexed folders).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from hayswitch.cli._common import EXIT_INPUT, check_store_location, fail, friendly_errors

__all__ = ["IndexReport", "index_paths", "register"]


@dataclass
class IndexReport:
    """What one ``hayswitch index`` run did."""

    store: Path
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
            f"({self.passages_total} in the index; {self.embedded} embedded now"
            + (f", {self.cache_hits} of them from the embedding cache)" if self.cache_hits else ")"),
        ]
        return "\n".join(lines)


def _under(key: str, roots: list[Path]) -> bool:
    path = Path(key)
    return any(path == root or root in path.parents for root in roots)


def index_paths(
    paths: list[Path],
    *,
    store_path: Path,
    provider: str | None = None,
    profile: str | None = None,
    batch_size: int | None = None,
    rebuild: bool = False,
    progress: bool = True,
    on_warning: Callable[[str], None] | None = None,
    cache: bool | Path = True,
    exclude: Sequence[str] = (),
) -> IndexReport:
    """Index ``paths`` into the index file ``store_path`` (the work behind ``hayswitch index``).

    :raises InvalidInputError: missing paths, no readable text file, a corrupt index (without
        ``rebuild``).
    :raises EmbeddingMismatchError: the index was built with another embedding provider/model and
        ``rebuild`` is False.
    :raises HayswitchError: provider configuration or embedding failures.
    :param on_warning: called with each warning (skipped files) as soon as it is known; the
        warnings are also collected in the report.
    :param exclude: glob patterns of files or folders to leave out, relative to each folder given
        (``api`` leaves out ``<folder>/api/``); files indexed before and now excluded are removed.
    :param cache: the persistent embedding cache (:mod:`hayswitch.cache`): True (default) for
        ``cache.sqlite`` next to the index file, a path, or False for none. Passages embedded before
        with the same provider, model and settings are not sent again, even after ``rebuild``.
    """
    from haystack import Document

    from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder
    from hayswitch.cli.store import (
        SPLITTER,
        IndexStore,
        StoreNotFoundError,
        check_embedding_space,
        collect_files,
        read_corpus_file,
        split_text,
    )
    from hayswitch.errors import InvalidInputError

    started = time.perf_counter()
    check_store_location(store_path)  # an unusable index folder is not reported as a cache problem
    report = IndexReport(store=store_path)

    def warn(message: str) -> None:
        report.warnings.append(message)
        if on_warning is not None:
            on_warning(message)

    files, warnings = collect_files(paths, exclude)
    for message in warnings:
        warn(message)
    if rebuild:
        store = IndexStore()
    else:
        try:
            store = IndexStore.load(store_path)
        except StoreNotFoundError:
            store = IndexStore()
    if store.splitter != SPLITTER:
        # Passages were cut differently: every file counts as changed.
        store.files = {k: {**v, "sha256": None} for k, v in store.files.items()}
        store.splitter = dict(SPLITTER)

    cache_path = (store_path.parent / "cache.sqlite") if cache is True else (cache or None)
    embedder = ProviderDocumentEmbedder(
        provider=provider,
        profile=profile,
        batch_size=batch_size,
        progress_bar=progress,
        meta_fields_to_embed=["heading"],
        cache=str(cache_path) if cache_path else None,
    )
    embedder.warm_up()
    instance = embedder.provider_instance
    if instance is None:  # pragma: no cover - warm_up() either sets it or raises
        raise InvalidInputError("The document embedder has no provider after warm-up.")
    if store.documents:
        check_embedding_space(store.embedding, instance.embedding_space(), store_path)

    # Read and compare.
    todo: list[tuple[Any, list[Document], bool]] = []  # (file, passages, is_new)
    seen_keys: set[str] = set()
    for path in files:
        read = read_corpus_file(path)
        if isinstance(read, str):
            warn(f"{path}: skipped, it {read}")
            report.files_skipped += 1
            continue
        report.files_seen += 1
        seen_keys.add(read.key)
        previous = store.files.get(read.key)
        if previous is not None and previous.get("sha256") == read.sha256:
            report.files_unchanged += 1
            report.passages_unchanged += int(previous.get("passages", 0))
            continue
        passages = split_text(read)
        if not passages:
            warn(f"{path}: skipped, no text left after cleaning")
            report.files_skipped += 1
            continue
        todo.append((read, passages, previous is None))
    if report.files_seen == 0:
        raise InvalidInputError(
            "None of the given files could be read as UTF-8 text (see the warnings above); nothing to index."
        )

    # Files that disappeared (deleted, or no longer readable) under the indexed paths.
    roots = [Path(p).expanduser().resolve() for p in paths]
    for key in list(store.files):
        if key in seen_keys:
            continue
        if not Path(key).exists() or _under(key, roots):
            report.passages_removed += store.remove_file(key)
            report.files_removed += 1

    # Embed all new/changed passages in one run (one progress bar). Sorted by length, each
    # batch holds passages of similar size, so little compute is spent on padding.
    batch = sorted((doc for _, passages, _ in todo for doc in passages), key=lambda d: len(d.content or ""))
    if batch:
        result = embedder.run(documents=batch)
        embedded: list[Document] = result["documents"]
        report.embedded = len(embedded)
        report.cache_hits = int(result["meta"].get("cache", {}).get("hits", 0))
        by_file: dict[str, list[Document]] = {}
        for doc in embedded:
            by_file.setdefault(str(doc.meta["file_key"]), []).append(doc)
        for file, passages, is_new in todo:
            removed = store.replace_file(file, by_file.get(file.key, []))
            if is_new:
                report.files_new += 1
                report.passages_added += len(passages)
            else:
                report.files_changed += 1
                report.passages_updated += len(passages)
                report.passages_removed += max(0, removed - len(passages))
        meta = result["meta"]
        store.embedding = {"provider": meta["provider"], "model": meta["model"], "dimension": meta["dimension"]}
    elif store.embedding is None and store.documents:
        store.embedding = instance.embedding_space()
    embedder.close()
    report.embedding = store.embedding
    report.passages_total = len(store.documents)
    store.save(store_path)
    report.seconds = time.perf_counter() - started
    return report


def register(app: typer.Typer) -> None:
    """Add ``hayswitch index`` to ``app``."""
    from hayswitch.cli.store import DEFAULT_STORE

    @app.command("index")
    def index_command(
        paths: list[Path] = typer.Argument(..., help="Files or folders of .md / .txt files (folders recursively)."),
        store: Path = typer.Option(DEFAULT_STORE, "--store", "-s", help="The index file to create or update."),
        provider: str | None = typer.Option(None, "--provider", "-p", help="Embedding provider (default: configured)."),
        profile: str | None = typer.Option(None, "--profile", help="A profile of hayswitch.toml."),
        batch_size: int | None = typer.Option(
            None, "--batch-size", min=1, help="Passages per embedding request (default: what the provider serves best)."
        ),
        rebuild: bool = typer.Option(
            False, "--rebuild", help="Start a new index, replacing the file (also a corrupt or mismatched one)."
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
        exclude: list[str] = typer.Option(
            [], "--exclude", "-x", help="Glob of files or folders to leave out, relative to each folder (repeatable)."
        ),
        cache: bool = typer.Option(
            True, "--cache/--no-cache", help="Reuse embeddings from cache.sqlite next to the index file."
        ),
    ) -> None:
        """Split text files into passages, embed them and save the index (re-runs embed only changes)."""
        if provider and profile:
            raise fail("pass either --provider or --profile, not both.", EXIT_INPUT)
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
                on_warning=lambda message: typer.secho(f"warning: {message}", fg=typer.colors.YELLOW, err=True),
            )
        typer.echo(report.summary())
